package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// batchOf builds the ops of one commit batch.
func batchOf(t *testing.T, commits ...engine.Commit) []*op[commitReq, struct{}] {
	t.Helper()
	var ops []*op[commitReq, struct{}]
	for _, c := range commits {
		rec, err := c.Dialog.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		r := commitReq{key: c.Dialog.Key, rev: c.Dialog.Rev, prev: c.PrevRev, rec: rec, idle: nullTime(c.Dialog.IdleAt), calls: c.Calls}
		ops = append(ops, &op[commitReq, struct{}]{ctx: context.Background(), in: r})
	}
	return ops
}

// TestCommitBatch runs one batch statement by hand: each commit wins or
// loses its own compare-and-set, and only the winners' calls are written,
// numbered per dialog.
func TestCommitBatch(t *testing.T) {
	s := mustOpen(t, newSchema(t))
	defer s.Close()
	ctx := context.Background()
	mustCommit(t, s, engine.Dialog{Key: "api:old"}, 0, call("old-1"))
	mustCommit(t, s, engine.Dialog{Key: "api:stale"}, 0)
	mustCommit(t, s, engine.Dialog{Key: "api:exists"}, 0)

	ops := batchOf(t,
		engine.Commit{Dialog: engine.Dialog{Key: "api:old", Rev: 2, State: "b"}, PrevRev: 1, Calls: []engine.Call{call("old-2"), call("old-3")}},
		engine.Commit{Dialog: engine.Dialog{Key: "api:new", Rev: 1, State: "n"}, Calls: []engine.Call{call("new-1")}},
		engine.Commit{Dialog: engine.Dialog{Key: "api:stale", Rev: 3}, PrevRev: 2, Calls: []engine.Call{call("stale")}},
		engine.Commit{Dialog: engine.Dialog{Key: "api:exists", Rev: 1}, Calls: []engine.Call{call("exists")}},
		engine.Commit{Dialog: engine.Dialog{Key: "api:absent", Rev: 5}, PrevRev: 4},
		engine.Commit{Dialog: engine.Dialog{Key: "api:bare", Rev: 1}},
	)
	s.commitBatch(ctx, ops)
	want := map[string]error{"api:old": nil, "api:new": nil, "api:bare": nil,
		"api:stale": engine.ErrConflict, "api:exists": engine.ErrConflict, "api:absent": engine.ErrConflict}
	for _, o := range ops {
		if w := want[o.in.key]; !errors.Is(o.err, w) || (w == nil && o.err != nil) {
			t.Errorf("%s: err=%v, want %v", o.in.key, o.err, w)
		}
	}
	for key, wantCalls := range map[string][]string{"api:old": {"old-1", "old-2", "old-3"}, "api:new": {"new-1"}, "api:stale": nil, "api:exists": nil} {
		calls, err := s.Calls(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, c := range calls {
			got = append(got, c.Method)
			if c.Seq != int64(i+1) {
				t.Errorf("%s: call %s Seq=%d, want %d", key, c.Method, c.Seq, i+1)
			}
			if i > 0 && c.ID <= calls[i-1].ID {
				t.Errorf("%s: ids %d then %d, want increasing", key, calls[i-1].ID, c.ID)
			}
		}
		if !slices.Equal(got, wantCalls) {
			t.Errorf("Calls(%s)=%q, want %q", key, got, wantCalls)
		}
	}
	if d, err := s.Dialog(ctx, "api:old"); err != nil || d.Rev != 2 || d.State != "b" {
		t.Errorf("Dialog(api:old)=%+v, %v; want rev 2 state b", d, err)
	}
	if _, err := s.Dialog(ctx, "api:absent"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Dialog(api:absent): err=%v, want ErrNotFound", err)
	}

	// A commit the database refuses fails the statement; then every commit
	// runs alone and gets its own answer.
	bad := call("bad")
	bad.Created = time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC) // beyond timestamptz
	ops = batchOf(t,
		engine.Commit{Dialog: engine.Dialog{Key: "api:old", Rev: 3}, PrevRev: 2, Calls: []engine.Call{call("old-4")}},
		engine.Commit{Dialog: engine.Dialog{Key: "api:bad", Rev: 1}, Calls: []engine.Call{bad}},
		engine.Commit{Dialog: engine.Dialog{Key: "api:stale", Rev: 9}, PrevRev: 8},
	)
	s.commitBatch(ctx, ops)
	for _, o := range ops {
		switch o.in.key {
		case "api:old":
			if o.err != nil {
				t.Errorf("api:old after the fallback: %v", o.err)
			}
		case "api:bad":
			if o.err == nil || errors.Is(o.err, engine.ErrConflict) {
				t.Errorf("api:bad: err=%v, want the database's error", o.err)
			}
		case "api:stale":
			if !errors.Is(o.err, engine.ErrConflict) {
				t.Errorf("api:stale: err=%v, want ErrConflict", o.err)
			}
		}
	}
	if _, err := s.Dialog(ctx, "api:bad"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Dialog(api:bad): err=%v, want ErrNotFound", err)
	}
	if calls, _ := s.Calls(ctx, "api:old"); len(calls) != 4 || calls[3].Method != "old-4" || calls[3].Seq != 4 {
		t.Errorf("Calls(api:old)=%+v, want old-4 as the 4th", calls)
	}
}

