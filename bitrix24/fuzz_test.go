package bitrix24

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets run their seed corpus in every `go test`; to fuzz:
//
//	go test -run='^$' -fuzz='^FuzzParseEvent$' -fuzztime=60s ./bitrix24/
//	go test -run='^$' -fuzz='^FuzzDecodeForm$' -fuzztime=60s ./bitrix24/
//
// The seed corpus in testdata/fuzz/FUZZ/seed-* is written by
// TestFuzzSeedCorpus -update from fuzzBodies below; inputs the fuzzer found
// (named by hash) are committed next to them with the fix they led to.

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// maxErrorLen bounds a rejection's message: it goes back to the caller in a
// 400 body, and a hostile body must not be echoed at length.
const maxErrorLen = 1024

// FuzzParseEvent posts arbitrary bodies through the handler's decoding path
// (url.ParseQuery, then ParseEvent). No input may panic; a rejection is a
// *FieldError with a short, non-empty message; an accepted event re-encodes
// with Form into a body that parses back to the same event.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(loadPairs(f, "message_event.txt").Encode()))
	system := loadPairs(f, "message_event.txt")
	system.Set("data[PARAMS][FROM_USER_ID]", "0") // a system message: Form keeps the 0
	f.Add([]byte(system.Encode()))
	f.Fuzz(func(t *testing.T, body []byte) {
		// The handler answers 400 when ParseQuery fails; ParseEvent must
		// still cope with the pairs that did decode.
		form, _ := url.ParseQuery(string(body))
		ev, err := ParseEvent(form)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if ev.Name == "" {
			t.Fatalf("accepted an event without a name: %+v", ev)
		}
		// the helpers the server calls on every event
		ev.IsOpenLine()
		ev.OpenLine()
		ev.Connector()
		ev.LeadID()
		ev.ChatID()
		ev.Bot()
		for _, f := range ev.Files() {
			if f.ID == "" || f.Size < -1 {
				t.Fatalf("file %+v: files without an id are skipped, sizes are -1 or more", f)
			}
		}

		wire := ev.Form()
		if pairs(wire) > MaxFormKeys {
			// Form writes each bot's and command's token set twice (at the
			// top and under AUTH), as the portal does: an event near the key
			// limit can grow past it.
			return
		}
		again, err := url.ParseQuery(wire.Encode())
		if err != nil {
			t.Fatalf("Form().Encode() is not a query: %v", err)
		}
		ev2, err := ParseEvent(again)
		if err != nil {
			t.Fatalf("the re-encoded event does not parse: %v\nfirst:  %+v\nwire:   %s", err, ev, wire.Encode())
		}
		a, b := comparable(ev), comparable(ev2)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the event:\nfirst:  %+v\nsecond: %+v\nwire:   %s", a, b, wire.Encode())
		}
	})
}

// comparable drops what Form does not carry: the raw Data tree, and a
// data[USER] group that held no known field (Form leaves an empty group out).
func comparable(ev *Event) Event {
	c := *ev
	c.Data = nil
	if c.User != nil && *c.User == (User{}) {
		c.User = nil
	}
	return c
}

func pairs(v url.Values) int {
	n := 0
	for _, vs := range v {
		n += len(vs)
	}
	return n
}

// FuzzDecodeForm checks the bracketed-form decoder alone: no panic; a
// rejection is a short *FieldError; an accepted tree respects the limits,
// holds every pair of the form, and EncodeForm gives back exactly the form.
func FuzzDecodeForm(f *testing.F) {
	f.Add([]byte(loadPairs(f, "message_event.txt").Encode()))
	f.Fuzz(func(t *testing.T, body []byte) {
		form, _ := url.ParseQuery(string(body))
		tree, err := DecodeForm(form)
		if err != nil {
			checkRejection(t, err)
			return
		}
		leaves, depth := measure(tree, 1)
		if leaves != pairs(form) || leaves > MaxFormKeys || depth > MaxFormDepth {
			t.Fatalf("tree of %d leaves, %d levels, from %d pairs (limits %d, %d)", leaves, depth, pairs(form), MaxFormKeys, MaxFormDepth)
		}
		for k, vs := range form {
			parts, err := splitKey(k)
			if err != nil {
				t.Fatalf("accepted key %q: %v", k, err)
			}
			var node any = tree
			for _, p := range parts {
				m, ok := node.(map[string]any)
				if !ok {
					t.Fatalf("key %q: %q is not a group in the tree", k, p)
				}
				node = m[p]
			}
			if s, ok := node.(string); !ok || s != vs[0] {
				t.Fatalf("key %q: tree holds %#v, want %q", k, node, vs[0])
			}
		}
		if back := EncodeForm(tree); !reflect.DeepEqual(back, form) {
			t.Fatalf("EncodeForm(DecodeForm(form)) differs:\n got %v\nwant %v", back, form)
		}
	})
}

