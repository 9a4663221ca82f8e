package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/storetest"
)

func mustOpen(tb testing.TB, path string, opts Options) *Store {
	tb.Helper()
	s, err := Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestStore(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"log", Options{}},
		{"log, apply at once", Options{ApplyDelay: -1}},
		{"no log", Options{NoLog: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, storetest.Opener{
				Open: func(t *testing.T) engine.Store {
					return mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), tc.opts)
				},
				Reopen: func(t *testing.T, old engine.Store) engine.Store {
					s := old.(*Store)
					if err := s.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
					return mustOpen(t, s.Path(), tc.opts)
				},
			})
		})
	}
}

// writeTxID returns the id of the last committed write transaction.
func writeTxID(t *testing.T, s *Store) int {
	t.Helper()
	var id int
	if err := s.db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatalf("View: %v", err)
	}
	return id
}

// TestGroupCommit commits from many goroutines at once: every commit is on
// disk after a reopen, and they took fewer transactions than commits.
func TestGroupCommit(t *testing.T) {
	tests := []struct {
		name       string
		goroutines int
		opts       Options
	}{
		{"default delay", 200, Options{NoLog: true}},
		{"small batches", 200, Options{NoLog: true, BatchSize: 16}},
		{"log", 200, Options{}},
		{"log, small batches", 200, Options{BatchSize: 16}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "olbot.db")
			s := mustOpen(t, path, tc.opts)
			ctx := t.Context()
			before := writeTxID(t, s)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for g := range tc.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := engine.Dialog{Key: fmt.Sprintf("api:g%d", g), Status: engine.Active, Rev: 1}
					call := engine.Call{Method: "imbot.message.add", Params: []byte(fmt.Sprintf(`{"g":%d}`, g))}
					<-start
					if err := s.Commit(ctx, engine.Commit{Dialog: d, Calls: []engine.Call{call}}); err != nil {
						t.Errorf("goroutine %d: Commit: %v", g, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			txs := writeTxID(t, s) - before
			if !tc.opts.NoLog {
				txs = s.appends // the log's appends; bbolt's transactions come later
			}
			t.Logf("%d commits in %d write transactions", tc.goroutines, txs)
			if txs >= tc.goroutines || txs < 1 {
				t.Errorf("%d commits took %d write transactions, want between 1 and %d", tc.goroutines, txs, tc.goroutines-1)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			s = mustOpen(t, path, Options{})
			defer s.Close()
			for g := range tc.goroutines {
				key := fmt.Sprintf("api:g%d", g)
				if _, err := s.Dialog(ctx, key); err != nil {
					t.Fatalf("after reopen: Dialog(%s): %v", key, err)
				}
				calls, err := s.Calls(ctx, key)
				if err != nil || len(calls) != 1 || string(calls[0].Params) != fmt.Sprintf(`{"g":%d}`, g) {
					t.Fatalf("after reopen: Calls(%s)=%+v, %v, want its one call", key, calls, err)
				}
			}
			if pending, parked, _ := s.Depth(ctx); pending != tc.goroutines || parked != 0 {
				t.Fatalf("Depth=(%d, %d), want (%d, 0)", pending, parked, tc.goroutines)
			}
		})
	}
}

// TestBatchConflict puts conflicting commits into one batch: only the losers
// get ErrConflict, and the winners' work is kept.
func TestBatchConflict(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), Options{BatchDelay: 20 * time.Millisecond})
	defer s.Close()
	ctx := t.Context()
	const dialogs, racers = 10, 5
	start := make(chan struct{})
	errs := make([][]error, dialogs)
	var wg sync.WaitGroup
	for d := range dialogs {
		errs[d] = make([]error, racers)
		for r := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec := engine.Dialog{Key: fmt.Sprintf("api:d%d", d), State: fmt.Sprint(r), Rev: 1}
				<-start
				errs[d][r] = s.Commit(ctx, engine.Commit{Dialog: rec, Calls: []engine.Call{{Method: fmt.Sprint(r)}}})
			}()
		}
	}
	close(start)
	wg.Wait()
	for d := range dialogs {
		winner := -1
		for r, err := range errs[d] {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("dialog %d: racers %d and %d both won", d, winner, r)
			case err == nil:
				winner = r
			case !errors.Is(err, engine.ErrConflict):
				t.Fatalf("dialog %d racer %d: %v, want nil or ErrConflict", d, r, err)
			}
		}
		if winner < 0 {
			t.Fatalf("dialog %d: nobody won", d)
		}
		key := fmt.Sprintf("api:d%d", d)
		got, err := s.Dialog(ctx, key)
		if err != nil || got.State != fmt.Sprint(winner) {
			t.Fatalf("Dialog(%s)=%+v, %v, want the winner's state %d", key, got, err, winner)
		}
		calls, err := s.Calls(ctx, key)
		if err != nil || len(calls) != 1 || calls[0].Method != fmt.Sprint(winner) {
			t.Fatalf("Calls(%s)=%+v, %v, want only the winner's call", key, calls, err)
		}
	}
	if pending, _, _ := s.Depth(ctx); pending != dialogs {
		t.Fatalf("Depth pending=%d, want %d", pending, dialogs)
	}
}

