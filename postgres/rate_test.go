package postgres

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

func reserve(tb testing.TB, s *Store, portal string, now time.Time, every time.Duration, burst int) time.Duration {
	tb.Helper()
	d, err := s.Reserve(context.Background(), portal, now, every, burst)
	if err != nil {
		tb.Fatalf("Reserve(%s, %v): %v", portal, now, err)
	}
	return d
}

// TestReserveShared: two replicas share one portal's limit — the burst,
// then one call per interval — and other portals have limits of their own.
func TestReserveShared(t *testing.T) {
	schema := newSchema(t)
	a, b := mustOpen(t, schema), mustOpen(t, schema)
	defer a.Close()
	defer b.Close()
	const every, burst = 500 * time.Millisecond, 3
	steps := []struct {
		s    *Store
		at   time.Duration // after t0
		want time.Duration
	}{
		// the burst, from both replicas
		{a, 0, 0},
		{b, 0, 0},
		{a, 0, 0},
		// full: the next slot frees one interval later, for either replica
		{b, 0, every},
		{a, 100 * time.Millisecond, 400 * time.Millisecond},
		{b, every - time.Microsecond, time.Microsecond},
		{b, every, 0},
		{a, every, every},
		// pacing: one call per interval
		{a, 2 * every, 0},
		{b, 2 * every, every},
		{b, 3 * every, 0},
		// idle long enough, the whole burst is back (not more)
		{a, 10 * every, 0},
		{b, 10 * every, 0},
		{a, 10 * every, 0},
		{b, 10 * every, every},
	}
	for i, st := range steps {
		if got := reserve(t, st.s, "portal-1", t0.Add(st.at), every, burst); got != st.want {
			t.Fatalf("step %d: Reserve at t0+%v = %v, want %v", i, st.at, got, st.want)
		}
	}
	// another portal is not limited by portal-1's calls
	if got := reserve(t, b, "portal-2", t0.Add(10*every), every, burst); got != 0 {
		t.Fatalf("portal-2: Reserve=%v, want 0", got)
	}
}

// TestReserveConcurrent: many reservations at one instant from two
// replicas at once: exactly burst of them get a slot.
func TestReserveConcurrent(t *testing.T) {
	schema := newSchema(t)
	replicas := []*Store{mustOpen(t, schema), mustOpen(t, schema)}
	for _, r := range replicas {
		defer r.Close()
	}
	const every, burst, tries = time.Second, 7, 40
	start := make(chan struct{})
	got := make([]time.Duration, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d, err := replicas[i%2].Reserve(context.Background(), "portal", t0, every, burst)
			if err != nil {
				t.Errorf("Reserve %d: %v", i, err)
			}
			got[i] = d
		}()
	}
	close(start)
	wg.Wait()
	allowed := 0
	for _, d := range got {
		switch {
		case d == 0:
			allowed++
		case d < 0 || d > every:
			t.Errorf("a refused reservation waits %v, want (0, %v]", d, every)
		}
	}
	if allowed != burst {
		t.Fatalf("%d of %d simultaneous reservations allowed, want the burst, %d", allowed, tries, burst)
	}
	if d := reserve(t, replicas[0], "portal", t0.Add(every), every, burst); d != 0 {
		t.Fatalf("one interval later: Reserve=%v, want 0", d)
	}
}

// TestReserveDatabaseClock: with a zero now the database's clock is used.
func TestReserveDatabaseClock(t *testing.T) {
	s := mustOpen(t, newSchema(t))
	defer s.Close()
	const every = time.Hour
	if d := reserve(t, s, "p", time.Time{}, every, 1); d != 0 {
		t.Fatalf("first Reserve=%v, want 0", d)
	}
	if d := reserve(t, s, "p", time.Time{}, every, 1); d <= 0 || d > every {
		t.Fatalf("second Reserve=%v, want a wait of up to %v", d, every)
	}
	if d := reserve(t, s, "p", time.Time{}, 0, 1); d != 0 {
		t.Fatalf("Reserve without a limit=%v, want 0", d)
	}
}

// TestRelease: a replica that shuts down releases its leases, and another
// replica claims those calls at once; other owners' leases stay.
func TestRelease(t *testing.T) {
	schema := newSchema(t)
	a, b := mustOpen(t, schema), mustOpen(t, schema)
	defer a.Close()
	defer b.Close()
	mustCommit(t, a, engine.Dialog{Key: "api:1"}, 0, call("a1"), call("a2"))
	mustCommit(t, a, engine.Dialog{Key: "api:2"}, 0, call("b1"))
	mustCommit(t, a, engine.Dialog{Key: "api:3"}, 0, call("c1"))
	if got := claimed(t, a, "replica-a", 2, t0, time.Hour); !slices.Equal(got, []string{"a1", "b1"}) {
		t.Fatalf("a claimed %q, want [a1 b1]", got)
	}
	if got := claimed(t, b, "replica-x", 10, t0, time.Hour); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("x claimed %q, want [c1]", got)
	}
	n, err := a.Release(context.Background(), "replica-a")
	if err != nil || n != 2 {
		t.Fatalf("Release=%d, %v; want 2", n, err)
	}
	if n, err := a.Release(context.Background(), "replica-a"); err != nil || n != 0 {
		t.Fatalf("second Release=%d, %v; want 0", n, err)
	}
	// at the same instant, long before the leases would have ended
	if got := claimed(t, b, "replica-b", 10, t0, time.Hour); !slices.Equal(got, []string{"a1", "b1"}) {
		t.Fatalf("b claimed %q after the release, want [a1 b1] (c1 stays with replica-x)", got)
	}
}
