package lines_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/lines"
)

// webhookReader reads lines through a real REST client, as outbox.Portals
// does with its webhook.
type webhookReader struct{ c *bitrix24.Client }

func (r webhookReader) LineConfig(ctx context.Context, _ string, line int) (bitrix24.LineConfig, error) {
	raw, err := r.c.Do(ctx, bitrix24.ConfigGetRequest(line))
	if err != nil {
		return bitrix24.LineConfig{}, err
	}
	return bitrix24.ParseLineConfig(raw)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setup(t *testing.T, cfg fakeportal.Config) (*fakeportal.Portal, *lines.Cache, *clock) {
	t.Helper()
	cfg.Burst = -1
	p, srv := fakeportal.NewServer(cfg)
	t.Cleanup(srv.Close)
	c, err := bitrix24.NewWebhook(p.WebhookURL(), "")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2027, 1, 4, 12, 0, 0, 0, time.UTC)}
	cache := lines.New(webhookReader{c}, lines.Options{Fresh: 10 * time.Minute, Retry: time.Minute, Now: clk.Now,
		Logger: slog.New(slog.DiscardHandler)})
	return p, cache, clk
}

func configGets(p *fakeportal.Portal) int {
	n := 0
	for _, c := range p.Calls() {
		if c.Method == bitrix24.MethodConfigGet {
			n++
		}
	}
	return n
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	type step struct {
		do        func(p *fakeportal.Portal, clk *clock)
		line      int
		want      string
		wantCalls int // imopenlines.config.get requests so far, refused ones included
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{name: "read once while fresh, again when stale", steps: []step{
			{line: 4, want: "en", wantCalls: 1},
			{do: func(p *fakeportal.Portal, _ *clock) { p.SetLineLanguage(4, "ru") }, line: 4, want: "en", wantCalls: 1},
			{do: func(_ *fakeportal.Portal, c *clock) { c.Advance(10 * time.Minute) }, line: 4, want: "ru", wantCalls: 2},
		}},
		{name: "each line on its own", steps: []step{
			{do: func(p *fakeportal.Portal, _ *clock) { p.SetLineLanguage(7, "de") }, line: 4, want: "en", wantCalls: 1},
			{line: 7, want: "de", wantCalls: 2},
		}},
		{name: "the last known language while the portal is down", steps: []step{
			{line: 4, want: "en", wantCalls: 1},
			{do: func(p *fakeportal.Portal, c *clock) {
				p.SetLineLanguage(4, "ru")
				p.Down(true)
				c.Advance(11 * time.Minute)
			}, line: 4, want: "en", wantCalls: 2},
			// the failure is not repeated within Retry; then the portal is asked again
			{do: func(p *fakeportal.Portal, c *clock) { p.Down(false); c.Advance(30 * time.Second) }, line: 4, want: "en", wantCalls: 2},
			{do: func(_ *fakeportal.Portal, c *clock) { c.Advance(31 * time.Second) }, line: 4, want: "ru", wantCalls: 3},
		}},
		{name: "never read: no language, retried after Retry", steps: []step{
			{do: func(p *fakeportal.Portal, _ *clock) { p.FailNext(1, "QUERY_LIMIT_EXCEEDED") }, line: 4, want: "", wantCalls: 1},
			{line: 4, want: "", wantCalls: 1},
			{do: func(_ *fakeportal.Portal, c *clock) { c.Advance(time.Minute) }, line: 4, want: "en", wantCalls: 2},
		}},
		{name: "a line the portal does not have", steps: []step{
			{line: 9, want: "", wantCalls: 1},
			{line: 9, want: "", wantCalls: 1},
		}},
		{name: "no line: nothing asked", steps: []step{
			{line: 0, want: "", wantCalls: 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, cache, clk := setup(t, fakeportal.Config{Lines: []int{4, 7}})
			for i, s := range tc.steps {
				if s.do != nil {
					s.do(p, clk)
				}
				if got := cache.Language(ctx, "member", s.line); got != s.want {
					t.Fatalf("step %d: language %q, want %q", i, got, s.want)
				}
				if n := configGets(p); n != s.wantCalls {
					t.Fatalf("step %d: %d imopenlines.config.get calls, want %d", i, n, s.wantCalls)
				}
			}
		})
	}
}

// TestCacheConcurrent: chats of one line starting together ask once.
func TestCacheConcurrent(t *testing.T) {
	p, cache, _ := setup(t, fakeportal.Config{})
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = cache.Language(context.Background(), "member", 4)
		}()
	}
	wg.Wait()
	for i, l := range got {
		if l != "en" {
			t.Fatalf("reader %d: %q, want en", i, l)
		}
	}
	if n := configGets(p); n != 1 {
		t.Fatalf("%d imopenlines.config.get calls, want 1", n)
	}
}

