package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/scenarios"
)

// loadExamples loads every scenario in examples/, failing on any error.
func loadExamples(tb testing.TB) []*scenarios.Scenario {
	tb.Helper()
	set, ps := scenarios.LoadPaths("../examples")
	if ps.HasErrors() {
		tb.Fatalf("examples do not load:\n%v", ps.Errors())
	}
	if len(set.List) == 0 {
		tb.Fatal("no scenarios in ../examples")
	}
	return set.List
}

// baseVocabulary is what clients type: numbers, commands, good and bad
// answers of every type, Cyrillic, markup and nothing at all.
var baseVocabulary = []string{
	"", "   ", "0", " 0 ", "1", "2", "3", "4", "5", "6", "7", "9", "-3", "3,5", "1 000", "12345", "100500", "1000000",
	"yes", "no", "Да!", "нет", "ага", "неа", "maybe", "ok, sure",
	"anna", "Анна-Мария", "R2D2", "оператор", "ОПЕРАТОР!", "Позовите врача", "живой человек", "I need an operator please", "cooperator",
	"anna@example.com", "Anna@Example.COM", "anna.operator@mail.ru", "not an email", "anna@",
	"+7 999 123-45-67", "8 (999) 123-45-67", "12-34",
	"menu", "меню", "start over", "ещё раз", "еще раз", "исправить",
	"Сколько идёт доставка?", "мой заказ не пришёл", "How do refunds work?", "The operator was rude to me",
	"{{name}}", "[b]bold[/b] [url=http://x]x[/url]", "👍", "asdf",
}

// goodAnswers are valid answers of the common types, drawn more often so that
// random conversations get past a run of questions.
var goodAnswers = []string{"anna", "Анна-Мария", "anna@example.com", "+7 999 123-45-67", "12345", "да", "no"}

// vocabulary adds a scenario's own words: its menu and option texts and the
// words of its routes.
func vocabulary(sc *scenarios.Scenario) []string {
	v := append([]string(nil), baseVocabulary...)
	words := func(rs []scenarios.Route) {
		for _, r := range rs {
			for _, m := range r.Match {
				v = append(v, strings.ReplaceAll(m, "*", "а"), strings.TrimSuffix(m, "*"))
			}
		}
	}
	words(sc.Commands)
	for _, name := range sc.Order {
		st := sc.States[name]
		for _, mi := range st.Menu {
			v = append(v, mi.Text, strings.ToUpper(mi.Text)+"!")
		}
		v = append(v, st.Options...)
		words(st.On)
	}
	return v
}

// randomEvents draws a conversation: mostly messages, some buttons, idle,
// close and start, at growing times with gaps from a second to hours.
func randomEvents(r *rand.Rand, vocab []string, n int) []Event {
	gaps := []time.Duration{time.Second, time.Minute, 9 * time.Minute, 30 * time.Minute, 3 * time.Hour}
	clients := []string{"", "Anna", "Иван", "[b]x[/b]"}
	at := t0
	evs := make([]Event, n)
	for i := range evs {
		at = at.Add(gaps[r.IntN(len(gaps))])
		ev := Event{Time: at, ID: fmt.Sprint("e", i)}
		switch p := r.IntN(100); {
		case p < 35:
			ev.Type, ev.Text = Message, goodAnswers[r.IntN(len(goodAnswers))]
		case p < 60:
			ev.Type, ev.Text = Message, vocab[r.IntN(len(vocab))]
		case p < 75:
			ev.Type = Button
			if ev.Button = r.IntN(7); ev.Button == 0 {
				ev.Text = vocab[r.IntN(len(vocab))]
				if ev.Text == "" {
					ev.Text = "x"
				}
			}
		case p < 85:
			ev.Type = Idle
		case p < 90:
			ev.Type = Close
		default:
			ev.Type = Start
		}
		if r.IntN(10) == 0 {
			// the answer of the call the dialog waits on, when it waits on one
			a := replayAnswers[r.IntN(len(replayAnswers))]
			ev.Type, ev.Text, ev.Button, ev.Answer = CallAnswer, "", 0, &a
		}
		if r.IntN(4) == 0 {
			ev.Client = clients[r.IntN(len(clients))]
			ev.Line = r.IntN(4)
			ev.LeadID = r.IntN(3) * 100
		}
		evs[i] = ev
	}
	return evs
}

