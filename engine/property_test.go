package engine

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/scenarios"
)

var propertySeed = flag.Uint64("seed", 0, "first seed of TestProperty (0: OLBOT_PROPERTY_SEED, else a fixed one)")

// defaultPropertySeed keeps CI runs repeatable; long runs pick their own.
const defaultPropertySeed = 20261201

func propertyConfig(t *testing.T) (first uint64, cases int) {
	first, cases = defaultPropertySeed, 700
	if testing.Short() {
		cases = 150
	}
	if v := os.Getenv("OLBOT_PROPERTY_CASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("OLBOT_PROPERTY_CASES=%q: want a positive number", v)
		}
		cases = n
		first = uint64(time.Now().UnixNano())
	}
	if v := os.Getenv("OLBOT_PROPERTY_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("OLBOT_PROPERTY_SEED=%q: want a number", v)
		}
		first = n
	}
	if *propertySeed != 0 {
		first = *propertySeed
	}
	return first, cases
}

// TestProperty drives one dialog per case through random events and
// reloads, the way the server does (read the stored record, skip a seen
// event id, step, remember the id, commit with a revision check), against
// the examples and generated scenarios, and checks after every event that
//   - nothing panics and Step returns only the errors it documents;
//   - the stored record names a version that ran, and a state of that
//     version (a finished dialog may keep a state a reload removed);
//   - an active dialog waits in its state, and retries are within its limit;
//   - the next timer (idle, a reminder) is due after the client's last
//     message, and reminders counted in a silence went out after it;
//   - every waiting state of every version can reach a handoff or a finish;
//   - an event id is applied at most once, whether it comes again at once,
//     later, or through a replica holding an older record;
//   - stepping the committed events again from an empty record, each on
//     the version it met, gives the stored record byte for byte.
//
// OLBOT_PROPERTY_CASES sets the number of cases (default 700, 150 with
// -short); -seed or OLBOT_PROPERTY_SEED the first case's seed. A failure
// prints the case's seed, its scenario versions and its events; -seed=SEED
// runs that case first.
func TestProperty(t *testing.T) {
	first, cases := propertyConfig(t)
	examples := loadExamples(t)
	t.Logf("seeds %d…%d (rerun from one: go test ./engine/ -run TestProperty -seed=SEED)", first, first+uint64(cases)-1)
	var total propertyStats
	began := time.Now()
	for i := range cases {
		seed := first + uint64(i)
		p := newPropertyRun(t, seed, examples)
		p.run()
		total.add(p.stats)
	}
	t.Logf("%d cases in %v: %s", cases, time.Since(began).Round(time.Millisecond), total)
	if cases >= 100 && (total.reloads == 0 || total.stale == 0 || total.duplicates == 0 || total.missing == 0 || total.reminders == 0) {
		t.Errorf("the cases exercised too little: %s", total)
	}
}

// propertyStats counts what the cases did, for the log and RELIABILITY.md.
type propertyStats struct {
	cases, generated, trapped, versions, events, applied, duplicates, stale, conflicts, reloads, missing, rejected, reminders int
}

func (s *propertyStats) add(o propertyStats) {
	s.cases += o.cases
	s.generated += o.generated
	s.trapped += o.trapped
	s.versions += o.versions
	s.events += o.events
	s.applied += o.applied
	s.duplicates += o.duplicates
	s.stale += o.stale
	s.conflicts += o.conflicts
	s.reloads += o.reloads
	s.missing += o.missing
	s.rejected += o.rejected
	s.reminders += o.reminders
}

func (s propertyStats) String() string {
	return fmt.Sprintf("%d scenarios (%d generated, %d of them drawn with a loop the loader warned about), %d versions, %d reloads, %d events (%d applied, %d duplicates dropped, %d re-delivered to a stale replica, %d of those refused by the revision check, %d rejected buttons, %d reminders), %d dialogs moved off a removed state",
		s.cases, s.generated, s.trapped, s.versions, s.reloads, s.events, s.applied, s.duplicates, s.stale, s.conflicts, s.rejected, s.reminders, s.missing)
}

