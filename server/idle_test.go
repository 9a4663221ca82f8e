package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
)

// TestIdleSweep: dialogs silent longer than settings.idle (1s in
// testdata/sleepy.yaml) move to on_idle, by the server's clock, also when the
// silence spans a restart.
func TestIdleSweep(t *testing.T) {
	clock := newClock()
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) {
		e.bolt = true
		e.clock = clock
		e.idle = 10 * time.Millisecond
	})
	bot := e.install()
	byeCalls := func(chat *fakeportal.Chat) []string {
		return []string{
			expand(t, chat, bot, botSays("Anything else?")),
			expand(t, chat, bot, botSays("Closing for now.")),
			expand(t, chat, bot, `imopenlines.bot.session.finish {"CHAT_ID":%[1]d}`),
		}
	}
	waitBye := func(key string) {
		t.Helper()
		waitFor(t, key+" to move to on_idle", func() (bool, string) {
			d := e.record(key)
			return d.State == "bye" && d.Status == "finished", fmt.Sprintf("state %s, status %s", d.State, d.Status)
		})
	}

	chat := e.chat(6, 8001, "Anna")
	e.send(chat, chat.Join())
	api := e.event(EventRequest{Dialog: "sleepy-1", Scenario: "sleepy", Type: "start"})
	if api.Dialog.State != "ask" {
		t.Fatalf("api dialog %+v, want it waiting in ask", api.Dialog)
	}
	// not idle yet: a sweep leaves both alone
	clock.Advance(900 * time.Millisecond)
	if _, err := e.srv.Dialogs.SweepIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := e.record(e.key(chat)); d.State != "ask" {
		t.Fatalf("state %q after 0.9s of silence, want ask", d.State)
	}
	// an answer restarts the silence
	e.event(EventRequest{Dialog: "sleepy-1", Type: "message", Text: "wait"}) // text answer: done, finished
	clock.Advance(200 * time.Millisecond)
	waitBye(e.key(chat))
	if d := e.dialog("sleepy-1"); d.State != "done" || d.Status != "finished" {
		t.Fatalf("answered api dialog %+v, want done and finished, not swept", d)
	}
	waitDelivered(t, p, 3, about(chat)) // the sweeper commits the step: wait for its calls
	e.settle()
	checkCalls(t, delivered(p, about(chat)), byeCalls(chat))

	t.Run("after a restart", func(t *testing.T) {
		other := e.chat(6, 8002, "Boris")
		e.send(other, other.Join())
		e.event(EventRequest{Dialog: "sleepy-2", Scenario: "sleepy", Type: "start"})
		e.settle()
		e.restart(func() { clock.Advance(5 * time.Second) })
		waitBye(e.key(other))
		waitBye(engine.KeyAPI + "sleepy-2")
		waitDelivered(t, p, 3, about(other))
		e.settle()
		checkCalls(t, delivered(p, about(other)), byeCalls(other))
	})
}

// reminderScenario is sleepy's question with a reminder: two reminders a
// minute apart, then idle after five minutes of silence.
const reminderScenario = `name: reminding
lines: [6]
start: ask
settings:
  idle: 5m
  on_idle: bye
states:
  ask:
    ask: "Anything else?"
    save: note
    on_fail: bye
    remind: {after: 1m, say: "Still there, {{client}}?", times: 2}
    next: done
  done:
    say: "Noted."
    finish: true
  bye:
    say: "Closing for now."
    finish: true
`

// TestReminderSweep: the idle sweeper sends a waiting state's reminders
// through the portal when they fall due by the server's clock, also when
// the silence spans a restart, and idle still counts from the client's
// last message.
func TestReminderSweep(t *testing.T) {
	clock := newClock()
	p := newPortal(t, fakeportal.Config{})
	dir := t.TempDir()
	writeFile(t, dir, "reminding.yaml", reminderScenario)
	e := startEnv(t, p, func(e *env) {
		e.bolt = true
		e.clock = clock
		e.dir = dir
		e.idle = time.Hour // swept by hand below
	})
	bot := e.install()
	chat := e.chat(6, 8101, "Anna")
	e.send(chat, chat.Join())
	key := e.key(chat)
	sweep := func() {
		t.Helper()
		if _, err := e.srv.Dialogs.SweepIdle(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(59 * time.Second)
	sweep()
	if d := e.record(key); d.Reminded != 0 {
		t.Fatalf("a reminder after 59s of silence: %+v", d)
	}
	clock.Advance(2 * time.Second)
	sweep()
	if d := e.record(key); d.Reminded != 1 || d.State != "ask" {
		t.Fatalf("after 61s: Reminded %d in %q, want 1 in ask", d.Reminded, d.State)
	}
	e.settle()
	// the second reminder falls due while the server is down
	e.restart(func() { clock.Advance(time.Minute) })
	sweep()
	if d := e.record(key); d.Reminded != 2 {
		t.Fatalf("after the restart: Reminded %d, want 2", d.Reminded)
	}
	clock.Advance(4 * time.Minute) // 5m since the join: idle
	sweep()
	if d := e.record(key); d.State != "bye" || d.Status != engine.Finished {
		t.Fatalf("after 5m: %q %s, want bye, finished", d.State, d.Status)
	}
	waitDelivered(t, p, 5, about(chat))
	e.settle()
	checkCalls(t, delivered(p, about(chat)), []string{
		expand(t, chat, bot, botSays("Anything else?")),
		expand(t, chat, bot, botSays("Still there, Anna?")),
		expand(t, chat, bot, botSays("Still there, Anna?")),
		expand(t, chat, bot, botSays("Closing for now.")),
		expand(t, chat, bot, `imopenlines.bot.session.finish {"CHAT_ID":%[1]d}`),
	})
}