// replayAnswers are the answers random conversations get for their calls.
var replayAnswers = []Answer{
	{Status: 200, Body: []byte(`{"status":"shipped","delivery":{"eta":"2 days"}}`)},
	{Status: 201, Body: []byte(`{"status":"packed","delivery":{"eta":"soon"}}`)},
	{Status: 200, Body: []byte(`{"status":"packed"}`)},
	{Status: 404, Body: []byte(`{"error":"no such order"}`)},
	{Status: 200, Body: []byte(`<html>`)},
	{Error: "no answer within 5s (timeout)"},
}

// replayed is one step of a replay: its result or error.
type replayed struct {
	Res Result
	Err string
}

// replay runs evs from an empty record, checking the invariants after every
// step, and returns every step's outcome.
func replay(t *testing.T, sc *scenarios.Scenario, evs []Event, trace func() string) []replayed {
	t.Helper()
	d := Dialog{Key: "replay"}
	out := make([]replayed, 0, len(evs))
	for i, ev := range evs {
		if ev.Type == CallAnswer && d.Call != nil {
			a := *ev.Answer
			a.Call = d.Call.Seq
			ev.Answer = &a
		}
		before := d.Clone()
		res, err := safeStep(sc, d, ev)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("step %d (%s %q button %d): %s\nbefore: %+v\nafter:  %+v\nevents:\n%s",
				i, ev.Type, ev.Text, ev.Button, fmt.Sprintf(format, args...), before, res.Dialog, trace())
		}
		if !reflect.DeepEqual(d, before) {
			fail("Step modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrNoButton) {
				fail("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(res, Result{}) {
				fail("a failed step returned %+v", res)
			}
			out = append(out, replayed{Err: err.Error()})
			continue
		}
		checkInvariants(sc, nil, before, ev, res, fail)
		out = append(out, replayed{Res: res})
		d = res.Dialog
	}
	return out
}

// safeStep turns a panic into an error that fails the replay.
func safeStep(sc *scenarios.Scenario, d Dialog, ev Event) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return Step(sc, d, ev)
}

// checkInvariants checks one step's result. sc is the version that stepped;
// known holds the other versions a record may still name after reloads
// (nil when there were none).
func checkInvariants(sc *scenarios.Scenario, known map[string]*scenarios.Scenario, before Dialog, ev Event, res Result, fail func(string, ...any)) {
	checkRecord(sc, known, before, res, fail)
	checkOutcome(before, ev, res, fail)
	checkMoves(sc, res, fail)
	checkActions(res, fail)
	checkEncoding(res.Dialog, fail)
}

