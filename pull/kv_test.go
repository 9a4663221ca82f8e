package pull_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/pull"
)

// TestKVCursors: offsets in the embedded store survive a reopen, and a
// lapsed fence writes none.
func TestKVCursors(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "olbot.db")
	open := func() *bolt.Store {
		s, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	clk := newClock()
	lease := &pull.Memory{Now: clk.Now}
	cur := pull.KVCursors{KV: s, Lease: lease}
	f, err := lease.Acquire(ctx, "b24:portal:v2bot:7", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if off, err := cur.Offset(ctx, f.Key); err != nil || off != 0 {
		t.Fatalf("first offset %d, %v", off, err)
	}
	if err := cur.Advance(ctx, f, 1002); err != nil {
		t.Fatal(err)
	}
	_ = clk.Sleep(ctx, time.Minute)
	if err := cur.Advance(ctx, f, 1003); !errors.Is(err, pull.ErrFenced) {
		t.Fatalf("lapsed fence: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	var _ engine.KV = s
	if off, err := (pull.KVCursors{KV: s, Lease: &pull.Memory{}}).Offset(ctx, f.Key); err != nil || off != 1002 {
		t.Fatalf("offset after reopen %d, %v; want 1002", off, err)
	}
}
