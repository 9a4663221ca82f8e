package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/scenarios"
)

// To fuzz (the seeds below run in every go test):
//
//	go test -run='^$' -fuzz='^FuzzBitrix24Handler$' -fuzztime=60s ./server/
//	go test -run='^$' -fuzz='^FuzzEventsJSON$' -fuzztime=60s ./server/
//
// Each input gets a fresh server (memory store) over one registry of
// examples/, loaded once; the server is not opened: requests go straight to
// Handler(), so nothing listens and no portal call is delivered.

// fuzzAppToken is the application token of the webhook bot the fuzzed
// portal events claim to come from.
const fuzzAppToken = "fuzz-application-token"

var (
	fuzzRegistryOnce sync.Once
	fuzzRegistry     *scenarios.Registry
)

func examplesRegistry(tb testing.TB) *scenarios.Registry {
	tb.Helper()
	fuzzRegistryOnce.Do(func() {
		r := scenarios.NewRegistry("../examples", nil)
		if res, err := r.Reload(); err != nil || len(res.Problems) > 0 {
			tb.Fatalf("examples do not load: %v %v", err, res.Problems)
		}
		fuzzRegistry = r
	})
	if fuzzRegistry == nil {
		tb.Fatal("examples did not load")
	}
	return fuzzRegistry
}

// fuzzServer is a fresh server over the examples with a memory store.
func fuzzServer(tb testing.TB) *Server {
	tb.Helper()
	return Assemble(tb, Config{BodyLimit: 64 << 10, Bitrix24: Bitrix24Config{AppToken: fuzzAppToken}},
		Wiring{Store: memstore.New(), Registry: examplesRegistry(tb), Outbox: outbox.Config{ClientID: "fuzz-client"}}).Server
}

// serve runs one request against h, failing when it does not finish
// within a generous bound (a hang, not a slow machine).
func serveBounded(tb testing.TB, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	tb.Helper()
	rec := httptest.NewRecorder()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		h.ServeHTTP(rec, req)
	}()
	select {
	case p := <-done:
		if p != nil {
			tb.Fatalf("%s %s panicked past the recoverer: %v", req.Method, req.URL, p)
		}
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s %s did not answer within 10s", req.Method, req.URL)
	}
	return rec
}

// checkAnswer requires a 200 or 4xx JSON answer; a 4xx says what is wrong.
func checkAnswer(tb testing.TB, rec *httptest.ResponseRecorder, body []byte) map[string]any {
	tb.Helper()
	if rec.Code >= 500 || rec.Code < 200 || rec.Code >= 300 && rec.Code < 400 {
		tb.Fatalf("status %d %s for body %q", rec.Code, rec.Body.Bytes(), body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		tb.Fatalf("status %d: answer %q is not a JSON object: %v", rec.Code, rec.Body.Bytes(), err)
	}
	if rec.Code >= 400 {
		if msg, _ := m["error"].(string); strings.TrimSpace(msg) == "" {
			tb.Fatalf("status %d without an error message: %s", rec.Code, rec.Body.Bytes())
		}
	}
	return m
}

// fuzzChat is the Open Lines chat of the seeds: line 1 (support).
var fuzzChat = bitrix24.LineChat{ChatID: 1777, Line: 1, Client: bitrix24.User{ID: 569, Name: "Ivan Petrov", FirstName: "Ivan", IsConnector: true}, LeadID: 1209}

func fuzzAuth() (bitrix24.Auth, bitrix24.BotAuth) {
	auth := bitrix24.Auth{Domain: "fuzz.bitrix24.com", MemberID: "fuzz-member", ApplicationToken: fuzzAppToken,
		ClientEndpoint: "https://fuzz.bitrix24.com/rest/", AccessToken: "fuzz-access"}
	bot := bitrix24.BotAuth{BotID: 1011, BotCode: outbox.BotCode, Auth: auth}
	return auth, bot
}

func fuzzPost(tb testing.TB, s *Server, body string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, "/bitrix24/events", strings.NewReader(body))
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return serveBounded(tb, s.Handler(), req)
}

