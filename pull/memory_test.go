package pull_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/pull"
	"github.com/olbot/olbot/pull/pulltest"
)

// TestMemory runs the lease and offset suite on the in-process table.
func TestMemory(t *testing.T) {
	var clk *clock
	pulltest.Run(t, pulltest.Opener{
		Open: func(*testing.T) (a, b pulltest.Leases) {
			clk = newClock()
			m := &pull.Memory{Now: clk.Now}
			return m, m
		},
		Lapse: func(*testing.T) { _ = clk.Sleep(context.Background(), 10*time.Second) },
		TTL:   10 * time.Second,
	})
}

// kvLeases is KVCursors with the Memory lease it is fenced by.
type kvLeases struct {
	pull.KVCursors
}

func (k kvLeases) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (pull.Fence, error) {
	return k.Lease.Acquire(ctx, key, holder, ttl)
}
func (k kvLeases) Renew(ctx context.Context, f pull.Fence, ttl time.Duration) (pull.Fence, error) {
	return k.Lease.Renew(ctx, f, ttl)
}
func (k kvLeases) Release(ctx context.Context, f pull.Fence) error { return k.Lease.Release(ctx, f) }

// TestKVCursorsSuite runs the suite on offsets kept in a store's
// key-value space.
func TestKVCursorsSuite(t *testing.T) {
	var clk *clock
	var store *memstore.Store
	pulltest.Run(t, pulltest.Opener{
		Open: func(*testing.T) (a, b pulltest.Leases) {
			clk = newClock()
			store = memstore.New()
			l := kvLeases{pull.KVCursors{KV: store, Lease: &pull.Memory{Now: clk.Now}}}
			return l, l
		},
		// commits keep their cursors where KVCursors reads them
		Store: func() engine.DialogStore { return store },
		Lapse: func(*testing.T) { _ = clk.Sleep(context.Background(), 10*time.Second) },
		TTL:   10 * time.Second,
	})
}

// TestMemoryFailedWrite: a write that fails inside Commit leaves the
// offset as it was.
func TestMemoryFailedWrite(t *testing.T) {
	ctx := context.Background()
	m := &pull.Memory{}
	f, err := m.Acquire(ctx, "k", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := m.Commit(ctx, f, 1002, func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("commit: %v", err)
	}
	if off, _ := m.Offset(ctx, "k"); off != 0 {
		t.Fatalf("offset %d after a failed write", off)
	}
}