// measure counts a tree's leaves and its depth in key parts.
func measure(m map[string]any, level int) (leaves, depth int) {
	depth = level
	for _, v := range m {
		switch x := v.(type) {
		case string:
			leaves++
		case map[string]any:
			l, d := measure(x, level+1)
			leaves += l
			depth = max(depth, d)
		}
	}
	return leaves, depth
}

// checkRejection requires the documented error: a *FieldError whose
// message is non-empty, valid UTF-8 where the input was, and short.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %T %v, want a *FieldError", err, err)
	}
	msg := err.Error()
	if strings.TrimSpace(fe.Msg) == "" {
		t.Fatalf("FieldError without a message: %+v", fe)
	}
	if len(msg) > maxErrorLen {
		t.Fatalf("error message of %d bytes (limit %d): %.200q…", len(msg), maxErrorLen, msg)
	}
}

// fuzzBodies are the seed inputs of both targets: the documented events as
// the portal encodes them, and one malformed variant per rejection.
func fuzzBodies(tb testing.TB) map[string]string {
	tb.Helper()
	doc := loadPairs(tb, "message_event.txt")
	auth := Auth{Domain: "p.example", MemberID: "m1", ApplicationToken: "app", AccessToken: "tok",
		ClientEndpoint: "https://p.example/rest/", RefreshToken: "ref", Expires: 1771932585, ExpiresIn: 3600}
	bot := BotAuth{BotID: 1011, BotCode: "olbot", Auth: Auth{AccessToken: "bottok", ClientID: "local.x", UserID: 1011}}
	chat := LineChat{ChatID: 1777, Line: 8, Client: User{ID: 569, Name: "Ivan Petrov", FirstName: "Ivan", IsConnector: true}, LeadID: 1209}
	stamp := func(ev *Event) url.Values {
		ev.HandlerID, ev.TS = 403, time.Unix(1771928985, 0).UTC()
		return ev.Form()
	}
	edit := func(base url.Values, kv ...string) string {
		f := url.Values{}
		for k, v := range base {
			f[k] = append([]string(nil), v...)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<del>" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f.Encode()
	}
	msg := stamp(MessageEvent(auth, bot, chat, 86101, "I want a pizza [URL=http://evil]x[/URL] {{email}}"))
	deep := "data"
	for i := range MaxFormDepth {
		deep += fmt.Sprintf("[%d]", i)
	}
	return map[string]string{
		"doc-message":       doc.Encode(),
		"message":           msg.Encode(),
		"join":              stamp(JoinEvent(auth, bot, chat)).Encode(),
		"command":           stamp(CommandEvent(auth, bot, chat, Command{ID: 7, Command: "menu", Params: "2", Context: "KEYBOARD", MessageID: 86102})).Encode(),
		"delete":            stamp(DeleteEvent(auth, 1011, "olbot")).Encode(),
		"install":           stamp(InstallEvent(auth, Install{Version: "3", Active: true, LanguageID: "de"})).Encode(),
		"uninstall":         edit(url.Values{"event": {"ONAPPUNINSTALL"}, "auth[member_id]": {"m1"}, "auth[application_token]": {"app"}}),
		"update-lowercase":  "event=onimbotmessageupdate&ts=1771928985.25",
		"empty":             "",
		"bad-escape":        "event=%zz&data%5BPARAMS%5D%5BDIALOG_ID%5D=chat1",
		"semicolon":         "event=ONIMBOTJOINCHAT;data[PARAMS][DIALOG_ID]=chat1",
		"unclosed-bracket":  edit(msg, "data[PARAMS", "x"),
		"close-without":     edit(msg, "data]", "x"),
		"no-name":           edit(msg, "[PARAMS]", "x"),
		"empty-brackets":    edit(msg, "data[]", "x"),
		"text-after":        edit(msg, "data[a]b", "x"),
		"nested-bracket":    edit(msg, "data[a[b]]", "x"),
		"given-twice":       msg.Encode() + "&event=ONIMBOTJOINCHAT",
		"value-and-group":   edit(msg, "data[PARAMS]", "x"),
		"too-deep":          edit(msg, deep, "x"),
		"chat-id-letters":   edit(msg, "data[PARAMS][CHAT_ID]", "abc"),
		"message-id-neg":    edit(msg, "data[PARAMS][MESSAGE_ID]", "-5"),
		"message-id-range":  edit(msg, "data[PARAMS][MESSAGE_ID]", "99999999999999999999"),
		"bool":              edit(msg, "data[USER][IS_CONNECTOR]", "maybe"),
		"bot-key":           edit(msg, "data[BOT][abc][access_token]", "t"),
		"bot-key-long":      edit(msg, "data[BOT]["+strings.Repeat("9", 80)+"x][access_token]", "t"),
		"bot-id-mismatch":   edit(msg, "data[BOT][1011][BOT_ID]", "1012"),
		"bot-value":         edit(msg, "data[BOT][1011]", "x"),
		"ts-garbage":        edit(msg, "ts", "17.x"),
		"message-group":     edit(msg, "data[PARAMS][MESSAGE]", "<del>", "data[PARAMS][MESSAGE][0]", "x"),
		"no-dialog":         edit(msg, "data[PARAMS][DIALOG_ID]", "<del>"),
		"command-no-cmd":    "event=ONIMCOMMANDADD&data%5BPARAMS%5D%5BDIALOG_ID%5D=chat1",
		"command-key":       "event=ONIMCOMMANDADD&data%5BPARAMS%5D%5BDIALOG_ID%5D=chat1&data%5BCOMMAND%5D%5Bx%5D%5BCOMMAND%5D=menu",
		"install-no-member": "event=ONAPPINSTALL&auth%5Bapplication_token%5D=x",
		"injection":         edit(msg, "data[PARAMS][MESSAGE]", "hi\nlevel=ERROR msg=forged", "data[USER][FIRST_NAME]", "{{name}}[B]x[/B]"),
		"invalid-utf8":      edit(msg, "data[PARAMS][MESSAGE]", "\xff\xfe", "data[PARAMS][DIALOG_ID]", "chat\x00"),
	}
}

// corpusEntry encodes one []byte argument in the `go test fuzz v1` format.
func corpusEntry(data []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
}

// TestFuzzSeedCorpus keeps testdata/fuzz/*/seed-* equal to fuzzBodies; run
// with -update after changing them.
func TestFuzzSeedCorpus(t *testing.T) {
	for _, target := range []string{"FuzzParseEvent", "FuzzDecodeForm"} {
		dir := filepath.Join("testdata", "fuzz", target)
		want := map[string][]byte{}
		for name, body := range fuzzBodies(t) {
			want["seed-"+name] = corpusEntry([]byte(body))
		}
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		have, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		for _, f := range have {
			if _, ok := want[filepath.Base(f)]; !ok {
				if *update {
					os.Remove(f)
					continue
				}
				t.Errorf("%s is not a seed any more: run go test ./bitrix24/ -run TestFuzzSeedCorpus -update", f)
			}
		}
		for name, entry := range want {
			path := filepath.Join(dir, name)
			if *update {
				if err := os.WriteFile(path, entry, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, entry) {
				t.Errorf("%s is missing or stale: run go test ./bitrix24/ -run TestFuzzSeedCorpus -update", path)
			}
		}
	}
}

// TestRejectionsAreShort pins the property the fuzzer checks on the inputs
// that led to a fix: a hostile key is clipped in the field of the error.
func TestRejectionsAreShort(t *testing.T) {
	long := strings.Repeat("9", 4000) + "x"
	for _, key := range []string{
		"data[BOT][" + long + "][access_token]",
		"data[COMMAND][" + long + "][COMMAND]",
		"data[BOT][1011][" + long + "][x]",
		long + "[a]",
	} {
		form := url.Values{"event": {"ONIMCOMMANDADD"}, "data[PARAMS][DIALOG_ID]": {"chat1"}, key: {"v"}}
		_, err := ParseEvent(form)
		if err == nil {
			t.Fatalf("key of %d bytes accepted", len(key))
		}
		checkRejection(t, err)
		if !utf8.ValidString(err.Error()) {
			t.Fatalf("error %q is not UTF-8", err)
		}
	}
}