// TestBotTime: BotTime never asks the portal and says when the line is
// due to be read; Refresh reads it then, and not while it is fresh or
// within Retry of a failure.
func TestBotTime(t *testing.T) {
	ctx := context.Background()
	p, cache, clk := setup(t, fakeportal.Config{Lines: []int{4}})
	p.SetLineSettings(4, map[string]any{"WELCOME_BOT_TIME": "600"})
	check := func(step string, wantBot time.Duration, wantDue bool, wantCalls int) {
		t.Helper()
		if bot, due := cache.BotTime("member", 4); bot != wantBot || due != wantDue {
			t.Errorf("%s: BotTime %s, due %v; want %s, %v", step, bot, due, wantBot, wantDue)
		}
		if n := configGets(p); n != wantCalls {
			t.Errorf("%s: %d imopenlines.config.get calls, want %d", step, n, wantCalls)
		}
	}
	check("never read", 0, true, 0)
	if bot := cache.Refresh(ctx, "member", 4); bot != 10*time.Minute {
		t.Errorf("Refresh: %s, want 10m", bot)
	}
	check("read", 10*time.Minute, false, 1)
	cache.Refresh(ctx, "member", 4)
	check("refreshed while fresh", 10*time.Minute, false, 1)
	clk.Advance(10 * time.Minute)
	p.SetLineSettings(4, map[string]any{"WELCOME_BOT_TIME": "120"})
	check("stale", 10*time.Minute, true, 1)
	p.Down(true)
	cache.Refresh(ctx, "member", 4)
	check("the portal down: the last known", 10*time.Minute, false, 2)
	p.Down(false)
	clk.Advance(time.Minute)
	check("the failure's retry passed", 10*time.Minute, true, 2)
	if bot := cache.Refresh(ctx, "member", 4); bot != 2*time.Minute {
		t.Errorf("Refresh after the retry: %s, want 2m", bot)
	}
	check("read again", 2*time.Minute, false, 3)
	if bot, due := cache.BotTime("member", 0); bot != 0 || due {
		t.Errorf("no line: %s, %v", bot, due)
	}
}

// TestHoursBackground: a line's working time read before is kept fresh in
// the background: once old, the last known hours come back at once while
// the portal is asked, and the new ones after.
func TestHoursBackground(t *testing.T) {
	ctx := context.Background()
	p, cache, clk := setup(t, fakeportal.Config{Lines: []int{4}})
	hours := func(from string) map[string]any {
		return map[string]any{"WORKTIME_ENABLE": "Y", "WORKTIME_FROM": from, "WORKTIME_TO": "18:00", "WORKTIME_TIMEZONE": "UTC"}
	}
	p.SetLineSettings(4, hours("09:00"))
	if h := cache.Hours(ctx, "member", 4); h == nil || !h.Open(clk.Now()) {
		t.Fatalf("Monday 12:00 in 09:00–18:00: %v, want open", h)
	}
	p.SetLineSettings(4, hours("13:00"))
	clk.Advance(11 * time.Minute)
	if h := cache.Hours(ctx, "member", 4); h == nil || !h.Open(clk.Now()) {
		t.Fatal("old hours: want the last known ones (open) while the portal is asked")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if h := cache.Hours(ctx, "member", 4); h != nil && !h.Open(clk.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new hours (13:00–18:00) never arrived; %d imopenlines.config.get calls", configGets(p))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := configGets(p); n != 2 {
		t.Errorf("%d imopenlines.config.get calls, want 2", n)
	}
}
