// Package convtest runs conversation tests (*.test.yaml) through the engine:
// each test plays a client's side of a conversation and checks the bot's
// messages, actions and the dialog's state.
package convtest

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/scenarios"
)

// Result is the outcome of one test.
type Result struct {
	File    string
	Test    string
	Pass    bool
	Failure string        // the first difference, "" when Pass
	Pos     scenarios.Pos // the failing step, or the test
}

// String formats the result as one line: PASS file: name, or FAIL file:line:col: name: difference.
func (r Result) String() string {
	if r.Pass {
		return fmt.Sprintf("PASS %s: %s", r.File, r.Test)
	}
	return fmt.Sprintf("FAIL %s:%d:%d: %s: %s", r.File, r.Pos.Line, r.Pos.Col, r.Test, r.Failure)
}

// Coverage collects the states and transitions that tests reached.
type Coverage struct {
	states map[*scenarios.Scenario]map[string]bool
	edges  map[*scenarios.Scenario]map[string]bool
}

// NewCoverage returns an empty coverage collector.
func NewCoverage() *Coverage {
	return &Coverage{states: map[*scenarios.Scenario]map[string]bool{}, edges: map[*scenarios.Scenario]map[string]bool{}}
}

func (c *Coverage) add(sc *scenarios.Scenario, moves []engine.Move) {
	if c == nil {
		return
	}
	if c.states[sc] == nil {
		c.states[sc], c.edges[sc] = map[string]bool{}, map[string]bool{}
	}
	for _, m := range moves {
		c.states[sc][m.To] = true
		c.edges[sc][m.From+"\x00"+m.Event] = true
	}
}

// Missed lists, per scenario, the states and transitions no test reached.
func (c *Coverage) Missed(list []*scenarios.Scenario) []string {
	var out []string
	for _, sc := range list {
		for _, name := range sc.Order {
			if !c.states[sc][name] {
				out = append(out, fmt.Sprintf("%s: state %s never reached", sc.Name, name))
			}
		}
		for _, t := range sc.Table {
			if t.Kind == scenarios.EdgeMissing {
				continue // taken only after a reload removes a state
			}
			if !c.edges[sc][t.From+"\x00"+t.Event] {
				out = append(out, fmt.Sprintf("%s: transition %s --%s--> %s never taken", sc.Name, t.From, t.Event, t.To))
			}
		}
	}
	return out
}

// Run runs every test of tf against the scenario it names in set.
func Run(set *scenarios.Set, tf *scenarios.TestFile, cov *Coverage) []Result {
	sc := set.ByName[tf.Scenario]
	var out []Result
	for _, t := range tf.Tests {
		r := Result{File: tf.File, Test: t.Name, Pos: t.Pos}
		if sc == nil {
			names := make([]string, 0, len(set.ByName))
			for n := range set.ByName {
				names = append(names, n)
			}
			sort.Strings(names)
			r.Failure = fmt.Sprintf("scenario %q is not loaded (loaded: %s)", tf.Scenario, strings.Join(names, ", "))
			out = append(out, r)
			continue
		}
		r.Pos, r.Failure = runTest(sc, t, cov)
		r.Pass = r.Failure == ""
		if r.Pass {
			r.Pos = t.Pos
		}
		out = append(out, r)
	}
	return out
}

// Epoch is where the clock of conversation tests starts, in the
// scenario's time zone, unless start: {at: …} sets it: a Monday, noon.
// Each input step is one second later.
var Epoch = time.Date(2027, 1, 4, 12, 0, 0, 0, time.UTC)

type run struct {
	sc      *scenarios.Scenario
	d       engine.Dialog
	now     time.Time
	actions []engine.Action // since the last input
	msgs    []string        // bot message texts since the last input, not yet checked
	buttons [][]string
	attach  []attachment // each message's image and file, beside msgs
	client  string
	line    int
	lang    string // the line's language, from start: {language: …}
	// lineHours is the test's line_hours: (from_line hours)
	lineHours *scenarios.Schedule
	calls     []scenarios.TestCall // the declared answers (calls:)
	used      []bool
}

