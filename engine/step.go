// Package engine runs dialogs: a pure step function from (scenario version,
// dialog record, event) to (new record, ordered actions). It does no I/O and
// reads no clock, so it is fast and trivially testable; the server stores the
// record and delivers the actions.
package engine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/match"
	"github.com/olbot/olbot/scenarios"
)

// MaxChain is how many states one step may enter; a longer chain of passing
// states (possible only after an unusual reload) stops there.
const MaxChain = 32

// Errors of Step. Nothing changes when Step returns an error.
var (
	ErrBadEvent      = errors.New("bad event")
	ErrNoButton      = errors.New("no such button")
	ErrWrongScenario = errors.New("dialog belongs to another scenario")
)

// Outcome says what a step did with its event.
type Outcome string

// Step outcomes.
const (
	Applied Outcome = "applied" // the dialog moved or answered
	Ignored Outcome = "ignored" // nothing to do (see Result.Reason)
)

// Move is one transition taken during a step.
type Move struct {
	From, Event, To string
}

// Result is what one step produced.
type Result struct {
	Dialog  Dialog
	Actions []Action
	Outcome Outcome
	Reason  string   // why the event was ignored, or a note for the log
	Moves   []Move   // transitions taken, in order (coverage, funnels)
	Invalid int      // bad answers in this step (validation failures)
	Missing []string // template fields that rendered empty because they were unset
}

// Step applies one event to a dialog of scenario sc and returns the new record
// and the actions to perform, in order. d is not modified. On error nothing
// changed and the result is empty.
func Step(sc *scenarios.Scenario, d Dialog, ev Event) (Result, error) {
	if sc == nil {
		return Result{}, fmt.Errorf("%w: no scenario", ErrBadEvent)
	}
	if err := ev.Validate(); err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if d.Exists() && d.Status == Active && d.Scenario != sc.Name {
		return Result{}, fmt.Errorf("%w: dialog %s runs %q, not %q", ErrWrongScenario, d.Key, d.Scenario, sc.Name)
	}
	s := &stepper{sc: sc, d: d.Clone(), ev: ev}
	s.r.Outcome = Applied
	if err := s.run(); err != nil {
		return Result{}, err
	}
	s.d.IdleAt = idleAt(sc, &s.d)
	if s.r.Outcome == Ignored && ev.Type == Idle && !s.d.IdleAt.Equal(d.IdleAt) {
		// a reload changed the idle setting: keep the new due time
		s.r.Outcome = Applied
	}
	if !s.d.Updated.Equal(ev.Time) && s.r.Outcome == Applied {
		s.d.Updated = ev.Time
	}
	s.r.Dialog = s.d
	return s.r, nil
}

type stepper struct {
	sc    *scenarios.Scenario
	d     Dialog
	ev    Event
	r     Result
	chain int
}

func (s *stepper) ignore(reason string) error {
	s.r.Outcome = Ignored
	s.r.Reason = reason
	return nil
}

