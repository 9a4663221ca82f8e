// Package dialogs applies channel events to stored dialogs: one event at a
// time per dialog, read the record, pick the scenario, step the engine, and
// commit the new record together with the portal calls the step produced
// (the transactional outbox), retrying when another replica committed the
// same dialog first. It also runs the idle sweeper, tracks whether the
// store takes writes, and tells observers (the funnel) of every committed
// step.
package dialogs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/scenarios"
)

// Input is one event for one dialog, from any channel.
type Input struct {
	Key      string
	Event    engine.Event
	Scenario string         // explicit scenario (API, playground); "" = by line
	Channel  engine.Channel // where replies go; merged into the record's
	// NewSession: the event opens a new session of the chat (a portal's
	// join), so a run that is active or handed off is closed first, with
	// no actions, and the scenario starts afresh.
	NewSession bool
	// Cursor, for a polled event, is the stream position past it: written
	// with the step's commit (engine.Commit.Cursor), so the step and the
	// offset that confirms its event are stored together. A step that
	// commits nothing (a duplicate, an ignored event) writes no cursor.
	Cursor *engine.Cursor
}

// Outcome is what applying an event did.
type Outcome struct {
	engine.Result
	Duplicate bool
	Calls     int    // portal calls committed with the step
	Note      string // e.g. why a dialog was handed off without a scenario
}

// Step is one committed step, as observers hear of it.
type Step struct {
	Old, New engine.Dialog
	Result   engine.Result
	Note     string // the handoff reason outside any scenario, if any
}

// Observer hears of every committed step, after the commit. It runs on the
// event's path, so it only counts or queues; it must not block.
type Observer interface {
	Committed(s Step)
}

// Portal turns the actions of a portal dialog's step into the calls
// committed with it, and is told when new calls wait (package outbox).
type Portal interface {
	Calls(d engine.Dialog, actions []engine.Action, now time.Time) ([]engine.Call, error)
	Wake()
}

// Lookups makes the calls of call: states (package lookup): a dialog
// waits on one with engine.Dialog.Call set.
type Lookups interface {
	// Enqueue hears of a call a committed step made the dialog wait on.
	// It is called under the dialog's lock and must not block.
	Enqueue(key string, c engine.PendingCall)
	// Overdue hears of a call whose lease ran out (the idle sweeper found
	// it): the process that held it died, or its lane is busy.
	Overdue(ctx context.Context, key string, c engine.PendingCall)
}

// LineLanguages tells an Open Line's language as the portal has it (its
// LANGUAGE_ID; package lines caches it per line), "" when unknown. Portal
// events carry the portal's language, not the client's: the line's is the
// best a run that starts can know.
type LineLanguages interface {
	Language(ctx context.Context, portal string, line int) string
}

// Options are the processor's collaborators.
type Options struct {
	Store    engine.Store
	Registry *scenarios.Registry
	Portal   Portal        // nil: portal dialogs are refused (no calls could be made)
	Lines    LineLanguages // nil: portal dialogs start in the scenario's default language
	Logger   *slog.Logger
	Now      func() time.Time      // injectable clock; default time.Now
	Metrics  prometheus.Registerer // nil: kept but not exported
}

// Processor applies events to dialogs; one per replica.
type Processor struct {
	store     engine.Store
	registry  *scenarios.Registry
	portal    Portal
	lookups   Lookups
	lines     LineLanguages
	settings  LineSettings // lines, when it knows more than languages
	warn      lineWarnings
	log       *slog.Logger
	now       func() time.Time
	metrics   *metrics
	locks     keyLocks
	health    storeHealth
	observers []Observer
	inFlight  sync.WaitGroup
}

// maxCASRetries bounds optimistic-concurrency retries when another replica
// committed the same dialog between our read and our write.
const maxCASRetries = 8