func runTest(sc *scenarios.Scenario, t scenarios.Test, cov *Coverage) (scenarios.Pos, string) {
	loc := time.UTC
	if sc.Settings.Location != nil {
		loc = sc.Settings.Location
	}
	r := &run{sc: sc, lineHours: t.LineHours, d: engine.Dialog{Key: "test:" + t.Name}, now: time.Date(Epoch.Year(), Epoch.Month(), Epoch.Day(), Epoch.Hour(), 0, 0, 0, loc),
		calls: t.Calls, used: make([]bool, len(t.Calls))}
	for i, st := range t.Steps {
		where := fmt.Sprintf("step %d (%s)", i+1, st.Kind)
		var ev *engine.Event
		switch st.Kind {
		case scenarios.StepStart:
			if st.Client != "" {
				r.client = st.Client
			}
			if st.Line != 0 {
				r.line = st.Line
			}
			if st.At != "" {
				at, _ := scenarios.TestTime(st.At, loc) // checked while decoding
				r.now = at
			}
			if st.Language != "" {
				if !sc.HasLanguage(st.Language) {
					return st.Pos, fmt.Sprintf("%s: language %q is not in the scenario's settings.languages %v", where, st.Language, sc.Languages)
				}
				r.lang = st.Language
			}
			ev = &engine.Event{Type: engine.Start}
		case scenarios.StepUser:
			ev = userEvent(st)
		case scenarios.StepButton:
			ev = &engine.Event{Type: engine.Button, Button: st.Button, Text: st.Text}
		case scenarios.StepIdle:
			// silent for the scenario's idle time: what falls due meanwhile
			// (reminders) fires first
			target := r.now.Add(sc.Settings.Idle)
			fired, err := r.timers(target, cov)
			if err != nil {
				return st.Pos, where + ": " + err.Error()
			}
			if fired {
				r.now = target
				continue
			}
			ev = &engine.Event{Type: engine.Idle}
			r.now = target
		case scenarios.StepWait:
			target := r.now.Add(st.Wait)
			if _, err := r.timers(target, cov); err != nil {
				return st.Pos, where + ": " + err.Error()
			}
			r.now = target
			continue
		case scenarios.StepClose:
			ev = &engine.Event{Type: engine.Close}
		case scenarios.StepBot:
			if msg := r.checkBot(st); msg != "" {
				return st.Pos, where + ": " + msg
			}
			continue
		case scenarios.StepExpect:
			if msg := r.checkExpect(st.Expect); msg != "" {
				return st.Pos, where + ": " + msg
			}
			continue
		}
		r.now = r.now.Add(time.Second)
		ev.Time, ev.Client, ev.Line, ev.Language, ev.LineHours = r.now, r.client, r.line, r.lang, r.lineHours
		if err := r.step(*ev, cov, true); err != nil {
			return st.Pos, where + ": " + err.Error()
		}
	}
	for i, c := range r.calls {
		if !r.used[i] {
			return c.Pos, fmt.Sprintf("calls[%d]: the answer for %s %s was never asked for", i, c.Endpoint, c.Path)
		}
	}
	return scenarios.Pos{}, ""
}

// answer answers, from the test's calls:, the call the step made the
// dialog wait on (its answer may lead to another: step answers that too);
// a call the test lists no answer for fails it, naming the call.
func (r *run) answer(actions []engine.Action, cov *Coverage) error {
	c := r.d.Call
	if c == nil || !madeCall(actions, c) {
		return nil // no call, or one made before (input held during it)
	}
	i := r.declared(c)
	if i < 0 {
		return fmt.Errorf("the dialog calls %s %s%s, but the test lists no answer for it: add calls: [{call: %s, path: %q, status: 200, json: {…}}]",
			c.Method, c.Endpoint, c.Path, c.Endpoint, c.Path)
	}
	r.used[i] = true
	d := r.calls[i]
	r.now = r.now.Add(time.Second)
	ev := engine.Event{Type: engine.CallAnswer, Time: r.now, Answer: &engine.Answer{Call: c.Seq, Status: d.Status, Body: d.Body, Error: d.Error}}
	if err := r.step(ev, cov, false); err != nil {
		return fmt.Errorf("the answer of %s %s: %w", c.Endpoint, c.Path, err)
	}
	return nil
}

// declared is the first unused answer of calls: for c, or -1.
func (r *run) declared(c *engine.PendingCall) int {
	for i, d := range r.calls {
		if !r.used[i] && d.Endpoint == c.Endpoint && d.Path == c.Path {
			return i
		}
	}
	return -1
}

// madeCall reports whether actions made the call c.
func madeCall(actions []engine.Action, c *engine.PendingCall) bool {
	for i := len(actions) - 1; i >= 0; i-- {
		if l, ok := actions[i].(engine.Lookup); ok {
			return l.Endpoint == c.Endpoint && l.Path == c.Path
		}
	}
	return false
}

