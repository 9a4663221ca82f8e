package lookup

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/scenarios"
)

// BenchmarkWaitingDialogs measures what dialogs waiting on a slow endpoint
// cost, against the same number of dialogs waiting for the client in an
// ask: heap in use after a GC, goroutines, and the process's RSS.
//
//	OLBOT_BENCH_DIALOGS=10000 go test -run='^$' -bench=BenchmarkWaitingDialogs -benchtime=1x ./lookup/
func BenchmarkWaitingDialogs(b *testing.B) {
	n := 10000
	if v := os.Getenv("OLBOT_BENCH_DIALOGS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	for _, mode := range []string{"ask", "call"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				heap, gor, rss := waitingDialogs(b, mode, n)
				b.ReportMetric(float64(heap)/float64(n), "heap-B/dialog")
				b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
				b.ReportMetric(float64(gor), "goroutines")
				b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
			}
		})
	}
}

func waitingDialogs(b *testing.B, mode string, n int) (heap uint64, goroutines int, rss uint64) {
	stuck := make(chan struct{})
	defer close(stuck)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // the slow endpoint: answers nothing until the end
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	dir := b.TempDir()
	src := "name: w\nstart: s\nstates:\n  s:\n    ask: \"Order?\"\n    save: order\n    next: done\n    on_fail: done\n  done:\n    finish: true\n"
	if mode == "call" {
		src = "name: w\nstart: s\nstates:\n  s:\n    call: slow\n    path: /orders\n    timeout: 30s\n    next: done\n    on_error: done\n  done:\n    finish: true\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "w.yaml"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	reg := scenarios.NewRegistry(dir, nil)
	if _, err := reg.Reload(); err != nil {
		b.Fatal(err)
	}
	store := memstore.New()
	proc, err := dialogs.New(dialogs.Options{Store: store, Registry: reg})
	if err != nil {
		b.Fatal(err)
	}
	eps := parse(b, fmt.Sprintf("slow: {url: %q, allow_loopback: true}", srv.URL))
	client, err := NewClient(context.Background(), eps, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := NewRunner(Options{Client: client, Apply: proc, Owner: "bench"})
	proc.SetLookups(r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	now := time.Now()
	for i := range n {
		in := dialogs.Input{Key: engine.KeyAPI + strconv.Itoa(i), Event: engine.Event{Type: engine.Start, Time: now}}
		if _, err := proc.Apply(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	if mode == "call" {
		for r.Queued() != n { // every call queued or in flight
			time.Sleep(10 * time.Millisecond)
		}
		d, err := store.Dialog(ctx, engine.KeyAPI+strconv.Itoa(n-1))
		if err != nil || d.Call == nil {
			b.Fatalf("the last dialog does not wait on its call: %+v %v", d, err)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, runtime.NumGoroutine(), vmRSS()
}

// vmRSS is the process's resident set size from /proc/self/status; 0
// where there is none.
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