// logged is one committed step: the event and the version that stepped it.
type logged struct {
	ev Event
	sc *scenarios.Scenario
}

type propertyRun struct {
	t     *testing.T
	seed  uint64
	r     *rand.Rand
	model *gScenario
	sc    *scenarios.Scenario // the live version
	vocab []string            // words of the live version
	known map[string]*scenarios.Scenario

	rec     []byte   // the stored record as the embedded store keeps it (AppendRecord); nil: none yet
	records [][]byte // every record stored, oldest first: what stale replicas hold
	log     []logged // committed steps
	shadow  Dialog   // the log stepped in memory, never encoded
	applied map[string]bool
	last    Event // the event delivered last
	at      time.Time
	nextID  int

	history []string // what happened, for the failure report
	stats   propertyStats
}

func newPropertyRun(t *testing.T, seed uint64, examples []*scenarios.Scenario) *propertyRun {
	r := rand.New(rand.NewPCG(seed, 0x0b0770))
	p := &propertyRun{t: t, seed: seed, r: r, known: map[string]*scenarios.Scenario{}, applied: map[string]bool{}, at: t0, shadow: Dialog{Key: "prop"}}
	p.stats.cases = 1
	// one case in four plays an example, the others a generated scenario
	if r.IntN(4) == 0 {
		ex := examples[r.IntN(len(examples))]
		p.model = modelOf(ex)
		p.history = append(p.history, "example "+ex.Name)
	} else {
		// as drawn, a scenario may trap a client in a loop: the loader must
		// load it, warn exactly when it does, and name the same states
		raw := generate(r)
		src := raw.yaml()
		sc, ps := scenarios.Parse(raw.name+".yaml", []byte(src))
		if sc == nil {
			t.Fatalf("seed %d: a generated scenario does not load (a generator bug):\n%v\n--- source:\n%s", seed, ps, src)
		}
		if msg := checkWayOut(sc, raw); msg != "" && !strings.HasPrefix(msg, "states [") {
			t.Fatalf("seed %d: %s\n--- source:\n%s", seed, msg, src)
		} else if msg != "" {
			p.stats.trapped++
		}
		raw.fixEnds(r)
		p.model = raw
		p.stats.generated = 1
		p.history = append(p.history, "generated")
	}
	p.load(p.model)
	return p
}

// fail stops the test with everything needed to see and rerun the case.
func (p *propertyRun) fail(format string, args ...any) {
	p.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %s\nrerun: go test ./engine/ -run TestProperty -seed=%d\nwhat happened:\n", p.seed, fmt.Sprintf(format, args...), p.seed)
	for _, h := range p.history {
		b.WriteString("  " + h + "\n")
	}
	fmt.Fprintf(&b, "live version %s:\n%s", p.sc.Version, p.model.yaml())
	p.t.Fatal(b.String())
}

// load parses a model through the real loader; a model that does not load
// is a bug of the generator, and a loaded version must have no trap.
func (p *propertyRun) load(g *gScenario) {
	p.t.Helper()
	src := g.yaml()
	sc, ps := scenarios.Parse(g.name+".yaml", []byte(src))
	if sc == nil {
		p.t.Fatalf("seed %d: a generated version does not load (a generator bug):\n%v\n--- source:\n%s\n--- history:\n%s", p.seed, ps, src, strings.Join(p.history, "\n"))
	}
	p.sc, p.model = sc, g
	p.known[sc.Version] = sc
	p.vocab = vocabulary(sc)
	p.stats.versions++
	p.history = append(p.history, "version "+sc.Version)
	if trapped := checkWayOut(sc, g); trapped != "" {
		// the generator gives every state a way out, as an author would
		// after the warning: a trap left here is the generator's or the
		// checker's mistake
		p.fail("version %s: %s", sc.Version, trapped)
	}
}

