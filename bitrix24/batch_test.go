package bitrix24_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// updating reports -update (the flag is declared by the package's internal
// tests, which share this test binary).
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// recordingPortal serves a fake portal through a proxy that keeps every
// request body, so tests can see the exact bytes on the wire.
func recordingPortal(tb testing.TB, cfg fakeportal.Config) (*fakeportal.Portal, func() [][]byte) {
	tb.Helper()
	if cfg.Burst == 0 {
		cfg.Burst = -1
	}
	p := fakeportal.New(cfg)
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		p.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	p.SetBaseURL(srv.URL)
	return p, func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), bodies...)
	}
}

// goldenCalls exercise the encoding: nested KEYBOARD arrays, BB-codes and
// characters that mean something in a query (& = + % # ? [ ]), non-ASCII
// text, crm multifields, and more than ten calls, so that c10 must follow
// c9 and not c1.
func goldenCalls(botID int) []bitrix24.BatchCall {
	calls := []bitrix24.BatchCall{
		bitrix24.MessageAddRequest("chat1777", botID, "Pick [B]one[/B] & go: 1+1=2, 100% #1?", []string{"Yes, please", "Нет"}, true),
		bitrix24.SessionMessageSendRequest(1777, bitrix24.GreetDefault, "Здравствуйте! a=b&c[d]=e"),
		bitrix24.SessionMessageSendRequest(1778, bitrix24.GreetWelcome, ""),
		bitrix24.SessionOperatorRequest(1779),
		bitrix24.SessionTransferRequest(1780, 12, 0, true),
		bitrix24.SessionFinishRequest(1781),
		bitrix24.LeadAddRequest(map[string]string{"name": "Ivan", "email": "ivan+test@example.com", "phone": "+7 999 000-00-00"}),
		bitrix24.LeadUpdateRequest(1209, map[string]string{"name": "Иван"}),
	}
	for i := len(calls); i < 12; i++ {
		calls = append(calls, bitrix24.MessageAddRequest("chat"+strconv.Itoa(1800+i), botID, "message "+strconv.Itoa(i), nil, false))
	}
	return calls
}

// TestBatchEncodingGolden pins the batch request body byte for byte
// (testdata/batch_request.golden.json; rewrite it with -update) and checks
// that the portal decodes every sub-call back into the params a single call
// would carry.
func TestBatchEncodingGolden(t *testing.T) {
	p, bodies := recordingPortal(t, fakeportal.Config{})
	p.AddBot("olbot", "olbot-key", "https://bot.example/h")
	botID := p.Bots()[0].ID
	c := webhookClient(t, p, "olbot-key")
	calls := goldenCalls(botID)
	res, err := c.Batch(context.Background(), calls)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("sub-call %d (%s): %v", i, calls[i].Method, r.Err)
		}
	}
	got := bodies()[0]
	golden := filepath.Join("testdata", "batch_request.golden.json")
	if updating() {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantBody, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, wantBody) {
		t.Fatalf("batch body differs from %s (-update rewrites it):\n got: %s\nwant: %s", golden, got, wantBody)
	}

	// the body is {"cmd":{…},"halt":0}: cmd in call order, each entry
	// METHOD?QUERY encoded once (a bracket is %5B, not %255B)
	var body struct {
		Halt *int            `json:"halt"`
		Cmd  json.RawMessage `json:"cmd"`
	}
	if err := json.Unmarshal(got, &body); err != nil || body.Halt == nil || *body.Halt != 0 {
		t.Fatalf("body %s: halt missing or not 0 (%v)", got, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body.Cmd))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for i := 0; dec.More(); i++ {
		k, _ := dec.Token()
		var line string
		if err := dec.Decode(&line); err != nil {
			t.Fatal(err)
		}
		if k != "c"+strconv.Itoa(i) {
			t.Fatalf("cmd key %d is %v, want c%d: sub-calls must go in call order", i, k, i)
		}
		method, query, _ := strings.Cut(line, "?")
		if method != calls[i].Method {
			t.Fatalf("c%d: method %q, want %q", i, method, calls[i].Method)
		}
		if strings.Contains(query, "%255B") {
			t.Fatalf("c%d: double-encoded query %q: encode once inside a JSON body", i, query)
		}
		if _, err := url.ParseQuery(query); err != nil {
			t.Fatalf("c%d: query %q: %v", i, query, err)
		}
	}

	// what the portal decoded equals the params a single call sends
	recorded := p.Calls()
	for i, call := range calls {
		sub := recorded[i]
		if sub.Batch != "c"+strconv.Itoa(i) {
			t.Fatalf("recorded call %d is %s/%s, want sub-call c%d", i, sub.Batch, sub.Method, i)
		}
		single, _ := json.Marshal(call.Params)
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(single))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if got, want := fakeportal.CanonicalParams(sub.Params), fakeportal.CanonicalParams(m); got != want {
			t.Errorf("c%d %s decoded as\n%s\nwant\n%s", i, call.Method, got, want)
		}
	}
}

