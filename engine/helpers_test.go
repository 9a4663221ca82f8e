package engine

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/scenarios"
)

// t0 is the time of the first event of every test conversation; each further
// event happens a minute later. The engine never reads the clock.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// mustParse loads an inline scenario, failing the test on any error. The file
// is called test.yaml, so the scenario is named "test" unless it says name:.
func mustParse(tb testing.TB, src string) *scenarios.Scenario {
	tb.Helper()
	sc, ps := scenarios.Parse("test.yaml", []byte(src))
	if sc == nil {
		tb.Fatalf("scenario does not load:\n%v\n--- source:\n%s", ps, src)
	}
	return sc
}

func start() Event           { return Event{Type: Start} }
func msg(text string) Event  { return Event{Type: Message, Text: text} }
func btn(n int) Event        { return Event{Type: Button, Button: n} }
func btnText(s string) Event { return Event{Type: Button, Text: s} }
func idle() Event            { return Event{Type: Idle} }
func closeEv() Event         { return Event{Type: Close} }

// say, menu and plain are shorthands for the Say actions the tables expect.
func say(text string) Say { return Say{Text: text} }

// menu is a message with numbered buttons (the [SEND=n] fallback).
func menu(text string, buttons ...string) Say {
	return Say{Text: text, Buttons: buttons, Numbered: true}
}

// unnumbered is a message with buttons but no numbered fallback (number/phone asks).
func unnumbered(text string, buttons ...string) Say {
	return Say{Text: text, Buttons: buttons}
}

func acts(a ...Action) []Action { return a }

func fields(kv ...string) map[string]string {
	if len(kv)%2 != 0 {
		panic("fields: odd number of arguments")
	}
	m := make(map[string]string, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// gap is how long after the previous event an event happens in test
// conversations: a minute, or a day for idle, which fires only after
// settings.idle of silence.
func gap(ev Event) time.Duration {
	if ev.Type == Idle {
		return 24 * time.Hour
	}
	return time.Minute
}

// timed gives events without a time the times of a test conversation: the
// first at t0, each further one a gap later.
func timed(evs ...Event) []Event {
	out := make([]Event, len(evs))
	at := t0
	for i, ev := range evs {
		if i > 0 {
			at = at.Add(gap(ev))
		}
		if ev.Time.IsZero() {
			ev.Time = at
		} else {
			at = ev.Time
		}
		out[i] = ev
	}
	return out
}

// play applies events in order, each of which must succeed, and returns the
// final record. Events without a time get those of timed.
func play(tb testing.TB, sc *scenarios.Scenario, d Dialog, evs ...Event) Dialog {
	tb.Helper()
	for i, ev := range timed(evs...) {
		res, err := Step(sc, d, ev)
		if err != nil {
			tb.Fatalf("setup event %d (%s %q): %v", i, ev.Type, ev.Text, err)
		}
		d = res.Dialog
	}
	return d
}

// stepCase is one event applied to a dialog prepared by earlier events, and
// everything the step must produce.
type stepCase struct {
	name   string
	src    string        // the scenario
	older  string        // when set, setup runs on this older version of the scenario (a reload)
	setup  []Event       // applied first; each must succeed
	edit   func(*Dialog) // adjusts the record after setup, before ev
	ev     Event         // the event under test
	want   want
	client string // Client of every event, when set
	// extra checks more of the result; before is the record given to Step.
	extra func(t *testing.T, before Dialog, r Result)
}

type want struct {
	err     error // errors.Is; the result must be empty and nothing may change
	outcome Outcome
	reason  string // a substring of Result.Reason; "" does not check
	actions []Action
	state   string
	status  Status
	fields  map[string]string
	retries int
	moves   string // "from -event-> to, …"
	invalid int
	missing []string
}

// runCases runs a table of step cases. For every case it also checks that
// Step left its input record untouched.
func runCases(t *testing.T, cases []stepCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := mustParse(t, tc.src)
			setupSc := sc
			if tc.older != "" {
				setupSc = mustParse(t, tc.older)
			}
			d := Dialog{Key: "test:1"}
			setup := tc.setup
			ev := tc.ev
			if tc.client != "" {
				setup = make([]Event, len(tc.setup))
				for i, e := range tc.setup {
					e.Client = tc.client
					setup[i] = e
				}
				ev.Client = tc.client
			}
			all := timed(append(setup[:len(setup):len(setup)], ev)...)
			d = play(t, setupSc, d, all[:len(setup)]...)
			if tc.edit != nil {
				tc.edit(&d)
			}
			res := checkStep(t, sc, d, all[len(setup)], tc.want)
			if tc.extra != nil && tc.want.err == nil {
				tc.extra(t, d, res)
			}
		})
	}
}

