package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/scenarios"
)

// outboxRig is a server whose outbox is filled before it starts, so that
// the first delivery round finds every call ready at once, as after a
// burst or an outage. It talks to the fake portal as a local application
// (OAuth tokens from a stored install record).
type outboxRig struct {
	t      testing.TB
	portal *fakeportal.Portal
	store  *memstore.Store
	cfg    outbox.Config
	bot    int
	logs   *logBuf
	srv    *Replica
}

func newOutboxRig(tb testing.TB, p *fakeportal.Portal) *outboxRig {
	tb.Helper()
	r := &outboxRig{t: tb, portal: p, store: memstore.New(), cfg: localApp(p), logs: &logBuf{}}
	r.bot = p.AddBot("olbot", "", "https://olbot.example/bitrix24/events")
	c := p.Config()
	access, refresh := p.Tokens()
	in := outbox.Install{MemberID: c.MemberID, Domain: c.Domain, ClientEndpoint: p.Endpoint(), ApplicationToken: c.ApplicationToken,
		AccessToken: access, RefreshToken: refresh, Expiry: time.Now().Add(time.Hour), BotID: r.bot, InstalledAt: time.Now()}
	b, err := json.Marshal(in)
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.store.Put(context.Background(), outbox.NSPortals, c.MemberID, b); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if r.srv != nil {
			if err := r.srv.Close(); err != nil {
				tb.Errorf("close server: %v", err)
			}
		}
		_ = r.store.Close()
		if tb.Failed() {
			tb.Logf("server log:\n%s", r.logs.String())
		}
	})
	return r
}

// queue commits a dialog about chat with the calls, as one step would.
func (r *outboxRig) queue(chat int, reqs ...bitrix24.Request) {
	r.t.Helper()
	member := r.portal.Config().MemberID
	d := engine.Dialog{Key: fmt.Sprintf("b24:%s:chat%d", member, chat), Status: engine.Active, Rev: 1,
		Channel: engine.Channel{Member: member, Chat: chat, Dialog: "chat" + strconv.Itoa(chat)}}
	var calls []engine.Call
	for _, req := range reqs {
		params, err := json.Marshal(req.Params)
		if err != nil {
			r.t.Fatal(err)
		}
		calls = append(calls, engine.Call{Portal: member, Method: req.Method, Params: params, Created: time.Now()})
	}
	if err := r.store.Commit(context.Background(), engine.Commit{Dialog: d, Calls: calls}); err != nil {
		r.t.Fatal(err)
	}
}

// say is imbot.message.add of text into chat from the rig's bot.
func (r *outboxRig) say(chat int, text string) bitrix24.Request {
	return bitrix24.MessageAddRequest("chat"+strconv.Itoa(chat), r.bot, text, nil, false)
}