// TestBatchSubCallErrors runs one batch of calls that each meet another
// outcome and checks that every sub-call's error is classed exactly as the
// same call's error is when it is sent by itself.
func TestBatchSubCallErrors(t *testing.T) {
	tests := []struct {
		name  string
		call  bitrix24.BatchCall
		fault func(p *fakeportal.Portal, chat int)
		code  string
		class bitrix24.Class
	}{
		{"ok", bitrix24.MessageAddRequest("chat%d", 0, "hi", nil, false), nil, "", bitrix24.ClassOK},
		{"query limit", bitrix24.MessageAddRequest("chat%d", 0, "hi", nil, false),
			func(p *fakeportal.Portal, chat int) { p.FailChat(chat, 1, "QUERY_LIMIT_EXCEEDED") }, "QUERY_LIMIT_EXCEEDED", bitrix24.ClassTransient},
		{"time budget", bitrix24.MessageAddRequest("chat%d", 0, "hi", nil, false),
			func(p *fakeportal.Portal, chat int) { p.FailChat(chat, 1, "OPERATION_TIME_LIMIT") }, "OPERATION_TIME_LIMIT", bitrix24.ClassTransient},
		{"parameter error", bitrix24.MessageAddRequest("chat%d", 0, " ", nil, false), nil, "MESSAGE_EMPTY", bitrix24.ClassPermanent},
		{"keyboard error", bitrix24.MessageAddRequest("chat%d", 0, "hi", []string{""}, false), nil, "KEYBOARD_ERROR", bitrix24.ClassPermanent},
		{"operator already there", bitrix24.SessionOperatorRequest(0),
			func(p *fakeportal.Portal, chat int) { p.SetChatState(chat, fakeportal.StateOperator) }, "WRONG_CHAT", bitrix24.ClassDone},
		{"access denied", bitrix24.SessionFinishRequest(0),
			func(p *fakeportal.Portal, chat int) { p.FailChat(chat, 1, "ACCESS_DENIED") }, "ACCESS_DENIED", bitrix24.ClassAuth},
		{"crm not found", bitrix24.LeadUpdateRequest(999, map[string]string{"name": "A"}), nil, "", bitrix24.ClassPermanent},
	}
	// each case gets its own chat; %d in DIALOG_ID and a 0 CHAT_ID become it
	forChat := func(r bitrix24.BatchCall, chat int) bitrix24.BatchCall {
		m := map[string]any{}
		for k, v := range r.Params.(map[string]any) {
			m[k] = v
		}
		if d, ok := m["DIALOG_ID"].(string); ok {
			m["DIALOG_ID"] = strings.ReplaceAll(d, "%d", strconv.Itoa(chat))
		}
		if _, ok := m["CHAT_ID"]; ok {
			m["CHAT_ID"] = chat
		}
		return bitrix24.BatchCall{Method: r.Method, Params: m}
	}
	p := startPortal(t, fakeportal.Config{})
	p.AddBot("olbot", "", "https://bot.example/h") // the OAuth application's bot
	c, _ := oauthClient(t, p, nil)
	ctx := context.Background()

	// the same calls one by one, for the classes to compare with
	single := make([]error, len(tests))
	for i, tc := range tests {
		chat := 100 + i
		if tc.fault != nil {
			tc.fault(p, chat)
		}
		_, single[i] = c.Do(ctx, forChat(tc.call, chat))
	}
	p.Reset()
	calls := make([]bitrix24.BatchCall, len(tests))
	for i, tc := range tests {
		chat := 200 + i
		if tc.fault != nil {
			tc.fault(p, chat)
		}
		calls[i] = forChat(tc.call, chat)
	}
	res, err := c.Batch(ctx, calls)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	if n := len(p.CallsOf(bitrix24.MethodBatch)); n != 1 {
		t.Fatalf("%d batch requests, want 1", n)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := res[i]
			if got := bitrix24.Classify(r.Err); got != tc.class {
				t.Fatalf("class=%s (err %v), want %s", got, r.Err, tc.class)
			}
			if got := bitrix24.Classify(single[i]); got != tc.class {
				t.Fatalf("the single call's class=%s (err %v), want %s like the sub-call's", got, single[i], tc.class)
			}
			if tc.class == bitrix24.ClassOK {
				if r.Result == nil || r.Time == nil {
					t.Fatalf("result %s, time %s: want both", r.Result, r.Time)
				}
				return
			}
			var ae *bitrix24.APIError
			if !errors.As(r.Err, &ae) || ae.Code != tc.code || ae.Method != tc.call.Method || ae.Status != 0 {
				t.Fatalf("err=%#v, want APIError %q of %s with no HTTP status", r.Err, tc.code, tc.call.Method)
			}
			var se *bitrix24.APIError
			if errors.As(single[i], &se) && (se.Code != ae.Code || se.Description != ae.Description) {
				t.Fatalf("sub-call error %q %q, single call's %q %q", ae.Code, ae.Description, se.Code, se.Description)
			}
		})
	}
}

