package engine

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

const remindScenario = `
start: ask_phone
settings:
  idle: 30m
  on_idle: later
states:
  ask_phone:
    ask: "Your phone?"
    save: phone
    type: phone
    on_fail: bye
    remind: {after: 5m, say: "Still there? Your phone, please.", times: 2}
    next: ask_city
  ask_city:
    ask: "Your city?"
    save: city
    on_fail: bye
    remind: {after: 10m, say: "Your city, {{phone}}?"}
    next: bye
  later:
    ask: "We will be here. Your phone, when you are back?"
    save: phone
    type: phone
    on_fail: bye
    remind: {after: 1h, say: "Write any time."}
    next: bye
  bye:
    say: bye
    finish: true
`

// remindStep is one thing that happens in a reminder timeline: the client
// writes at a minute, or the clock runs to a minute, firing what falls due
// as the idle sweeper would (each timer at its due time).
type remindStep struct {
	at   int // minutes from the start
	user string
}

// runTimeline plays steps and returns what the bot said, each as
// "MINUTE text", timers included.
func runTimeline(t *testing.T, src string, steps []remindStep) ([]string, Dialog) {
	t.Helper()
	sc := mustParse(t, src)
	var out []string
	d := Dialog{Key: "api:remind"}
	apply := func(ev Event) {
		t.Helper()
		r, err := Step(sc, d, ev)
		if err != nil {
			t.Fatalf("step %v at %s: %v", ev.Type, ev.Time, err)
		}
		d = r.Dialog
		for _, a := range r.Actions {
			if s, ok := a.(Say); ok {
				out = append(out, fmt.Sprintf("%d %s", int(ev.Time.Sub(t0)/time.Minute), s.Text))
			}
			if _, ok := a.(Finish); ok {
				out = append(out, fmt.Sprintf("%d [finish]", int(ev.Time.Sub(t0)/time.Minute)))
			}
		}
	}
	apply(Event{Type: Start, Time: t0})
	for _, st := range steps {
		until := t0.Add(time.Duration(st.at) * time.Minute)
		for i := 0; !d.IdleAt.IsZero() && !d.IdleAt.After(until); i++ {
			if i > 100 {
				t.Fatalf("timers keep firing at %s", d.IdleAt)
			}
			apply(Event{Type: Idle, Time: d.IdleAt})
		}
		if st.user != "" {
			apply(Event{Type: Message, Text: st.user, Time: until})
		}
	}
	return out, d
}

func TestReminders(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		steps []remindStep
		want  []string
	}{
		{"two reminders, then idle counts from the client's last message", remindScenario,
			[]remindStep{{at: 40}},
			[]string{"0 Your phone?", "5 Still there? Your phone, please.", "10 Still there? Your phone, please.",
				"30 We will be here. Your phone, when you are back?"}},
		{"a message starts the count again", remindScenario,
			[]remindStep{{at: 7, user: "not a phone?"}, {at: 20}},
			// the bad answer is asked again; two reminders counted from minute 7
			[]string{"0 Your phone?", "5 Still there? Your phone, please.", "7 Your phone?", "12 Still there? Your phone, please.", "17 Still there? Your phone, please."}},
		{"the next state has its own reminder", remindScenario,
			[]remindStep{{at: 3, user: "+79991234567"}, {at: 50}},
			[]string{"0 Your phone?", "3 Your city?", "13 Your city, +79991234567?", "33 We will be here. Your phone, when you are back?"}},
		{"entering a state on idle counts from then", remindScenario,
			[]remindStep{{at: 200}},
			[]string{"0 Your phone?", "5 Still there? Your phone, please.", "10 Still there? Your phone, please.",
				"30 We will be here. Your phone, when you are back?", "90 Write any time."}},
		{"without idle the reminders still fire", strings.Replace(remindScenario, "  idle: 30m\n  on_idle: later\n", "  retries: 1\n", 1),
			[]remindStep{{at: 600}},
			[]string{"0 Your phone?", "5 Still there? Your phone, please.", "10 Still there? Your phone, please."}},
		{"idle finishing the session ends the reminders", strings.Replace(remindScenario, "  on_idle: later\n", "", 1),
			[]remindStep{{at: 600}},
			[]string{"0 Your phone?", "5 Still there? Your phone, please.", "10 Still there? Your phone, please.", "30 [finish]"}},
		{"a reminder falling due with idle gives way", strings.Replace(remindScenario, "times: 2", "times: 6", 1),
			[]remindStep{{at: 31}},
			[]string{"0 Your phone?", "5 Still there? Your phone, please.", "10 Still there? Your phone, please.", "15 Still there? Your phone, please.",
				"20 Still there? Your phone, please.", "25 Still there? Your phone, please.", "30 We will be here. Your phone, when you are back?"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := runTimeline(t, tc.src, tc.steps)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("timeline\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestRemindDueTime: the stored due time is the earlier of the next
// reminder and idle, so the store's idle index drives both, and a sweep
// that comes late sends one reminder and counts the next from it.
func TestRemindDueTime(t *testing.T) {
	sc := mustParse(t, remindScenario)
	r, err := Step(sc, Dialog{Key: "api:due"}, Event{Type: Start, Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	d := r.Dialog
	if want := t0.Add(5 * time.Minute); !d.IdleAt.Equal(want) {
		t.Fatalf("IdleAt=%s, want %s (the first reminder)", d.IdleAt, want)
	}
	late := t0.Add(12 * time.Minute) // the sweeper was down for a while
	r, err = Step(sc, d, Event{Type: Idle, Time: late})
	if err != nil {
		t.Fatal(err)
	}
	d = r.Dialog
	if len(r.Actions) != 1 || d.Reminded != 1 || !d.RemindFrom.Equal(late) {
		t.Fatalf("late sweep: actions %v, Reminded %d, RemindFrom %s", r.Actions, d.Reminded, d.RemindFrom)
	}
	if want := late.Add(5 * time.Minute); !d.IdleAt.Equal(want) {
		t.Errorf("IdleAt=%s, want %s (5m after the late reminder)", d.IdleAt, want)
	}
	// a timer event before anything is due changes nothing
	r, err = Step(sc, d, Event{Type: Idle, Time: late.Add(time.Minute)})
	if err != nil || r.Outcome != Ignored {
		t.Errorf("early timer: outcome %v, err %v; want ignored", r.Outcome, err)
	}
	// the record keeps the count through the store's encoding
	var back Dialog
	if err := back.DecodeRecord(d.AppendRecord(nil)); err != nil || back.Reminded != 1 || !back.RemindFrom.Equal(late) {
		t.Errorf("record round trip: %+v, %v", back, err)
	}
}
