package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/scenarios"
)

// Dialog key namespaces: a channel can only address its own dialogs.
const (
	NSPortal     = "b24:" // b24:<member_id>:<DIALOG_ID>
	NSAPI        = "api:" // POST /v1/events
	NSPlayground = "pg:"  // the playground page; never reaches a portal
)

// input is one event for one dialog, from any channel.
type input struct {
	Key      string
	Event    engine.Event
	Scenario string            // explicit scenario (API, playground); "" = by line
	Meta     map[string]string // channel data kept on the record (chat id, bot id, portal)
	// NewSession: the event opens a new session of the chat (a portal's
	// join), so a run that is active or handed off is closed first, with
	// no actions, and the scenario starts afresh.
	NewSession bool
}

// outcome is what processing an event did.
type outcome struct {
	engine.Result
	Duplicate bool
	Calls     int
	Note      string // e.g. why a dialog was handed off without a scenario
}

// maxCASRetries bounds optimistic-concurrency retries when another replica
// committed the same dialog between our read and our write.
const maxCASRetries = 8

// process applies one event: read the record, step the engine, commit the new
// record together with its portal calls, all under the dialog's lock. It
// returns after the commit is durable.
func (s *Server) process(ctx context.Context, in input) (outcome, error) {
	s.inFlight.Add(1)
	defer s.inFlight.Done()
	start := time.Now()
	unlock := s.locks.lock(in.Key)
	defer unlock()
	var out outcome
	var err error
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		out, err = s.processOnce(ctx, in)
		if !errors.Is(err, engine.ErrConflict) {
			break
		}
	}
	typ := string(in.Event.Type)
	switch {
	case err != nil:
		var ae *Error
		if errors.As(err, &ae) && ae.Code == EInvalid {
			s.metrics.events.WithLabelValues(typ, "rejected").Inc()
		} else {
			s.metrics.events.WithLabelValues(typ, "error").Inc()
		}
		return out, err
	case out.Duplicate:
		s.metrics.events.WithLabelValues(typ, "duplicate").Inc()
	default:
		s.metrics.events.WithLabelValues(typ, string(out.Outcome)).Inc()
	}
	s.metrics.stepSeconds.Observe(time.Since(start).Seconds())
	return out, nil
}

func (s *Server) processOnce(ctx context.Context, in input) (outcome, error) {
	old, err := s.store.Dialog(ctx, in.Key)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		old = engine.Dialog{Key: in.Key}
	case err != nil:
		return outcome{}, unavailable("read dialog %s", in.Key, err)
	}
	if old.Seen(in.Event.ID) {
		return outcome{Result: engine.Result{Dialog: old, Outcome: engine.Ignored, Reason: "duplicate event " + in.Event.ID}, Duplicate: true}, nil
	}
	prev := old
	if in.NewSession && (old.Status == engine.Active || old.Status == engine.HandedOff) && !joinedLast(old) {
		// the line started a new session: the old run ends here, and
		// the new one learns its CRM bindings from its own messages
		closed := old.Clone()
		closed.Status, closed.LeadID = engine.Finished, 0
		delete(closed.Meta, "crm")
		old = closed
	}
	res, note, err := s.step(old, in)
	if err != nil {
		return outcome{}, err
	}
	out := outcome{Result: res, Note: note}
	if res.Outcome == engine.Ignored {
		return out, nil // nothing changed: nothing to commit
	}
	d := res.Dialog
	d.Key = in.Key
	d.Remember(in.Event.ID)
	if in.NewSession {
		d.Remember(joinMark)
	}
	for k, v := range in.Meta {
		if d.Meta == nil {
			d.Meta = map[string]string{}
		}
		d.Meta[k] = v
	}
	d.Rev = prev.Rev + 1
	if d.Status != engine.Active {
		d.IdleAt = time.Time{}
	}
	var calls []engine.Call
	if strings.HasPrefix(in.Key, NSPortal) {
		calls, err = s.portal.calls(d, res.Actions, s.now())
		if err != nil {
			return outcome{}, err
		}
	}
	if err := s.store.Commit(ctx, engine.Commit{Dialog: d, PrevRev: prev.Rev, Calls: calls}); err != nil {
		if errors.Is(err, engine.ErrConflict) {
			return outcome{}, err
		}
		s.writeFailed(err)
		return outcome{}, unavailable("commit dialog %s", in.Key, err)
	}
	s.writeOK()
	out.Dialog, out.Calls = d, len(calls)
	s.count(old, d, res, note)
	s.pg.recorded(old, d, res, note)
	if len(calls) > 0 {
		s.portal.wake()
	}
	return out, nil
}

// joinMark is remembered among a dialog's event ids when a join started
// its run. A join carries no id of its own; a second join with nothing in
// between is the same join delivered twice, not a new session.
const joinMark = "j"

func joinedLast(d engine.Dialog) bool {
	return len(d.Recent) > 0 && d.Recent[len(d.Recent)-1] == joinMark
}

// unavailable is the 503 for a store failure. The answer says what could
// not be done and that a retry may work; the cause (a file path, a database
// host) goes to the log only: whoever posted the request need not learn it.
func unavailable(format, key string, err error) error {
	return &storeError{answer: &Error{Code: EUnavailable, Message: fmt.Sprintf(format+": the store is unavailable, try again", key)}, cause: err}
}