func (s *stepper) run() error {
	d, ev := &s.d, s.ev
	if ev.Line != 0 {
		d.Line = ev.Line
	}
	if ev.LeadID != 0 {
		d.LeadID = ev.LeadID
	}
	if ev.Client != "" {
		d.Client = ev.Client
	}
	active := d.Status == Active

	// a reload may have changed the scenario under a running dialog
	if active && d.Version != s.sc.Version {
		d.Version = s.sc.Version
		st, ok := s.sc.States[d.State]
		if ok && d.Retries > s.sc.Retries(st) {
			// bad answers counted before the reload count against the new,
			// lower limit: the next one goes to on_fail, as it would have
			// with the count at the limit, and the record never holds more
			// retries than its state allows
			d.Retries = s.sc.Retries(st)
		}
		if !ok || !st.Waits() {
			if ev.Type == Close {
				d.Status = Finished
				return nil
			}
			if ev.Type == Message || ev.Type == Button {
				d.LastIn, d.IdleDone = ev.Time, false
			}
			if ok {
				// The state is still there but no longer waits (it now
				// passes on or ends): waiting in it would leave the dialog
				// stuck, since only a waiting state handles input. It runs
				// again, so the dialog moves on as the new version says.
				s.r.Reason = fmt.Sprintf("state %q no longer waits after a reload; entered it again", d.State)
				return s.enter(d.State)
			}
			gone := d.State
			if err := s.fire(scenarios.NoState, scenarios.EdgeMissing); err != nil {
				return err
			}
			s.r.Reason = fmt.Sprintf("state %q is gone after a reload; moved to %q", gone, d.State)
			return s.enter(d.State)
		}
	}

	switch ev.Type {
	case Close:
		if !d.Exists() || d.Status == Finished {
			return s.ignore("the dialog is not running")
		}
		d.Status = Finished
		return nil

	case Start:
		if active {
			return s.ignore("the dialog is already running")
		}
		return s.startRun()

	case Idle:
		switch {
		case !active:
			return s.ignore("the dialog is not active")
		case s.sc.Settings.Idle == 0:
			return s.ignore("idle is off in this scenario")
		case d.IdleDone:
			return s.ignore("idle already fired for this silence")
		case ev.Time.Sub(d.LastIn) < s.sc.Settings.Idle:
			return s.ignore("the client is not idle yet")
		}
		st := s.sc.States[d.State]
		if st == nil || !st.Waits() {
			return s.ignore("the dialog is not waiting")
		}
		d.IdleDone = true
		if err := s.fire(d.State, scenarios.EdgeIdle); err != nil {
			return err
		}
		if s.sc.Settings.OnIdle == "" {
			s.emit(Finish{})
			d.Status = Finished
			return nil
		}
		return s.enter(s.sc.Settings.OnIdle)

	case Button:
		if !active {
			return fmt.Errorf("%w: the dialog is not running, so it shows no buttons", ErrNoButton)
		}
		st := s.sc.States[d.State]
		items := buttons(st)
		i := ev.Button - 1
		if ev.Button == 0 {
			in := match.NewInput(ev.Text)
			i = -1
			for j := range items {
				if items[j].Is(in.Clean) {
					i = j
					break
				}
			}
			if i < 0 {
				return fmt.Errorf("%w: state %q has no button %q", ErrNoButton, d.State, ev.Text)
			}
		} else if i >= len(items) {
			if len(items) == 0 {
				return fmt.Errorf("%w: button %d, but state %q shows no buttons", ErrNoButton, ev.Button, d.State)
			}
			return fmt.Errorf("%w: button %d, but state %q shows only %d", ErrNoButton, ev.Button, d.State, len(items))
		}
		d.LastIn, d.IdleDone = ev.Time, false
		if st.Type == "choice" && st.Ask != nil {
			return s.accept(st, items[i].Text)
		}
		if err := s.fire(d.State, items[i].Event); err != nil {
			return err
		}
		return s.enter(d.State)

	case Message:
		if d.Status == HandedOff {
			return s.ignore("an operator has the dialog")
		}
		d.LastIn, d.IdleDone = ev.Time, false
		s.detectLanguage()
		if strings.TrimSpace(ev.Text) == "0" {
			// Bitrix24 itself hands the chat to an operator on "0", whatever
			// the dialog's state: olbot only records it.
			if !active {
				d.Scenario, d.Version, d.State = s.sc.Name, s.sc.Version, s.sc.Start
				d.Fields, d.Retries, d.Started = nil, 0, ev.Time
			}
			d.Status = HandedOff
			s.r.Reason = "the client typed 0: Bitrix24 calls an operator itself"
			return nil
		}
		if !active {
			if err := s.startRun(); err != nil {
				return err
			}
			if d.Status != Active {
				return nil
			}
			return s.input(true)
		}
		return s.input(false)

	case File:
		return s.file(active)

	case SwitchLanguage:
		return s.switchLanguage()
	}
	return fmt.Errorf("%w: unknown event type %q", ErrBadEvent, ev.Type)
}

// file handles a file the client sent.
func (s *stepper) file(active bool) error {
	d := &s.d
	if d.Status == HandedOff {
		return s.ignore("an operator has the dialog")
	}
	d.LastIn, d.IdleDone = s.ev.Time, false
	s.r.Reason = "a file: no answer of a scenario takes one"
	if !active {
		// the first input of a run: a file picks no route, the start
		// state's question stands
		return s.startRun()
	}
	return s.unmatched()
}

// unmatched handles input that no menu, route, answer or command can take
// (a file): the state's fallback, exactly as for a message matching nothing.
func (s *stepper) unmatched() error {
	d := &s.d
	st := s.sc.States[d.State]
	if st == nil || !st.Waits() {
		return s.ignore("the dialog is not waiting for input")
	}
	if st.Ask == nil && st.Next != "" {
		if err := s.fire(d.State, scenarios.EdgeUnmatched); err != nil {
			return err
		}
		return s.enter(d.State)
	}
	return s.bad(st)
}