// New builds a processor.
func New(opts Options) (*Processor, error) {
	if opts.Store == nil || opts.Registry == nil {
		return nil, errors.New("dialogs: a store and a scenario registry are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	p := &Processor{store: opts.Store, registry: opts.Registry, portal: opts.Portal, log: opts.Logger, now: opts.Now,
		metrics: newMetrics(opts.Metrics)}
	p.SetLines(opts.Lines)
	return p, nil
}

// SetPortal sets the portal side when it is built after the processor
// (the outbox takes the processor's locks and store health); call it
// before events arrive.
func (p *Processor) SetPortal(portal Portal) { p.portal = portal }

// SetLookups sets who makes the calls of call: states; call it before
// events arrive. Without it a dialog entering a call: state waits until
// a process that has one takes the call up.
func (p *Processor) SetLookups(l Lookups) { p.lookups = l }

// SetLines sets where portal dialogs learn their line's language, when it
// is built after the processor; call it before events arrive.
func (p *Processor) SetLines(l LineLanguages) {
	p.lines = l
	p.settings, _ = l.(LineSettings)
}

// Observe adds an observer of committed steps; call it before events arrive.
func (p *Processor) Observe(o Observer) { p.observers = append(p.observers, o) }

// Lock serialises the changes of one dialog in this process (the outbox
// records a created lead under it).
func (p *Processor) Lock(key string) (unlock func()) { return p.locks.lock(key) }

// Wait waits until no event is being applied (shutdown, after the HTTP
// server stopped taking requests).
func (p *Processor) Wait() { p.inFlight.Wait() }

// Apply applies one event: read the record, step the engine, commit the new
// record together with its portal calls, all under the dialog's lock. It
// returns after the commit is durable. Errors are *InvalidError (nothing
// changed) or *UnavailableError (the store failed).
func (p *Processor) Apply(ctx context.Context, in Input) (Outcome, error) {
	p.inFlight.Add(1)
	defer p.inFlight.Done()
	start := time.Now()
	lk := p.locks.acquire(in.Key)
	defer lk.release()
	var out Outcome
	var err error
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		out, err = p.applyOnce(ctx, in)
		if !errors.Is(err, engine.ErrConflict) {
			break
		}
	}
	typ := string(in.Event.Type)
	var ie *InvalidError
	switch {
	case errors.As(err, &ie):
		p.metrics.events.WithLabelValues(typ, "rejected").Inc()
		return out, err
	case err != nil:
		p.metrics.events.WithLabelValues(typ, "error").Inc()
		return out, err
	case out.Duplicate:
		p.metrics.events.WithLabelValues(typ, "duplicate").Inc()
	default:
		p.metrics.events.WithLabelValues(typ, string(out.Outcome)).Inc()
	}
	p.metrics.stepSeconds.Observe(time.Since(start).Seconds())
	return out, nil
}

// joinMark is remembered among a dialog's event ids when a join started
// its run. A join carries no id of its own; a second join with nothing in
// between is the same join delivered twice, not a new session.
const joinMark = "j"

func joinedLast(d engine.Dialog) bool {
	return len(d.Recent) > 0 && d.Recent[len(d.Recent)-1] == joinMark
}

func (p *Processor) applyOnce(ctx context.Context, in Input) (Outcome, error) {
	old, err := p.store.Dialog(ctx, in.Key)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		old = engine.Dialog{Key: in.Key}
	case err != nil:
		return Outcome{}, Unavailable("read dialog %s", in.Key, err)
	}
	if old.Seen(in.Event.ID) {
		return Outcome{Result: engine.Result{Dialog: old, Outcome: engine.Ignored, Reason: "duplicate event " + in.Event.ID}, Duplicate: true}, nil
	}
	prev := old
	if in.NewSession && (old.Status == engine.Active || old.Status == engine.HandedOff) && !joinedLast(old) {
		// the line started a new session: the old run ends here, and the
		// new one learns its CRM bindings from its own messages
		closed := old.Clone()
		closed.Status, closed.LeadID = engine.Finished, 0
		closed.Call, closed.Held = nil, nil
		closed.Channel.Contact, closed.Channel.Deal = 0, 0
		old = closed
	}
	in.Event.Language = p.lineLanguage(ctx, old, in)
	p.lineFacts(ctx, old, &in)
	res, note, err := p.step(old, in)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Result: res, Note: note}
	if res.Outcome == engine.Ignored {
		return out, nil // nothing changed: nothing to commit
	}
	d := res.Dialog
	d.Key = in.Key
	d.Remember(in.Event.ID)
	if in.NewSession {
		d.Remember(joinMark)
	}
	d.Channel = d.Channel.Merge(in.Channel)
	d.Rev = prev.Rev + 1
	if d.Status != engine.Active {
		d.IdleAt = time.Time{}
	}
	var calls []engine.Call
	if strings.HasPrefix(in.Key, engine.KeyPortal) {
		if p.portal == nil {
			return Outcome{}, errors.New("dialogs: a portal dialog, but no portal to send its calls")
		}
		if calls, err = p.portal.Calls(d, res.Actions, p.now()); err != nil {
			return Outcome{}, err
		}
	}
	if err := p.store.Commit(ctx, engine.Commit{Dialog: d, PrevRev: prev.Rev, Calls: calls, Cursor: in.Cursor}); err != nil {
		if errors.Is(err, engine.ErrConflict) || errors.Is(err, engine.ErrFenced) {
			return Outcome{}, err // a lost compare-and-set or lease, not a store outage
		}
		var ie *engine.InvalidError
		if errors.As(err, &ie) {
			return Outcome{}, &InvalidError{Field: ie.Field, Message: ie.Error()} // bad input, not a store outage
		}
		p.WriteFailed(err)
		return Outcome{}, Unavailable("commit dialog %s", in.Key, err)
	}
	p.writeOK()
	out.Dialog, out.Calls = d, len(calls)
	p.count(old, d, res, note)
	for _, o := range p.observers {
		o.Committed(Step{Old: old, New: d, Result: res, Note: note})
	}
	if len(calls) > 0 {
		p.portal.Wake()
	}
	if d.Call != nil && p.lookups != nil && (prev.Call == nil || prev.Call.Seq != d.Call.Seq) {
		p.lookups.Enqueue(in.Key, *d.Call)
	}
	return out, nil
}

