package bitrix24

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	api := func(status int, code, method string) error {
		return &APIError{Status: status, Code: code, Method: method}
	}
	tests := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, ClassOK},
		{"query limit", api(503, "QUERY_LIMIT_EXCEEDED", MethodMessageAdd), ClassTransient},
		{"operation time", api(429, "OPERATION_TIME_LIMIT", MethodMessageAdd), ClassTransient},
		{"overload", api(503, "OVERLOAD_LIMIT", MethodMessageAdd), ClassTransient},
		{"internal", api(500, "INTERNAL_SERVER_ERROR", MethodMessageAdd), ClassTransient},
		{"bare 502", api(502, "", MethodMessageAdd), ClassTransient},
		{"unknown 5xx code", api(503, "SOMETHING", MethodMessageAdd), ClassTransient},
		{"expired", api(401, "expired_token", MethodMessageAdd), ClassExpired},
		{"no auth", api(401, "NO_AUTH_FOUND", MethodMessageAdd), ClassAuth},
		{"invalid credentials", api(401, "INVALID_CREDENTIALS", MethodMessageAdd), ClassAuth},
		{"scope", api(403, "insufficient_scope", MethodMessageAdd), ClassAuth},
		{"access denied", api(403, "ACCESS_DENIED", MethodMessageAdd), ClassAuth},
		{"wrong auth type", api(403, "WRONG_AUTH_TYPE", MethodSessionFinish), ClassAuth},
		{"invalid grant", api(400, "invalid_grant", "oauth/token"), ClassAuth},
		{"unknown 403", api(403, "", MethodMessageAdd), ClassAuth},
		{"chat id empty", api(400, "CHAT_ID_EMPTY", MethodSessionOperator), ClassPermanent},
		{"message empty", api(400, "MESSAGE_EMPTY", MethodMessageAdd), ClassPermanent},
		{"bot id", api(400, "BOT_ID_ERROR", MethodSessionTransfer), ClassPermanent},
		{"operator wrong", api(400, "OPERATOR_WRONG", MethodSessionTransfer), ClassPermanent},
		{"crm not found", api(400, "", MethodLeadUpdate), ClassPermanent},
		{"wrong chat on operator", api(400, "WRONG_CHAT", MethodSessionOperator), ClassDone},
		{"wrong chat elsewhere", api(400, "WRONG_CHAT", MethodSessionTransfer), ClassPermanent},
		{"batch sub-call limit", api(0, "QUERY_LIMIT_EXCEEDED", MethodMessageAdd), ClassTransient},
		{"batch sub-call param", api(0, "MESSAGE_EMPTY", MethodMessageAdd), ClassPermanent},
		{"wrapped api error", fmt.Errorf("outbox: %w", api(503, "QUERY_LIMIT_EXCEEDED", "")), ClassTransient},
		{"network", &url.Error{Op: "Post", URL: "x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, ClassTransient},
		{"eof", io.ErrUnexpectedEOF, ClassTransient},
		{"deadline", context.DeadlineExceeded, ClassTransient},
		{"bad response", fmt.Errorf("%w: x", ErrBadResponse), ClassTransient},
		{"invalid request", fmt.Errorf("%w: x", ErrInvalidRequest), ClassPermanent},
		{"cannot refresh", fmt.Errorf("m: %w", ErrCannotRefresh), ClassAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Fatalf("Classify(%v)=%v, want %v", tc.err, got, tc.want)
			}
		})
	}
	for c, retry := range map[Class]bool{ClassTransient: true, ClassExpired: true, ClassAuth: false, ClassPermanent: false, ClassDone: false} {
		if c.Retry() != retry {
			t.Errorf("%v.Retry()=%v, want %v", c, c.Retry(), retry)
		}
	}
}

