package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// compression is how much faster than real time the portal-fault test runs
// the delivery backoff: bitrix24's policy (1 s first ceiling, 5 min cap)
// divided by it. A 3 s outage in the test is a 10 min outage for olbot.
const compression = 200

// TestPortalFaultsUnderLoad runs many chats through the support scenario,
// one client step per phase, while the portal fails in each phase in
// another way: down for (compressed) minutes, QUERY_LIMIT_EXCEEDED in
// bursts, answers slower than the client's timeout, then merely slow, every
// token expired, and parameter errors. The server acknowledges every event
// throughout; it backs off while the portal is down, refreshes the token,
// parks what can never succeed, and delivers everything else once the
// portal recovers, in order per chat: delivered + parked = expected, lost 0.
// (TestPortalOutage is the step-by-step version with three chats.)
func TestPortalFaultsUnderLoad(t *testing.T) {
	const chats, clientTimeout = 24, time.Second
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) {
		e.backoff = func(attempt int) time.Duration {
			return bitrix24.BackoffPolicy{Base: bitrix24.BackoffBase / compression, Cap: bitrix24.BackoffCap / compression}.Delay(attempt, nil)
		}
		e.ob.HTTPClient = &http.Client{Timeout: clientTimeout}
	})
	bot := e.install()
	names := []string{"Anna", "Boris", "Vera", "Gleb", "Daria", "Egor"}
	type run struct {
		chat   *fakeportal.Chat
		name   string
		events []func() url.Values
	}
	runs := make([]run, chats)
	for i := range runs {
		name := names[i%len(names)]
		chat := e.chat(1+2*(i%2), 7101+i, name) // lines 1 and 3: support
		runs[i] = run{chat: chat, name: name, events: supportEvents(chat, name)}
	}
	var mu sync.Mutex
	var refused []string
	// step posts every chat's event number step at once, as the portal would.
	step := func(n int) {
		var wg sync.WaitGroup
		for _, r := range runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := r.chat.Send(context.Background(), r.events[n]())
				if err != nil {
					mu.Lock()
					refused = append(refused, err.Error())
					mu.Unlock()
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					refused = append(refused, fmt.Sprintf("chat %d step %d: %s", r.chat.ChatID, n, resp.Status))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	errorsOf := func(code string) int { return countErrors(p, code) }
	hit := func(what, code string, before, n int) {
		waitFor(t, what, func() (bool, string) {
			got := errorsOf(code) - before
			return got >= n, fmt.Sprintf("%d %s answers", got, code)
		})
	}

	// 1. down for "minutes": every attempt dropped; backoff keeps the attempts few
	before := errorsOf("connection dropped")
	p.Down(true)
	step(0)
	hit("the outage to be met", "connection dropped", before, chats)
	time.Sleep(3 * time.Second) // ten minutes at the compressed backoff
	p.Down(false)
	downAttempts := errorsOf("connection dropped") - before

	// 2. QUERY_LIMIT_EXCEEDED: a burst longer than the step's calls, so
	// that their first retries meet it too (another burst comes with 4)
	before = errorsOf("QUERY_LIMIT_EXCEEDED")
	p.QueryLimitBurst(chats + chats/2)
	step(1)
	hit("a query-limit burst", "QUERY_LIMIT_EXCEEDED", before, chats+chats/2)

	// 3. answers slower than the client's timeout, then slow but in time
	network := e.counter(`olbot_portal_call_errors_total{code="network"}`) // the outage's so far
	p.Delay(clientTimeout + 500*time.Millisecond)
	step(2)
	waitFor(t, "requests given up on at the client's timeout", func() (bool, string) {
		n := e.counter(`olbot_portal_call_errors_total{code="network"}`) - network
		return n > 0, fmt.Sprint(n)
	})
	time.Sleep(2 * time.Second)
	p.Delay(clientTimeout / 4)
	time.Sleep(time.Second)
	p.Delay(0)

	// 4. every token expired (401 expired_token: refresh, go on), after
	// another query-limit burst
	refreshes := len(p.CallsOf("oauth/token"))
	before = errorsOf("expired_token")
	p.QueryLimitBurst(chats / 2)
	p.ExpireTokens()
	step(3)
	hit("expired tokens to be met", "expired_token", before, 1)
	waitFor(t, "a token refresh", func() (bool, string) {
		n := len(p.CallsOf("oauth/token")) - refreshes
		return n > 0, fmt.Sprint(n)
	})

	// 5. parameter errors: parked at once, nothing else held up
	const bad = 5
	before = errorsOf("CHAT_ID_EMPTY")
	p.FailNext(bad, "CHAT_ID_EMPTY")
	step(4)
	hit("the parameter errors", "CHAT_ID_EMPTY", before, bad)

	if len(refused) > 0 {
		t.Fatalf("%d events not acknowledged during portal faults: %s", len(refused), strings.Join(refused, "; "))
	}
	waitFor(t, "the outbox to drain", func() (bool, string) {
		pending, parked, err := e.store.(interface {
			Depth(context.Context) (int, int, error)
		}).Depth(context.Background())
		return err == nil && pending == 0, fmt.Sprintf("pending=%d parked=%d err=%v", pending, parked, err)
	})

	// every chat: delivered (duplicates collapsed) = expected minus its parked calls
	var expected, deliveredN, duplicates, parked int
	for _, r := range runs {
		flow := supportFlow(t, r.chat, bot, r.name)
		expected += len(flow)
		d := e.dialog(e.key(r.chat))
		want := append([]string(nil), flow...)
		for _, c := range d.Calls {
			if !c.Parked || !strings.Contains(c.Error, "CHAT_ID_EMPTY") {
				t.Fatalf("chat %d: call %+v left in the outbox; want only calls parked for CHAT_ID_EMPTY", r.chat.ChatID, c)
			}
			parked++
			text := viewCall(t, c)
			for i, w := range want {
				if w == text {
					want = append(want[:i], want[i+1:]...)
					break
				}
			}
		}
		got := delivered(p, about(r.chat))
		var dedup []string
		for i, c := range got {
			if i == 0 || c != got[i-1] {
				dedup = append(dedup, c)
			}
		}
		duplicates += len(got) - len(dedup)
		deliveredN += len(dedup)
		checkCalls(t, dedup, want)
		if d.Status != "finished" {
			t.Fatalf("chat %d: dialog %s, want finished", r.chat.ChatID, d.Status)
		}
	}
	for _, c := range p.CallsOf("oauth/token") {
		if !c.OK() {
			t.Fatalf("token refresh failed: %+v", c)
		}
	}
	lost := expected - deliveredN - parked
	if parked < 1 || lost != 0 {
		t.Fatalf("expected %d calls: %d delivered, %d parked, %d lost", expected, deliveredN, parked, lost)
	}
	// backing off: a few attempts per call over the outage, not a storm
	if per := float64(downAttempts) / chats; per > 100 {
		t.Fatalf("%d attempts for %d calls while the portal was down: no backoff", downAttempts, chats)
	}
	retried := e.counter(`olbot_portal_calls_total{`, `result="retry"`)
	line := fmt.Sprintf("PORTALFAULTS chats=%d events=%d calls_expected=%d delivered=%d parked=%d lost=%d duplicates=%d retries=%.0f attempts_while_down=%d (%.1f per call) errors: network=%.0f QUERY_LIMIT_EXCEEDED=%d expired_token=%d CHAT_ID_EMPTY=%d token_refreshes=%d",
		chats, chats*5, expected, deliveredN, parked, lost, duplicates, retried, downAttempts, float64(downAttempts)/chats,
		e.counter(`olbot_portal_call_errors_total{code="network"}`), errorsOf("QUERY_LIMIT_EXCEEDED"), errorsOf("expired_token"), errorsOf("CHAT_ID_EMPTY"), len(p.CallsOf("oauth/token")))
	t.Log(line)
	fmt.Println(line)
}

// counter sums the samples of /metrics whose line has every one of parts.
func (e *env) counter(parts ...string) float64 {
	e.t.Helper()
	var sum float64
	for _, l := range strings.Split(e.metrics(), "\n") {
		match := !strings.HasPrefix(l, "#")
		for _, part := range parts {
			match = match && strings.Contains(l, part)
		}
		if !match {
			continue
		}
		if i := strings.LastIndexByte(l, ' '); i > 0 {
			v, err := strconv.ParseFloat(l[i+1:], 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum
}

// viewCall renders an outbox call of GET /v1/dialogs like want does.
func viewCall(tb testing.TB, c CallView) string {
	tb.Helper()
	var params map[string]any
	dec := json.NewDecoder(strings.NewReader(string(c.Params)))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		tb.Fatalf("params of call %d: %v", c.ID, err)
	}
	return c.Method + " " + fakeportal.CanonicalParams(params)
}