// idleAt is when the dialog's idle event is due: only active dialogs waiting
// in a state, once per silence, when the scenario sets idle.
func idleAt(sc *scenarios.Scenario, d *Dialog) time.Time {
	if d.Status != Active || d.IdleDone || sc.Settings.Idle == 0 || d.LastIn.IsZero() {
		return time.Time{}
	}
	if st := sc.States[d.State]; st == nil || !st.Waits() {
		return time.Time{}
	}
	return d.LastIn.Add(sc.Settings.Idle)
}

func (s *stepper) startRun() error {
	d := &s.d
	d.Scenario, d.Version = s.sc.Name, s.sc.Version
	d.Status = Active
	d.State = scenarios.NoState
	d.Fields = nil
	d.Retries = 0
	d.IdleDone = false
	d.Started, d.LastIn = s.ev.Time, s.ev.Time
	s.startLanguage()
	if s.ev.Type == Message {
		s.detectLanguage()
	}
	if err := s.fire(scenarios.NoState, scenarios.EdgeStart); err != nil {
		return err
	}
	return s.enter(d.State)
}

// input handles a client message in the current waiting state, in the
// spec's order: menu, on, strongly-typed answer, commands, answer, fallback.
// routesOnly handles only menu, on and commands (first message of a run).
func (s *stepper) input(routesOnly bool) error {
	d := &s.d
	st := s.sc.States[d.State]
	if st == nil || !st.Waits() {
		return s.ignore("the dialog is not waiting for input")
	}
	in := match.NewInput(s.ev.Text)
	if i := pick(st.Menu, in, numbered(st)); i >= 0 {
		if err := s.fire(d.State, st.Menu[i].Event); err != nil {
			return err
		}
		return s.enter(d.State)
	}
	for i := range st.On {
		if st.On[i].Matches(in) {
			if err := s.fire(d.State, st.On[i].Event); err != nil {
				return err
			}
			return s.enter(d.State)
		}
	}
	// a strongly-typed answer is parsed once: a failed parse stays failed
	strong := !routesOnly && st.Ask != nil && strongType(st.Type)
	if strong {
		if v, ok := s.parse(st, in); ok {
			return s.accept(st, v)
		}
	}
	if st.Commands {
		for i := range s.sc.Commands {
			if s.sc.Commands[i].Matches(in) {
				if err := s.fire(d.State, scenarios.CommandEvent(i)); err != nil {
					return err
				}
				return s.enter(d.State)
			}
		}
	}
	if event, v, ok := s.fuzzy(st, in, routesOnly); ok {
		if event == "" {
			return s.accept(st, v)
		}
		if err := s.fire(d.State, event); err != nil {
			return err
		}
		return s.enter(d.State)
	}
	if routesOnly {
		return nil
	}
	if st.Ask != nil {
		if !strong {
			if v, ok := s.parse(st, in); ok {
				return s.accept(st, v)
			}
		}
		return s.bad(st)
	}
	if st.Next != "" {
		if err := s.fire(d.State, scenarios.EdgeUnmatched); err != nil {
			return err
		}
		return s.enter(d.State)
	}
	return s.bad(st)
}

// parse validates an answer against the state's type and validate rule.
func (s *stepper) parse(st *scenarios.State, in match.Input) (string, bool) {
	var v string
	var ok bool
	if st.Type == "choice" {
		if i := pick(st.Choices, in, true); i >= 0 {
			v, ok = st.Choices[i].Text, true
		}
	} else {
		v, ok = answers.Parse(st.Type, in.Raw)
	}
	if ok && st.Validate != "" {
		ok = answers.Validate(st.Type, st.Validate, v)
	}
	return v, ok
}

// accept saves a valid answer and follows next or the answer's branch.
func (s *stepper) accept(st *scenarios.State, v string) error {
	d := &s.d
	if d.Fields == nil {
		d.Fields = make(map[string]string, 4)
	}
	d.Fields[st.Save] = v
	event := scenarios.EdgeAnswer
	if st.Branch != nil {
		event = st.BranchEvent(v)
	}
	if err := s.fire(d.State, event); err != nil {
		return err
	}
	return s.enter(d.State)
}