// lineLanguage is the language a portal event brings for a run it may
// start: the line's, read outside the engine's pure step (the cache asks
// the portal at most once per line every few minutes). It is looked up
// only when a run can start and the line's scenario has languages to
// choose from; otherwise the event's own language stands.
func (p *Processor) lineLanguage(ctx context.Context, old engine.Dialog, in Input) string {
	ev := in.Event
	if p.lines == nil || ev.Language != "" || in.Channel.Member == "" || ev.Line <= 0 || in.Scenario != "" {
		return ev.Language
	}
	switch ev.Type {
	case engine.Start, engine.Message, engine.Button, engine.File:
	default:
		return ev.Language
	}
	if old.Status == engine.Active && !in.NewSession {
		return ev.Language // the run's language is set
	}
	if sc := p.registry.Current().Set.Lookup(ev.Line); sc == nil || len(sc.Languages) < 2 {
		return ev.Language
	}
	return p.lines.Language(ctx, in.Channel.Member, ev.Line)
}

// step picks the scenario for the dialog and runs the engine.
func (p *Processor) step(old engine.Dialog, in Input) (engine.Result, string, error) {
	set := p.registry.Current().Set
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
			return handOff(old, ev, fmt.Sprintf("scenario %q was removed", old.Scenario)), "scenario_removed", nil
		}
	case in.Scenario != "":
		sc = set.ByName[in.Scenario]
		if sc == nil {
			return engine.Result{}, "", invalid("scenario", "unknown scenario %q (loaded: %s)", in.Scenario, strings.Join(Names(set), ", "))
		}
	default:
		sc = set.Lookup(ev.Line)
		if sc == nil {
			if ev.Type == engine.Close || ev.Type == engine.Idle || old.Status == engine.HandedOff {
				return engine.Result{Dialog: old, Outcome: engine.Ignored, Reason: "no scenario serves this line"}, "", nil
			}
			p.log.Warn("no scenario serves this line and there is no default scenario; handing the chat to an operator", "line", ev.Line, "dialog", in.Key)
			return handOff(old, ev, fmt.Sprintf("no scenario serves line %d", ev.Line)), "no_scenario", nil
		}
	}
	res, err := engine.Step(sc, old, ev)
	if err != nil {
		// name the offending field of the request, as every 400 does
		switch {
		case errors.Is(err, engine.ErrNoButton):
			return engine.Result{}, "", &InvalidError{Field: "button", Message: err.Error()}
		case errors.Is(err, engine.ErrWrongScenario):
			return engine.Result{}, "", &InvalidError{Field: "scenario", Message: err.Error()}
		case errors.Is(err, engine.ErrBadEvent):
			return engine.Result{}, "", &InvalidError{Field: "type", Message: err.Error()}
		}
		return engine.Result{}, "", err
	}
	if len(res.Missing) > 0 {
		p.metrics.templateMiss.Add(float64(len(res.Missing)))
		p.log.Warn("template fields rendered empty", "dialog", in.Key, "scenario", sc.Name, "fields", res.Missing)
	}
	return res, "", nil
}

// handOff is the result of giving a dialog to an operator outside any scenario.
func handOff(old engine.Dialog, ev engine.Event, reason string) engine.Result {
	d := old.Clone()
	d.Status = engine.HandedOff
	if ev.Line != 0 {
		d.Line = ev.Line
	}
	d.Updated = ev.Time
	return engine.Result{Dialog: d, Outcome: engine.Applied, Actions: []engine.Action{engine.Operator{}}, Reason: reason}
}

// Names lists the names of a set's scenarios, in the set's order.
func Names(set *scenarios.Set) []string {
	out := make([]string, 0, len(set.List))
	for _, sc := range set.List {
		out = append(out, sc.Name)
	}
	return out
}

// count updates the dialog lifecycle metrics.
func (p *Processor) count(old, d engine.Dialog, res engine.Result, note string) {
	if res.Invalid > 0 {
		p.metrics.invalid.Add(float64(res.Invalid))
	}
	newRun := d.Started != old.Started || !old.Exists()
	if newRun && d.Status != "" && len(res.Moves) > 0 && res.Moves[0].Event == scenarios.EdgeStart {
		p.metrics.dialogs.WithLabelValues("started").Inc()
	}
	if d.Status == old.Status && !newRun {
		return
	}
	switch d.Status {
	case engine.Finished:
		p.metrics.dialogs.WithLabelValues("finished").Inc()
	case engine.HandedOff:
		p.metrics.dialogs.WithLabelValues("handed_off").Inc()
		p.metrics.handoffs.WithLabelValues(HandoffReason(res, note)).Inc()
	}
}

// HandoffReason tells why a dialog went to an operator: a person asked
// (command or menu), retries were used up, idle, the client typed 0, or the
// scenario was missing (note, set outside any scenario).
func HandoffReason(res engine.Result, note string) string {
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