// TestBatchRerun puts a failing function into a batch with commits: bbolt
// rolls the batch back and runs the commits again, which must then count
// and number their calls once, not twice.
func TestBatchRerun(t *testing.T) {
	const commits = 20
	errBoom := errors.New("boom")
	for attempt := range 10 {
		s := mustOpen(t, filepath.Join(t.TempDir(), fmt.Sprintf("olbot%d.db", attempt)), Options{BatchDelay: 20 * time.Millisecond})
		ctx := t.Context()
		start := make(chan struct{})
		var sawOthers bool // the failing function ran after commits in its transaction
		var wg sync.WaitGroup
		for g := range commits {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				d := engine.Dialog{Key: fmt.Sprintf("api:g%d", g), Rev: 1}
				if err := s.Commit(ctx, engine.Commit{Dialog: d, Calls: []engine.Call{{Method: "a"}, {Method: "b"}}}); err != nil {
					t.Errorf("Commit: %v", err)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			time.Sleep(time.Millisecond) // let some commits join the batch first; not asserted
			err := s.write(func(tx *bbolt.Tx) error {
				if k, _ := tx.Bucket(bucketDialogs).Cursor().First(); k != nil {
					sawOthers = true
				}
				return errBoom
			})
			if !errors.Is(err, errBoom) {
				t.Errorf("failing write: err=%v, want boom", err)
			}
		}()
		close(start)
		wg.Wait()

		seen := map[uint64]bool{}
		for g := range commits {
			calls, err := s.Calls(ctx, fmt.Sprintf("api:g%d", g))
			if err != nil || len(calls) != 2 || calls[0].Seq != 1 || calls[1].Seq != 2 {
				t.Fatalf("Calls(api:g%d)=%+v, %v, want a and b with Seq 1 and 2", g, calls, err)
			}
			for _, c := range calls {
				if seen[c.ID] || c.ID > 2*commits {
					t.Fatalf("call id %d reused or beyond %d", c.ID, 2*commits)
				}
				seen[c.ID] = true
			}
		}
		if pending, parked, _ := s.Depth(ctx); pending != 2*commits || parked != 0 {
			t.Fatalf("Depth=(%d, %d), want (%d, 0)", pending, parked, 2*commits)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if sawOthers {
			return
		}
	}
	t.Skip("the failing function never shared a batch with a commit")
}

// TestReopenDropsLeases: a restarted server may deliver at once whatever
// the previous process had claimed.
func TestReopenDropsLeases(t *testing.T) {
	path := filepath.Join(t.TempDir(), "olbot.db")
	s := mustOpen(t, path, Options{})
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Commit(ctx, engine.Commit{Dialog: engine.Dialog{Key: "api:1", Rev: 1}, Calls: []engine.Call{{Method: "a"}, {Method: "b"}}}); err != nil {
		t.Fatal(err)
	}
	claim := func(owner string) []string {
		t.Helper()
		calls, err := s.Claim(ctx, owner, 10, now, time.Hour)
		if err != nil {
			t.Fatalf("Claim: %v", err)
		}
		var out []string
		for _, c := range calls {
			out = append(out, c.Method)
		}
		return out
	}
	if got := claim("old"); len(got) != 1 || got[0] != "a" {
		t.Fatalf("Claim=%q, want [a]", got)
	}
	if got := claim("new"); len(got) != 0 {
		t.Fatalf("Claim by another owner=%q, want none while leased", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path, Options{})
	defer s.Close()
	if got := claim("new"); len(got) != 1 || got[0] != "a" {
		t.Fatalf("Claim after reopen=%q, want [a]", got)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	locked := filepath.Join(dir, "locked.db")
	holder := mustOpen(t, locked, Options{})
	defer holder.Close()

	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := make([]byte, 64*1024)
	for i := range garbage {
		garbage[i] = byte(i*7 + i/256)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	newer := filepath.Join(dir, "newer.db")
	s := mustOpen(t, newer, Options{})
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("99")) }); err != nil {
		t.Fatal(err)
	}
	s.Close()

	tests := []struct {
		name    string
		path    string
		is      error
		message string // exact, when set
	}{
		{"locked", locked, ErrLocked, fmt.Sprintf("store %s is locked by another olbot process", locked)},
		{"text file", write("text.db", []byte("this is not a database\n")), ErrCorrupt, ""},
		{"garbage", write("garbage.db", garbage), ErrCorrupt, ""},
		{"zeros", write("zeros.db", make([]byte, 64*1024)), ErrCorrupt, ""},
		{"foreign bbolt file", foreign, ErrCorrupt, ""},
		{"newer schema", newer, ErrCorrupt, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.path, Options{LockTimeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("err=%v, want %v", err, tc.is)
			}
			if tc.message != "" && err.Error() != tc.message {
				t.Fatalf("err=%q, want %q", err, tc.message)
			}
			t.Logf("%v", err)
		})
	}
}

func TestOpenCreatesFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "nested", "olbot.db")
	s := mustOpen(t, path, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("store file: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Commit(context.Background(), engine.Commit{Dialog: engine.Dialog{Key: "api:1", Rev: 1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close: err=%v, want ErrClosed", err)
	}
}