// bad counts a bad answer: re-ask while retries last, then on_fail.
func (s *stepper) bad(st *scenarios.State) error {
	d := &s.d
	s.r.Invalid++
	if d.Retries < s.sc.Retries(st) {
		d.Retries++
		if err := s.fire(d.State, scenarios.EdgeRetry); err != nil {
			return err
		}
		text := st.Retry
		if text == nil {
			text = st.Ask
		}
		if text == nil {
			text = st.Say
		}
		say := Say{Buttons: s.buttonTexts(st), Numbered: numbered(st) && len(buttons(st)) > 0}
		if text != nil {
			say.Text = s.render(text)
		}
		// a state with only on: routes has nothing to ask again: an empty
		// message would be refused by the portal, so the re-ask is silent
		if say.Text != "" || len(say.Buttons) > 0 {
			s.emit(say)
		}
		return nil
	}
	if err := s.fire(d.State, scenarios.EdgeFail); err != nil {
		return err
	}
	if st.OnFail == "" {
		s.emit(Operator{})
		d.Status = HandedOff
		return nil
	}
	return s.enter(d.State)
}

// fire moves the dialog along event on the scenario's fsm.
func (s *stepper) fire(from, event string) error {
	to, err := s.sc.Fire(from, event)
	if err != nil {
		return err
	}
	s.d.State = to
	s.r.Moves = append(s.r.Moves, Move{From: from, Event: event, To: to})
	return nil
}

// enter runs a state's actions in the spec's order (set, greet, say, crm,
// ask or menu message, then operator/transfer/finish) and follows next at once from
// a passing state.
func (s *stepper) enter(name string) error {
	d := &s.d
	st := s.sc.States[name]
	if st == nil {
		return fmt.Errorf("scenario %s: unknown state %q", s.sc.Name, name)
	}
	s.chain++
	d.State = name
	d.Retries = 0
	s.set(st)
	btns := s.buttonTexts(st)
	num := numbered(st) && len(btns) > 0
	if st.Greet != nil {
		if st.Greet.Welcome {
			s.emit(Greet{Welcome: true})
		} else {
			s.emit(Greet{Text: s.render(st.Greet.Text)})
		}
	}
	if st.Say != nil {
		say := Say{Text: s.render(st.Say)}
		if st.Ask == nil {
			say.Buttons, say.Numbered = btns, num
		}
		s.emit(say)
	}
	if st.CRM != "" {
		fields := make(map[string]string, len(d.Fields))
		for k, v := range d.Fields {
			fields[k] = v
		}
		s.emit(CRM{Entity: st.CRM, LeadID: d.LeadID, Fields: fields})
	}
	if st.Ask != nil {
		s.emit(Say{Text: s.render(st.Ask), Buttons: btns, Numbered: num})
	} else if st.Say == nil && len(btns) > 0 {
		s.emit(Say{Buttons: btns, Numbered: num})
	}
	switch {
	case st.Operator != "":
		s.emit(Operator{})
		d.Status = HandedOff
	case st.Transfer != nil:
		s.emit(Transfer{User: st.Transfer.User, Line: st.Transfer.Line, Leave: st.Transfer.Leave})
		d.Status = HandedOff
	case st.Finish:
		s.emit(Finish{})
		d.Status = Finished
	case !st.Waits() && st.Next != "":
		if s.chain >= MaxChain {
			// only possible after an unusual reload; nobody is left stuck
			s.r.Reason = fmt.Sprintf("stopped after %d chained states at %q; handed to an operator", MaxChain, name)
			s.emit(Operator{})
			d.Status = HandedOff
			return nil
		}
		if err := s.fire(name, scenarios.EdgeNext); err != nil {
			return err
		}
		return s.enter(d.State)
	}
	return nil
}

func (s *stepper) emit(a Action) { s.r.Actions = append(s.r.Actions, a) }

// render fills a template with the dialog's fields; inserted client text is
// escaped so that it cannot add BB-codes.
func (s *stepper) render(t *scenarios.Template) string {
	return t.In(s.lang()).Render(s.lookup, EscapeBB, s.missing)
}

func (s *stepper) lookup(f string) (string, bool) {
	if f == scenarios.ClientField {
		return s.d.Client, s.d.Client != ""
	}
	v, ok := s.d.Fields[f]
	return v, ok
}

func (s *stepper) missing(f string) { s.r.Missing = append(s.r.Missing, f) }

// EscapeBB makes client text unable to open a BB-code: a zero-width space
// follows every "[".
func EscapeBB(v string) string {
	if !strings.Contains(v, "[") {
		return v
	}
	return strings.ReplaceAll(v, "[", "[\u200b")
}