// checkRecord: the record names a version that ran, a state of it, and
// what that state allows.
func checkRecord(sc *scenarios.Scenario, known map[string]*scenarios.Scenario, before Dialog, res Result, fail func(string, ...any)) {
	d := res.Dialog
	switch d.Status {
	case Active, HandedOff, Finished:
		// a record names the version its state belongs to: the one that
		// stepped, or an older one when a reload found the dialog inactive
		rec := sc
		if d.Version != sc.Version {
			rec = known[d.Version]
		}
		if rec == nil || d.Scenario != rec.Name {
			fail("scenario, version = %q, %q: not a version of %s that ran", d.Scenario, d.Version, sc.Name)
		}
		st, ok := rec.States[d.State]
		if !ok {
			// closing a dialog whose state a reload removed finishes it
			// there, and a finished dialog keeps its record until it starts
			// again
			if d.Status != Finished {
				fail("state %q is not a state of %s version %s", d.State, rec.Name, rec.Version)
			}
			break
		}
		if d.Retries < 0 || d.Retries > rec.Retries(st) {
			fail("retries %d, but state %q allows %d", d.Retries, d.State, rec.Retries(st))
		}
		if d.Call != nil && (st.Call == nil || d.Status != Active || len(d.Held) > MaxHeld) {
			fail("waits on a call %+v in state %q (status %s, %d held)", d.Call, d.State, d.Status, len(d.Held))
		}
		if d.Status == Active && !st.Waits() && d.Call == nil {
			fail("the dialog is active in state %q, which does not wait: nothing will move it", d.State)
		}
		for k := range d.Fields {
			if !saves(sc, k) && !savedBefore(known, k) {
				fail("field %q is saved by no state", k)
			}
		}
	case "":
		if before.Status != "" || d.State != "" || len(d.Fields) != 0 || len(res.Actions) != 0 {
			fail("a record without status must be one that never started")
		}
	default:
		fail("status %q", d.Status)
	}
}

// checkOutcome: ignored steps change nothing, applied ones the update time.
func checkOutcome(before Dialog, ev Event, res Result, fail func(string, ...any)) {
	d := res.Dialog
	// an operator has a handed-off dialog: the bot ignores its messages
	if before.Status == HandedOff && ev.Type == Message {
		same := before.Clone()
		same.Client, same.Line, same.LeadID = d.Client, d.Line, d.LeadID
		if res.Outcome != Ignored || len(res.Actions) != 0 || len(res.Moves) != 0 || !reflect.DeepEqual(d, same) {
			fail("a message to a handed-off dialog was not ignored: %s %v", res.Outcome, res.Actions)
		}
	}
	if res.Outcome == Ignored && (len(res.Actions) != 0 || len(res.Moves) != 0) {
		fail("ignored, yet actions %v, moves %v", res.Actions, res.Moves)
	}
	if res.Outcome == Applied && !d.Updated.Equal(ev.Time) {
		fail("applied, yet updated %v, not the event's time", d.Updated)
	}
	if res.Outcome != Applied && res.Outcome != Ignored {
		fail("outcome %q", res.Outcome)
	}
}

// checkMoves: every move is an edge of the compiled table, in a chain.
func checkMoves(sc *scenarios.Scenario, res Result, fail func(string, ...any)) {
	if len(res.Moves) > MaxChain+2 {
		fail("%d moves in one step", len(res.Moves))
	}
	for j, m := range res.Moves {
		if !hasEdge(sc, m) {
			fail("move %+v is not in the transition table", m)
		}
		if j > 0 && res.Moves[j-1].To != m.From && m.From != scenarios.NoState {
			fail("move %+v does not start where %+v ended", m, res.Moves[j-1])
		}
	}
	if res.Invalid < 0 || res.Invalid > 1 {
		fail("invalid = %d", res.Invalid)
	}
	if res.Invalid == 1 {
		// the bad answer is handled where it came: the first move is the
		// re-ask or on_fail (which may pass on further)
		first := res.Moves[0].Event
		if first != scenarios.EdgeRetry && first != scenarios.EdgeFail {
			fail("a bad answer began with %q, not retry or fail", first)
		}
	}
}

// checkActions: terminal actions come last and match the status.
func checkActions(res Result, fail func(string, ...any)) {
	d := res.Dialog
	for j, a := range res.Actions {
		switch a := a.(type) {
		case Operator, Transfer:
			if j != len(res.Actions)-1 || d.Status != HandedOff {
				fail("%s is not last, or the status is %s", a.Kind(), d.Status)
			}
		case Finish:
			if j != len(res.Actions)-1 || d.Status != Finished {
				fail("finish is not last, or the status is %s", d.Status)
			}
		case Say:
			if a.Numbered && len(a.Buttons) == 0 {
				fail("a numbered message without buttons")
			}
			if a.Text == "" && len(a.Buttons) == 0 {
				fail("an empty message")
			}
		}
	}
}