// start opens the server; maxBatch 1 sends every call by itself.
func (r *outboxRig) start(maxBatch int) {
	r.t.Helper()
	cfg := Config{Listen: "127.0.0.1:0", Debounce: 50 * time.Millisecond, ShutdownGrace: 5 * time.Second}
	ob := r.cfg
	ob.MaxBatch = maxBatch
	srv := Assemble(r.t, cfg, Wiring{Store: r.store, Registry: scenarios.NewRegistry(defaultScenarios(r.t), nil), Outbox: ob,
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err := srv.Open(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.srv = srv
}

// drain waits until no call is pending and returns how many are parked.
func (r *outboxRig) drain(timeout time.Duration) int {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pending, parked, err := r.store.Depth(context.Background())
		if err == nil && pending == 0 {
			return parked
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("outbox not drained after %s: pending=%d parked=%d err=%v", timeout, pending, parked, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// texts returns the texts of the messages posted into chat, in order.
func texts(p *fakeportal.Portal, chat int) []string {
	var out []string
	for _, m := range p.Messages("chat" + strconv.Itoa(chat)) {
		out = append(out, m.Text)
	}
	return out
}

// chatOf says which chat a recorded call is about (CHAT_ID or DIALOG_ID).
func chatOf(c fakeportal.Call) int {
	if id := c.Int("CHAT_ID"); id > 0 {
		return id
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(c.Str("DIALOG_ID"), "chat"))
	return n
}

// batchesOf groups the recorded sub-calls by the batch request they came
// in (a batch's sub-calls are recorded just before the batch itself).
func batchesOf(calls []fakeportal.Call) [][]fakeportal.Call {
	var out [][]fakeportal.Call
	var cur []fakeportal.Call
	for _, c := range calls {
		switch {
		case c.Batch != "":
			cur = append(cur, c)
		case c.Method == bitrix24.MethodBatch:
			out = append(out, cur)
			cur = nil
		}
	}
	return out
}

// TestBatchedDeliveryOutcomes: calls of several dialogs that are ready
// together go out in one batch, and each sub-call's outcome is recorded on
// its own call: delivered, retried (QUERY_LIMIT_EXCEEDED on that sub-call
// alone), parked (a parameter error; the dialog's next call still goes), or
// done (WRONG_CHAT on session.operator: a person already has the chat).
func TestBatchedDeliveryOutcomes(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	r := newOutboxRig(t, p)
	tests := []struct {
		name      string
		chat      int
		calls     []bitrix24.Request
		fault     func()
		want      []string // messages posted into the chat, in order
		wantState string   // fakeportal chat state afterwards
		parked    string   // error code of the dialog's parked call; "" for none
	}{
		{name: "ok", chat: 9001, calls: []bitrix24.Request{r.say(9001, "a1"), r.say(9001, "a2")}, want: []string{"a1", "a2"}},
		{name: "query limit on one sub-call: retried, then in order", chat: 9002,
			calls: []bitrix24.Request{r.say(9002, "b1"), r.say(9002, "b2")},
			fault: func() { p.FailChat(9002, 1, "QUERY_LIMIT_EXCEEDED") }, want: []string{"b1", "b2"}},
		{name: "parameter error: parked, later call goes", chat: 9003,
			calls: []bitrix24.Request{r.say(9003, " "), r.say(9003, "c2")}, want: []string{"c2"}, parked: "MESSAGE_EMPTY"},
		{name: "WRONG_CHAT on operator: done", chat: 9004,
			calls: []bitrix24.Request{bitrix24.SessionOperatorRequest(9004), r.say(9004, "d2")},
			fault: func() { p.SetChatState(9004, fakeportal.StateOperator) }, want: []string{"d2"}, wantState: fakeportal.StateOperator},
		{name: "finish", chat: 9005, calls: []bitrix24.Request{r.say(9005, "e1"), bitrix24.SessionFinishRequest(9005)},
			want: []string{"e1"}, wantState: fakeportal.StateFinished},
	}
	for _, tc := range tests {
		r.queue(tc.chat, tc.calls...)
		if tc.fault != nil {
			tc.fault()
		}
	}
	r.start(bitrix24.MaxBatch)
	if parked := r.drain(waitTimeout); parked != 1 {
		t.Fatalf("%d parked calls, want 1", parked)
	}

	batches := batchesOf(p.Calls())
	if len(batches) == 0 || len(batches[0]) != len(tests) {
		t.Fatalf("first batch %v: want one sub-call per dialog (%d)", batches, len(tests))
	}
	for i, b := range batches {
		seen := map[int]bool{}
		for _, c := range b {
			if seen[chatOf(c)] {
				t.Fatalf("batch %d holds two calls of chat %d", i, chatOf(c))
			}
			seen[chatOf(c)] = true
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := texts(p, tc.chat); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("messages %q, want %q", got, tc.want)
			}
			if got := p.ChatState(tc.chat); got != tc.wantState {
				t.Fatalf("chat state %q, want %q", got, tc.wantState)
			}
			left, err := r.store.Calls(context.Background(), fmt.Sprintf("b24:%s:chat%d", p.Config().MemberID, tc.chat))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.parked == "" && len(left) != 0:
				t.Fatalf("calls left in the outbox: %+v", left)
			case tc.parked != "" && (len(left) != 1 || !left[0].Parked || !strings.Contains(left[0].Error, tc.parked)):
				t.Fatalf("outbox %+v: want the one call parked with %s", left, tc.parked)
			}
		})
	}
	if n := len(p.CallsOf("imbot.message.add")) - len(texts(p, 9001)) - len(texts(p, 9002)) - len(texts(p, 9003)) - len(texts(p, 9004)) - len(texts(p, 9005)); n != 2 {
		t.Fatalf("%d failed imbot.message.add sub-calls, want 2 (the query limit and the empty message)", n)
	}
	resp, err := http.Get("http://" + r.srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `olbot_portal_requests_total{kind="batch"}`) {
		t.Fatalf("metrics lack batch requests:\n%s", grepLines(string(body), "olbot_portal_requests"))
	}
}

// TestBatchedDeliveryExpiredToken: the batch as a whole meets 401
// expired_token; the client refreshes the token once and sends the batch
// again; every call is delivered once and the rotated tokens are saved.
func TestBatchedDeliveryExpiredToken(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	r := newOutboxRig(t, p)
	const chats = 12
	for i := range chats {
		r.queue(9100+i, r.say(9100+i, "hello "+strconv.Itoa(i)))
	}
	p.ExpireTokens()
	r.start(bitrix24.MaxBatch)
	r.drain(waitTimeout)

	var statuses []int
	for _, c := range p.CallsOf(bitrix24.MethodBatch) {
		statuses = append(statuses, c.Status)
	}
	if fmt.Sprint(statuses) != "[401 200]" {
		t.Fatalf("batch answers %v, want [401 200]: one expired, one after the refresh", statuses)
	}
	if n := len(p.CallsOf("oauth/token")); n != 1 {
		t.Fatalf("%d token refreshes, want 1", n)
	}
	for i := range chats {
		if got := texts(p, 9100+i); len(got) != 1 {
			t.Fatalf("chat %d: messages %q, want one", 9100+i, got)
		}
	}
	access, _ := p.Tokens()
	in, err := r.srv.Outbox.Portals().Get(context.Background(), p.Config().MemberID)
	if err != nil || in.AccessToken != access {
		t.Fatalf("install record %+v (%v): want the refreshed token %s", in, err, access)
	}
}

// TestBatchedDeliveryOrder: a burst of many dialogs with several calls
// each, through a portal that enforces its real limit (50, 2/s) and fails
// some sub-calls transiently: every dialog's calls arrive exactly once and
// in order, no batch holds two calls of one dialog, batches stay within 50
// calls, and the portal never refuses a request for the rate limit,
// because a batch counts as one request.
func TestBatchedDeliveryOrder(t *testing.T) {
	p := newPortal(t, fakeportal.Config{Burst: bitrix24.DefaultBurst, Rate: bitrix24.DefaultRate})
	r := newOutboxRig(t, p)
	r.cfg.Rate, r.cfg.Burst = bitrix24.DefaultRate, bitrix24.DefaultBurst
	const chats, per = 300, 4
	for i := range chats {
		chat := 10000 + i
		var reqs []bitrix24.Request
		for k := range per {
			reqs = append(reqs, r.say(chat, fmt.Sprintf("%d/%d", chat, k)))
		}
		r.queue(chat, reqs...)
		if i%7 == 0 {
			p.FailChat(chat, 1+i%3, "QUERY_LIMIT_EXCEEDED")
		}
		if i%11 == 0 {
			p.FailChat(chat, 1, "INTERNAL_SERVER_ERROR")
		}
	}
	r.start(bitrix24.MaxBatch)
	r.drain(waitTimeout)

	for i := range chats {
		chat := 10000 + i
		var want []string
		for k := range per {
			want = append(want, fmt.Sprintf("%d/%d", chat, k))
		}
		if got := texts(p, chat); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("chat %d: messages %q, want %q", chat, got, want)
		}
	}
	batches := batchesOf(p.Calls())
	for i, b := range batches {
		if len(b) > bitrix24.MaxBatch {
			t.Fatalf("batch %d has %d calls", i, len(b))
		}
		seen := map[int]bool{}
		for _, c := range b {
			if seen[chatOf(c)] {
				t.Fatalf("batch %d holds two calls of chat %d", i, chatOf(c))
			}
			seen[chatOf(c)] = true
		}
	}
	for _, c := range p.CallsOf(bitrix24.MethodBatch) {
		if !c.OK() {
			t.Fatalf("batch refused: %d %s", c.Status, c.Error)
		}
	}
	t.Logf("%d calls of %d dialogs: %d batch requests, %d sub-calls (retries included)", chats*per, chats, len(batches), countSub(p.Calls()))
}

// countSub counts recorded batch sub-calls.
func countSub(calls []fakeportal.Call) int {
	n := 0
	for _, c := range calls {
		if c.Batch != "" {
			n++
		}
	}
	return n
}

// TestOutboxDrain measures how long the outbox takes to deliver a backlog
// of calls (OLBOT_DRAIN_CALLS, default 1,000, one per dialog) with batches
// of up to 50 and with one call per request: with the portal's rate limit
// off, and with its real limit (a bucket of 50 draining at 2/s) — sped up
// 50 times for one call per request, which would otherwise take minutes
// (skipped with -short). It prints the figures (BENCHMARKS.md, "Outbox
// delivery") and asserts no timing.
func TestOutboxDrain(t *testing.T) {
	n := 1000
	if s := os.Getenv("OLBOT_DRAIN_CALLS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("OLBOT_DRAIN_CALLS=%q", s)
		}
		n = v
	}
	tests := []struct {
		name    string
		batch   int
		speedup float64 // of the portal's drain rate; 0: no rate limit
	}{
		{"batches of 50, no rate limit", bitrix24.MaxBatch, 0},
		{"one call per request, no rate limit", 1, 0},
		{"batches of 50, real limit", bitrix24.MaxBatch, 1},
		{"one call per request, limit 50x faster", 1, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.speedup > 1 && testing.Short() {
				t.Skip("takes about 10 s")
			}
			cfg := fakeportal.Config{}
			if tc.speedup > 0 {
				cfg.Burst, cfg.Rate = bitrix24.DefaultBurst, bitrix24.DefaultRate*tc.speedup
			}
			p := newPortal(t, cfg)
			r := newOutboxRig(t, p)
			if tc.speedup > 0 {
				r.cfg.Burst, r.cfg.Rate = cfg.Burst, cfg.Rate
			}
			for i := range n {
				r.queue(20000+i, r.say(20000+i, "hello"))
			}
			start := time.Now()
			r.start(tc.batch)
			r.drain(5 * time.Minute)
			took := time.Since(start)
			calls := p.Calls()
			requests := len(calls) - countSub(calls)
			delivered := 0
			for _, c := range p.CallsOf("imbot.message.add") {
				if c.OK() {
					delivered++
				}
			}
			if delivered != n {
				t.Fatalf("%d calls delivered, want %d", delivered, n)
			}
			limit := "off"
			if tc.speedup > 0 {
				limit = fmt.Sprintf("%d@%g/s", cfg.Burst, cfg.Rate)
			}
			line := fmt.Sprintf("OUTBOX DRAIN calls=%d max_batch=%d limit=%s requests=%d seconds=%.2f calls_per_second=%.0f",
				n, tc.batch, limit, requests, took.Seconds(), float64(n)/took.Seconds())
			if tc.speedup > 0 {
				// the same requests through the real bucket: 50 at once,
				// then 2 per second
				line += fmt.Sprintf(" at_real_limit_seconds>=%.0f", max(0, float64(requests-bitrix24.DefaultBurst))/bitrix24.DefaultRate)
			}
			t.Log(line)
			fmt.Println(line)
		})
	}
}

