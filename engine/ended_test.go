package engine

import (
	"testing"
	"time"
)

// TestEnded: Ended is the time of the event that finished the dialog or
// handed it off; it stays while the status does, moves when a hand-off is
// finished, and is cleared by a new run. EndedAt falls back to Updated for
// records written before Ended existed.
func TestEnded(t *testing.T) {
	sc := mustParse(t, `
start: ask
states:
  ask:
    ask: "Name?"
    save: name
    next: done
  done:
    say: "Bye"
    finish: true
  person:
    say: "Operator"
    operator: any
commands:
  - match: [operator]
    goto: person
`)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name   string
		events []Event
		status Status
		ended  time.Time
	}{
		{"active", []Event{{Type: Start, Time: at(0)}}, Active, time.Time{}},
		{"finished", []Event{{Type: Start, Time: at(0)}, {Type: Message, Text: "Anna", Time: at(3)}}, Finished, at(3)},
		{"handed off", []Event{{Type: Start, Time: at(0)}, {Type: Message, Text: "operator", Time: at(2)}}, HandedOff, at(2)},
		{"handed off, then a message", []Event{{Type: Start, Time: at(0)}, {Type: Message, Text: "operator", Time: at(2)},
			{Type: Message, Text: "hello?", Time: at(9)}}, HandedOff, at(2)},
		{"handed off, then closed", []Event{{Type: Start, Time: at(0)}, {Type: Message, Text: "operator", Time: at(2)},
			{Type: Close, Time: at(30)}}, Finished, at(30)},
		{"finished, then a new run", []Event{{Type: Start, Time: at(0)}, {Type: Message, Text: "Anna", Time: at(3)},
			{Type: Start, Time: at(60)}}, Active, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := play(t, sc, Dialog{Key: "api:1"}, tc.events...)
			if d.Status != tc.status || !d.Ended.Equal(tc.ended) {
				t.Fatalf("status=%s ended=%v, want %s %v", d.Status, d.Ended, tc.status, tc.ended)
			}
			if got := d.EndedAt(); !got.Equal(tc.ended) {
				t.Fatalf("EndedAt=%v, want %v", got, tc.ended)
			}
		})
	}
	pg := Dialog{Key: KeyPlayground + "s1", Status: Active, Updated: at(7)}
	if got := pg.EndedAt(); !got.Equal(at(7)) {
		t.Fatalf("EndedAt of an active playground session=%v, want its Updated %v", got, at(7))
	}
	old := Dialog{Status: Finished, Updated: at(5)}
	if got := old.EndedAt(); !got.Equal(at(5)) {
		t.Fatalf("EndedAt of an older record=%v, want its Updated %v", got, at(5))
	}
}
