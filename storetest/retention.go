package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// ended returns the record of a dialog that finished (or was handed off)
// at at; a zero at leaves Ended unset, as in records written before it
// existed, which count from Updated.
func ended(key string, status engine.Status, at, updated time.Time) engine.Dialog {
	d := newDialog(key)
	d.Status, d.Ended, d.Updated = status, at, updated
	return d
}

func (h *harness) wantEnded(space string, before time.Time, limit int, want ...string) {
	h.t.Helper()
	got, err := h.s.Ended(h.ctx, space, before, limit)
	if err != nil {
		h.t.Fatalf("Ended(%q, t0%+v, %d): %v", space, before.Sub(t0), limit, err)
	}
	if len(got) == 0 {
		got = nil
	}
	if !slices.Equal(got, want) {
		h.t.Fatalf("Ended(%q, t0%+v, %d)=%q, want %q", space, before.Sub(t0), limit, got, want)
	}
}

func (h *harness) erase(key string, endedBefore time.Time, want engine.Erased) {
	h.t.Helper()
	got, err := h.s.Erase(h.ctx, key, endedBefore)
	if err != nil || got != want {
		h.t.Fatalf("Erase(%q, %v) = %+v, %v; want %+v", key, endedBefore, got, err, want)
	}
}

func (h *harness) wantGone(key string) {
	h.t.Helper()
	if _, err := h.s.Dialog(h.ctx, key); !errors.Is(err, engine.ErrNotFound) {
		h.t.Fatalf("Dialog(%q) after Erase: err=%v, want ErrNotFound", key, err)
	}
	h.wantCalls(key)
}

// testEnded checks Ended: per key space, by EndedAt (Ended, or Updated
// for an older record), only finished and handed-off dialogs and active
// playground sessions, in order, with the limit, and kept up to date by
// later commits.
func testEnded(t *testing.T, h *harness) {
	for _, d := range []engine.Dialog{
		ended("b24:m:chat2", engine.Finished, t0.Add(-2*time.Hour), t0),
		ended("b24:m:chat1", engine.HandedOff, t0.Add(-3*time.Hour), t0),
		ended("b24:m:chat3", engine.Finished, t0.Add(-2*time.Hour), t0), // same time as chat2: by key
		ended("b24:m:old", engine.Finished, time.Time{}, t0.Add(-time.Hour)),
		ended("b24:m:late", engine.Finished, t0.Add(time.Minute), t0.Add(time.Minute)),
		newDialog("b24:m:active"),
		ended("api:x", engine.Finished, t0.Add(-time.Hour), t0),
		ended("pg:s1", engine.Finished, t0.Add(-time.Hour), t0),
		ended("other", engine.Finished, t0.Add(-time.Hour), t0),
		ended("pg:left", engine.Active, time.Time{}, t0.Add(-3*time.Hour)),  // an abandoned playground session counts from its last change
		ended("api:idle", engine.Active, time.Time{}, t0.Add(-3*time.Hour)), // any other active dialog never counts
	} {
		h.commit(engine.Commit{Dialog: d})
	}
	h.wantEnded(engine.KeyPortal, t0, 10, "b24:m:chat1", "b24:m:chat2", "b24:m:chat3", "b24:m:old")
	h.wantEnded(engine.KeyPortal, t0, 2, "b24:m:chat1", "b24:m:chat2")
	h.wantEnded(engine.KeyPortal, t0.Add(-3*time.Hour), 10, "b24:m:chat1") // not after: the edge is in
	h.wantEnded(engine.KeyPortal, t0.Add(-4*time.Hour), 10)
	h.wantEnded(engine.KeyPortal, t0, 0)
	h.wantEnded(engine.KeyAPI, t0, 10, "api:x")
	h.wantEnded(engine.KeyPlayground, t0, 10, "pg:left", "pg:s1")
	h.wantEnded("", t0, 10, "other")
	h.wantEnded("nope:", t0, 10)

	// A restart takes a dialog out; a later end moves it.
	d := h.dialog("b24:m:chat1")
	d.Status, d.Ended = engine.Active, time.Time{}
	d = h.step(d)
	h.wantEnded(engine.KeyPortal, t0, 10, "b24:m:chat2", "b24:m:chat3", "b24:m:old")
	d.Status, d.Ended = engine.Finished, t0.Add(-90*time.Minute)
	h.step(d)
	h.wantEnded(engine.KeyPortal, t0, 10, "b24:m:chat2", "b24:m:chat3", "b24:m:chat1", "b24:m:old")
	h.reopen()
	h.wantEnded(engine.KeyPortal, t0, 10, "b24:m:chat2", "b24:m:chat3", "b24:m:chat1", "b24:m:old")
}

