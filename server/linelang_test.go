package server

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/olbot/olbot/fakeportal"
)

// TestLineLanguage: a portal dialog of a scenario with languages starts in
// its Open Line's language (LANGUAGE_ID of imopenlines.config.get, read
// once per line), else in the default; the portal's own language in the
// event (the portal's, not the client's) is not taken for the client's.
func TestLineLanguage(t *testing.T) {
	p := newPortal(t, fakeportal.Config{LineLanguages: map[int]string{4: "en"}})
	e := startEnv(t, p, func(e *env) { e.dir = scenarioDir(t, "../examples/bilingual.yaml", "../examples/support.yaml") })
	e.install()

	configGets := func(line int) int {
		n := 0
		for _, c := range p.Calls() {
			if c.Method == "imopenlines.config.get" && c.Int("CONFIG_ID") == line {
				n++
			}
		}
		return n
	}
	greeting := func(chatID int) string {
		if ms := p.Messages("chat" + strconv.Itoa(chatID)); len(ms) > 0 {
			return ms[0].Text
		}
		return ""
	}

	chat := e.chat(4, 6101, "Anna")
	e.send(chat, chat.Join())
	if d := e.record(e.key(chat)); d.Language != "en" {
		t.Fatalf("language %q, want en: line 4 is in English", d.Language)
	}
	e.settle()
	if g := greeting(6101); !strings.HasPrefix(g, "Hello, Anna!") {
		t.Fatalf("first message %q, want the English greeting", g)
	}

	// a second chat of the line: the line's language comes from the cache
	chat2 := e.chat(4, 6102, "Boris")
	e.send(chat2, chat2.Join())
	if d := e.record(e.key(chat2)); d.Language != "en" {
		t.Fatalf("second chat: language %q, want en", d.Language)
	}
	if n := configGets(4); n != 1 {
		t.Fatalf("imopenlines.config.get for line 4 called %d times, want once (cached per line)", n)
	}

	// a scenario in one language does not wait for its line's settings:
	// they are read once, in the background, for the line's bot timeout
	chat3 := e.chat(1, 6103, "Clara")
	e.send(chat3, chat3.Join())
	e.srv.Dialogs.Wait()
	if d := e.record(e.key(chat3)); d.Language != "" {
		t.Fatalf("support: language %q, want none (support has no languages)", d.Language)
	}
	chat4 := e.chat(1, 6104, "Dan")
	e.send(chat4, chat4.Join())
	e.srv.Dialogs.Wait()
	if n := configGets(1); n != 1 {
		t.Fatalf("imopenlines.config.get for line 1 called %d times, want once (the bot timeout, cached per line)", n)
	}
}

// TestLineLanguageUnknown: a line in a language the scenario does not
// list, or whose settings cannot be read, starts in the default language.
func TestLineLanguageUnknown(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  fakeportal.Config
		fail bool
	}{
		{name: "a language the scenario does not list", cfg: fakeportal.Config{LineLanguages: map[int]string{4: "de"}}},
		{name: "Bitrix24's own code (ua) of a language not listed", cfg: fakeportal.Config{LineLanguages: map[int]string{4: "ua"}}},
		{name: "a line the portal does not have", cfg: fakeportal.Config{Lines: []int{1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPortal(t, tc.cfg)
			e := startEnv(t, p, func(e *env) { e.dir = scenarioDir(t, "../examples/bilingual.yaml") })
			e.install()
			chat := e.chat(4, 6201, "Anna")
			resp := e.send(chat, chat.Join())
			if resp["outcome"] != "applied" {
				t.Fatalf("join: %v, want applied", resp)
			}
			if d := e.record(e.key(chat)); d.Language != "ru" {
				t.Fatalf("language %q, want ru (the default)", d.Language)
			}
		})
	}
}

// TestAPILanguage: /v1/events takes the language a channel knows: a start
// in a listed language starts the dialog in it (Bitrix24's own ids
// included), one not listed starts it in the default; type language
// switches a running dialog, and a language the scenario lacks is a 400.
func TestAPILanguage(t *testing.T) {
	e := startEnv(t, nil, func(e *env) { e.dir = scenarioDir(t, "../examples/bilingual.yaml") })
	for _, tc := range []struct{ dialog, lang, want string }{
		{"al-1", "en", "en"},
		{"al-2", "EN", "en"},
		{"al-3", "de", "ru"},
		{"al-4", "", "ru"},
	} {
		r := e.event(EventRequest{Dialog: tc.dialog, Line: 4, Type: "start", Client: "Ann", Language: tc.lang})
		if r.Dialog.Language != tc.want {
			t.Errorf("start in %q: language %q, want %q", tc.lang, r.Dialog.Language, tc.want)
		}
	}
	if r := e.event(EventRequest{Dialog: "al-1", Type: "language", Language: "ru"}); r.Dialog.Language != "ru" {
		t.Fatalf("after a switch to ru: language %q", r.Dialog.Language)
	}
	status, body := e.api(http.MethodPost, "/v1/events", EventRequest{Dialog: "al-1", Type: "language", Language: "de"})
	if got := parseError(t, body); status != http.StatusBadRequest || got.Field != "type" {
		t.Fatalf("switch to de: %d %s, want 400", status, body)
	}
	if d := e.dialog("al-1"); d.Language != "ru" {
		t.Fatalf("a refused switch changed the language to %q", d.Language)
	}
}