// TestBatchWholeRequest covers answers to the batch request as a whole: no
// sub-call result is known then, except after an expired_token that one
// refresh cures.
func TestBatchWholeRequest(t *testing.T) {
	tests := []struct {
		name     string
		fault    func(p *fakeportal.Portal)
		class    bitrix24.Class // of the batch error; ClassOK: the batch succeeds
		status   int
		requests int // batch requests the portal saw
		refresh  int // token refreshes
	}{
		{"expired token, refreshed", func(p *fakeportal.Portal) { p.ExpireTokens() }, bitrix24.ClassOK, 0, 2, 1},
		{"expired token twice", func(p *fakeportal.Portal) { p.FailNext(2, "expired_token") }, bitrix24.ClassExpired, 401, 2, 1},
		{"query limit", func(p *fakeportal.Portal) { p.QueryLimitBurst(1) }, bitrix24.ClassTransient, 503, 1, 0},
		{"internal error", func(p *fakeportal.Portal) { p.FailNext(1, "INTERNAL_SERVER_ERROR") }, bitrix24.ClassTransient, 500, 1, 0},
		{"bad gateway", func(p *fakeportal.Portal) { p.BadGateway(true) }, bitrix24.ClassTransient, 502, 1, 0},
		{"batch length", func(p *fakeportal.Portal) { p.FailNext(1, "ERROR_BATCH_LENGTH_EXCEEDED") }, bitrix24.ClassPermanent, 400, 1, 0},
		{"batch method", func(p *fakeportal.Portal) { p.FailNext(1, "ERROR_BATCH_METHOD_NOT_ALLOWED") }, bitrix24.ClassPermanent, 405, 1, 0},
		{"no auth", func(p *fakeportal.Portal) { p.FailNext(1, "NO_AUTH_FOUND") }, bitrix24.ClassAuth, 401, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startPortal(t, fakeportal.Config{})
			p.AddBot("olbot", "", "https://bot.example/h")
			c, _ := oauthClient(t, p, nil)
			tc.fault(p)
			calls := []bitrix24.BatchCall{
				bitrix24.MessageAddRequest("chat1", 0, "one", nil, false),
				bitrix24.SessionOperatorRequest(2),
				bitrix24.MessageAddRequest("chat3", 0, "three", nil, false),
			}
			res, err := c.Batch(context.Background(), calls)
			if got := bitrix24.Classify(err); got != tc.class {
				t.Fatalf("class=%s (err %v), want %s", got, err, tc.class)
			}
			batches := p.CallsOf(bitrix24.MethodBatch)
			if len(batches) != tc.requests {
				t.Fatalf("%d batch requests, want %d", len(batches), tc.requests)
			}
			if n := len(p.CallsOf("oauth/token")); n != tc.refresh {
				t.Fatalf("%d token refreshes, want %d", n, tc.refresh)
			}
			if tc.class != bitrix24.ClassOK {
				var ae *bitrix24.APIError
				if res != nil || !errors.As(err, &ae) || ae.Status != tc.status || (ae.Method != bitrix24.MethodBatch && tc.status != 502) {
					t.Fatalf("results %v, err %#v; want none and HTTP %d for the batch", res, err, tc.status)
				}
				for _, call := range p.Calls() {
					if call.Batch != "" {
						t.Fatalf("sub-call %s ran though the batch failed", call.Batch)
					}
				}
				return
			}
			for i, r := range res {
				if r.Err != nil {
					t.Fatalf("sub-call %d: %v", i, r.Err)
				}
			}
			if len(p.Messages("chat1")) != 1 || len(p.Messages("chat3")) != 1 || p.ChatState(2) != fakeportal.StateOperator {
				t.Fatal("sub-calls did not run exactly once after the refresh")
			}
		})
	}
}