// maxTimers bounds the timer events one wait fires.
const maxTimers = 1000

// timers fires, in order, the dialog's timer events (reminders, idle)
// that fall due up to target, each at its due time; the actions of all of
// them count as the actions since the last input.
func (r *run) timers(target time.Time, cov *Coverage) (bool, error) {
	fired := false
	for range maxTimers {
		due := r.d.IdleAt
		if due.IsZero() || due.After(target) {
			break
		}
		if due.Before(r.now) {
			due = r.now
		}
		r.now = due
		ev := engine.Event{Type: engine.Idle, Time: due, Client: r.client, Line: r.line, Language: r.lang, LineHours: r.lineHours}
		before := r.d.IdleAt
		if err := r.step(ev, cov, !fired); err != nil {
			return fired, err
		}
		fired = true
		if r.d.IdleAt.Equal(before) {
			break // nothing moved on: the timer would fire again and again
		}
	}
	return fired, nil
}

// step applies one event; fresh starts the actions since the last input
// anew, else they add to those of the events before.
func (r *run) step(ev engine.Event, cov *Coverage, fresh bool) error {
	res, err := engine.Step(r.sc, r.d, ev)
	if err != nil {
		return err
	}
	cov.add(r.sc, res.Moves)
	r.d = res.Dialog
	if fresh {
		r.actions, r.msgs, r.buttons, r.attach = nil, nil, nil, nil
	}
	r.actions = append(r.actions, res.Actions...)
	for _, a := range res.Actions {
		switch a := a.(type) {
		case engine.Greet:
			text := a.Text
			if a.Welcome {
				text = "(the line's welcome message)"
			}
			r.msgs, r.buttons, r.attach = append(r.msgs, text), append(r.buttons, nil), append(r.attach, attachment{})
		case engine.Say:
			// a menu of its own is a message too: its text is empty
			// because the numbered fallback is not part of the text
			// the keyboard: the choices, then the link and call buttons
			btns := a.Buttons
			for _, l := range a.Links {
				btns = append(btns[:len(btns):len(btns)], l.Text)
			}
			r.msgs, r.buttons, r.attach = append(r.msgs, a.Text), append(r.buttons, btns), append(r.attach, attachment{a.Image, a.File})
		}
	}
	return r.answer(res.Actions, cov)
}

func (r *run) checkBot(st scenarios.TestStep) string {
	if len(r.msgs) == 0 {
		return fmt.Sprintf("want a bot message %q, but the bot said nothing more%s", st.Text, r.since())
	}
	got, btns, att := r.msgs[0], r.buttons[0], r.attach[0]
	r.msgs, r.buttons, r.attach = r.msgs[1:], r.buttons[1:], r.attach[1:]
	if !Glob(st.Text, got) {
		return fmt.Sprintf("bot said %q, want %q", got, st.Text)
	}
	if st.Buttons != nil && strings.Join(btns, "\x00") != strings.Join(st.Buttons, "\x00") {
		return fmt.Sprintf("buttons %q, want %q", btns, st.Buttons)
	}
	return att.check(st)
}

func (r *run) since() string {
	if len(r.actions) == 0 {
		return " (no actions since the last input)"
	}
	parts := make([]string, len(r.actions))
	for i, a := range r.actions {
		parts[i] = a.String()
	}
	return " (actions since the last input: " + strings.Join(parts, "; ") + ")"
}

// checkExpect compares the dialog and the actions since the last input
// with an expect step; it returns the first difference, or "".
func (r *run) checkExpect(e *scenarios.Expect) string {
	if msg := r.checkDialog(e); msg != "" {
		return msg
	}
	return r.checkActions(e)
}

// checkDialog compares the dialog's state, status and fields.
func (r *run) checkDialog(e *scenarios.Expect) string {
	d := r.d
	if e.State != nil && d.State != *e.State {
		return fmt.Sprintf("state is %q, want %q", d.State, *e.State)
	}
	if lang := engine.Language(r.sc, d); e.Language != nil && lang != *e.Language {
		return fmt.Sprintf("language is %q, want %q", lang, *e.Language)
	}
	if e.Finished != nil && (d.Status == engine.Finished) != *e.Finished {
		return fmt.Sprintf("finished is %v, want %v (status %s)", d.Status == engine.Finished, *e.Finished, d.Status)
	}
	if e.HandedOff != nil && (d.Status == engine.HandedOff) != *e.HandedOff {
		return fmt.Sprintf("handed_off is %v, want %v (status %s)", d.Status == engine.HandedOff, *e.HandedOff, d.Status)
	}
	for _, k := range sortedKeys(e.Fields) {
		got, ok := d.Fields[k]
		if !ok {
			return fmt.Sprintf("field %s is not set, want %q (fields: %v)", k, e.Fields[k], d.Fields)
		}
		if got != e.Fields[k] {
			return fmt.Sprintf("field %s is %q, want %q", k, got, e.Fields[k])
		}
	}
	return ""
}