func TestAPIErrorMessage(t *testing.T) {
	tests := []struct {
		err  *APIError
		want string
	}{
		{&APIError{Status: 400, Code: "MESSAGE_EMPTY", Description: "Message can't be empty", Method: MethodMessageAdd},
			"bitrix24: imbot.message.add: MESSAGE_EMPTY: Message can't be empty (HTTP 400)"},
		{&APIError{Status: 400, Description: "Not found", Method: MethodLeadUpdate}, "bitrix24: crm.lead.update: error: Not found (HTTP 400)"},
		{&APIError{Code: "MESSAGE_EMPTY", Method: MethodMessageAdd}, "bitrix24: imbot.message.add: MESSAGE_EMPTY"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error()=%q, want %q", got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	almostOne := func() float64 { return 0.999999 }
	half := func() float64 { return 0.5 }
	tests := []struct {
		attempt int
		rnd     func() float64
		want    time.Duration
	}{
		{0, half, 500 * time.Millisecond},
		{1, half, time.Second},
		{3, half, 4 * time.Second},
		{-1, half, 500 * time.Millisecond},
		{8, half, 128 * time.Second},
		{9, half, 150 * time.Second}, // 512 s capped at 300 s
		{1000, half, 150 * time.Second},
		{0, func() float64 { return 0 }, 0},
		{2, func() float64 { return 7 }, 0}, // a broken source is clamped to 0
	}
	for _, tc := range tests {
		if got := Backoff(tc.attempt, tc.rnd); got != tc.want {
			t.Errorf("Backoff(%d)=%v, want %v", tc.attempt, got, tc.want)
		}
	}
	if got := Backoff(1000, almostOne); got >= BackoffCap || got < BackoffCap-time.Millisecond {
		t.Errorf("Backoff(1000, ~1)=%v, want just under %v", got, BackoffCap)
	}
	for i := range 50 {
		if got := Backoff(i%12, nil); got < 0 || got >= BackoffCap {
			t.Fatalf("Backoff(%d, nil)=%v out of [0, cap)", i%12, got)
		}
	}
}

// fakeClock is a manual clock whose Sleep advances time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}

func TestLimiter(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLimiter(LimiterConfig{Burst: 3, Rate: 2, Now: clk.Now, Sleep: clk.Sleep})
	for i := range 3 {
		if !l.Allow("a.bitrix24.com") {
			t.Fatalf("call %d refused within the burst", i+1)
		}
	}
	if l.Allow("a.bitrix24.com") {
		t.Fatal("4th call allowed over a burst of 3")
	}
	if d := l.Delay("a.bitrix24.com"); d != 500*time.Millisecond {
		t.Fatalf("Delay=%v, want 500ms (1 call at 2/s)", d)
	}
	if !l.Allow("b.bitrix24.com") {
		t.Fatal("another portal is limited by the first one's bucket")
	}
	clk.Advance(250 * time.Millisecond)
	if d := l.Reserve("a.bitrix24.com"); d != 250*time.Millisecond {
		t.Fatalf("Reserve after 250ms=%v, want 250ms", d)
	}
	clk.Advance(250 * time.Millisecond)
	if d := l.Reserve("a.bitrix24.com"); d != 0 {
		t.Fatalf("Reserve after 500ms=%v, want 0 (a slot drained)", d)
	}
	// Wait sleeps exactly until the next slot drains.
	start := clk.Now()
	if err := l.Wait(context.Background(), "a.bitrix24.com"); err != nil {
		t.Fatal(err)
	}
	if waited := clk.Now().Sub(start); waited != 500*time.Millisecond {
		t.Fatalf("Wait slept %v, want 500ms", waited)
	}
	// After a long idle period the full burst is available again.
	clk.Advance(time.Hour)
	for i := range 3 {
		if d := l.Reserve("a.bitrix24.com"); d != 0 {
			t.Fatalf("after idle, call %d: Reserve=%v", i+1, d)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Wait(ctx, "a.bitrix24.com"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled ctx=%v, want context.Canceled", err)
	}
}

func TestLimiterDefaultsAndConcurrency(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLimiter(LimiterConfig{Now: clk.Now})
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 80 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Allow("p") {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != DefaultBurst {
		t.Fatalf("allowed %d of 80 concurrent calls, want the default burst %d", allowed, DefaultBurst)
	}
	if d := l.Delay("p"); d != 500*time.Millisecond {
		t.Fatalf("Delay=%v, want 500ms at the default 2/s", d)
	}
}