func BenchmarkCommit(b *testing.B) {
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("parallelism=%d", p), func(b *testing.B) {
			s := mustOpen(b, filepath.Join(b.TempDir(), "olbot.db"), Options{})
			b.Cleanup(func() { s.Close() })
			b.SetParallelism(p)
			storetest.BenchCommit(b, s)
		})
	}
}

// BenchmarkCommitLog compares the commit paths in one run: straight into
// bbolt and through the commit log, at 32 and 256 concurrent writers, with
// no outbox call per commit (a /v1/events step) and with one (a portal
// step). Each writer drives a dialog of its own.
//
//	go test -run='^$' -bench=CommitLog -benchtime=3s ./bolt/
func BenchmarkCommitLog(b *testing.B) {
	for _, writers := range []int{32, 256} {
		for _, calls := range []int{0, 1} {
			for _, mode := range []struct {
				name string
				opts Options
			}{{"bbolt", Options{NoLog: true}}, {"log", Options{}}} {
				b.Run(fmt.Sprintf("writers=%d/calls=%d/%s", writers, calls, mode.name), func(b *testing.B) {
					s := mustOpen(b, filepath.Join(b.TempDir(), "olbot.db"), mode.opts)
					b.Cleanup(func() { s.Close() })
					b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					benchCommits(b, s, calls)
				})
			}
		}
	}
}

func benchCommits(b *testing.B, s *Store, calls int) {
	ctx := b.Context()
	var dialogs atomic.Int64
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		d := engine.Dialog{Key: fmt.Sprintf("api:bench%d", dialogs.Add(1)), Scenario: "support", Version: "v1", State: "ask_email",
			Status: engine.Active, Fields: map[string]string{"name": "Anna", "email": "anna@example.com"},
			Recent: []string{"m1", "m2", "m3"}, Started: time.Now(), Updated: time.Now()}
		var cs []engine.Call
		for range calls {
			cs = append(cs, engine.Call{Method: "imbot.message.add", Params: []byte(`{"DIALOG_ID":"chat1","MESSAGE":"Thank you, Anna."}`)})
		}
		for prev := int64(0); pb.Next(); prev++ {
			d.Rev = prev + 1
			if err := s.Commit(ctx, engine.Commit{Dialog: d, PrevRev: prev, Calls: cs}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestGroupWait(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name        string
		delay, sync time.Duration
		step        bool
		want        time.Duration
	}{
		{"a step waits one append", ms, 300 * time.Microsecond, true, 300 * time.Microsecond},
		{"at least minGroupWait", ms, 5 * time.Microsecond, true, minGroupWait},
		{"at most the delay", ms, 7 * ms, true, ms},
		{"before the first append: the delay", ms, 0, true, ms},
		{"not a step (dones, bbolt writes): the delay", ms, 300 * time.Microsecond, false, ms},
		{"no wait stays no wait", 0, 300 * time.Microsecond, true, 0},
		{"a delay below minGroupWait is kept", 20 * time.Microsecond, 300 * time.Microsecond, true, 20 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := groupWait(tt.delay, tt.sync, tt.step); got != tt.want {
				t.Errorf("groupWait(%v, %v, %v) = %v, want %v", tt.delay, tt.sync, tt.step, got, tt.want)
			}
		})
	}
}

// TestNoteSync: the log's appends feed the moving average that a step's
// group waits by, and the average follows them.
func TestNoteSync(t *testing.T) {
	var b batcher
	for _, tc := range []struct {
		d    time.Duration
		want time.Duration
	}{{800, 800}, {1600, 900}, {900, 900}, {100, 800}} {
		b.noteSync(tc.d)
		if got := b.syncAvg; got != tc.want {
			t.Fatalf("after %v: average %v, want %v", tc.d, got, tc.want)
		}
	}

	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), Options{BatchDelay: 20 * time.Millisecond})
	defer s.Close()
	// (read between writes: a Commit returns after its append, and the
	// next append waits for the next write)
	if got := s.batch.syncAvg; got != 0 {
		t.Fatalf("a new store's average is %v, want 0 (no append yet)", got)
	}
	if err := s.Commit(t.Context(), engine.Commit{Dialog: engine.Dialog{Key: "api:a", Rev: 1}}); err != nil {
		t.Fatal(err)
	}
	avg := s.batch.syncAvg
	if avg <= 0 {
		t.Fatalf("after a logged commit the average is %v, want the append's time", avg)
	}
	if w := groupWait(s.batch.delay, avg, true); w > avg && w > minGroupWait {
		t.Fatalf("a step's group would wait %v, more than the append's %v", w, avg)
	}
}
