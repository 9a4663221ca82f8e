package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/fakeportal"
)

// TestRestart stops the server while the portal cannot take its calls, so
// they are still in the outbox, and starts a new server on the same bolt
// file: the dialog goes on where it was, the undelivered calls go out, and
// the delivered ones are not sent again.
func TestRestart(t *testing.T) {
	tests := []struct {
		name    string
		fault   func(*fakeportal.Portal) // at shutdown
		recover func(*fakeportal.Portal)
		errored string // the portal's record of a failed attempt; "" when the fault leaves none
	}{
		{"portal down at shutdown", func(p *fakeportal.Portal) { p.Down(true) }, func(p *fakeportal.Portal) { p.Down(false) }, "connection dropped"},
		{"portal hangs at shutdown", func(p *fakeportal.Portal) { p.Delay(time.Hour) }, func(p *fakeportal.Portal) { p.Delay(0) }, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPortal(t, fakeportal.Config{})
			e := startEnv(t, p, func(e *env) { e.bolt = true; e.cfg.ShutdownGrace = 300 * time.Millisecond })
			bot := e.install()
			chat := e.chat(1, 7001+i, "Anna")
			flow := supportFlow(t, chat, bot, "Anna")
			events := supportEvents(chat, "Anna")
			e.send(chat, events[0]())
			e.send(chat, events[1]())
			e.settle()
			checkCalls(t, delivered(p, about(chat)), flow[:3])

			tc.fault(p)
			e.send(chat, events[2]()) // acknowledged, but the portal does not take the calls
			e.send(chat, events[3]())
			if tc.errored != "" {
				waitFor(t, "a failed delivery attempt", func() (bool, string) {
					n := countErrors(p, tc.errored)
					return n > 0, fmt.Sprint(n)
				})
			}
			e.restart(func() {
				pending, err := e.outboxAfterStop()
				if err != nil {
					t.Fatal(err)
				}
				if pending != 2 {
					t.Fatalf("%d calls left in the outbox at shutdown, want the 2 undelivered ones", pending)
				}
				tc.recover(p)
			})
			d := e.dialog(e.key(chat))
			if d.State != "ask_email" || d.Status != "active" || d.Retries != 1 || d.Fields["name"] != "Anna" {
				t.Fatalf("dialog after restart %+v, want ask_email after one bad answer, name Anna", d)
			}
			e.settle()
			checkCalls(t, delivered(p, about(chat)), flow[:5])

			e.send(chat, events[4]())
			e.settle()
			checkCalls(t, delivered(p, about(chat)), flow)
		})
	}
}

// outboxAfterStop opens the stopped server's store file and counts the calls
// waiting in its outbox.
func (e *env) outboxAfterStop() (int, error) {
	st, err := bolt.Open(e.db, bolt.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	pending, _, err := st.Depth(context.Background())
	return pending, err
}
