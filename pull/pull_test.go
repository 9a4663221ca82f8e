package pull_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/pull"
)

// clock is a fake clock: Sleep advances it (and yields a moment of real
// time so that the portal's goroutines run).
type clock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 6, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	time.Sleep(100 * time.Microsecond)
	return ctx.Err()
}

func (c *clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// sink is a Sink over pull.Memory that applies each event once, by id.
type sink struct {
	*pull.Memory
	mu       sync.Mutex
	applied  []bitrix24.V2Event
	seen     map[int64]bool
	repeats  int
	failNext int                       // Apply calls to fail before committing
	before   func(n int, f pull.Fence) // called at the start of Apply number n (1, 2, …)
	calls    int
}

func newSink(clk *clock) *sink {
	return &sink{Memory: &pull.Memory{Now: clk.Now}, seen: map[int64]bool{}}
}

var errStoreDown = errors.New("store down")

func (s *sink) Apply(ctx context.Context, events []bitrix24.V2Event, next int64, f pull.Fence) error {
	s.mu.Lock()
	s.calls++
	n, before := s.calls, s.before
	fail := s.failNext > 0
	if fail {
		s.failNext--
	}
	s.mu.Unlock()
	if before != nil {
		before(n, f)
	}
	if fail {
		return errStoreDown
	}
	return s.Commit(ctx, f, next, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, ev := range events {
			if s.seen[ev.ID] {
				s.repeats++
				continue
			}
			s.seen[ev.ID] = true
			s.applied = append(s.applied, ev)
		}
		return nil
	})
}

func (s *sink) Applied() []bitrix24.V2Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bitrix24.V2Event(nil), s.applied...)
}

type env struct {
	portal *fakeportal.Portal
	bot    *bitrix24.V2
	chat   *fakeportal.V2Chat
	clk    *clock
	sink   *sink
}

func newEnv(t *testing.T) *env {
	t.Helper()
	p, srv := fakeportal.NewServer(fakeportal.Config{Burst: -1})
	t.Cleanup(srv.Close)
	c, err := bitrix24.NewWebhook(p.WebhookURL(), "", bitrix24.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.V2Register(context.Background(), bitrix24.V2RegisterParams{Code: "olbot", Token: "tok", Name: "olbot"})
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	return &env{portal: p, bot: c.V2Bot(info.ID, "tok"), clk: clk, sink: newSink(clk),
		chat: p.V2Chat(info.ID, 1, 1777, bitrix24.User{FirstName: "Anna"})}
}

func (e *env) config(holder string) pull.Config {
	return pull.Config{
		Key: "b24:fake:v2bot:olbot", Holder: holder, Portal: "fake",
		Source: e.bot, Sink: e.sink, Lease: e.sink.Memory,
		Now: e.clk.Now, Sleep: e.clk.Sleep, Rand: func() float64 { return 0.5 },
		Log: slog.New(slog.DiscardHandler),
	}
}

// start runs a poller until the test ends or stop is called; done gets
// Run's error.
func start(t *testing.T, cfg pull.Config) (p *pull.Poller, stop func(), done <-chan error) {
	t.Helper()
	p, err := pull.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-ch; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return p, stop, ch
}

// waitFor waits (in real time, with a generous deadline that only bounds a
// failing test) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func texts(evs []bitrix24.V2Event) string {
	var b []string
	for _, ev := range evs {
		b = append(b, ev.Type[len("ONIMBOTV2"):]+":"+ev.Message.Text)
	}
	return strings.Join(b, " ")
}

const conversation = "JOINCHAT: MESSAGEADD:hello MESSAGEADD:Anna MESSAGEADD:anna@example.com"

func (e *env) talk() {
	e.chat.Join()
	e.chat.Say("hello")
	e.chat.Say("Anna")
	e.chat.Say("anna@example.com")
}

