// Package pulltest is the conformance suite of the fetch-mode poller's
// lease and offsets (pull.Lease and pull.Cursors): every implementation —
// pull.Memory, pull.KVCursors over a store, the PostgreSQL store's Pull —
// runs the same cases.
package pulltest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/olbot/olbot/pull"
)

// Leases is a lease table with its offsets.
type Leases interface {
	pull.Lease
	pull.Cursors
}

// Opener opens the implementation under test.
type Opener struct {
	// Open returns two replicas' views of one fresh, empty table (the same
	// value twice for an in-process one).
	Open func(t *testing.T) (a, b Leases)
	// Lapse returns once a lease granted for TTL before the call has
	// lapsed: a fake clock moves, a real one is waited for.
	Lapse func(t *testing.T)
	// TTL is the short lease the lapsing cases grant; the others grant a
	// minute.
	TTL time.Duration
}

const key = "b24:portal:v2bot:7"

// Run runs the suite.
func Run(t *testing.T, o Opener) {
	ctx := context.Background()
	ttl := o.TTL
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, a, b Leases) error
		want error
		off  int64 // the offset left
	}{
		{"live fence writes", func(t *testing.T, a, _ Leases) error {
			return a.Advance(ctx, acquire(t, a, "a", time.Minute), 1002)
		}, nil, 1002},
		{"another replica is refused a live lease", func(t *testing.T, a, b Leases) error {
			acquire(t, a, "a", time.Minute)
			_, err := b.Acquire(ctx, key, "b", ttl)
			return err
		}, pull.ErrLeaseHeld, 0},
		{"the holder again keeps its fence", func(t *testing.T, a, _ Leases) error {
			f := acquire(t, a, "a", time.Minute)
			if g := acquire(t, a, "a", time.Minute); g.Number != f.Number {
				t.Fatalf("fence %d, then %d", f.Number, g.Number)
			}
			return a.Advance(ctx, f, 1002)
		}, nil, 1002},
		{"lapsed, nobody else: refused", func(t *testing.T, a, _ Leases) error {
			f := acquire(t, a, "a", ttl)
			o.Lapse(t)
			return a.Advance(ctx, f, 1002)
		}, pull.ErrFenced, 0},
		{"re-acquired after a lapse: a new fence", func(t *testing.T, a, _ Leases) error {
			f := acquire(t, a, "a", ttl)
			o.Lapse(t)
			if g := acquire(t, a, "a", time.Minute); g.Number == f.Number {
				t.Fatal("the same fence after a lapse")
			}
			return a.Advance(ctx, f, 1002)
		}, pull.ErrFenced, 0},
		{"taken over: the old fence is refused", func(t *testing.T, a, b Leases) error {
			f := acquire(t, a, "a", ttl)
			if err := a.Advance(ctx, f, 1002); err != nil {
				t.Fatal(err)
			}
			o.Lapse(t)
			g := acquire(t, b, "b", time.Minute)
			if g.Number <= f.Number {
				t.Fatalf("b's fence %d not above a's %d", g.Number, f.Number)
			}
			if off, _ := b.Offset(ctx, key); off != 1002 {
				t.Fatalf("b starts from %d, want the written 1002", off)
			}
			if err := b.Advance(ctx, g, 1005); err != nil {
				t.Fatal(err)
			}
			return a.Advance(ctx, f, 1003)
		}, pull.ErrFenced, 1005},
		{"no renewal after a lapse", func(t *testing.T, a, _ Leases) error {
			f := acquire(t, a, "a", ttl)
			o.Lapse(t)
			_, err := a.Renew(ctx, f, ttl)
			return err
		}, pull.ErrLeaseLost, 0},
		{"renewal keeps it from the other", func(t *testing.T, a, b Leases) error {
			f := acquire(t, a, "a", ttl)
			f, err := a.Renew(ctx, f, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			o.Lapse(t)
			if _, err := b.Acquire(ctx, key, "b", ttl); !errors.Is(err, pull.ErrLeaseHeld) {
				t.Fatalf("b acquire: %v", err)
			}
			return a.Advance(ctx, f, 1002)
		}, nil, 1002},
		{"release frees it at once", func(t *testing.T, a, b Leases) error {
			f := acquire(t, a, "a", time.Minute)
			if err := a.Release(ctx, f); err != nil {
				t.Fatal(err)
			}
			acquire(t, b, "b", time.Minute)
			return a.Advance(ctx, f, 1002)
		}, pull.ErrFenced, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := o.Open(t)
			if err := tc.run(t, a, b); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if off, err := b.Offset(ctx, key); err != nil || off != tc.off {
				t.Fatalf("offset %d (%v), want %d", off, err, tc.off)
			}
		})
	}
}

func acquire(t *testing.T, l Leases, holder string, ttl time.Duration) pull.Fence {
	t.Helper()
	f, err := l.Acquire(context.Background(), key, holder, ttl)
	if err != nil {
		t.Fatalf("%s acquire: %v", holder, err)
	}
	return f
}