// TestBatchedRace commits to many dialogs at once from two replicas, three
// commits per dialog from the same PrevRev each round, and reads them all
// back concurrently: batches form (checked), and per dialog and round
// exactly one commit wins and only its call is written.
func TestBatchedRace(t *testing.T) {
	schema := newSchema(t)
	replicas := []*Store{mustOpen(t, schema), mustOpen(t, schema)}
	for _, r := range replicas {
		defer r.Close()
	}
	const dialogs, racers, rounds = 24, 3, 8
	ctx := context.Background()
	winners := make([][]string, dialogs)
	for round := range rounds {
		start := make(chan struct{})
		errs := make([][]error, dialogs)
		var wg sync.WaitGroup
		for k := range dialogs {
			errs[k] = make([]error, racers)
			for g := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := engine.Dialog{Key: fmt.Sprintf("api:batch%d", k), State: fmt.Sprint(g), Rev: int64(round + 1)}
					c := engine.Commit{Dialog: d, PrevRev: int64(round), Calls: []engine.Call{call(fmt.Sprintf("r%d-g%d", round, g))}}
					<-start
					errs[k][g] = replicas[(k+g)%2].Commit(ctx, c)
				}()
			}
		}
		close(start)
		wg.Wait()
		for k := range dialogs {
			winner := -1
			for g, err := range errs[k] {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("round %d dialog %d: racers %d and %d both won", round, k, winner, g)
				case err == nil:
					winner = g
				case !errors.Is(err, engine.ErrConflict):
					t.Fatalf("round %d dialog %d racer %d: %v, want nil or ErrConflict", round, k, g, err)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d dialog %d: nobody won", round, k)
			}
			winners[k] = append(winners[k], fmt.Sprintf("r%d-g%d", round, winner))
		}
		// Concurrent reads see every winner.
		for k := range dialogs {
			for _, r := range replicas {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d, err := r.Dialog(ctx, fmt.Sprintf("api:batch%d", k))
					want := winners[k][round]
					if err != nil || d.Rev != int64(round+1) || "r"+fmt.Sprint(round)+"-g"+d.State != want {
						t.Errorf("round %d: Dialog(api:batch%d)=%+v, %v; want rev %d by %s", round, k, d, err, round+1, want)
					}
				}()
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
	for k := range dialogs {
		calls, err := replicas[0].Calls(ctx, fmt.Sprintf("api:batch%d", k))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i, c := range calls {
			got = append(got, c.Method)
			if c.Seq != int64(i+1) {
				t.Fatalf("dialog %d: %s Seq=%d, want %d", k, c.Method, c.Seq, i+1)
			}
		}
		if !slices.Equal(got, winners[k]) {
			t.Fatalf("dialog %d: Calls=%q, want the winners' %q", k, got, winners[k])
		}
	}
	var commits, reads int64
	for _, r := range replicas {
		commits += r.commits.multi.Load()
		reads += r.reads.multi.Load()
	}
	t.Logf("batches of more than one: %d commit, %d read", commits, reads)
	if commits == 0 || reads == 0 {
		t.Fatalf("no batch of more than one commit (%d) or read (%d) ran: the batch path was not tested", commits, reads)
	}
}

// TestBatchCancel: a caller that gives up while its operation waits for a
// batch gets its context's error, and the store keeps working.
func TestBatchCancel(t *testing.T) {
	s := mustOpen(t, newSchema(t))
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%4)*time.Millisecond)
			defer cancel()
			d := engine.Dialog{Key: fmt.Sprintf("api:c%d", i), Rev: 1}
			err := s.Commit(ctx, engine.Commit{Dialog: d})
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Commit %d: %v, want nil or the deadline", i, err)
			}
		}()
	}
	wg.Wait()
	mustCommit(t, s, engine.Dialog{Key: "api:after"}, 0, call("a"))
	if d, err := s.Dialog(context.Background(), "api:after"); err != nil || d.Rev != 1 {
		t.Fatalf("Dialog after cancellations=%+v, %v", d, err)
	}
}

// TestBatchedDone marks calls done from many goroutines at once, each call
// twice and some ids that never existed: each existing call is done once,
// every other Done gets ErrNotFound.
func TestBatchedDone(t *testing.T) {
	s := mustOpen(t, newSchema(t))
	defer s.Close()
	ctx := context.Background()
	var ids []uint64
	for k := range 40 {
		key := fmt.Sprintf("api:done%d", k)
		mustCommit(t, s, engine.Dialog{Key: key}, 0, call("c"))
		ids = append(ids, idOf(t, s, key, "c"))
	}
	all := append(append(slices.Clone(ids), ids...), 1<<40, 1<<41)
	errs := make([]error, len(all))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, id := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.Done(ctx, id)
		}()
	}
	close(start)
	wg.Wait()
	done := map[uint64]int{}
	for i, err := range errs {
		switch {
		case err == nil:
			done[all[i]]++
		case !errors.Is(err, engine.ErrNotFound):
			t.Fatalf("Done(%d): %v, want nil or ErrNotFound", all[i], err)
		}
	}
	for _, id := range ids {
		if done[id] != 1 {
			t.Fatalf("call %d done %d times, want once", id, done[id])
		}
	}
	if len(done) != len(ids) {
		t.Fatalf("%d ids done, want %d", len(done), len(ids))
	}
	if p, k, err := s.Depth(ctx); err != nil || p+k != 0 {
		t.Fatalf("Depth=%d, %d, %v; want an empty outbox", p, k, err)
	}
	t.Logf("batches of more than one Done: %d", s.dones.multi.Load())
}