// TestBatchOrder: a full batch runs c0…c49 in that order, as one request
// for the portal's rate limit.
func TestBatchOrder(t *testing.T) {
	p := startPortal(t, fakeportal.Config{Burst: 1, Rate: 0.001})
	p.AddBot("olbot", "", "https://bot.example/h")
	c, _ := oauthClient(t, p, nil)
	calls := make([]bitrix24.BatchCall, bitrix24.MaxBatch)
	for i := range calls {
		calls[i] = bitrix24.MessageAddRequest("chat7", 0, "m"+strconv.Itoa(i), nil, false)
	}
	if _, err := c.Batch(context.Background(), calls); err != nil {
		t.Fatalf("a batch of %d with a bucket of 1: %v", len(calls), err)
	}
	msgs := p.Messages("chat7")
	if len(msgs) != len(calls) {
		t.Fatalf("%d messages, want %d", len(msgs), len(calls))
	}
	for i, m := range msgs {
		if m.Text != "m"+strconv.Itoa(i) {
			t.Fatalf("message %d is %q: sub-calls ran out of order", i, m.Text)
		}
	}
}

// TestBatchClientText: what a client typed reaches the portal as typed
// inside a batch. $result[…] would be replaced by the portal with an
// earlier sub-call's result, so such a call goes by itself; a keyboard of
// more than ten buttons keeps its order (KEYBOARD goes as a JSON string).
func TestBatchClientText(t *testing.T) {
	p, _ := recordingPortal(t, fakeportal.Config{})
	p.AddBot("olbot", "olbot-key", "https://bot.example/h")
	botID := p.Bots()[0].ID
	c := webhookClient(t, p, "olbot-key")
	var buttons []string
	for i := 1; i <= 12; i++ {
		buttons = append(buttons, "button "+strconv.Itoa(i))
	}
	calls := []bitrix24.BatchCall{
		bitrix24.MessageAddRequest("chat1", botID, "first", nil, false),
		bitrix24.MessageAddRequest("chat2", botID, "You wrote: $result[c0] and $RESULT[c0]", nil, false),
		bitrix24.MessageAddRequest("chat3", botID, "pick one", buttons, false),
	}
	res, err := c.Batch(context.Background(), calls)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("call %d: %v", i, r.Err)
		}
	}
	got := map[string]fakeportal.Message{}
	for _, d := range []string{"chat1", "chat2", "chat3"} {
		if ms := p.Messages(d); len(ms) == 1 {
			got[d] = ms[0]
		}
	}
	if m := got["chat2"]; m.Text != "You wrote: $result[c0] and $RESULT[c0]" {
		t.Fatalf("message %q: the portal substituted the client's text", m.Text)
	}
	kb, _ := json.Marshal(got["chat3"].Keyboard)
	var k struct{ BUTTONS []struct{ TEXT string } }
	if err := json.Unmarshal(kb, &k); err != nil || len(k.BUTTONS) != 12 {
		t.Fatalf("keyboard %s: %v", kb, err)
	}
	for i, b := range k.BUTTONS {
		if want := "button " + strconv.Itoa(i+1); b.TEXT != want {
			t.Fatalf("button %d is %q, want %q: the order changed", i, b.TEXT, want)
		}
	}
}