// checkActions compares the actions since the last input.
func (r *run) checkActions(e *scenarios.Expect) string {
	var op, crm bool
	var tr *engine.Transfer
	var greet *engine.Greet
	var notes []string
	for _, a := range r.actions {
		switch a := a.(type) {
		case engine.Note:
			notes = append(notes, a.Text)
		case engine.Operator:
			op = true
		case engine.CRM:
			crm = true
		case engine.Transfer:
			tr = &a
		case engine.Greet:
			greet = &a
		}
	}
	if e.Operator != nil && op != *e.Operator {
		if op {
			return "an operator handoff happened, want none" + r.since()
		}
		return "want a handoff to any operator, but none happened" + r.since()
	}
	if e.CRM != nil && crm != *e.CRM {
		return fmt.Sprintf("crm action present is %v, want %v%s", crm, *e.CRM, r.since())
	}
	if msg := r.checkTransfer(e.Transfer, tr); msg != "" {
		return msg
	}
	if e.Note != nil {
		found := false
		for _, n := range notes {
			found = found || Glob(*e.Note, n)
		}
		switch {
		case !found && len(notes) == 0:
			return fmt.Sprintf("want an operator note %q, but none was posted%s", *e.Note, r.since())
		case !found:
			return fmt.Sprintf("operator note %q, want %q", strings.Join(notes, " | "), *e.Note)
		}
	}
	if g := e.Greet; g != nil {
		switch {
		case !g.Want && greet != nil:
			return "a greeting was sent, want none" + r.since()
		case g.Want && greet == nil:
			return "want a greeting, but none was sent" + r.since()
		case g.Want && g.Text != "" && !Glob(g.Text, greet.Text):
			return fmt.Sprintf("greeting %q, want %q", greet.Text, g.Text)
		}
	}
	return ""
}

// checkTransfer compares the transfer that happened (nil: none) with want.
func (r *run) checkTransfer(want *scenarios.ExpectTransfer, tr *engine.Transfer) string {
	switch {
	case want == nil:
		return ""
	case tr == nil:
		return "want a transfer, but none happened" + r.since()
	case want.User != nil && tr.User != *want.User:
		return fmt.Sprintf("transfer to user %d, want %d", tr.User, *want.User)
	case want.Line != nil && tr.Line != *want.Line:
		return fmt.Sprintf("transfer to line %d, want %d", tr.Line, *want.Line)
	case want.Leave != nil && tr.Leave != *want.Leave:
		return fmt.Sprintf("transfer leave is %v, want %v", tr.Leave, *want.Leave)
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Glob matches s against pattern, where * matches any run of characters
// (including none) and every other character matches itself.
func Glob(pattern, s string) bool {
	pattern, s = strings.TrimSpace(pattern), strings.TrimSpace(s)
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

// RunPaths loads every scenario and test file under paths and runs the tests.
// Problems with the files come back first; results hold every test.
func RunPaths(cov *Coverage, paths ...string) (*scenarios.Set, []Result, scenarios.Problems) {
	set, problems := scenarios.LoadPaths(paths...)
	_, tests, err := scenarios.Files(paths...)
	if err != nil {
		return set, nil, problems
	}
	var results []Result
	for _, f := range tests {
		tf, ps := scenarios.LoadTests(f)
		problems = append(problems, ps...)
		if tf == nil {
			continue
		}
		results = append(results, Run(set, tf, cov)...)
	}
	return set, results, problems
}

// userEvent is a user step's event: a message, a file (user: {file: …}),
// or a file with a caption (user: {text: …, file: …}).
func userEvent(st scenarios.TestStep) *engine.Event {
	if st.Upload == nil {
		return &engine.Event{Type: engine.Message, Text: st.Text}
	}
	f := *st.Upload
	if st.Text == "" {
		return &engine.Event{Type: engine.File, File: &f}
	}
	return &engine.Event{Type: engine.Message, Text: st.Text, File: &f}
}
