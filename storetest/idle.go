package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// idleDialogs commits the dialogs the idle tests sweep. Only IdleAt
// matters: the engine sets it (zero when no idle event is due), and the
// store does not second-guess it with Status, IdleDone or LastIn.
func idleDialogs(h *harness) map[string]engine.Dialog {
	specs := []struct {
		key    string
		idleAt time.Time
		change func(d *engine.Dialog)
	}{
		{"idle1", t0.Add(-10 * time.Minute), nil},
		{"idle2", t0.Add(-20 * time.Minute), nil},
		{"idle3", t0.Add(-10 * time.Minute), nil}, // same IdleAt as idle1
		{"edge", t0, nil},
		{"later", t0.Add(time.Minute), nil},
		{"none", time.Time{}, func(d *engine.Dialog) { d.LastIn = t0.Add(-time.Hour) }},
		{"fired", time.Time{}, func(d *engine.Dialog) { d.IdleDone = true }},
		{"finished", time.Time{}, func(d *engine.Dialog) { d.Status = engine.Finished }},
		{"ancient", time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), nil},
	}
	out := map[string]engine.Dialog{}
	for _, s := range specs {
		d := newDialog(s.key)
		d.IdleAt = s.idleAt
		if s.change != nil {
			s.change(&d)
		}
		h.commit(engine.Commit{Dialog: d, PrevRev: 0})
		out[s.key] = d
	}
	return out
}

func (h *harness) wantIdle(before time.Time, limit int, want ...string) {
	h.t.Helper()
	got, err := h.s.Idle(h.ctx, before, limit)
	if err != nil {
		h.t.Fatalf("Idle(t0%+v, %d): %v", before.Sub(t0), limit, err)
	}
	if len(got) == 0 {
		got = nil
	}
	if !slices.Equal(got, want) {
		h.t.Fatalf("Idle(t0%+v, %d)=%q, want %q", before.Sub(t0), limit, got, want)
	}
}

func testIdle(t *testing.T, h *harness) {
	h.wantIdle(t0, 10)
	idleDialogs(h)
	tests := []struct {
		before time.Duration // after t0
		limit  int
		want   []string
	}{
		{0, 10, []string{"ancient", "idle2", "idle1", "idle3", "edge"}},
		{0, 2, []string{"ancient", "idle2"}},
		{0, 0, nil},
		{0, -1, nil},
		{-15 * time.Minute, 10, []string{"ancient", "idle2"}},
		{-time.Microsecond, 10, []string{"ancient", "idle2", "idle1", "idle3"}},
		{2 * time.Minute, 100, []string{"ancient", "idle2", "idle1", "idle3", "edge", "later"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/%d", tc.before, tc.limit), func(t *testing.T) {
			h.wantIdle(t0.Add(tc.before), tc.limit, tc.want...)
		})
	}
}

// testIdleUpdates checks that commits move dialogs in and out of the sweep.
func testIdleUpdates(t *testing.T, h *harness) {
	ds := idleDialogs(h)
	steps := []struct {
		name   string
		key    string
		change func(d *engine.Dialog)
		want   []string // Idle(t0, 100) afterwards
	}{
		{"idle fired", "idle2", func(d *engine.Dialog) { d.IdleDone, d.IdleAt = true, time.Time{} }, []string{"ancient", "idle1", "idle3", "edge"}},
		{"client wrote", "idle1", func(d *engine.Dialog) { d.LastIn, d.IdleAt = t0, t0.Add(5*time.Minute) }, []string{"ancient", "idle3", "edge"}},
		{"handed off", "edge", func(d *engine.Dialog) { d.Status, d.IdleAt = engine.HandedOff, time.Time{} }, []string{"ancient", "idle3"}},
		{"silent again", "fired", func(d *engine.Dialog) { d.IdleDone, d.IdleAt = false, t0.Add(-time.Minute) }, []string{"ancient", "idle3", "fired"}},
		{"becomes due earlier", "later", func(d *engine.Dialog) { d.IdleAt = t0.Add(-time.Hour) }, []string{"ancient", "later", "idle3", "fired"}},
		{"unrelated change", "idle3", func(d *engine.Dialog) { d.State, d.LastIn = "other", t0 }, []string{"ancient", "later", "idle3", "fired"}},
		{"cleared", "ancient", func(d *engine.Dialog) { d.IdleAt = time.Time{} }, []string{"later", "idle3", "fired"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			d := ds[st.key].Clone()
			st.change(&d)
			d.Rev++
			h.commit(engine.Commit{Dialog: d, PrevRev: d.Rev - 1})
			ds[st.key] = d
			h.wantIdle(t0, 100, st.want...)
		})
	}
}