// testErase checks Erase: the record and every call (pending, leased,
// parked) go at once, other dialogs stay, the depth follows, a leased
// call's Done finds it gone, and the key is new afterwards.
func testErase(t *testing.T, h *harness) {
	h.start("api:1", newCall("a1"), newCall("a2"), newCall("a3"))
	h.start("api:10", newCall("b1")) // its key starts with the other's
	h.start("api:", newCall("c1"))
	h.wantClaim("w", 10, t0, time.Hour, "a1", "b1", "c1")
	h.park("a2", "bad") // not the head: a1 is leased
	if p, k := h.depth(); p != 4 || k != 1 {
		t.Fatalf("depth before erase = %d pending, %d parked; want 4, 1", p, k)
	}

	h.erase("api:1", time.Time{}, engine.Erased{Dialog: true, Calls: 3})
	h.wantGone("api:1")
	h.wantCalls("api:10", "b1")
	h.wantCalls("api:", "c1")
	if p, k := h.depth(); p != 2 || k != 0 {
		t.Fatalf("depth after erase = %d pending, %d parked; want 2, 0", p, k)
	}
	if err := h.s.Done(h.ctx, h.id("a1")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Done of an erased leased call: err=%v, want ErrNotFound", err)
	}
	h.wantClaim("w", 10, t0.Add(2*time.Hour), time.Hour, "b1", "c1")

	// Erasing again, or a dialog that never existed, deletes nothing.
	h.erase("api:1", time.Time{}, engine.Erased{})
	h.erase("api:never", time.Time{}, engine.Erased{})
	h.erase("", time.Time{}, engine.Erased{})

	// The key is new: it starts from PrevRev 0 and its calls go out.
	h.start("api:1", newCall("n1"))
	h.wantCalls("api:1", "n1")
	h.wantClaim("v", 10, t0.Add(4*time.Hour), time.Hour, "b1", "c1", "n1") // by due time, then id
	h.reopen()
	h.wantCalls("api:1", "n1")
}

// testEraseEnded checks Erase with endedBefore: only a dialog still ended
// by then goes, so a sweep never deletes a dialog an event restarted.
func testEraseEnded(t *testing.T, h *harness) {
	h.commit(engine.Commit{Dialog: ended("api:old", engine.Finished, t0.Add(-2*time.Hour), t0), Calls: []engine.Call{newCall("o1")}})
	h.commit(engine.Commit{Dialog: ended("api:new", engine.Finished, t0.Add(-time.Minute), t0)})
	h.start("api:live", newCall("l1"))
	h.commit(engine.Commit{Dialog: ended("api:legacy", engine.HandedOff, time.Time{}, t0.Add(-3*time.Hour))})

	cut := t0.Add(-time.Hour)
	h.erase("api:live", cut, engine.Erased{})
	h.erase("api:new", cut, engine.Erased{})
	h.erase("api:none", cut, engine.Erased{})
	h.erase("api:old", cut, engine.Erased{Dialog: true, Calls: 1})
	h.erase("api:legacy", cut, engine.Erased{Dialog: true})
	h.wantGone("api:old")
	h.wantGone("api:legacy")
	h.wantCalls("api:live", "l1")
	if got := h.dialog("api:new"); got.Rev != 1 {
		t.Fatalf("api:new changed: rev %d", got.Rev)
	}
	h.wantEnded(engine.KeyAPI, t0, 10, "api:new")
}

// testEndedSweeper checks engine.EndedSweeper: what it deletes, and that
// sweepers running at once delete every ended dialog exactly once.
func testEndedSweeper(t *testing.T, h *harness) {
	sw, ok := h.s.(engine.EndedSweeper)
	if !ok {
		t.Skip("store has no EndedSweeper (optional)")
	}
	const n = 60
	for i := range n {
		d := ended("b24:m:"+string(rune('A'+i%26))+string(rune('a'+i/26)), engine.Finished, t0.Add(-time.Duration(i+1)*time.Minute), t0)
		h.commit(engine.Commit{Dialog: d, Calls: []engine.Call{newCall(d.Key)}})
	}
	h.commit(engine.Commit{Dialog: ended("b24:m:recent", engine.Finished, t0, t0)})
	h.start("b24:m:live", newCall("live"))
	h.commit(engine.Commit{Dialog: ended("api:x", engine.Finished, t0.Add(-time.Hour), t0)})

	if d, c, err := sw.SweepEnded(h.ctx, engine.KeyPortal, t0.Add(-time.Minute), 0); d != 0 || c != 0 || err != nil {
		t.Fatalf("SweepEnded limit 0 = %d, %d, %v", d, c, err)
	}
	var mu sync.Mutex
	var dialogs, calls int
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, c, err := sw.SweepEnded(h.ctx, engine.KeyPortal, t0.Add(-time.Minute), 7)
				if err != nil {
					t.Errorf("SweepEnded: %v", err)
					return
				}
				mu.Lock()
				dialogs, calls = dialogs+d, calls+c
				mu.Unlock()
				if d == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	// A sweeper that found only rows others held stops early; one more
	// round takes what is left.
	d, c, err := sw.SweepEnded(h.ctx, engine.KeyPortal, t0.Add(-time.Minute), n)
	if err != nil {
		t.Fatal(err)
	}
	dialogs, calls = dialogs+d, calls+c
	if dialogs != n || calls != n {
		t.Fatalf("sweepers deleted %d dialogs and %d calls, want %d each", dialogs, calls, n)
	}
	h.wantEnded(engine.KeyPortal, t0, 100, "b24:m:recent")
	h.wantEnded(engine.KeyAPI, t0, 100, "api:x")
	h.wantCalls("b24:m:live", "live")
	if p, _ := h.depth(); p != 1 {
		t.Fatalf("pending after the sweep = %d, want 1", p)
	}
}
