package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
)

// TestLineWorktime: shop.yaml's from_line hours are the working time of
// the chat's Open Line as imopenlines.config.get gives it (read through
// the portal, outside the step), and a scenario that waits longer than
// the line's WELCOME_BOT_TIME is named in GET /v1/scenarios.
func TestLineWorktime(t *testing.T) {
	// Monday 19:00 in Moscow: the shop is open, the line (09:00–18:00) is not
	clock := &testClock{t: time.Date(2027, 1, 4, 16, 0, 0, 0, time.UTC)}
	p := newPortal(t, fakeportal.Config{})
	p.SetLineSettings(6, map[string]any{"WORKTIME_ENABLE": "Y", "WORKTIME_FROM": "09:00", "WORKTIME_TO": "18:00",
		"WORKTIME_TIMEZONE": "Europe/Moscow", "WORKTIME_DAYOFF": []string{"SA", "SU"}, "WELCOME_BOT_TIME": "600"})
	e := startEnv(t, p, func(e *env) {
		e.clock = clock
		e.dir = scenarioDir(t, "../examples/shop.yaml")
	})
	e.install()
	toManager := func(chat *fakeportal.Chat) engine.Dialog {
		t.Helper()
		e.send(chat, chat.Join())
		for _, text := range []string{"1500", "1", "2", "3"} { // three bad phones: on_fail manager
			e.send(chat, chat.Say(text))
		}
		return e.record(e.key(chat))
	}
	if d := toManager(e.chat(6, 9101, "Anna")); d.State != "after_hours" || d.Status != engine.Active {
		t.Fatalf("after the line's hours: %q (%s), want after_hours, active", d.State, d.Status)
	}
	if n := len(p.CallsOf(bitrix24.MethodConfigGet)); n != 1 {
		t.Errorf("%d imopenlines.config.get calls for one chat, want 1 (cached per line)", n)
	}
	clock.Advance(15 * time.Hour) // Tuesday 10:00 in Moscow
	if d := toManager(e.chat(6, 9102, "Boris")); d.State != "connect" || d.Status != engine.HandedOff {
		t.Fatalf("in the line's hours: %q (%s), want connect, handed off", d.State, d.Status)
	}
	status, body := e.api(http.MethodGet, "/v1/scenarios", nil)
	var list ScenariosResponse
	if status != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Scenarios) != 1 {
		t.Fatalf("GET /v1/scenarios: %d %s", status, body)
	}
	w := list.Scenarios[0].LineWarnings
	if len(w) != 1 || !strings.Contains(w[0], "settings.idle: 30m0s") || !strings.Contains(w[0], "WELCOME_BOT_TIME 10m0s") || !strings.Contains(w[0], "line 6") {
		t.Fatalf("line warnings %q, want one naming idle (30m) against the line's bot time (10m)", w)
	}
	if !strings.Contains(e.logs.String(), "waits longer than the line's bot timeout") {
		t.Error("the warning is not in the log")
	}
}

// TestLineBotTimeEveryLine: support.yaml needs nothing of its lines (one
// language, no from_line hours), yet the first run on each line reads the
// line's settings in the background and GET /v1/scenarios names the line
// whose WELCOME_BOT_TIME is shorter than the scenario's idle (15m); the
// log says it once per line and scenario version, not per chat.
func TestLineBotTimeEveryLine(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	p.SetLineSettings(1, map[string]any{"WELCOME_BOT_TIME": "180"}) // the portal's default: 3 minutes
	p.SetLineSettings(3, map[string]any{"WELCOME_BOT_TIME": "3600"})
	e := startEnv(t, p, func(e *env) { e.dir = scenarioDir(t, "../examples/support.yaml") })
	e.install()
	e.send(e.chat(1, 9201, "Anna"), e.chat(1, 9201, "Anna").Join())
	e.send(e.chat(3, 9202, "Boris"), e.chat(3, 9202, "Boris").Join())
	warnings := func() []string {
		status, body := e.api(http.MethodGet, "/v1/scenarios", nil)
		var list ScenariosResponse
		if status != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list.Scenarios) != 1 {
			t.Fatalf("GET /v1/scenarios: %d %s", status, body)
		}
		return list.Scenarios[0].LineWarnings
	}
	waitFor(t, "both lines read", func() (bool, string) {
		n := len(p.CallsOf(bitrix24.MethodConfigGet))
		return n == 2 && len(warnings()) == 1, fmt.Sprintf("%d imopenlines.config.get calls, warnings %q", n, warnings())
	})
	w := warnings()
	if !strings.Contains(w[0], "line 1 ") || !strings.Contains(w[0], "settings.idle: 15m0s") || !strings.Contains(w[0], "WELCOME_BOT_TIME 3m0s") {
		t.Fatalf("line warnings %q, want one naming line 1's bot time (3m) against idle (15m)", w)
	}
	// more chats on the same lines: the settings are fresh, nothing is asked or logged again
	for i := range 3 {
		chat := e.chat(1, 9210+i, "Carl")
		e.send(chat, chat.Join())
	}
	e.srv.Dialogs.Wait()
	if n := len(p.CallsOf(bitrix24.MethodConfigGet)); n != 2 {
		t.Errorf("%d imopenlines.config.get calls after more chats, want 2 (one per line)", n)
	}
	if n := strings.Count(e.logs.String(), "waits longer than the line's bot timeout"); n != 1 {
		t.Errorf("the warning is logged %d times, want once", n)
	}
	if w := warnings(); len(w) != 1 {
		t.Errorf("line warnings %q after more chats, want the same one", w)
	}

	// a new version of the scenario: its warning is logged again, once, and
	// GET /v1/scenarios shows the new version's wait
	src, err := os.ReadFile("../examples/support.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.dir, "support.yaml", strings.Replace(string(src), "idle: 15m", "idle: 20m", 1))
	if status, body := e.api(http.MethodPost, "/v1/scenarios/reload", nil); status != http.StatusOK {
		t.Fatalf("reload: %d %s", status, body)
	}
	if w := warnings(); len(w) != 1 || !strings.Contains(w[0], "settings.idle: 20m0s") {
		t.Errorf("line warnings %q after the reload, want line 1's against the new idle (20m)", w)
	}
	for i := range 2 {
		chat := e.chat(1, 9220+i, "Dora")
		e.send(chat, chat.Join())
	}
	e.srv.Dialogs.Wait()
	if n := strings.Count(e.logs.String(), "waits longer than the line's bot timeout"); n != 2 {
		t.Errorf("the warning is logged %d times after a new version, want twice (once per version)", n)
	}
}