func testDepth(t *testing.T, h *harness) {
	want := func(pending, parked int) {
		t.Helper()
		p, pk := h.depth()
		if p != pending || pk != parked {
			t.Fatalf("Depth=(%d, %d), want (%d, %d)", p, pk, pending, parked)
		}
	}
	want(0, 0)
	a := h.start("api:a", newCall("a1"), newCall("a2"), newCall("a3"))
	h.start("api:b", newCall("b1"), newCall("b2"))
	want(5, 0)
	h.park("a2", "x")
	want(4, 1)
	h.park("a2", "again")
	want(4, 1)
	h.retry("a1", t0, "x")
	want(4, 1)
	h.done("a1")
	want(3, 1)
	h.done("a2")
	want(3, 0)
	parked := newCall("a4")
	parked.Parked = true
	h.step(a, parked)
	want(3, 1)
	if err := h.s.Commit(h.ctx, engine.Commit{Dialog: a, PrevRev: 0, Calls: []engine.Call{newCall("x")}}); err == nil {
		t.Fatal("conflicting Commit succeeded")
	}
	want(3, 1)
	if h.o.Reopen != nil {
		h.reopen()
		want(3, 1)
	}
}

// testReopen checks that everything but leases survives Close and reopening.
func testReopen(t *testing.T, h *harness) {
	if h.o.Reopen == nil {
		t.Skip("store does not persist (Opener.Reopen is nil)")
	}
	full := newDialog("b24:m:1")
	full.Fields = map[string]string{"name": "Анна"}
	full.Channel = engine.Channel{Chat: 1}
	full.Recent = []string{"m1", "m2"}
	full.LastIn = t0.Add(-time.Hour)
	full.IdleAt = t0.Add(-30 * time.Minute)
	h.commit(engine.Commit{Dialog: full, PrevRev: 0, Calls: []engine.Call{newCall("a1"), newCall("a2"), newCall("a3")}})
	b := h.start("api:b", dueCall("b1", t0.Add(time.Minute)), newCall("b2"))
	b = h.step(b, newCall("b3"))
	h.start("api:c", newCall("c1"))
	h.park("a1", "bad")
	h.retry("b1", t0.Add(2*time.Minute), "timeout")
	h.done("c1")

	keys := []string{"b24:m:1", "api:b", "api:c"}
	dialogs := map[string]engine.Dialog{}
	calls := map[string][]engine.Call{}
	for _, k := range keys {
		dialogs[k], calls[k] = h.dialog(k), h.calls(k)
	}
	idle, err := h.s.Idle(h.ctx, t0, 10)
	if err != nil {
		t.Fatalf("Idle: %v", err)
	}
	lastSeq, lastID := h.call("api:b", "b3").Seq, h.id("b3")

	h.reopen()

	for _, k := range keys {
		h.wantDialog(k, dialogs[k])
		if got := h.calls(k); !sameCalls(got, calls[k]) {
			t.Fatalf("Calls(%s) after reopen:%s\nwant%s", k, fmtCalls(got), fmtCalls(calls[k]))
		}
	}
	h.wantIdle(t0, 10, idle...)
	h.wantClaim("w", 10, t0.Add(time.Minute), 0, "a2") // b1 waits until t0+2m
	h.wantClaim("w", 10, t0.Add(2*time.Minute), 0, "a2", "b1")
	h.step(b, newCall("b4"))
	b4 := h.call("api:b", "b4")
	if b4.Seq <= lastSeq || b4.ID <= lastID {
		t.Fatalf("b4 after reopen: id=%d seq=%d, want above %d and %d", b4.ID, b4.Seq, lastID, lastSeq)
	}
	if _, err := h.s.Dialog(h.ctx, "api:missing"); err == nil {
		t.Fatal("Dialog(api:missing) found after reopen")
	}
}