// checkWayOut compares three views of the states that can reach no
// handoff or finish: the compiled table's, the model's (the language rules
// applied independently) and the loader's warning. It returns "" when all
// agree that there are none, else what differs.
func checkWayOut(sc *scenarios.Scenario, g *gScenario) string {
	fromTable := trappedStates(sc)
	fromModel := g.trapped()
	warned := false
	for _, w := range sc.Warnings {
		warned = warned || errors.Is(w, scenarios.ErrNoWayOut)
	}
	switch {
	case !slices.Equal(fromTable, fromModel):
		return fmt.Sprintf("states without a way to an end: %v by the compiled table, %v by the model", fromTable, fromModel)
	case warned != (len(fromTable) > 0):
		return fmt.Sprintf("states without a way to an end: %v, yet the loader warned: %v", fromTable, warned)
	case len(fromTable) > 0:
		return fmt.Sprintf("states %v wait and can reach neither a handoff nor a finish", fromTable)
	}
	return ""
}

// trappedStates are the waiting states of a loaded scenario from which no
// path of its compiled table reaches a state that hands off or finishes or
// an edge that does so itself.
func trappedStates(sc *scenarios.Scenario) []string {
	into := map[string][]string{}
	var ends []string
	for _, tr := range sc.Table {
		into[tr.To] = append(into[tr.To], tr.From)
		if tr.Implicit != "" {
			ends = append(ends, tr.From)
		}
	}
	for _, name := range sc.Order {
		if sc.States[name].Terminal() {
			ends = append(ends, name)
		}
	}
	reach := reachesEnd(into, ends)
	var out []string
	for _, name := range sc.Order {
		if sc.States[name].Waits() && !reach[name] {
			out = append(out, name)
		}
	}
	return out
}

// reachesEnd returns the states from which some path of edges (into maps a
// state to the states with an edge into it) leads to one of ends: a
// breadth-first search backwards from ends.
func reachesEnd(into map[string][]string, ends []string) map[string]bool {
	reach := map[string]bool{}
	queue := slices.Clone(ends)
	for _, e := range ends {
		reach[e] = true
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, from := range into[cur] {
			if !reach[from] {
				reach[from] = true
				queue = append(queue, from)
			}
		}
	}
	return reach
}

// run plays the case: up to 80 deliveries of new, repeated and stale
// events, with reloads between them.
func (p *propertyRun) run() {
	p.t.Helper()
	n := 1 + p.r.IntN(80)
	for range n {
		switch x := p.r.IntN(100); {
		case x < 6:
			p.reload()
		case x < 14 && p.last.Type != "":
			p.history = append(p.history, "again: "+fmtEvent(p.last))
			p.deliver(p.last, nil)
		case x < 20 && len(p.log) > 0:
			// a late re-delivery of an event the record still remembers
			k := min(len(p.log), RecentIDs)
			ev := p.log[len(p.log)-1-p.r.IntN(k)].ev
			p.history = append(p.history, "late: "+fmtEvent(ev))
			p.deliver(ev, nil)
		case x < 26 && len(p.records) > 1:
			// a replica that read the record before the event was applied
			// (restarted, or slow) gets the event again: its commit must
			// conflict, and its retry must see the event as done
			k := min(len(p.log), RecentIDs)
			j := len(p.log) - 1 - p.r.IntN(k)
			ev := p.log[j].ev
			if j == 0 {
				break
			}
			p.history = append(p.history, fmt.Sprintf("stale replica (record of step %d): %s", j, fmtEvent(ev)))
			p.stats.stale++
			p.deliver(ev, p.records[j-1])
		default:
			p.deliver(p.draw(), nil)
		}
	}
	// the whole log once more, from scratch
	if len(p.log) == 0 {
		if p.rec != nil {
			p.fail("a record was stored, but no event was applied")
		}
		return
	}
	d := Dialog{Key: "prop"}
	for _, l := range p.log {
		d = p.commitLike(d, l.sc, l.ev)
	}
	if b := mustEncode(p, d); !bytes.Equal(b, p.rec) {
		p.fail("replaying the %d committed events from scratch gives\n%s\nbut the store holds\n%s", len(p.log), b, p.rec)
	}
}

