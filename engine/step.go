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
	s.release()
	s.remindReset(&d)
	s.d.IdleAt = idleAt(sc, &s.d)
	s.d.Ended = ended(&d, &s.d, ev.Time)
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

// ended is the new record's Ended: the event's time when this step
// finished the dialog or handed it off (a hand-off later finished counts
// from the finish), the old time while its status stays, zero while it is
// active.
func ended(old, d *Dialog, now time.Time) time.Time {
	switch {
	case d.Status != Finished && d.Status != HandedOff:
		return time.Time{}
	case old.Status == d.Status && !old.Ended.IsZero():
		return old.Ended
	}
	return now
}

type stepper struct {
	sc    *scenarios.Scenario
	d     Dialog
	ev    Event
	r     Result
	chain int
	// entered: the step entered a state (reminders count afresh)
	entered bool
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
	if d.Status == Active && d.Version != s.sc.Version {
		if done, err := s.reloaded(); done || err != nil {
			return err
		}
	}
	if d.Call != nil {
		if done, err := s.waiting(); done || err != nil {
			return err
		}
	}
	return s.dispatch()
}

// dispatch handles an event by its type.
func (s *stepper) dispatch() error {
	d, ev := &s.d, s.ev
	switch ev.Type {
	case CallStart, CallAnswer:
		return s.ignore("the dialog waits on no call")
	case Close:
		if !d.Exists() || d.Status == Finished {
			return s.ignore("the dialog is not running")
		}
		d.Status = Finished
		return nil
	case Start:
		if d.Status == Active {
			return s.ignore("the dialog is already running")
		}
		return s.startRun()
	case Idle:
		return s.idle()
	case Button:
		return s.button()
	case Message:
		return s.message()
	case File:
		return s.file(d.Status == Active)
	case SwitchLanguage:
		return s.switchLanguage()
	}
	return fmt.Errorf("%w: unknown event type %q", ErrBadEvent, ev.Type)
}

// reloaded moves a running dialog onto the scenario's new version. When
// its state is gone or no longer waits, the dialog moves on at once as the
// new version says and done is true: the event was spent on that.
func (s *stepper) reloaded() (done bool, err error) {
	d, ev := &s.d, s.ev
	d.Version = s.sc.Version
	st, ok := s.sc.States[d.State]
	if ok && d.Retries > s.sc.Retries(st) {
		// bad answers counted before the reload count against the new,
		// lower limit: the next one goes to on_fail, as it would have
		// with the count at the limit, and the record never holds more
		// retries than its state allows
		d.Retries = s.sc.Retries(st)
	}
	if ok && st.Waits() {
		return false, nil
	}
	if d.Call != nil {
		if ok && st.Call != nil {
			return false, nil // the answer is taken as the new version says
		}
		d.Call = nil // the call's state is gone or calls no more: its answer would be dropped
	}
	if ev.Type == Close {
		d.Status = Finished
		return true, nil
	}
	if ev.Type == Message || ev.Type == Button {
		d.LastIn, d.IdleDone = ev.Time, false
	}
	if ok {
		// The state is still there but no longer waits (it now passes on
		// or ends): waiting in it would leave the dialog stuck, since only
		// a waiting state handles input. It runs again, so the dialog moves
		// on as the new version says.
		s.r.Reason = fmt.Sprintf("state %q no longer waits after a reload; entered it again", d.State)
		return true, s.enter(d.State)
	}
	gone := d.State
	if err := s.fire(scenarios.NoState, scenarios.EdgeMissing); err != nil {
		return true, err
	}
	s.r.Reason = fmt.Sprintf("state %q is gone after a reload; moved to %q", gone, d.State)
	return true, s.enter(d.State)
}

// idle handles the sweeper's timer event: settings.idle (on_idle, or
// finish the session) when it is due, else the state's reminder.
func (s *stepper) idle() error {
	d, ev := &s.d, s.ev
	if d.Status != Active {
		return s.ignore("the dialog is not active")
	}
	st := s.sc.States[d.State]
	if st == nil || !st.Waits() {
		return s.ignore("the dialog is not waiting")
	}
	switch {
	case s.sc.Settings.Idle == 0:
		if st.Remind == nil {
			return s.ignore("idle is off in this scenario")
		}
	case d.IdleDone:
		if st.Remind == nil {
			return s.ignore("idle already fired for this silence")
		}
	case ev.Time.Sub(d.LastIn) >= s.sc.Settings.Idle:
		return s.idleFire()
	}
	if due, ok := remindAt(st, d); ok && !ev.Time.Before(due) {
		d.Reminded++
		d.RemindFrom = ev.Time
		s.emit(Say{Text: s.render(st.Remind.Say)})
		s.r.Reason = fmt.Sprintf("reminder %d of %d", d.Reminded, st.Remind.Times)
		return nil
	}
	return s.ignore("the client is not idle yet")
}

// idleFire moves a silent dialog to on_idle, or finishes it.
func (s *stepper) idleFire() error {
	d := &s.d
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
}

// remindAt is when the state's next reminder is due, if one is left in
// this silence: after counted from the client's last message, entering the
// state, or the last reminder, whichever was last.
func remindAt(st *scenarios.State, d *Dialog) (time.Time, bool) {
	r := st.Remind
	if r == nil || d.Reminded >= r.Times || d.LastIn.IsZero() {
		return time.Time{}, false
	}
	from := d.LastIn
	if d.RemindFrom.After(from) {
		from = d.RemindFrom
	}
	return from.Add(r.After), true
}