// TestBatchedDeliveryWholeBatch: answers to a batch as a whole apply to
// every call in it, as they would to each call sent alone, except a batch
// error (400/405), after which the calls go out one by one.
func TestBatchedDeliveryWholeBatch(t *testing.T) {
	tests := []struct {
		name    string
		fault   func(p *fakeportal.Portal)
		parked  int    // calls parked in the end
		singles bool   // the calls were then sent one by one
		first   string // status and error of the first batch request
	}{
		{"query limit: retried", func(p *fakeportal.Portal) { p.QueryLimitBurst(1) }, 0, false, "503 QUERY_LIMIT_EXCEEDED"},
		{"internal error: retried", func(p *fakeportal.Portal) { p.FailNext(1, "INTERNAL_SERVER_ERROR") }, 0, false, "500 INTERNAL_SERVER_ERROR"},
		{"batch refused: sent one by one", func(p *fakeportal.Portal) { p.FailNext(1, "ERROR_BATCH_METHOD_NOT_ALLOWED") }, 0, true, "405 ERROR_BATCH_METHOD_NOT_ALLOWED"},
		{"no authorization: parked", func(p *fakeportal.Portal) { p.FailNext(1, "NO_AUTH_FOUND") }, 3, false, "401 NO_AUTH_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPortal(t, fakeportal.Config{})
			r := newOutboxRig(t, p)
			for i := range 3 {
				r.queue(9200+i, r.say(9200+i, "hi "+strconv.Itoa(i)))
			}
			tc.fault(p)
			r.start(bitrix24.MaxBatch)
			if parked := r.drain(waitTimeout); parked != tc.parked {
				t.Fatalf("%d parked, want %d", parked, tc.parked)
			}
			batches := p.CallsOf(bitrix24.MethodBatch)
			if len(batches) == 0 || fmt.Sprintf("%d %s", batches[0].Status, batches[0].Error) != tc.first {
				t.Fatalf("batch requests %+v, want the first answered %s", batches, tc.first)
			}
			singles := 0
			for _, c := range p.CallsOf("imbot.message.add") {
				if c.Batch == "" {
					singles++
				}
			}
			if tc.singles != (singles == 3) || (!tc.singles && singles != 0) {
				t.Fatalf("%d calls sent by themselves; want all three: %v", singles, tc.singles)
			}
			for i := range 3 {
				want := 1
				if tc.parked > 0 {
					want = 0
				}
				if got := texts(p, 9200+i); len(got) != want {
					t.Fatalf("chat %d: messages %q, want %d", 9200+i, got, want)
				}
			}
		})
	}
}