// draw makes a new event from the live version's words.
func (p *propertyRun) draw() Event {
	ev := randomEvents(p.r, p.vocab, 1)[0]
	p.at = p.at.Add(ev.Time.Sub(t0))
	ev.Time = p.at
	p.nextID++
	ev.ID = "e" + strconv.Itoa(p.nextID)
	p.history = append(p.history, fmtEvent(ev))
	return ev
}

func fmtEvent(ev Event) string {
	s := fmt.Sprintf("%s %s", ev.ID, ev.Type)
	switch ev.Type {
	case Message:
		s += fmt.Sprintf(" %q", ev.Text)
	case Button:
		if ev.Button != 0 {
			s += fmt.Sprintf(" %d", ev.Button)
		} else {
			s += fmt.Sprintf(" %q", ev.Text)
		}
	}
	if ev.Client != "" || ev.Line != 0 || ev.LeadID != 0 {
		s += fmt.Sprintf(" client=%q line=%d lead=%d", ev.Client, ev.Line, ev.LeadID)
	}
	return s + " at +" + ev.Time.Sub(t0).String()
}

// reload makes the next version of the scenario live.
func (p *propertyRun) reload() {
	p.t.Helper()
	next, what := mutate(p.r, p.model)
	p.history = append(p.history, "reload: "+what)
	p.stats.reloads++
	p.load(next)
}

// commitLike is what the server commits for a step that was applied: the
// new record with the event id remembered and the revision bumped.
func (p *propertyRun) commitLike(d Dialog, sc *scenarios.Scenario, ev Event) Dialog {
	p.t.Helper()
	res, err := Step(sc, d, ev)
	if err != nil || res.Outcome != Applied {
		p.fail("replay: %s gave %v, %s; it was applied when it came", fmtEvent(ev), err, res.Outcome)
	}
	return committed(d, res, ev)
}

// committed mirrors server.processOnce: the record a commit stores.
func committed(old Dialog, res Result, ev Event) Dialog {
	d := res.Dialog
	d.Key = old.Key
	d.Remember(ev.ID)
	d.Rev = old.Rev + 1
	if d.Status != Active {
		d.IdleAt = time.Time{}
	}
	return d
}

func mustEncode(p *propertyRun, d Dialog) []byte {
	p.t.Helper()
	return d.AppendRecord(nil)
}

func (p *propertyRun) read(b []byte) Dialog {
	p.t.Helper()
	d := Dialog{Key: "prop"}
	if b != nil {
		if err := d.DecodeRecord(b); err != nil {
			p.fail("the stored record does not decode: %v\n%q", err, b)
		}
	}
	return d
}

