package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/olbot/olbot/engine"
)

// BenchCommit measures Commit from b.RunParallel goroutines, each driving a
// dialog of its own with one outbox call per commit, as the server does for
// a step that sends one message. It reports commits/s. Call b.SetParallelism
// first to run more goroutines than GOMAXPROCS (a store with group commit
// needs concurrent commits to batch them).
func BenchCommit(b *testing.B, s engine.Store) {
	ctx := b.Context()
	var dialogs atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		d := newDialog(fmt.Sprintf("api:bench%d", dialogs.Add(1)))
		d.Fields = map[string]string{"name": "Anna", "email": "anna@example.com"}
		d.Recent = []string{"m1", "m2", "m3"}
		call := newCall("imbot.message.add")
		for prev := int64(0); pb.Next(); prev++ {
			d.Rev = prev + 1
			if err := s.Commit(ctx, engine.Commit{Dialog: d, PrevRev: prev, Calls: []engine.Call{call}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