// checkEncoding: the record survives both stores' encodings: JSON
// (PostgreSQL) and the binary record (embedded store).
func checkEncoding(d Dialog, fail func(string, ...any)) {
	js, err := d.MarshalBinary()
	if err != nil {
		fail("marshal: %v", err)
	}
	for _, b := range [][]byte{js, d.AppendRecord(nil)} {
		var back Dialog
		if err := back.DecodeRecord(b); err != nil {
			fail("decode: %v", err)
		}
		if !sameDialog(back, d.Clone()) {
			fail("the record does not survive its encoding:\n%q", b)
		}
	}
}

// savedBefore reports whether any known version collects field: fields
// outlive the reload that removed their state.
func savedBefore(known map[string]*scenarios.Scenario, field string) bool {
	for _, sc := range known {
		if saves(sc, field) {
			return true
		}
	}
	return false
}

func saves(sc *scenarios.Scenario, field string) bool {
	for _, st := range sc.States {
		if st.Ask != nil && st.Save == field {
			return true
		}
		for _, f := range st.Set {
			if f.Field == field {
				return true
			}
		}
		if st.Call != nil {
			for _, f := range st.Call.Save {
				if f.Field == field {
					return true
				}
			}
		}
	}
	return false
}

func hasEdge(sc *scenarios.Scenario, m Move) bool {
	for _, tr := range sc.Table {
		if tr.From == m.From && tr.Event == m.Event && tr.To == m.To {
			return true
		}
	}
	return false
}

// TestReplay plays random conversations against every example scenario and
// checks the engine's invariants after every step; each conversation is
// played twice and must give identical results.
func TestReplay(t *testing.T) {
	runs, length := 300, 60
	if testing.Short() {
		runs = 50
	}
	for _, sc := range loadExamples(t) {
		t.Run(sc.Name, func(t *testing.T) {
			vocab := vocabulary(sc)
			covered := map[Move]bool{}
			handedOffMessages := 0
			for run := range runs {
				seed := uint64(run)
				r := rand.New(rand.NewPCG(seed, 0x01b07))
				evs := randomEvents(r, vocab, 1+r.IntN(length))
				trace := func() string {
					var b strings.Builder
					for i, ev := range evs {
						fmt.Fprintf(&b, "  %d: %s %q button %d client %q at +%v\n", i, ev.Type, ev.Text, ev.Button, ev.Client, ev.Time.Sub(t0))
					}
					return fmt.Sprintf("seed %d:\n%s", seed, b.String())
				}
				first := replay(t, sc, evs, trace)
				second := replay(t, sc, evs, trace)
				for i, st := range first {
					for _, m := range st.Res.Moves {
						covered[m] = true
					}
					if st.Res.Outcome == Ignored && evs[i].Type == Message && strings.Contains(st.Res.Reason, "operator") {
						handedOffMessages++
					}
				}
				if !reflect.DeepEqual(first, second) {
					for i := range first {
						if !reflect.DeepEqual(first[i], second[i]) {
							t.Fatalf("step %d differs between two runs:\n%+v\n%+v\n%s", i, first[i], second[i], trace())
						}
					}
				}
			}
			// the walk must reach most of the scenario, or it proves little
			var missed []string
			edges := 0
			for _, tr := range sc.Table {
				if tr.Kind == scenarios.EdgeMissing {
					continue // only a reload takes it
				}
				edges++
				if !covered[Move{From: tr.From, Event: tr.Event, To: tr.To}] {
					missed = append(missed, tr.From+" -"+tr.Event+"-> "+tr.To)
				}
			}
			t.Logf("%d of %d edges taken, %d messages to handed-off dialogs; never: %s",
				edges-len(missed), edges, handedOffMessages, strings.Join(missed, ", "))
			if !testing.Short() && (len(missed)*10 > edges || handedOffMessages == 0) {
				t.Errorf("the random walk covered too little of %s", sc.Name)
			}
		})
	}
}