// TestPollerDelivers: every event reaches the sink once, in order, and is
// confirmed at the portal, whatever fails on the way.
func TestPollerDelivers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		setup      func(e *env, cfg *pull.Config)
		wantErrors int64
	}{
		{"plain", nil, 0},
		{"store fails twice before commit", func(e *env, _ *pull.Config) { e.sink.failNext = 2 }, 2},
		{"portal 503 twice", func(e *env, _ *pull.Config) { e.portal.FailNext(2, "QUERY_LIMIT_EXCEEDED") }, 2},
		{"portal 429 once", func(e *env, _ *pull.Config) { e.portal.FailNext(1, "OPERATION_TIME_LIMIT") }, 1},
		{"one event per poll", func(_ *env, cfg *pull.Config) { cfg.Limit = 1 }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.talk()
			cfg := e.config("a")
			if tc.setup != nil {
				tc.setup(e, &cfg)
			}
			p, stop, _ := start(t, cfg)
			waitFor(t, "all events applied and confirmed", func() bool {
				return len(e.sink.Applied()) == 4 && e.portal.V2Pending(e.bot.ID()) == 0
			})
			stop()
			if got := texts(e.sink.Applied()); got != conversation {
				t.Fatalf("applied %q, want %q", got, conversation)
			}
			st := p.Stats()
			if st.Errors != tc.wantErrors || e.sink.repeats != 0 {
				t.Fatalf("errors %d (want %d), repeats %d", st.Errors, tc.wantErrors, e.sink.repeats)
			}
			off, _ := e.sink.Offset(context.Background(), cfg.Key)
			if off != st.Offset || off <= e.sink.Applied()[3].ID {
				t.Fatalf("stored offset %d, poller's %d, last event %d", off, st.Offset, e.sink.Applied()[3].ID)
			}
		})
	}
}

// TestPollerCrash: a replica that dies between polling and committing
// leaves the events unconfirmed, and the next one applies them; one that
// dies after committing leaves nothing to repeat, since the next one polls
// from the written offset.
func TestPollerCrash(t *testing.T) {
	for _, tc := range []struct {
		name   string
		commit bool // whether the dying Apply commits first
	}{
		{"killed between poll and commit", false},
		{"killed after commit, before the confirming poll", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.talk()
			ctx, kill := context.WithCancel(context.Background())
			dying := &dyingSink{sink: e.sink, kill: kill, commit: tc.commit}
			cfg := e.config("a")
			cfg.Sink, cfg.Lease = dying, crashLease{e.sink.Memory}
			p, err := pull.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			want := 0
			if tc.commit {
				want = 4
			}
			if len(e.sink.Applied()) != want {
				t.Fatalf("%d applied by the dying replica, want %d", len(e.sink.Applied()), want)
			}
			if e.portal.V2Pending(e.bot.ID()) != 4 {
				t.Fatal("the portal confirmed events no later poll confirmed")
			}
			e.chat.Say("after the crash")
			_, stop, _ := start(t, e.config("b")) // takes over once a's lease lapses
			waitFor(t, "the next replica applies everything", func() bool {
				return len(e.sink.Applied()) == 5 && e.portal.V2Pending(e.bot.ID()) == 0
			})
			stop()
			if got, want := texts(e.sink.Applied()), conversation+" MESSAGEADD:after the crash"; got != want {
				t.Fatalf("applied %q, want %q", got, want)
			}
			if e.sink.repeats != 0 {
				t.Fatalf("%d repeats reached the sink's dedupe, want 0", e.sink.repeats)
			}
		})
	}
}

// dyingSink kills its poller inside the first Apply, before or after
// committing.
type dyingSink struct {
	*sink
	kill   func()
	commit bool
}

func (d *dyingSink) Apply(ctx context.Context, events []bitrix24.V2Event, next int64, f pull.Fence) error {
	var err error
	if d.commit {
		err = d.sink.Apply(ctx, events, next, f)
	}
	d.kill()
	if err == nil {
		err = context.Canceled
	}
	return err
}

// crashLease never releases: a killed process does not.
type crashLease struct{ *pull.Memory }

func (crashLease) Release(context.Context, pull.Fence) error { return nil }

