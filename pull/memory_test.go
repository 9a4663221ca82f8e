package pull_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/olbot/olbot/pull"
)

// TestMemoryLease pins the lease rules every store's lease must keep: one
// live holder, a new fencing number per grant, and no write under a fence
// whose lease lapsed or was taken over.
func TestMemoryLease(t *testing.T) {
	ctx := context.Background()
	const ttl = 10 * time.Second
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, m *pull.Memory, clk *clock) error
		want error
	}{
		{"live fence writes", func(t *testing.T, m *pull.Memory, _ *clock) error {
			f := mustAcquire(t, m, "a")
			return m.Commit(ctx, f, 1002, nil)
		}, nil},
		{"lapsed fence, nobody else: refused", func(t *testing.T, m *pull.Memory, clk *clock) error {
			f := mustAcquire(t, m, "a")
			_ = clk.Sleep(ctx, ttl)
			return m.Commit(ctx, f, 1002, nil)
		}, pull.ErrFenced},
		{"taken over: the old fence is refused", func(t *testing.T, m *pull.Memory, clk *clock) error {
			f := mustAcquire(t, m, "a")
			_ = clk.Sleep(ctx, ttl)
			g := mustAcquire(t, m, "b")
			if g.Number <= f.Number {
				t.Fatalf("b's fence %d not above a's %d", g.Number, f.Number)
			}
			if err := m.Commit(ctx, g, 1003, nil); err != nil {
				t.Fatal(err)
			}
			return m.Commit(ctx, f, 1002, nil)
		}, pull.ErrFenced},
		{"a live lease is not granted to another", func(t *testing.T, m *pull.Memory, _ *clock) error {
			mustAcquire(t, m, "a")
			_, err := m.Acquire(ctx, "k", "b", ttl)
			return err
		}, pull.ErrLeaseHeld},
		{"renewal keeps it live", func(t *testing.T, m *pull.Memory, clk *clock) error {
			f := mustAcquire(t, m, "a")
			for range 3 {
				_ = clk.Sleep(ctx, ttl/2)
				var err error
				if f, err = m.Renew(ctx, f, ttl); err != nil {
					return err
				}
			}
			return m.Commit(ctx, f, 1002, nil)
		}, nil},
		{"no renewal after a lapse", func(t *testing.T, m *pull.Memory, clk *clock) error {
			f := mustAcquire(t, m, "a")
			_ = clk.Sleep(ctx, ttl)
			_, err := m.Renew(ctx, f, ttl)
			return err
		}, pull.ErrLeaseLost},
		{"re-acquiring after a lapse gives a new number", func(t *testing.T, m *pull.Memory, clk *clock) error {
			f := mustAcquire(t, m, "a")
			_ = clk.Sleep(ctx, ttl)
			if g := mustAcquire(t, m, "a"); g.Number == f.Number {
				t.Fatal("same number after a lapse")
			}
			return m.Commit(ctx, f, 1002, nil)
		}, pull.ErrFenced},
		{"release frees it for another", func(t *testing.T, m *pull.Memory, _ *clock) error {
			f := mustAcquire(t, m, "a")
			_ = m.Release(ctx, f)
			mustAcquire(t, m, "b")
			return m.Commit(ctx, f, 1002, nil)
		}, pull.ErrFenced},
		{"a failed write leaves the offset", func(t *testing.T, m *pull.Memory, _ *clock) error {
			f := mustAcquire(t, m, "a")
			boom := errors.New("boom")
			if err := m.Commit(ctx, f, 1002, func() error { return boom }); !errors.Is(err, boom) {
				t.Fatalf("commit: %v", err)
			}
			if off, _ := m.Offset(ctx, "k"); off != 0 {
				t.Fatalf("offset %d after a failed write", off)
			}
			return nil
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			m := &pull.Memory{Now: clk.Now}
			if err := tc.run(t, m, clk); !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want == pull.ErrFenced {
				if off, _ := m.Offset(ctx, "k"); off == 1002 {
					t.Fatal("a refused fence wrote its offset")
				}
			}
		})
	}
}

func mustAcquire(t *testing.T, m *pull.Memory, holder string) pull.Fence {
	t.Helper()
	f, err := m.Acquire(context.Background(), "k", holder, 10*time.Second)
	if err != nil {
		t.Fatalf("%s acquire: %v", holder, err)
	}
	return f
}
