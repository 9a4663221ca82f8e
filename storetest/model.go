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

func testModel(t *testing.T, h *harness) {
	const ops = 400
	rng := rand.New(rand.NewPCG(1, 2))
	m := &model{leases: map[uint64]modelLease{}, revs: map[string]int64{}}
	dialogs := []string{"api:m0", "api:m1", "api:m2", "b24:x:m3"}
	owners := []string{"o1", "o2", "o3"}
	now := t0
	var lastID uint64
	lastSeq := map[string]int64{}
	label := 0

	randomID := func() (uint64, bool) {
		if len(m.calls) == 0 || rng.IntN(10) == 0 {
			return lastID + 1 + rng.Uint64N(5), false
		}
		return m.calls[rng.IntN(len(m.calls))].ID, true
	}
	randomTime := func() time.Time {
		if rng.IntN(3) == 0 {
			return time.Time{}
		}
		return now.Add(time.Duration(rng.IntN(40)-10) * time.Second)
	}
	check := func(step int, op string) {
		t.Helper()
		for _, d := range dialogs {
			got, want := h.calls(d), m.of(d)
			if !sameCalls(got, want) {
				t.Fatalf("step %d (%s): Calls(%s):%s\nwant%s", step, op, d, fmtCalls(got), fmtCalls(want))
			}
		}
		if pending, parked, ok := h.depth(); ok {
			wp, wk := 0, 0
			for _, c := range m.calls {
				if c.Parked {
					wk++
				} else {
					wp++
				}
			}
			if pending != wp || parked != wk {
				t.Fatalf("step %d (%s): Depth=(%d, %d), want (%d, %d)", step, op, pending, parked, wp, wk)
			}
		}
	}

	for step := range ops {
		var op string
		switch r := rng.IntN(100); {
		case r < 30: // commit
			key := dialogs[rng.IntN(len(dialogs))]
			prev := m.revs[key]
			d := newDialog(key)
			d.Rev = prev + 1
			var calls []engine.Call
			for range rng.IntN(4) {
				label++
				c := dueCall(fmt.Sprintf("c%d", label), randomTime())
				c.Parked = rng.IntN(15) == 0
				calls = append(calls, c)
			}
			op = fmt.Sprintf("commit %s with %d calls", key, len(calls))
			if err := h.s.Commit(h.ctx, engine.Commit{Dialog: d, PrevRev: prev, Calls: calls}); err != nil {
				t.Fatalf("step %d (%s): %v", step, op, err)
			}
			m.revs[key] = d.Rev
			stored := h.calls(key)
			if len(stored) < len(calls) {
				t.Fatalf("step %d (%s): Calls lists %d calls", step, op, len(stored))
			}
			for i, c := range stored[len(stored)-len(calls):] {
				if c.Method != calls[i].Method || c.ID <= lastID || c.Seq <= lastSeq[key] {
					t.Fatalf("step %d (%s): new call %s id=%d seq=%d, want %s with id above %d and seq above %d",
						step, op, c.Method, c.ID, c.Seq, calls[i].Method, lastID, lastSeq[key])
				}
				lastID, lastSeq[key] = c.ID, c.Seq
				want := calls[i]
				want.ID, want.Seq, want.Dialog = c.ID, c.Seq, key
				m.calls = append(m.calls, want)
			}
		case r < 55: // claim
			now = now.Add(time.Duration(rng.IntN(8)) * time.Second)
			owner, limit := owners[rng.IntN(len(owners))], rng.IntN(4)
			lease := time.Duration(rng.IntN(20)) * time.Second
			op = fmt.Sprintf("claim %s limit %d at t0%+v lease %v", owner, limit, now.Sub(t0), lease)
			got := h.claim(owner, limit, now, lease)
			want := m.claim(owner, limit, now, lease)
			if !sameCalls(got, want) {
				t.Fatalf("step %d (%s):%s\nwant%s", step, op, fmtCalls(got), fmtCalls(want))
			}
		case r < 70: // done
			id, exists := randomID()
			op = fmt.Sprintf("done %d", id)
			err := h.s.Done(h.ctx, id)
			if !exists {
				if !errors.Is(err, engine.ErrNotFound) {
					t.Fatalf("step %d (%s): err=%v, want ErrNotFound", step, op, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d (%s): %v", step, op, err)
			}
			m.calls = slices.Delete(m.calls, m.find(id), m.find(id)+1)
			delete(m.leases, id)
		case r < 88: // retry
			id, exists := randomID()
			next := now.Add(time.Duration(rng.IntN(30)) * time.Second)
			op = fmt.Sprintf("retry %d at t0%+v", id, next.Sub(t0))
			err := h.s.Retry(h.ctx, id, next, op)
			if !exists {
				if !errors.Is(err, engine.ErrNotFound) {
					t.Fatalf("step %d (%s): err=%v, want ErrNotFound", step, op, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d (%s): %v", step, op, err)
			}
			c := &m.calls[m.find(id)]
			c.Attempts++
			c.NextAt, c.Error = next, op
			delete(m.leases, id)
		default: // park
			id, exists := randomID()
			op = fmt.Sprintf("park %d", id)
			err := h.s.Park(h.ctx, id, op)
			if !exists {
				if !errors.Is(err, engine.ErrNotFound) {
					t.Fatalf("step %d (%s): err=%v, want ErrNotFound", step, op, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d (%s): %v", step, op, err)
			}
			c := &m.calls[m.find(id)]
			c.Parked, c.Error = true, op
			delete(m.leases, id)
		}
		check(step, op)
	}
}
