package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/retention"
)

// TestReplicasSweep: three replicas run the retention sweep at once over
// one schema while a fourth keeps committing to live dialogs: every ended
// dialog older than the retention is deleted exactly once (the counts add
// up to it), none newer and no live one, and no sweep fails or waits on
// another's rows (FOR UPDATE SKIP LOCKED).
func TestReplicasSweep(t *testing.T) {
	schema := newSchema(t)
	writer := mustOpen(t, schema)
	t0 := time.Date(2027, 1, 10, 12, 0, 0, 0, time.UTC)
	const old, recent = 700, 50
	for i := range old + recent {
		at := t0.Add(-91 * 24 * time.Hour).Add(time.Duration(i) * time.Second)
		if i >= old {
			at = t0.Add(-time.Duration(i) * time.Minute)
		}
		d := engine.Dialog{Key: fmt.Sprintf("b24:m:chat%d", i), Status: engine.Finished, Ended: at, Updated: at, Rev: 1,
			Fields: map[string]string{"phone": "+79990000000"}}
		mustCommit(t, writer, d, 0, call(fmt.Sprint("c", i)))
	}
	for i := range 20 {
		mustCommit(t, writer, engine.Dialog{Key: fmt.Sprintf("api:live%d", i), Status: engine.Active, Updated: t0.Add(-200 * 24 * time.Hour), Rev: 1}, 0)
	}
	now := func() time.Time { return t0 }
	cfg := retention.Config{Keep: 90 * 24 * time.Hour, Playground: retention.DefaultPlayground}
	var wg sync.WaitGroup
	reports := make([]retention.Report, 3)
	stop := make(chan struct{})
	var live sync.WaitGroup
	live.Go(func() { // a replica serving events meanwhile
		rev := int64(1)
		for {
			select {
			case <-stop:
				return
			default:
			}
			d := engine.Dialog{Key: "api:live0", Status: engine.Active, Updated: t0, Rev: rev + 1}
			if err := writer.Commit(context.Background(), engine.Commit{Dialog: d, PrevRev: rev}); err != nil {
				t.Errorf("commit while sweeping: %v", err)
				return
			}
			rev++
		}
	})
	for i := range reports {
		s := mustOpen(t, schema)
		sw := retention.New(s, cfg, nil, slog.New(slog.DiscardHandler), now)
		wg.Go(func() {
			r, err := sw.Sweep(context.Background())
			if err != nil {
				t.Errorf("replica %d sweep: %v", i, err)
			}
			reports[i] = r
		})
	}
	wg.Wait()
	close(stop)
	live.Wait()
	dialogs, calls := 0, 0
	for _, r := range reports {
		dialogs, calls = dialogs+r.Dialogs, calls+r.Calls
	}
	// A replica that met only rows the others held stops early; one more
	// sweep takes what is left, as the next minute's would.
	r, err := retention.New(writer, cfg, nil, slog.New(slog.DiscardHandler), now).Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dialogs, calls = dialogs+r.Dialogs, calls+r.Calls
	if dialogs != old || calls != old {
		t.Fatalf("the replicas deleted %d dialogs and %d calls (%+v, then %+v); want %d each", dialogs, calls, reports, r, old)
	}
	n := 0
	if err := writer.ScanDialogs(context.Background(), func(engine.Dialog) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != recent+20 {
		t.Fatalf("%d dialogs left, want the %d recent and 20 live", n, recent)
	}
	t.Logf("3 replicas sweeping at once: %+v, then %+v", reports, r)
}