// remindReset starts the reminders afresh when the client wrote or the
// step entered a state: the count goes back to zero, and after entering a
// state without a client message (idle, a reload) they count from now.
func (s *stepper) remindReset(before *Dialog) {
	d := &s.d
	if !s.entered && d.LastIn.Equal(before.LastIn) {
		return
	}
	d.Reminded, d.RemindFrom = 0, time.Time{}
	if st := s.sc.States[d.State]; s.entered && st != nil && st.Remind != nil && d.LastIn.Before(s.ev.Time) {
		d.RemindFrom = s.ev.Time
	}
}

// button handles a pressed button, by number or by its text.
func (s *stepper) button() error {
	d, ev := &s.d, s.ev
	if d.Status != Active {
		return fmt.Errorf("%w: the dialog is not running, so it shows no buttons", ErrNoButton)
	}
	st := s.sc.States[d.State]
	items := s.buttons(st)
	i, err := s.pressed(items)
	if err != nil {
		return err
	}
	d.LastIn, d.IdleDone = ev.Time, false
	if st.Type == answers.Choice && st.Ask != nil {
		return s.accept(st, items[i].Text)
	}
	if err := s.fire(d.State, items[i].Event); err != nil {
		return err
	}
	return s.enter(d.State)
}

// pressed returns the index of the button the event names, or ErrNoButton.
func (s *stepper) pressed(items []scenarios.MenuItem) (int, error) {
	d, ev := &s.d, s.ev
	if ev.Button == 0 {
		in := match.NewInput(ev.Text)
		for j := range items {
			if items[j].Is(in.Clean) {
				return j, nil
			}
		}
		return 0, fmt.Errorf("%w: state %q has no button %q", ErrNoButton, d.State, ev.Text)
	}
	switch i := ev.Button - 1; {
	case i < len(items):
		return i, nil
	case len(items) == 0:
		return 0, fmt.Errorf("%w: button %d, but state %q shows no buttons", ErrNoButton, ev.Button, d.State)
	default:
		return 0, fmt.Errorf("%w: button %d, but state %q shows only %d", ErrNoButton, ev.Button, d.State, len(items))
	}
}

// message handles a client's message.
func (s *stepper) message() error {
	d, ev := &s.d, s.ev
	if d.Status == HandedOff {
		return s.ignore("an operator has the dialog")
	}
	d.LastIn, d.IdleDone = ev.Time, false
	s.detectLanguage()
	active := d.Status == Active
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
	if active {
		if ev.File != nil && s.takesFile() {
			return s.fileAnswer() // a file with a caption answers a file ask
		}
		return s.input(false)
	}
	if err := s.startRun(); err != nil {
		return err
	}
	if d.Status != Active {
		return nil
	}
	return s.input(true)
}

// file handles a file the client sent.
func (s *stepper) file(active bool) error {
	d := &s.d
	if d.Status == HandedOff {
		return s.ignore("an operator has the dialog")
	}
	d.LastIn, d.IdleDone = s.ev.Time, false
	if active && s.takesFile() {
		return s.fileAnswer()
	}
	s.r.Reason = "a file where the state does not ask for one"
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
		if err := s.fire(d.State, s.branch(st, scenarios.EdgeUnmatched)); err != nil {
			return err
		}
		return s.enter(d.State)
	}
	return s.bad(st)
}

// idleAt is when the dialog's next timer event is due: settings.idle, once
// per silence, or the waiting state's next reminder, whichever comes
// first; zero when none is (a dialog not active or not waiting).
func idleAt(sc *scenarios.Scenario, d *Dialog) time.Time {
	if d.Call != nil && d.Status == Active {
		return d.Call.Due // idle is suspended; the call's pickup time takes its place
	}
	if d.Status != Active || d.LastIn.IsZero() {
		return time.Time{}
	}
	st := sc.States[d.State]
	if st == nil || !st.Waits() {
		return time.Time{}
	}
	var due time.Time
	if !d.IdleDone && sc.Settings.Idle > 0 {
		due = d.LastIn.Add(sc.Settings.Idle)
	}
	if r, ok := remindAt(st, d); ok && (due.IsZero() || r.Before(due)) {
		due = r
	}
	return due
}

func (s *stepper) startRun() error {
	d := &s.d
	d.Scenario, d.Version = s.sc.Name, s.sc.Version
	d.Status = Active
	d.State = scenarios.NoState
	d.Fields = nil
	d.Retries = 0
	d.IdleDone = false
	d.Call, d.Held = nil, nil
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
	s.entered = true
	d.State = name
	d.Retries = 0
	s.set(st)
	s.applySet(st)
	btns, links := s.buttonTexts(st), s.links(st)
	num := numbered(st) && len(btns)+len(links) > 0
	if st.Greet != nil {
		if st.Greet.Welcome {
			s.emit(Greet{Welcome: true})
		} else {
			s.emit(Greet{Text: s.render(st.Greet.Text)})
		}
	}
	if st.Say != nil {
		say := Say{Text: s.render(st.Say), Image: st.SayAttach.Image, File: st.SayAttach.File}
		if st.Ask == nil {
			say.Buttons, say.Links, say.Numbered = btns, links, num
		}
		s.emit(say)
	}
	if st.CRM != "" {
		s.emit(s.crm(st))
	}
	if st.Ask != nil {
		s.emit(Say{Text: s.render(st.Ask), Buttons: btns, Links: links, Numbered: num, Image: st.AskAttach.Image, File: st.AskAttach.File})
	} else if st.Say == nil && len(btns)+len(links) > 0 {
		s.emit(Say{Buttons: btns, Links: links, Numbered: num})
	}
	if st.Note != nil && (st.Operator != "" || st.Transfer != nil) {
		if t := s.render(st.Note); strings.TrimSpace(t) != "" {
			s.emit(Note{Text: t})
		}
	}
	if st.Call != nil {
		s.startCall(st) // the answer, an event of its own, moves on
		return nil
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
		if err := s.fire(name, s.branch(st, scenarios.EdgeNext)); err != nil {
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