// FuzzBitrix24Handler posts arbitrary form bodies to /bitrix24/events of a
// server whose chat 1777 has started: never a 5xx or a panic, always a JSON
// answer, and a 4xx says what is wrong.
func FuzzBitrix24Handler(f *testing.F) {
	auth, bot := fuzzAuth()
	msg := func(id int, text string) string {
		ev := bitrix24.MessageEvent(auth, bot, fuzzChat, id, text)
		ev.HandlerID, ev.TS = 403, time.Unix(1771928985, 0)
		return ev.Form().Encode()
	}
	join := bitrix24.JoinEvent(auth, bot, fuzzChat).Form().Encode()
	for _, body := range []string{
		msg(86101, "Leave a request"),
		msg(86102, "anna"),
		msg(86103, "operator"),
		msg(86104, "0"),
		msg(86105, "[URL=http://evil.example]{{email}}[/URL]\nlevel=ERROR msg=forged"),
		join,
		bitrix24.CommandEvent(auth, bot, fuzzChat, bitrix24.Command{ID: 7, Command: "menu", Params: "2", Context: "KEYBOARD", MessageID: 86106}).Form().Encode(),
		bitrix24.DeleteEvent(auth, 1011, outbox.BotCode).Form().Encode(),
		bitrix24.InstallEvent(auth, bitrix24.Install{Version: "1", Active: true, Installed: true}).Form().Encode(),
		strings.Replace(msg(86107, "hi"), fuzzAppToken, "forged", -1),
		strings.Replace(msg(86108, "hi"), "CHAT_ENTITY_TYPE%5D=LINES", "CHAT_ENTITY_TYPE%5D=", 1),
		strings.Replace(msg(86109, "hi"), "telegrambot%7C1%7C", "telegrambot%7C5%7C", 1),
		"event=ONAPPUNINSTALL&auth%5Bmember_id%5D=fuzz-member&auth%5Bapplication_token%5D=" + fuzzAppToken,
		"event=ONIMBOTMESSAGEADD&data%5BPARAMS%5D%5BDIALOG_ID%5D=chat1&auth%5Bmember_id%5D=m&auth%5Bapplication_token%5D=" + fuzzAppToken,
		"event=%zz",
		"",
	} {
		f.Add([]byte(body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		s := fuzzServer(t)
		if rec := fuzzPost(t, s, join); rec.Code != http.StatusOK {
			t.Fatalf("join: %d %s", rec.Code, rec.Body.Bytes())
		}
		checkAnswer(t, fuzzPost(t, s, string(body)), body)
	})
}

// FuzzEventsJSON posts arbitrary bodies to /v1/events of a server whose
// dialog "fuzz" has started on line 1: 200 or a 4xx with a JSON error,
// never a 5xx.
func FuzzEventsJSON(f *testing.F) {
	for _, body := range []string{
		`{"dialog":"fuzz","type":"message","text":"Leave a request"}`,
		`{"dialog":"fuzz","type":"button","button":2}`,
		`{"dialog":"fuzz","type":"button","text":"Talk to a person"}`,
		`{"dialog":"fuzz","type":"idle"}`,
		`{"dialog":"fuzz","type":"close"}`,
		`{"dialog":"fuzz","line":2,"type":"start","client":"{{name}}[B]"}`,
		`{"dialog":"other","scenario":"faq","type":"start","id":"e1"}`,
		`{"dialog":"fuzz","scenario":"russian","type":"start"}`,
		`{"dialog":"fuzz","type":"message","text":"anna","id":"m1"}`,
		`{"dialog":"fuzz","type":"warp"}`,
		`{"dialog":"","type":"start"}`,
		`{"dialog":"a b","type":"start"}`,
		`{"dialog":"fuzz","type":"start","line":-1}`,
		`{"dialog":"fuzz","type":"start","extra":1}`,
		`{"dialog":"fuzz","type":"button","button":99}`,
		`{"dialog":"fuzz","type":"start"} {}`,
		`{"dialog":1}`,
		`[`,
		``,
	} {
		f.Add([]byte(body))
	}
	start := `{"dialog":"fuzz","line":1,"type":"start","client":"Anna"}`
	f.Fuzz(func(t *testing.T, body []byte) {
		s := fuzzServer(t)
		if rec := postJSONTo(t, s, "/v1/events", start); rec.Code != http.StatusOK {
			t.Fatalf("start: %d %s", rec.Code, rec.Body.Bytes())
		}
		checkAnswer(t, postJSONTo(t, s, "/v1/events", string(body)), body)
	})
}

func postJSONTo(tb testing.TB, s *Server, path, body string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Content-Type", "application/json")
	return serveBounded(tb, s.Handler(), req)
}

// TestFuzzSeedsReachTheEngine makes sure the seeds do what they are for:
// the realistic ones pass every check and step a dialog.
func TestFuzzSeedsReachTheEngine(t *testing.T) {
	s := fuzzServer(t)
	auth, bot := fuzzAuth()
	if rec := fuzzPost(t, s, bitrix24.JoinEvent(auth, bot, fuzzChat).Form().Encode()); rec.Code != http.StatusOK {
		t.Fatalf("join: %d %s", rec.Code, rec.Body.Bytes())
	}
	rec := fuzzPost(t, s, bitrix24.MessageEvent(auth, bot, fuzzChat, 1, "Leave a request").Form().Encode())
	m := checkAnswer(t, rec, nil)
	if m["outcome"] != "applied" {
		t.Fatalf("message: %s", rec.Body.Bytes())
	}
	d := s.registry.Current().Set.Lookup(1)
	if d == nil || d.Name != "support" {
		t.Fatalf("line 1 is served by %v", d)
	}
	rec = postJSONTo(t, s, "/v1/events", `{"dialog":"fuzz","line":1,"type":"start","client":"Anna"}`)
	if m := checkAnswer(t, rec, nil); m["outcome"] != "applied" {
		t.Fatalf("api start: %s", rec.Body.Bytes())
	}
	form, _ := url.ParseQuery(bitrix24.MessageEvent(auth, bot, fuzzChat, 2, "x").Form().Encode())
	if form.Get("auth[application_token]") != fuzzAppToken {
		t.Fatalf("seed form has token %q", form.Get("auth[application_token]"))
	}
}
