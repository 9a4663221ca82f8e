// Package funnel counts real traffic per scenario (portal and API dialogs;
// never playground ones) from the committed steps it observes: how many
// times each state was entered, each arrow taken, where active dialogs wait
// now, and where dialogs finished or were handed off, and why. Counts are
// kept in the store's key-value space.
package funnel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/scenarios"
)

// Counts live in memory and are written to the store's key-value space
// (namespace "funnel", key = scenario name, JSON) every FlushEvery and
// on Close, and read back on Open. A crash loses at most the counts of the
// last few seconds; dialogs themselves are never affected. Each flush adds
// this replica's new counts to what the store holds (read, add, write), so
// replicas sharing a store add up, save for a rare lost update when two
// flush the same scenario at the same instant. On Open the "waiting now"
// counts are rebuilt from the dialog records, which also heals any drift.
const (
	// NSFunnel is the key-value namespace of the counts (key: scenario name).
	NSFunnel   = "funnel"
	FlushEvery = 5 * time.Second
)

// Funnel is one scenario's traffic counts. State keys are state names; edge
// keys are "FROM -> TO" with "[*]" for the start and the end (as in
// Scenario.Edges and `olbot graph`).
type Funnel struct {
	Scenario string    `json:"scenario"`
	Since    time.Time `json:"since,omitzero"`   // first count
	Updated  time.Time `json:"updated,omitzero"` // last write to the store
	Started  int64     `json:"started"`          // runs started
	// Entered counts entries into each state; a dialog that comes back to a
	// state counts again, a re-asked question (bad answer) does not.
	Entered map[string]int64 `json:"entered,omitempty"`
	// Edges counts the arrows taken, including the arrows to the end drawn
	// from states that hand off or finish.
	Edges map[string]int64 `json:"edges,omitempty"`
	// Active counts the dialogs waiting in each state now.
	Active map[string]int64 `json:"active,omitempty"`
	// Finished and HandedOff count where runs ended.
	Finished  map[string]int64 `json:"finished,omitempty"`
	HandedOff map[string]int64 `json:"handed_off,omitempty"`
	// Reasons counts handoffs by why: asked (a menu button or keyword led to
	// a person), command (a global command), retries (used up), idle,
	// client_zero (the client typed 0), scenario (the scenario's own
	// operator/transfer state), scenario_removed.
	Reasons map[string]int64 `json:"handoff_reasons,omitempty"`
	// Ratings and RatingSum count the answers to the scenario's `type:
	// rating` questions (1–5) and add them up: their average is
	// RatingSum/Ratings (FunnelView.RatingAverage).
	Ratings   int64 `json:"ratings,omitempty"`
	RatingSum int64 `json:"rating_sum,omitempty"`
}

func newFunnel(name string) *Funnel { return &Funnel{Scenario: name} }

func inc(m *map[string]int64, key string, n int64) {
	if *m == nil {
		*m = map[string]int64{}
	}
	if v := (*m)[key] + n; v != 0 {
		(*m)[key] = v
	} else {
		delete(*m, key)
	}
}

// add adds g's counts to f.
func (f *Funnel) add(g *Funnel) {
	if g == nil {
		return
	}
	if f.Since.IsZero() || (!g.Since.IsZero() && g.Since.Before(f.Since)) {
		f.Since = g.Since
	}
	if g.Updated.After(f.Updated) {
		f.Updated = g.Updated
	}
	f.Started += g.Started
	f.Ratings += g.Ratings
	f.RatingSum += g.RatingSum
	for _, p := range []struct{ dst, src *map[string]int64 }{
		{&f.Entered, &g.Entered}, {&f.Edges, &g.Edges}, {&f.Active, &g.Active},
		{&f.Finished, &g.Finished}, {&f.HandedOff, &g.HandedOff}, {&f.Reasons, &g.Reasons},
	} {
		for k, v := range *p.src {
			inc(p.dst, k, v)
		}
	}
}