// checkStep runs one step and compares everything it produced with w.
func checkStep(t *testing.T, sc *scenarios.Scenario, d Dialog, ev Event, w want) Result {
	t.Helper()
	before := d.Clone()
	res, err := Step(sc, d, ev)
	if !reflect.DeepEqual(d, before) {
		t.Errorf("Step modified its input record:\n got %+v\nwant %+v", d, before)
	}
	if w.err != nil {
		if !errors.Is(err, w.err) {
			t.Fatalf("err = %v, want %v", err, w.err)
		}
		if !reflect.DeepEqual(res, Result{}) {
			t.Errorf("result of a failed step = %+v, want it empty", res)
		}
		return res
	}
	if err != nil {
		t.Fatalf("err = %v, want none", err)
	}
	wantOutcome := w.outcome
	if wantOutcome == "" {
		wantOutcome = Applied
	}
	if res.Outcome != wantOutcome {
		t.Errorf("outcome = %s (%s), want %s", res.Outcome, res.Reason, wantOutcome)
	}
	if w.reason != "" && !strings.Contains(res.Reason, w.reason) {
		t.Errorf("reason = %q, want it to contain %q", res.Reason, w.reason)
	}
	if got := fmtActions(res.Actions); got != fmtActions(w.actions) || !sameActions(res.Actions, w.actions) {
		t.Errorf("actions:\n%s\nwant:\n%s", got, fmtActions(w.actions))
	}
	got := res.Dialog
	if got.State != w.state {
		t.Errorf("state = %q, want %q", got.State, w.state)
	}
	if got.Status != w.status {
		t.Errorf("status = %q, want %q", got.Status, w.status)
	}
	if !sameFields(got.Fields, w.fields) {
		t.Errorf("fields = %v, want %v", got.Fields, w.fields)
	}
	if got.Retries != w.retries {
		t.Errorf("retries = %d, want %d", got.Retries, w.retries)
	}
	if g := fmtMoves(res.Moves); g != w.moves {
		t.Errorf("moves = %q, want %q", g, w.moves)
	}
	if res.Invalid != w.invalid {
		t.Errorf("invalid = %d, want %d", res.Invalid, w.invalid)
	}
	if !slices.Equal(res.Missing, w.missing) {
		t.Errorf("missing = %q, want %q", res.Missing, w.missing)
	}
	if res.Outcome == Ignored {
		// An ignored event changes nothing but the channel's data about the
		// chat, and a message the client's last-message time (the silence
		// that idle counts starts again). A handed-off dialog's cases check
		// that it keeps even that.
		same := before.Clone()
		same.Client, same.Line, same.LeadID = got.Client, got.Line, got.LeadID
		if ev.Type == Message {
			same.LastIn, same.IdleDone, same.IdleAt = got.LastIn, got.IdleDone, got.IdleAt
		}
		if !reflect.DeepEqual(got, same) {
			t.Errorf("an ignored event changed the record:\n got %+v\nwant %+v", got, same)
		}
		if len(res.Actions) > 0 || len(res.Moves) > 0 {
			t.Errorf("an ignored event produced actions %v or moves %v", res.Actions, res.Moves)
		}
	}
	if res.Outcome == Applied && !got.Updated.Equal(ev.Time) {
		t.Errorf("updated = %v, want the event's time %v", got.Updated, ev.Time)
	}
	return res
}

func sameFields(a, b map[string]string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func sameActions(a, b []Action) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

// fmtActions prints actions one a line with every field that matters:
//
//	say "How may I call you?" [Skip] numbered
func fmtActions(as []Action) string {
	if len(as) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for _, a := range as {
		b.WriteString("  ")
		switch a := a.(type) {
		case Say:
			fmt.Fprintf(&b, "say %q", a.Text)
			if a.Buttons != nil {
				fmt.Fprintf(&b, " %q", a.Buttons)
			}
			if a.Numbered {
				b.WriteString(" numbered")
			}
		case Greet:
			fmt.Fprintf(&b, "greet %q welcome=%v", a.Text, a.Welcome)
		case CRM:
			fmt.Fprintf(&b, "crm %s lead=%d %v", a.Entity, a.LeadID, a.Fields)
		default:
			fmt.Fprintf(&b, "%s %+v", a.Kind(), a)
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func fmtMoves(ms []Move) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.From + " -" + m.Event + "-> " + m.To
	}
	return strings.Join(parts, ", ")
}
