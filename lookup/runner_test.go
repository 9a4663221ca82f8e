package lookup

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/scenarios"
)

// TestSlowEndpointDelaysOnlyItsOwnCalls: with the slow endpoint's only
// worker stuck, calls of the other endpoint are still made and answered.
func TestSlowEndpointDelaysOnlyItsOwnCalls(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-stuck:
			case <-r.Context().Done():
			}
			return
		}
		fmt.Fprint(w, `{}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	for line, ep := range []string{"slow", "fast"} {
		src := fmt.Sprintf("name: %s\nlines: [%d]\nstart: look\nstates:\n  look:\n    call: %s\n    timeout: 30s\n    next: done\n    on_error: failed\n  done:\n    finish: true\n  failed:\n    operator: any\n", ep, line+1, ep)
		if err := os.WriteFile(filepath.Join(dir, ep+".yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reg := scenarios.NewRegistry(dir, nil)
	if _, err := reg.Reload(); err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	proc, err := dialogs.New(dialogs.Options{Store: store, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	eps := parse(t, fmt.Sprintf("slow: {url: %q, allow_loopback: true, concurrency: 1}\nfast: {url: %q, allow_loopback: true, concurrency: 1}", srv.URL+"/slow", srv.URL+"/fast"))
	client, err := NewClient(context.Background(), eps, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Options{Client: client, Apply: proc, Owner: "test"})
	proc.SetLookups(r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	start := func(key, sc string) dialogs.Outcome {
		out, err := proc.Apply(ctx, dialogs.Input{Key: engine.KeyAPI + key, Scenario: sc, Event: engine.Event{Type: engine.Start, Time: time.Now()}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for i := range 3 {
		start(fmt.Sprintf("slow%d", i), "slow")
	}
	for i := range 5 {
		key := fmt.Sprintf("fast%d", i)
		out := start(key, "fast")
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		res, ok := r.Wait(wctx, engine.KeyAPI+key, out.Dialog.Call.Seq)
		wcancel()
		if !ok || res.Dialog.State != "done" || res.Dialog.Status != engine.Finished {
			t.Fatalf("fast call %d behind a stuck endpoint: ok=%v %+v", i, ok, res.Dialog)
		}
	}
	if n := r.Queued(); n != 3 {
		t.Errorf("%d calls queued or in flight, want the 3 slow ones", n)
	}
	d, err := store.Dialog(ctx, engine.KeyAPI+"slow2")
	if err != nil || d.Call == nil || d.State != "look" {
		t.Errorf("a slow dialog: %+v %v", d, err)
	}
}
