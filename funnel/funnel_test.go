package funnel

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/scenarios"
)

// failingKV fails writes until told otherwise.
type failingKV struct {
	*memstore.Store
	mu   sync.Mutex
	fail bool
}

func (f *failingKV) Put(ctx context.Context, ns, key string, v []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("disk full")
	}
	return f.Store.Put(ctx, ns, key, v)
}

func TestFunnelFlushFailureKeepsCounts(t *testing.T) {
	store := memstore.New()
	kv := &failingKV{Store: store, fail: true}
	now := time.Now()
	b := New(kv, nil, nil, func() time.Time { return now })
	d := engine.Dialog{Key: "api:x", Scenario: "s", State: "one", Status: engine.Active, Started: now}
	b.Committed(dialogs.Step{New: d, Result: engine.Result{Moves: []engine.Move{{From: scenarios.NoState, Event: scenarios.EdgeStart, To: "one"}}}})
	if err := b.Flush(t.Context()); err == nil {
		t.Fatal("flush with a failing store reported no error")
	}
	f, err := b.View(t.Context(), "s")
	if err != nil {
		t.Fatal(err)
	}
	if f.Started != 1 || f.Active["one"] != 1 {
		t.Fatalf("after a failed flush: %+v, want the counts kept", f)
	}
	kv.mu.Lock()
	kv.fail = false
	kv.mu.Unlock()
	if err := b.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, err := store.Get(t.Context(), NSFunnel, "s")
	if err != nil {
		t.Fatal(err)
	}
	var stored Funnel
	_ = json.Unmarshal(raw, &stored)
	if stored.Started != 1 || stored.Entered["one"] != 1 {
		t.Fatalf("stored %+v, want the kept counts", stored)
	}
}
