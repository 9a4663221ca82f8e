package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// countErrors counts the portal's recorded answers with error code.
func countErrors(p *fakeportal.Portal, code string) int {
	n := 0
	for _, c := range p.Calls() {
		if c.Error == code {
			n++
		}
	}
	return n
}

// TestPortalOutage runs conversations through a portal that fails in every
// way olbot must ride out. Events keep being acknowledged; once the portal is
// back every call of every acknowledged event is delivered, once, in order
// per chat.
func TestPortalOutage(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	bot := e.install()

	// one fault per client step; every step's calls meet it
	rounds := []struct {
		name  string
		on    func()
		off   func()
		codes []string // the errors the portal records while the fault lasts
	}{
		{"portal down", func() { p.Down(true) }, func() { p.Down(false) }, []string{"connection dropped"}},
		{"bad gateway", func() { p.BadGateway(true) }, func() { p.BadGateway(false) }, []string{"bad gateway"}},
		{"query limit burst and internal errors", func() { p.QueryLimitBurst(8); p.FailNext(3, "INTERNAL_SERVER_ERROR") }, nil,
			[]string{"QUERY_LIMIT_EXCEEDED", "INTERNAL_SERVER_ERROR"}},
		{"expired token (refreshed, then again)", func() { p.FailNext(4, "expired_token") }, nil, []string{"expired_token"}},
		{"every token expired", p.ExpireTokens, nil, []string{"expired_token"}},
	}
	names := []string{"Anna", "Boris", "Vera"}
	chats := make([]*fakeportal.Chat, len(names))
	events := make([][]func() url.Values, len(names))
	for i, n := range names {
		chats[i] = e.chat(1+2*(i%2), 5001+i, n) // lines 1 and 3: support
		events[i] = supportEvents(chats[i], n)
	}
	if len(rounds) != len(events[0]) {
		t.Fatalf("%d fault rounds for %d client steps", len(rounds), len(events[0]))
	}
	for step, r := range rounds {
		before := map[string]int{}
		for _, code := range r.codes {
			before[code] = countErrors(p, code)
		}
		r.on()
		for i, chat := range chats {
			status, body := e.postForm(events[i][step](), "")
			if status != http.StatusOK {
				t.Fatalf("%s: chat %d step %d: %d %v, want the event acknowledged", r.name, chat.ChatID, step, status, body)
			}
		}
		waitFor(t, r.name+" to hit the outbox", func() (bool, string) {
			var seen []string
			for _, code := range r.codes {
				n := countErrors(p, code) - before[code]
				if n == 0 {
					return false, strings.Join(seen, ", ") + " no " + code
				}
				seen = append(seen, fmt.Sprintf("%d %s", n, code))
			}
			return true, ""
		})
		if r.off != nil {
			r.off()
		}
	}
	e.settle()
	for i, chat := range chats {
		checkCalls(t, delivered(p, about(chat)), supportFlow(t, chat, bot, names[i]))
		if d := e.dialog(e.key(chat)); d.Status != "finished" || len(d.Calls) != 0 {
			t.Fatalf("dialog %+v: want finished with no pending or parked calls", d)
		}
	}
	if n := len(p.CallsOf("oauth/token")); n == 0 {
		t.Fatal("no token refresh after expired_token")
	}
	for _, c := range p.CallsOf("oauth/token") {
		if !c.OK() {
			t.Fatalf("token refresh failed: %+v (refresh tokens rotate: a stale one must never be used)", c)
		}
	}
	metrics := e.metrics()
	for _, line := range []string{
		`olbot_portal_call_errors_total{code="QUERY_LIMIT_EXCEEDED"}`,
		`olbot_portal_call_errors_total{code="network"}`,
		`olbot_portal_call_retries_total`,
		`olbot_outbox_calls{state="pending"} 0`,
		`olbot_outbox_calls{state="parked"} 0`,
	} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}

