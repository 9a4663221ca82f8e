// Package pulltest is the conformance suite of the fetch-mode poller's
// lease and offsets (pull.Lease and pull.Cursors): every implementation —
// pull.Memory, pull.KVCursors over a store, the PostgreSQL store's Pull —
// runs the same cases. Each case writes its offsets twice over: with
// Cursors.Advance, and, where the implementation has a store, as the
// Cursor of a dialog commit under Cursors.Guard — the fetch route's path,
// on which a refused fence must leave neither the offset nor the step.
package pulltest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
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
	// Store, when set, returns the store whose commits' cursors the last
	// Open's Cursors read (nil: the cases run with Advance only).
	Store func() engine.DialogStore
}

// writer writes an offset under a fence, one way or the other.
type writer func(t *testing.T, l Leases, f pull.Fence, next int64) error

func advance(_ *testing.T, l Leases, f pull.Fence, next int64) error {
	return l.Advance(context.Background(), f, next)
}

// committer writes the offset as the cursor of a new dialog's commit and
// checks that a refused one left no dialog either.
func committer(store func() engine.DialogStore) writer {
	return func(t *testing.T, l Leases, f pull.Fence, next int64) error {
		t.Helper()
		ctx := context.Background()
		s := store()
		d := engine.Dialog{Key: fmt.Sprintf("b24:portal:chat%d", next), Rev: 1, Scenario: "s", Status: engine.Active}
		err := l.Guard(ctx, f, func() error {
			return s.Commit(ctx, engine.Commit{Dialog: d, Cursor: &engine.Cursor{Key: f.Key, Value: next, Fence: f.Number}})
		})
		_, derr := s.Dialog(ctx, d.Key)
		switch {
		case err == nil && derr != nil:
			t.Fatalf("commit with cursor %d: no dialog after it: %v", next, derr)
		case err != nil && !errors.Is(derr, engine.ErrNotFound):
			t.Fatalf("commit with cursor %d refused (%v), but its dialog was written (%v)", next, err, derr)
		}
		return err
	}
}

// Run runs the suite.
func Run(t *testing.T, o Opener) {
	t.Run("Advance", func(t *testing.T) { run(t, o, advance) })
	if o.Store != nil {
		t.Run("Commit", func(t *testing.T) { run(t, o, committer(o.Store)) })
	}
}

const key = "b24:portal:v2bot:7"

func run(t *testing.T, o Opener, write writer) {
	ctx := context.Background()
	ttl := o.TTL
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, a, b Leases) error
		want error
		off  int64 // the offset left
	}{
		{"live fence writes", func(t *testing.T, a, _ Leases) error {
			return write(t, a, acquire(t, a, "a", time.Minute), 1002)
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
			return write(t, a, f, 1002)
		}, nil, 1002},
		{"lapsed, nobody else: refused", func(t *testing.T, a, _ Leases) error {
			f := acquire(t, a, "a", ttl)
			o.Lapse(t)
			return write(t, a, f, 1002)
		}, pull.ErrFenced, 0},
		{"re-acquired after a lapse: a new fence", func(t *testing.T, a, _ Leases) error {
			f := acquire(t, a, "a", ttl)
			o.Lapse(t)
			if g := acquire(t, a, "a", time.Minute); g.Number == f.Number {
				t.Fatal("the same fence after a lapse")
			}
			return write(t, a, f, 1002)
		}, pull.ErrFenced, 0},
		{"taken over: the old fence is refused", func(t *testing.T, a, b Leases) error {
			f := acquire(t, a, "a", ttl)
			if err := write(t, a, f, 1002); err != nil {
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
			if err := write(t, b, g, 1005); err != nil {
				t.Fatal(err)
			}
			return write(t, a, f, 1003)
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
			return write(t, a, f, 1002)
		}, nil, 1002},
		{"release frees it at once", func(t *testing.T, a, b Leases) error {
			f := acquire(t, a, "a", time.Minute)
			if err := a.Release(ctx, f); err != nil {
				t.Fatal(err)
			}
			acquire(t, b, "b", time.Minute)
			return write(t, a, f, 1002)
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