// Book keeps the funnels of all scenarios: what the store held at the
// last read or write (base), what a flush is writing now (flushing), and what
// was counted since (delta). A view is their sum.
type Book struct {
	store    engine.Store // nil: counts stay in memory
	registry *scenarios.Registry
	log      *slog.Logger
	now      func() time.Time

	mu       sync.Mutex
	base     map[string]*Funnel
	flushing map[string]*Funnel
	delta    map[string]*Funnel

	flushMu sync.Mutex // one flush at a time
}

// New returns an empty book of the live scenarios of registry (nil: no
// scenario is known, built-in arrows are not told apart); store keeps the
// counts (nil: they stay in memory).
func New(store engine.Store, registry *scenarios.Registry, log *slog.Logger, now func() time.Time) *Book {
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Book{store: store, registry: registry, log: log, now: now, base: map[string]*Funnel{}, flushing: map[string]*Funnel{}, delta: map[string]*Funnel{}}
}

// deltaFor returns the delta funnel of a scenario; b.mu must be held.
func (b *Book) deltaFor(name string) *Funnel {
	f := b.delta[name]
	if f == nil {
		f = newFunnel(name)
		f.Since = b.now()
		b.delta[name] = f
	}
	return f
}

// Committed counts one committed step of a real dialog (dialogs.Observer).
// The live scenario set tells the built-in "hand off"/"finish" arrows
// (drawn to the end) from the self-loops the engine records for them.
//
// Every handler's step comes here, so what the step adds is worked out
// first and the book's lock is held only to add it.
func (b *Book) Committed(s dialogs.Step) {
	old, d, res, note := s.Old, s.New, s.Result, s.Note
	if strings.HasPrefix(d.Key, engine.KeyPlayground) {
		return
	}
	var set *scenarios.Set
	if b.registry != nil {
		set = b.registry.Current().Set
	}
	leaving := old.Status == engine.Active && old.Scenario != "" && old.State != ""
	entering := d.Status == engine.Active && d.Scenario != "" && d.State != ""
	if d.Scenario == "" { // handed off without any scenario (no scenario serves the line)
		if leaving || entering {
			b.mu.Lock()
			b.countActive(&old, &d, leaving, entering)
			b.mu.Unlock()
		}
		return
	}
	var sc *scenarios.Scenario
	if set != nil {
		sc = set.ByName[d.Scenario]
	}

	// the step's arrows: at most a few moves, kept on the stack
	type arrow struct {
		edge, entered string // entered "": no state entered
		started       bool
		rating        int64 // 0: no rating
	}
	var buf [4]arrow
	arrows := buf[:0]
	toEnd := false
	for _, m := range res.Moves {
		to := m.To
		if m.To == m.From && sc != nil && implicitEdge(sc, m.From, m.Event) {
			to, toEnd = scenarios.NoState, true
		}
		a := arrow{edge: scenarios.EdgeKey(m.From, to), started: m.Event == scenarios.EdgeStart}
		if to != scenarios.NoState && m.Event != scenarios.EdgeRetry {
			a.entered = to
		}
		if n, ok := rating(sc, m, d.Fields); ok {
			a.rating = n
		}
		arrows = append(arrows, a)
	}
	newRun := d.Started != old.Started || !old.Exists()
	ended := d.Status != old.Status || newRun
	var endEdge, reason string
	switch {
	case !ended:
	case d.Status == engine.Finished:
	case d.Status == engine.HandedOff:
		reason = dialogs.HandoffReason(res, note)
	default:
		ended = false
	}
	// the arrow to the end that the diagram draws from a handing-off or
	// finishing state
	if ended && !toEnd && sc != nil && len(res.Moves) > 0 {
		if st := sc.States[d.State]; st != nil && st.Terminal() {
			endEdge = scenarios.EdgeKey(d.State, scenarios.NoState)
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	b.countActive(&old, &d, leaving, entering)
	f := b.deltaFor(d.Scenario)
	for _, a := range arrows {
		inc(&f.Edges, a.edge, 1)
		if a.started {
			f.Started++
		}
		if a.entered != "" {
			inc(&f.Entered, a.entered, 1)
		}
		if a.rating != 0 {
			f.Ratings++
			f.RatingSum += a.rating
		}
	}
	if !ended {
		return
	}
	if d.Status == engine.Finished {
		inc(&f.Finished, d.State, 1)
	} else {
		inc(&f.HandedOff, d.State, 1)
		inc(&f.Reasons, reason, 1)
	}
	if endEdge != "" {
		inc(&f.Edges, endEdge, 1)
	}
}

// countActive moves a dialog's count among its scenarios' active states;
// b.mu must be held.
func (b *Book) countActive(old, d *engine.Dialog, leaving, entering bool) {
	if leaving {
		inc(&b.deltaFor(old.Scenario).Active, old.State, -1)
	}
	if entering {
		inc(&b.deltaFor(d.Scenario).Active, d.State, 1)
	}
}

// implicitEdge reports whether the transition fired by event in state from
// is a built-in action without a target (fail → operator, idle → finish).
func implicitEdge(sc *scenarios.Scenario, from, event string) bool {
	for _, t := range sc.Table {
		if t.From == from && t.Event == event {
			return t.Implicit != ""
		}
	}
	return false
}

// View returns a scenario's funnel: the store's counts plus this replica's
// unflushed ones. It reads the store the first time a scenario is asked for.
func (b *Book) View(ctx context.Context, name string) (Funnel, error) {
	b.mu.Lock()
	_, ok := b.base[name]
	b.mu.Unlock()
	if !ok {
		if err := b.load(ctx, name); err != nil {
			return Funnel{}, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f := newFunnel(name)
	for _, part := range []*Funnel{b.base[name], b.flushing[name], b.delta[name]} {
		f.add(part)
	}
	for k, v := range f.Active { // a lost count (crash) must not show as negative
		if v < 0 {
			delete(f.Active, k)
		}
	}
	return *f, nil
}

// get reads a scenario's stored funnel; a missing one is empty.
func (b *Book) get(ctx context.Context, name string) (*Funnel, error) {
	f := newFunnel(name)
	if b.store == nil {
		return f, nil
	}
	raw, err := b.store.Get(ctx, NSFunnel, name)
	if errors.Is(err, engine.ErrNotFound) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the funnel of %q: %w", name, err)
	}
	if err := json.Unmarshal(raw, f); err != nil {
		return nil, fmt.Errorf("decode the funnel of %q: %w", name, err)
	}
	f.Scenario = name
	return f, nil
}

func (b *Book) put(ctx context.Context, f *Funnel) error {
	if b.store == nil {
		return nil
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := b.store.Put(ctx, NSFunnel, f.Scenario, raw); err != nil {
		return fmt.Errorf("write the funnel of %q: %w", f.Scenario, err)
	}
	return nil
}

// load reads a scenario's funnel from the store unless it is known already.
func (b *Book) load(ctx context.Context, name string) error {
	f, err := b.get(ctx, name)
	if err != nil {
		return err
	}
	b.mu.Lock()
	if _, ok := b.base[name]; !ok {
		b.base[name] = f
	}
	b.mu.Unlock()
	return nil
}

// Flush adds the counts made since the last flush to the store.
func (b *Book) Flush(ctx context.Context) error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	pending := b.delta
	b.delta = map[string]*Funnel{}
	for name, d := range pending {
		b.flushing[name] = d
	}
	b.mu.Unlock()
	names := make([]string, 0, len(pending))
	for name := range pending {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		d := pending[name]
		stored, err := b.get(ctx, name)
		if err == nil {
			if stored.Since.IsZero() {
				stored.Since = d.Since
			}
			stored.add(d)
			stored.Updated = b.now()
			err = b.put(ctx, stored)
		}
		b.mu.Lock()
		delete(b.flushing, name)
		if err != nil {
			b.deltaFor(name).add(d) // keep the counts for the next flush
			errs = append(errs, err)
		} else {
			b.base[name] = stored
		}
		b.mu.Unlock()
	}
	return errors.Join(errs...)
}

// rebuildActive recounts the dialogs waiting in each state from the dialog
// records and writes the counts of every scenario in names (and of every
// scenario with active dialogs). It runs on Open, before events arrive.
func (b *Book) rebuildActive(ctx context.Context, names []string) error {
	counts := map[string]map[string]int64{}
	for _, n := range names {
		counts[n] = map[string]int64{}
	}
	err := b.store.ScanDialogs(ctx, func(d engine.Dialog) error {
		if strings.HasPrefix(d.Key, engine.KeyPlayground) || d.Status != engine.Active || d.Scenario == "" || d.State == "" {
			return nil
		}
		if counts[d.Scenario] == nil {
			counts[d.Scenario] = map[string]int64{}
		}
		counts[d.Scenario][d.State]++
		return nil
	})
	if err != nil {
		return fmt.Errorf("count active dialogs: %w", err)
	}
	var errs []error
	for name, active := range counts {
		f, err := b.get(ctx, name)
		if err == nil {
			if len(active) == 0 && len(f.Active) == 0 {
				b.mu.Lock()
				b.base[name] = f
				b.mu.Unlock()
				continue // nothing to write
			}
			f.Active = active
			if len(active) == 0 {
				f.Active = nil
			}
			err = b.put(ctx, f)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.mu.Lock()
		b.base[name] = f
		b.mu.Unlock()
	}
	return errors.Join(errs...)
}

// FunnelView is a scenario's funnel as GET /playground/api/funnel shows it.
type FunnelView struct {
	Funnel
	Version string `json:"version,omitempty"` // live version of the scenario
	// Totals over all states.
	TotalActive    int64 `json:"total_active"`
	TotalFinished  int64 `json:"total_finished"`
	TotalHandedOff int64 `json:"total_handed_off"`
	// RatingAverage is the average answer to the scenario's rating
	// questions (1–5, two decimals), 0 when there is none yet.
	RatingAverage float64 `json:"rating_average,omitempty"`
}

// ViewOf adds the totals to a scenario's funnel.
func ViewOf(f Funnel, version string) FunnelView {
	v := FunnelView{Funnel: f, Version: version}
	for _, n := range f.Active {
		v.TotalActive += n
	}
	for _, n := range f.Finished {
		v.TotalFinished += n
	}
	for _, n := range f.HandedOff {
		v.TotalHandedOff += n
	}
	v.RatingAverage = f.RatingAverage()
	return v
}

// Start reads the stored counts of every live scenario and recounts the
// dialogs waiting in each state from the dialog records (when the store can
// walk them). It runs after the scenarios loaded, before events arrive.
func (b *Book) Start(ctx context.Context) {
	names := dialogs.Names(b.registry.Current().Set)
	if b.store != nil {
		if err := b.rebuildActive(ctx, names); err != nil {
			b.log.Warn("funnel: could not recount active dialogs; the counts may be off until they move", "err", err)
		}
	}
	for _, n := range names {
		if err := b.load(ctx, n); err != nil {
			b.log.Warn("funnel: could not read the saved counts; counting from zero", "scenario", n, "err", err)
		}
	}
}

// Run writes the counts to the store every FlushEvery until ctx ends, and
// once more then: the owner cancels ctx after the in-flight events drained,
// so this last write has every count (the store is still open).
func (b *Book) Run(ctx context.Context) {
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := b.Flush(fctx); err != nil {
				b.log.Warn("funnel: final write failed; the last counts are lost", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := b.Flush(ctx); err != nil && ctx.Err() == nil {
				b.log.Warn("funnel: write failed; will retry", "err", err)
			}
		}
	}
}