// deliver processes one event as the server does. stale, when set, is an
// older record that a replica read before the event was applied.
func (p *propertyRun) deliver(ev Event, stale []byte) {
	p.t.Helper()
	p.stats.events++
	p.last = ev
	before := slices.Clone(p.rec)
	src := p.rec
	if stale != nil {
		src = stale
	}
	outcome := ""
	for attempt := 0; outcome == ""; attempt++ {
		if attempt > 1 {
			p.fail("%s: a second commit conflict; nothing else writes the record", fmtEvent(ev))
		}
		old := p.read(src)
		if old.Seen(ev.ID) {
			outcome = "duplicate"
			p.stats.duplicates++
			break
		}
		res, err := p.step(old, ev)
		if err != nil {
			if !errors.Is(err, ErrNoButton) || ev.Type != Button {
				p.fail("%s: unexpected error %v", fmtEvent(ev), err)
			}
			outcome = "rejected"
			p.stats.rejected++
			break
		}
		if res.Outcome == Ignored {
			outcome = "ignored"
			break
		}
		if len(res.Moves) > 0 && res.Moves[0].Event == scenarios.EdgeMissing {
			p.stats.missing++
		}
		if ev.Type == Idle && len(res.Moves) == 0 && len(res.Actions) == 1 {
			p.stats.reminders++ // a timer that moved nothing and said one thing
		}
		if cur := p.read(p.rec); cur.Rev != old.Rev {
			// the revision check of Commit: read again and retry
			if stale == nil {
				p.fail("%s: a conflict without a stale reader", fmtEvent(ev))
			}
			p.stats.conflicts++
			src = p.rec
			continue
		}
		if stale != nil {
			p.fail("%s: a replica holding the record of rev %d committed over rev %d", fmtEvent(ev), old.Rev, p.read(p.rec).Rev)
		}
		if p.applied[ev.ID] {
			p.fail("%s was applied twice", fmtEvent(ev))
		}
		p.applied[ev.ID] = true
		d := committed(old, res, ev)
		p.rec = mustEncode(p, d)
		p.records = append(p.records, p.rec)
		p.log = append(p.log, logged{ev: ev, sc: p.sc})
		p.stats.applied++
		outcome = "applied"

		// the shadow steps the same log without a trip through the encoding
		shadowRes, err := Step(p.sc, p.shadow, ev)
		if err != nil {
			p.fail("the shadow replay of %s failed: %v", fmtEvent(ev), err)
		}
		p.shadow = committed(p.shadow, shadowRes, ev)
		if b := mustEncode(p, p.shadow); !bytes.Equal(b, p.rec) {
			p.fail("after %s, stepping the log in memory gives\n%s\nbut the store holds\n%s", fmtEvent(ev), b, p.rec)
		}
	}
	p.history[len(p.history)-1] += " → " + outcome
	if outcome != "applied" && !bytes.Equal(before, p.rec) {
		p.fail("%s was %s, yet the record changed", fmtEvent(ev), outcome)
	}
	if stale != nil && outcome == "applied" {
		p.fail("%s re-delivered to a stale replica was applied again", fmtEvent(ev))
	}
	p.checkRecord()
}

// step runs Step, turning a panic into a failure with its stack, and
// checks the step's own invariants.
func (p *propertyRun) step(old Dialog, ev Event) (res Result, err error) {
	p.t.Helper()
	func() {
		defer func() {
			if x := recover(); x != nil {
				p.fail("%s: panic: %v\n%s", fmtEvent(ev), x, debug.Stack())
			}
		}()
		res, err = Step(p.sc, old, ev)
	}()
	if err == nil {
		checkInvariants(p.sc, p.known, old, ev, res, func(format string, args ...any) {
			p.t.Helper()
			p.fail("%s: %s\nbefore: %+v\nafter:  %+v", fmtEvent(ev), fmt.Sprintf(format, args...), old, res.Dialog)
		})
	}
	return res, err
}

// checkRecord checks the stored record between events, whatever version is
// live: reloads do not touch records, so a record may name an older version.
func (p *propertyRun) checkRecord() {
	p.t.Helper()
	if p.rec == nil {
		return
	}
	d := p.read(p.rec)
	if d.Status == "" {
		p.fail("a stored record without status")
	}
	sc := p.known[d.Version]
	if sc == nil {
		p.fail("the record names version %q, which never ran", d.Version)
	}
	st := sc.States[d.State]
	switch {
	case st == nil && d.Status != Finished:
		p.fail("the %s record is in state %q, which version %s lacks", d.Status, d.State, d.Version)
	case st == nil:
	case d.Retries < 0 || d.Retries > sc.Retries(st):
		p.fail("the record has %d retries in %q, which allows %d", d.Retries, d.State, sc.Retries(st))
	case d.Status == Active && !st.Waits():
		p.fail("the record is active in %q, which does not wait", d.State)
	case !d.IdleAt.IsZero() && !d.IdleAt.After(d.LastIn):
		p.fail("the next timer (idle or a reminder) is due at %s, not after the client's last message at %s", d.IdleAt, d.LastIn)
	case d.Reminded > 0 && d.RemindFrom.Before(d.LastIn):
		p.fail("%d reminders counted, the last at %s, before the client's last message at %s", d.Reminded, d.RemindFrom, d.LastIn)
	}
}