// TestPollerRejects: malformed events are recorded and skipped, never
// blocking the ones behind them; documented events olbot does not act on
// are counted and skipped.
func TestPollerRejects(t *testing.T) {
	e := newEnv(t)
	e.chat.Say("first")
	bad := map[string]any{"bot": map[string]any{"id": e.bot.ID()}, "message": map[string]any{"id": "abc"}}
	e.portal.V2Push(e.bot.ID(), bitrix24.EventV2MessageAdd, bad)
	e.portal.V2Push(e.bot.ID(), "ONIMBOTV2NEWTHING", map[string]any{})
	e.portal.V2Push(e.bot.ID(), bitrix24.EventV2ReactionChange, map[string]any{"bot": map[string]any{"id": e.bot.ID()}})
	e.chat.Say("second")
	var mu sync.Mutex
	var reported []string
	cfg := e.config("a")
	kept := pull.Rejects{KV: memstore.New(), Keys: []string{cfg.Key}}
	cfg.Rejects = kept
	cfg.OnReject = func(r pull.Rejection) {
		mu.Lock()
		reported = append(reported, r.Reason.Field)
		mu.Unlock()
	}
	p, stop, _ := start(t, cfg)
	waitFor(t, "the good events", func() bool {
		return len(e.sink.Applied()) == 2 && e.portal.V2Pending(e.bot.ID()) == 0
	})
	stop()
	if got := texts(e.sink.Applied()); got != "MESSAGEADD:first MESSAGEADD:second" {
		t.Fatalf("applied %q", got)
	}
	st := p.Stats()
	if st.Rejected != 2 || st.Ignored != 1 || len(st.Rejections) != 2 {
		t.Fatalf("rejected %d, ignored %d, kept %d", st.Rejected, st.Ignored, len(st.Rejections))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(p)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if lbl := m.GetLabel(); len(lbl) != 1 || lbl[0].GetValue() != cfg.Key {
				t.Fatalf("%s labels %v", f.GetName(), lbl)
			}
			got[f.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	if got["olbot_pull_events_rejected_total"] != 2 || got["olbot_pull_events_ignored_total"] != 1 || got["olbot_pull_events_total"] != 2 {
		t.Fatalf("metrics %v", got)
	}
	list, err := kept.List(context.Background())
	if err != nil || len(list) != 2 {
		t.Fatalf("kept in the store: %+v, %v; want both", list, err)
	}
	for i, want := range []string{"data.chat", "type"} {
		r := st.Rejections[i]
		if r.Reason.Field != want || r.Reason.EventID == 0 || reported[i] != want {
			t.Fatalf("rejection %d: %v (reported %q), want field %s", i, r.Reason, reported[i], want)
		}
		if k := list[i]; k.Field != want || k.EventID != r.Reason.EventID || k.Reason != r.Reason.Error() {
			t.Fatalf("kept rejection %d: %+v, want %v", i, k, r.Reason)
		}
	}
}

// TestPollerIntervals: polls every Interval while a chat is active (an
// event within ActiveFor) and every Idle otherwise.
func TestPollerIntervals(t *testing.T) {
	e := newEnv(t)
	e.chat.Say("hello")
	_, stop, _ := start(t, e.config("a"))
	waitFor(t, "a minute and more of polls", func() bool { return len(e.clk.Sleeps()) >= 33 })
	stop()
	sleeps := e.clk.Sleeps()[:33]
	for i, d := range sleeps {
		want := 2 * time.Second
		if i >= 30 { // the poll 60 s after the event finds the chats quiet
			want = 5 * time.Second
		}
		if d != want {
			t.Fatalf("sleep %d = %v, want %v (all: %v)", i, d, want, sleeps)
		}
	}
}

// TestPollerPauses: the pause before the next poll counts from the
// portal's answer (the time the page took to commit is part of it), and a
// refused poll waits the backoff — after a rate-limit refusal at least a
// second more, the portal's counter dropping once a second.
func TestPollerPauses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fail   string        // the portal's answer to the first poll, if injected
		commit time.Duration // how long the first page takes to commit
		want   time.Duration // the first sleep
	}{
		{name: "no wait to commit", want: 5 * time.Second},
		{name: "a slow commit", commit: 1200 * time.Millisecond, want: 3800 * time.Millisecond},
		{name: "a commit longer than the pause", commit: 6 * time.Second, want: 0},
		// Rand gives 0.5: half the first backoff ceiling of 1 s
		{name: "a transient error", fail: "INTERNAL_SERVER_ERROR", want: 500 * time.Millisecond},
		{name: "the rate limit", fail: "QUERY_LIMIT_EXCEEDED", want: 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.fail != "" {
				e.portal.FailNext(1, tc.fail)
			}
			e.sink.before = func(n int, _ pull.Fence) {
				if n == 1 {
					e.clk.mu.Lock()
					e.clk.t = e.clk.t.Add(tc.commit)
					e.clk.mu.Unlock()
				}
			}
			_, stop, _ := start(t, e.config("a"))
			waitFor(t, "the first sleep", func() bool { return len(e.clk.Sleeps()) >= 1 })
			stop()
			if got := e.clk.Sleeps()[0]; got != tc.want {
				t.Fatalf("first sleep %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRateLimited(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&bitrix24.APIError{Status: 503, Code: "QUERY_LIMIT_EXCEEDED"}, true},
		{fmt.Errorf("poll: %w", &bitrix24.APIError{Code: "query_limit_exceeded"}), true},
		{&bitrix24.APIError{Status: 429}, true},
		{&bitrix24.APIError{Status: 503, Code: "OVERLOAD_LIMIT"}, false},
		{&bitrix24.APIError{Status: 500, Code: "INTERNAL_SERVER_ERROR"}, false},
		{errors.New("connection refused"), false},
	} {
		if got := pull.RateLimited(tc.err); got != tc.want {
			t.Errorf("RateLimited(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestPollerOneReplica: of two replicas one polls; when it dies without
// releasing, the other takes over within the lease time from the written
// offset.
func TestPollerOneReplica(t *testing.T) {
	e := newEnv(t)
	e.talk()
	var pollsA, pollsB atomic.Int64
	ctxA, killA := context.WithCancel(context.Background())
	cfgA := e.config("a")
	cfgA.Source, cfgA.Lease = counting{e.bot, &pollsA}, crashLease{e.sink.Memory}
	a, err := pull.New(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	waitFor(t, "a holds the lease", func() bool { return a.Stats().Holding })
	cfgB := e.config("b")
	cfgB.Source = counting{e.bot, &pollsB}
	// Only a's sleeps move the lease clock while a lives (a waiting b would
	// otherwise age a's lease faster than a renews it); b's do once a is gone.
	var aGone atomic.Bool
	cfgB.Sleep = func(ctx context.Context, d time.Duration) error {
		if aGone.Load() {
			return e.clk.Sleep(ctx, d)
		}
		time.Sleep(100 * time.Microsecond)
		return ctx.Err()
	}
	b, stopB, _ := start(t, cfgB)
	waitFor(t, "a applies the conversation", func() bool { return len(e.sink.Applied()) == 4 })
	if b.Stats().Holding || pollsB.Load() != 0 {
		t.Fatalf("b holds %v, polled %d times while a held the lease", b.Stats().Holding, pollsB.Load())
	}
	killA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	aGone.Store(true)
	e.chat.Say("to the new replica")
	waitFor(t, "b takes over", func() bool { return len(e.sink.Applied()) == 5 })
	stopB()
	if e.sink.repeats != 0 || pollsB.Load() == 0 {
		t.Fatalf("repeats %d, b polled %d times", e.sink.repeats, pollsB.Load())
	}
}

type counting struct {
	pull.Source
	n *atomic.Int64
}

func (c counting) Poll(ctx context.Context, off int64, limit int, waiting []bitrix24.Request) (bitrix24.V2Page, []bitrix24.BatchResult, error) {
	c.n.Add(1)
	return c.Source.Poll(ctx, off, limit, waiting)
}

// TestPollerFenced: a replica whose lease is taken over between polling
// and committing writes nothing; the events are applied once, by whoever
// holds the lease.
func TestPollerFenced(t *testing.T) {
	e := newEnv(t)
	e.talk()
	cfg := e.config("a")
	cfg.LeaseTTL = 15 * time.Second
	e.sink.before = func(n int, f pull.Fence) {
		if n != 1 {
			return
		}
		// a stalls past its lease; b takes the key and leaves
		_ = e.clk.Sleep(context.Background(), 20*time.Second)
		fb, err := e.sink.Acquire(context.Background(), cfg.Key, "b", time.Second)
		if err != nil || fb.Number <= f.Number {
			t.Errorf("b acquire: %+v, %v", fb, err)
		}
	}
	p, stop, _ := start(t, cfg)
	waitFor(t, "applied after re-acquiring", func() bool {
		return len(e.sink.Applied()) == 4 && e.portal.V2Pending(e.bot.ID()) == 0
	})
	stop()
	if st := p.Stats(); st.Fenced != 1 || e.sink.repeats != 0 {
		t.Fatalf("fenced %d, repeats %d", st.Fenced, e.sink.repeats)
	}
}

// TestPollerStops: an error a person must act on ends Run at once with
// that error, instead of a silent retry loop.
func TestPollerStops(t *testing.T) {
	e := newEnv(t)
	wrong, err := bitrix24.NewWebhook(strings.Replace(e.portal.WebhookURL(), "fakewebhooksecret", "expired", 1), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		source pull.Source
		fail   string // the portal's answer to the poll, if injected
		want   string
		is     error
	}{
		{"deleted webhook", wrong.V2Bot(e.bot.ID(), "tok"), "", "NO_AUTH_FOUND", bitrix24.ErrWebhookRefused},
		// a webhook has no token to refresh: expired_token is its refusal
		{"expired webhook", e.bot, "expired_token", "expired_token", bitrix24.ErrWebhookRefused},
		{"unknown bot", e.bot.Client().V2Bot(999, "tok"), "", "BOT_NOT_FOUND", nil},
		{"another token", e.bot.Client().V2Bot(e.bot.ID(), "other"), "", "BOT_OWNERSHIP_ERROR", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.portal.CallsOf(bitrix24.MethodV2EventGet))
			if tc.fail != "" {
				e.portal.FailNext(1, tc.fail)
			}
			cfg := e.config("a")
			cfg.Source = tc.source
			p, err := pull.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("Run: %v, want an error with %s", err, tc.want)
			}
			if n := len(e.portal.CallsOf(bitrix24.MethodV2EventGet)) - before; n != 1 {
				t.Fatalf("%d polls, want 1", n)
			}
		})
	}
}

// rides is a Carrier handing out its calls once.
type rides struct {
	mu    sync.Mutex
	calls []bitrix24.Request
	got   []bitrix24.BatchResult
}

func (r *rides) Rides(max int) []pull.Ride {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []pull.Ride
	for len(r.calls) > 0 && len(out) < max {
		out = append(out, pull.Ride{Call: r.calls[0], Done: func(res bitrix24.BatchResult) {
			r.mu.Lock()
			r.got = append(r.got, res)
			r.mu.Unlock()
		}})
		r.calls = r.calls[1:]
	}
	return out
}

// TestPollerCarriesCalls: waiting sends travel in the poll's batch, under
// the budget.
func TestPollerCarriesCalls(t *testing.T) {
	e := newEnv(t)
	e.chat.Say("hello")
	carrier := &rides{calls: []bitrix24.Request{
		e.bot.MessageSendRequest("chat1777", bitrix24.V2Message{Text: "Hi!"}),
		// as an outbox stores it, without the token: the poll prepares it
		bitrix24.V2MessageSendRequest(e.bot.ID(), "chat1777", bitrix24.V2Message{Text: "Your name?"}),
	}}
	var budgetWaits atomic.Int64
	cfg := e.config("a")
	cfg.Rides = carrier
	cfg.Budget = bitrix24.NewLimiter(bitrix24.LimiterConfig{Burst: 1, Rate: 0.25, Now: e.clk.Now,
		Sleep: func(ctx context.Context, d time.Duration) error { budgetWaits.Add(1); return e.clk.Sleep(ctx, d) }})
	_, stop, _ := start(t, cfg)
	waitFor(t, "the sends and the event", func() bool {
		carrier.mu.Lock()
		defer carrier.mu.Unlock()
		return len(carrier.got) == 2 && len(e.sink.Applied()) == 1 && budgetWaits.Load() > 0
	})
	stop()
	for i, r := range carrier.got {
		if r.Err != nil {
			t.Fatalf("ride %d: %v", i, r.Err)
		}
	}
	if msgs := e.portal.Messages("chat1777"); len(msgs) != 2 || msgs[1].Text != "Your name?" {
		t.Fatalf("messages %+v", msgs)
	}
	for _, c := range e.portal.CallsOf(bitrix24.MethodV2MessageSend) {
		if c.Batch == "" {
			t.Fatal("a send travelled alone")
		}
	}
}
