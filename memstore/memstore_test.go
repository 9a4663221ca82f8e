package memstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T) engine.Store { return memstore.New() },
	})
}

func TestClosed(t *testing.T) {
	s := memstore.New()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := context.Background()
	d := engine.Dialog{Key: "api:1", Rev: 1}
	tests := []struct {
		name string
		err  error
	}{
		{"Dialog", func() error { _, err := s.Dialog(ctx, "api:1"); return err }()},
		{"Commit", s.Commit(ctx, engine.Commit{Dialog: d})},
		{"Claim", func() error { _, err := s.Claim(ctx, "w", 1, d.Updated, 0); return err }()},
		{"Done", s.Done(ctx, 1)},
		{"Retry", s.Retry(ctx, 1, d.Updated, "x")},
		{"Park", s.Park(ctx, 1, "x")},
		{"Calls", func() error { _, err := s.Calls(ctx, "api:1"); return err }()},
		{"Idle", func() error { _, err := s.Idle(ctx, d.Updated, 1); return err }()},
		{"Depth", func() error { _, _, err := s.Depth(ctx); return err }()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, memstore.ErrClosed) {
				t.Fatalf("err=%v, want ErrClosed", tc.err)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func BenchmarkCommit(b *testing.B) {
	s := memstore.New()
	b.Cleanup(func() { s.Close() })
	storetest.BenchCommit(b, s)
}