// storeError is a store failure: errors.As finds its *Error answer, and its
// Error() (for logs) carries the cause.
type storeError struct {
	answer *Error
	cause  error
}

func (e *storeError) Error() string { return e.answer.Message + ": " + e.cause.Error() }
func (e *storeError) Unwrap() error { return e.cause }

// As hands out the answer to errors.As(err, **Error).
func (e *storeError) As(target any) bool {
	if t, ok := target.(**Error); ok {
		*t = e.answer
		return true
	}
	return false
}

// step picks the scenario for the dialog and runs the engine.
func (s *Server) step(old engine.Dialog, in input) (engine.Result, string, error) {
	set := s.registry.Current().Set
	ev := in.Event
	var sc *scenarios.Scenario
	switch {
	case old.Status == engine.Active && old.Scenario != "":
		sc = set.ByName[old.Scenario]
		if sc == nil {
			// the dialog's scenario was removed by a reload: nobody is left stuck
			if ev.Type == engine.Close {
				d := old.Clone()
				d.Status = engine.Finished
				return engine.Result{Dialog: d, Outcome: engine.Applied}, "", nil
			}
			return s.handOff(old, ev, fmt.Sprintf("scenario %q was removed", old.Scenario)), "scenario_removed", nil
		}
	case in.Scenario != "":
		sc = set.ByName[in.Scenario]
		if sc == nil {
			return engine.Result{}, "", &Error{Code: EInvalid, Field: "scenario", Message: fmt.Sprintf("unknown scenario %q (loaded: %s)", in.Scenario, strings.Join(names(set), ", "))}
		}
	default:
		sc = set.Lookup(ev.Line)
		if sc == nil {
			if ev.Type == engine.Close || ev.Type == engine.Idle || old.Status == engine.HandedOff {
				return engine.Result{Dialog: old, Outcome: engine.Ignored, Reason: "no scenario serves this line"}, "", nil
			}
			s.log.Warn("no scenario serves this line and there is no default scenario; handing the chat to an operator", "line", ev.Line, "dialog", in.Key)
			return s.handOff(old, ev, fmt.Sprintf("no scenario serves line %d", ev.Line)), "no_scenario", nil
		}
	}
	res, err := engine.Step(sc, old, ev)
	if err != nil {
		// name the offending field of the request, as every 400 does
		switch {
		case errors.Is(err, engine.ErrNoButton):
			return engine.Result{}, "", &Error{Code: EInvalid, Field: "button", Message: err.Error()}
		case errors.Is(err, engine.ErrWrongScenario):
			return engine.Result{}, "", &Error{Code: EInvalid, Field: "scenario", Message: err.Error()}
		case errors.Is(err, engine.ErrBadEvent):
			return engine.Result{}, "", &Error{Code: EInvalid, Field: "type", Message: err.Error()}
		}
		return engine.Result{}, "", err
	}
	if len(res.Missing) > 0 {
		s.metrics.templateMiss.Add(float64(len(res.Missing)))
		s.log.Warn("template fields rendered empty", "dialog", in.Key, "scenario", sc.Name, "fields", res.Missing)
	}
	return res, "", nil
}

// handOff is the result of giving a dialog to an operator outside any scenario.
func (s *Server) handOff(old engine.Dialog, ev engine.Event, reason string) engine.Result {
	d := old.Clone()
	d.Status = engine.HandedOff
	if ev.Line != 0 {
		d.Line = ev.Line
	}
	d.Updated = ev.Time
	return engine.Result{Dialog: d, Outcome: engine.Applied, Actions: []engine.Action{engine.Operator{}}, Reason: reason}
}

func names(set *scenarios.Set) []string {
	out := make([]string, 0, len(set.List))
	for _, sc := range set.List {
		out = append(out, sc.Name)
	}
	return out
}

// count updates the dialog lifecycle metrics.
func (s *Server) count(old, d engine.Dialog, res engine.Result, note string) {
	if res.Invalid > 0 {
		s.metrics.invalid.Add(float64(res.Invalid))
	}
	newRun := d.Started != old.Started || !old.Exists()
	if newRun && d.Status != "" && len(res.Moves) > 0 && res.Moves[0].Event == scenarios.EdgeStart {
		s.metrics.dialogs.WithLabelValues("started").Inc()
	}
	if d.Status == old.Status && !newRun {
		return
	}
	switch d.Status {
	case engine.Finished:
		s.metrics.dialogs.WithLabelValues("finished").Inc()
	case engine.HandedOff:
		s.metrics.dialogs.WithLabelValues("handed_off").Inc()
		s.metrics.handoffs.WithLabelValues(handoffReason(res, note)).Inc()
	}
}

// handoffReason tells why a dialog went to an operator: a person asked
// (command or menu), retries were used up, idle, the client typed 0, or the
// scenario was missing.
func handoffReason(res engine.Result, note string) string {
	if note != "" {
		return note
	}
	if len(res.Actions) == 0 {
		return "client_zero"
	}
	for i := len(res.Moves) - 1; i >= 0; i-- {
		switch ev := res.Moves[i].Event; {
		case ev == scenarios.EdgeFail:
			return "retries"
		case ev == scenarios.EdgeIdle:
			return "idle"
		case strings.HasPrefix(ev, scenarios.EdgeCommand):
			return "command"
		case strings.HasPrefix(ev, scenarios.EdgeMenu), strings.HasPrefix(ev, scenarios.EdgeOn):
			return "asked"
		}
	}
	return "scenario"
}
