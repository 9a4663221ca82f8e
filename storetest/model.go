package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// model is a plain reference outbox: the suite runs random operations on
// the store and on the model and compares every answer.
type model struct {
	calls  []engine.Call // outstanding calls in ID order
	leases map[uint64]modelLease
	revs   map[string]int64
}

type modelLease struct {
	owner string
	until time.Time
}

func (m *model) find(id uint64) int {
	return slices.IndexFunc(m.calls, func(c engine.Call) bool { return c.ID == id })
}

func (m *model) of(dialog string) []engine.Call {
	var out []engine.Call
	for _, c := range m.calls {
		if c.Dialog == dialog {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b engine.Call) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

func (m *model) claim(owner string, limit int, now time.Time, lease time.Duration) []engine.Call {
	if limit <= 0 {
		return nil
	}
	heads := map[string]engine.Call{}
	for _, c := range m.calls {
		if c.Parked {
			continue
		}
		if h, ok := heads[c.Dialog]; !ok || c.Seq < h.Seq {
			heads[c.Dialog] = c
		}
	}
	var due []engine.Call
	for _, c := range heads {
		if c.NextAt.After(now) {
			continue
		}
		if l, ok := m.leases[c.ID]; ok && l.owner != owner && now.Before(l.until) {
			continue
		}
		due = append(due, c)
	}
	slices.SortFunc(due, func(a, b engine.Call) int {
		if c := a.NextAt.Compare(b.NextAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(due) > limit {
		due = due[:limit]
	}
	for _, c := range due {
		m.leases[c.ID] = modelLease{owner, now.Add(lease)}
	}
	return due
}

// modelRun is one random run of testModel: the store, the model, and what
// the run has given out so far.
type modelRun struct {
	t       *testing.T
	h       *harness
	m       *model
	rng     *rand.Rand
	dialogs []string
	owners  []string
	now     time.Time
	lastID  uint64
	lastSeq map[string]int64
	label   int
}

func testModel(t *testing.T, h *harness) {
	const ops = 400
	r := &modelRun{
		t: t, h: h,
		m:       &model{leases: map[uint64]modelLease{}, revs: map[string]int64{}},
		rng:     rand.New(rand.NewPCG(1, 2)),
		dialogs: []string{"api:m0", "api:m1", "api:m2", "b24:x:m3"},
		owners:  []string{"o1", "o2", "o3"},
		now:     t0,
		lastSeq: map[string]int64{},
	}
	for step := range ops {
		var op string
		switch n := r.rng.IntN(100); {
		case n < 30:
			op = r.commit(step)
		case n < 55:
			op = r.claim(step)
		case n < 70:
			op = r.done(step)
		case n < 88:
			op = r.retry(step)
		default:
			op = r.park(step)
		}
		r.check(step, op)
	}
}

// randomID returns the id of an outstanding call, or now and then one
// that was never given out (exists false).
func (r *modelRun) randomID() (id uint64, exists bool) {
	if len(r.m.calls) == 0 || r.rng.IntN(10) == 0 {
		return r.lastID + 1 + r.rng.Uint64N(5), false
	}
	return r.m.calls[r.rng.IntN(len(r.m.calls))].ID, true
}

func (r *modelRun) randomTime() time.Time {
	if r.rng.IntN(3) == 0 {
		return time.Time{}
	}
	return r.now.Add(time.Duration(r.rng.IntN(40)-10) * time.Second)
}

// check compares every dialog's calls and the depth with the model.
func (r *modelRun) check(step int, op string) {
	r.t.Helper()
	for _, d := range r.dialogs {
		got, want := r.h.calls(d), r.m.of(d)
		if !sameCalls(got, want) {
			r.t.Fatalf("step %d (%s): Calls(%s):%s\nwant%s", step, op, d, fmtCalls(got), fmtCalls(want))
		}
	}
	pending, parked := r.h.depth()
	wp, wk := 0, 0
	for _, c := range r.m.calls {
		if c.Parked {
			wk++
		} else {
			wp++
		}
	}
	if pending != wp || parked != wk {
		r.t.Fatalf("step %d (%s): Depth=(%d, %d), want (%d, %d)", step, op, pending, parked, wp, wk)
	}
}

func (r *modelRun) commit(step int) string {
	key := r.dialogs[r.rng.IntN(len(r.dialogs))]
	prev := r.m.revs[key]
	d := newDialog(key)
	d.Rev = prev + 1
	var calls []engine.Call
	for range r.rng.IntN(4) {
		r.label++
		c := dueCall(fmt.Sprintf("c%d", r.label), r.randomTime())
		c.Parked = r.rng.IntN(15) == 0
		calls = append(calls, c)
	}
	op := fmt.Sprintf("commit %s with %d calls", key, len(calls))
	if err := r.h.s.Commit(r.h.ctx, engine.Commit{Dialog: d, PrevRev: prev, Calls: calls}); err != nil {
		r.t.Fatalf("step %d (%s): %v", step, op, err)
	}
	r.m.revs[key] = d.Rev
	stored := r.h.calls(key)
	if len(stored) < len(calls) {
		r.t.Fatalf("step %d (%s): Calls lists %d calls", step, op, len(stored))
	}
	for i, c := range stored[len(stored)-len(calls):] {
		if c.Method != calls[i].Method || c.ID <= r.lastID || c.Seq <= r.lastSeq[key] {
			r.t.Fatalf("step %d (%s): new call %s id=%d seq=%d, want %s with id above %d and seq above %d",
				step, op, c.Method, c.ID, c.Seq, calls[i].Method, r.lastID, r.lastSeq[key])
		}
		r.lastID, r.lastSeq[key] = c.ID, c.Seq
		want := calls[i]
		want.ID, want.Seq, want.Dialog = c.ID, c.Seq, key
		r.m.calls = append(r.m.calls, want)
	}
	return op
}

func (r *modelRun) claim(step int) string {
	r.now = r.now.Add(time.Duration(r.rng.IntN(8)) * time.Second)
	owner, limit := r.owners[r.rng.IntN(len(r.owners))], r.rng.IntN(4)
	lease := time.Duration(r.rng.IntN(20)) * time.Second
	op := fmt.Sprintf("claim %s limit %d at t0%+v lease %v", owner, limit, r.now.Sub(t0), lease)
	got := r.h.claim(owner, limit, r.now, lease)
	want := r.m.claim(owner, limit, r.now, lease)
	if !sameCalls(got, want) {
		r.t.Fatalf("step %d (%s):%s\nwant%s", step, op, fmtCalls(got), fmtCalls(want))
	}
	return op
}

func (r *modelRun) done(step int) string {
	id, exists := r.randomID()
	op := fmt.Sprintf("done %d", id)
	if r.settled(step, op, exists, r.h.s.Done(r.h.ctx, id)) {
		r.m.calls = slices.Delete(r.m.calls, r.m.find(id), r.m.find(id)+1)
		delete(r.m.leases, id)
	}
	return op
}

func (r *modelRun) retry(step int) string {
	id, exists := r.randomID()
	next := r.now.Add(time.Duration(r.rng.IntN(30)) * time.Second)
	op := fmt.Sprintf("retry %d at t0%+v", id, next.Sub(t0))
	if r.settled(step, op, exists, r.h.s.Retry(r.h.ctx, id, next, op)) {
		c := &r.m.calls[r.m.find(id)]
		c.Attempts++
		c.NextAt, c.Error = next, op
		delete(r.m.leases, id)
	}
	return op
}

func (r *modelRun) park(step int) string {
	id, exists := r.randomID()
	op := fmt.Sprintf("park %d", id)
	if r.settled(step, op, exists, r.h.s.Park(r.h.ctx, id, op)) {
		c := &r.m.calls[r.m.find(id)]
		c.Parked, c.Error = true, op
		delete(r.m.leases, id)
	}
	return op
}

// settled checks the error of Done, Retry or Park on a call that exists or
// not, and reports whether the model should apply the operation.
func (r *modelRun) settled(step int, op string, exists bool, err error) bool {
	r.t.Helper()
	switch {
	case !exists && !errors.Is(err, engine.ErrNotFound):
		r.t.Fatalf("step %d (%s): err=%v, want ErrNotFound", step, op, err)
	case exists && err != nil:
		r.t.Fatalf("step %d (%s): %v", step, op, err)
	}
	return exists
}
