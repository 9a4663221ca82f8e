package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// testSharedRateLimiter checks engine.SharedRateLimiter on one store: the
// burst, then one call per interval, a limit per portal, no limit for a
// zero interval. Replicas sharing it are the store's own tests.
func testSharedRateLimiter(t *testing.T, h *harness) {
	rl, ok := h.s.(engine.SharedRateLimiter)
	if !ok {
		t.Skip("store has no SharedRateLimiter (optional)")
	}
	const every, burst = 500 * time.Millisecond, 3
	steps := []struct {
		portal string
		at     time.Duration // after t0
		every  time.Duration
		want   time.Duration
	}{
		{"p1", 0, every, 0},
		{"p1", 0, every, 0},
		{"p1", 0, every, 0},
		{"p1", 0, every, every}, // the burst is used up
		{"p1", 100 * time.Millisecond, every, 400 * time.Millisecond},
		{"p2", 100 * time.Millisecond, every, 0}, // a limit of its own
		{"p1", every, every, 0},
		{"p1", every, every, every},
		{"p1", every, 0, 0}, // no limit
		{"p1", 10 * every, every, 0},
	}
	for i, st := range steps {
		got, err := rl.Reserve(h.ctx, st.portal, t0.Add(st.at), st.every, burst)
		if err != nil || got != st.want {
			t.Fatalf("step %d: Reserve(%s, t0+%v, every %v) = %v, %v; want %v", i, st.portal, st.at, st.every, got, err, st.want)
		}
	}
}

// testLeaseReleaser checks engine.LeaseReleaser: an owner's leases end at
// once, other owners' stay.
func testLeaseReleaser(t *testing.T, h *harness) {
	lr, ok := h.s.(engine.LeaseReleaser)
	if !ok {
		t.Skip("store has no LeaseReleaser (optional)")
	}
	h.start("api:1", newCall("a1"), newCall("a2"))
	h.start("api:2", newCall("b1"))
	h.start("api:3", newCall("c1"))
	h.wantClaim("replica-a", 2, t0, time.Hour, "a1", "b1")
	h.wantClaim("replica-x", 10, t0, time.Hour, "c1")
	for i, want := range []int{2, 0} {
		if n, err := lr.Release(h.ctx, "replica-a"); err != nil || n != want {
			t.Fatalf("Release %d = %d, %v; want %d", i+1, n, err, want)
		}
	}
	if n, err := lr.Release(h.ctx, ""); err != nil || n != 0 {
		t.Fatalf("Release of an owner no Claim accepts = %d, %v; want 0, nil", n, err)
	}
	// at the same instant, long before the leases would have ended
	if got := labels(h.claim("replica-b", 10, t0, time.Hour)); !slices.Equal(got, []string{"a1", "b1"}) {
		t.Fatalf("claimed %q after the release, want [a1 b1] (c1 stays with replica-x)", got)
	}
}