// TestParkedCall: a call the portal refuses for good is parked with its
// error, shows in GET /v1/dialogs/{id}, and blocks neither the dialog's later
// calls nor other dialogs.
func TestParkedCall(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	bot := e.install()
	tests := []struct {
		code   string
		status int
	}{
		{"CHAT_ID_EMPTY", 400},
		{"KEYBOARD_ERROR", 400},
		{"ACCESS_DENIED", 403},
		{"ERROR_METHOD_NOT_FOUND", 404},
	}
	for i, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			a := e.chat(1, 6001+10*i, "Anna")
			b := e.chat(1, 6002+10*i, "Boris")
			e.send(a, a.Join())
			e.send(b, b.Join())
			e.settle()

			p.FailNext(1, tc.code)
			e.send(a, a.Say("Leave a request")) // its one call is refused
			var parked CallView
			waitFor(t, "the refused call to be parked", func() (bool, string) {
				d := e.dialog(e.key(a))
				if len(d.Calls) == 1 && d.Calls[0].Parked {
					parked = d.Calls[0]
					return true, ""
				}
				return false, fmt.Sprintf("%+v", d.Calls)
			})
			if parked.Method != bitrix24.MethodMessageAdd || !strings.Contains(parked.Error, tc.code) ||
				!strings.Contains(parked.Error, fmt.Sprintf("HTTP %d", tc.status)) || !strings.Contains(string(parked.Params), "How may I call you?") {
				t.Fatalf("parked call %+v; want imbot.message.add with its %s error", parked, tc.code)
			}
			// later calls of the same dialog and of other dialogs go out
			e.send(a, a.Say("anna"))
			e.send(b, b.Say("Leave a request"))
			e.settle()
			flowA := supportFlow(t, a, bot, "Anna")
			checkCalls(t, delivered(p, about(a)), []string{flowA[0], flowA[1], flowA[3]})
			checkCalls(t, delivered(p, about(b)), supportFlow(t, b, bot, "Boris")[:3])
			d := e.dialog(e.key(a))
			if d.State != "ask_email" || len(d.Calls) != 1 || d.Calls[0].ID != parked.ID || !d.Calls[0].Parked {
				t.Fatalf("dialog %+v: want ask_email with the parked call still listed", d)
			}
			if strings.Contains(string(d.Calls[0].Params), p.Config().ApplicationToken) {
				t.Fatal("the dialog view shows a secret")
			}
		})
	}
	if m := e.metrics(); !strings.Contains(m, fmt.Sprintf(`olbot_outbox_calls{state="parked"} %d`, len(tests))) {
		t.Errorf("metrics do not count %d parked calls:\n%s", len(tests), grepLines(m, "olbot_outbox"))
	}
}

// metrics reads GET /metrics.
func (e *env) metrics() string {
	e.t.Helper()
	status, body := e.request(http.MethodGet, "/metrics", "", nil, "")
	if status != http.StatusOK {
		e.t.Fatalf("GET /metrics: %d", status)
	}
	return string(body)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTokenRotationUnderEvents: access tokens expire again and again while
// events keep arriving with the portal's newest token. Refresh tokens rotate
// on every refresh, so olbot must never lose the newest one: a lost update
// of the install record, or two token sources for one portal, makes the
// next refresh fail with invalid_grant and parks the calls.
func TestTokenRotationUnderEvents(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { e.backoff = func(int) time.Duration { return time.Millisecond } })
	e.install()
	const chats, rounds = 4, 8
	var wg sync.WaitGroup
	errs := make(chan string, chats)
	for i := range chats {
		chat := e.chat(40, 5101+i, "Anna") // line 40: faq, the default; unmatched text loops back to the menu
		wg.Add(1)
		go func() {
			defer wg.Done()
			post := func(ev url.Values) bool {
				resp, err := chat.Send(context.Background(), ev)
				if err != nil {
					errs <- err.Error()
					return false
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- resp.Status
					return false
				}
				return true
			}
			if !post(chat.Join()) {
				return
			}
			for r := range rounds {
				if i == 0 {
					p.ExpireTokens() // one chat keeps expiring the tokens: deliveries refresh
				}
				if !post(chat.Say(fmt.Sprintf("zzz %d", r))) { // built now: the newest token
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e.settle()
	refreshes := p.CallsOf("oauth/token")
	for _, c := range refreshes {
		if !c.OK() {
			t.Fatalf("token refresh failed: %+v", c)
		}
	}
	if len(refreshes) == 0 {
		t.Fatal("no token was refreshed")
	}
	_, parked, err := e.store.(interface {
		Depth(context.Context) (int, int, error)
	}).Depth(context.Background())
	if err != nil || parked != 0 {
		t.Fatalf("%d calls parked (err %v)", parked, err)
	}
	// each chat: the greeting, the menu, then "not understood" and the menu per message
	for _, c := range p.Calls() {
		if c.Method == "imbot.message.add" && !c.OK() && c.Error != "expired_token" {
			t.Fatalf("call failed: %+v", c)
		}
	}
	if got, want := len(delivered(p, func(c fakeportal.Call) bool { return c.Method == "imbot.message.add" })), chats*(1+2*rounds); got != want {
		t.Fatalf("%d bot messages delivered, want %d", got, want)
	}
}
