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

var t0 = time.Date(2030, time.March, 4, 5, 6, 7, 891011000, time.UTC)

func call(label string) engine.Call {
	return engine.Call{Portal: "example.bitrix24.ru", Method: label, Params: []byte(fmt.Sprintf(`{"MESSAGE":%q}`, label)), Created: t0}
}

func mustCommit(tb testing.TB, s *Store, d engine.Dialog, prev int64, calls ...engine.Call) {
	tb.Helper()
	d.Rev = prev + 1
	if err := s.Commit(context.Background(), engine.Commit{Dialog: d, PrevRev: prev, Calls: calls}); err != nil {
		tb.Fatalf("Commit(%s, prev %d): %v", d.Key, prev, err)
	}
}

func claimed(tb testing.TB, s *Store, owner string, limit int, now time.Time, lease time.Duration) []string {
	tb.Helper()
	calls, err := s.Claim(context.Background(), owner, limit, now, lease)
	if err != nil {
		tb.Fatalf("Claim(%s): %v", owner, err)
	}
	out := []string{}
	for _, c := range calls {
		out = append(out, c.Method)
	}
	return out
}

func idOf(tb testing.TB, s *Store, dialog, label string) uint64 {
	tb.Helper()
	calls, err := s.Calls(context.Background(), dialog)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range calls {
		if c.Method == label {
			return c.ID
		}
	}
	tb.Fatalf("no call %s in %s", label, dialog)
	return 0
}

// TestReplicasCommit commits to one dialog from two stores (replicas) and
// several goroutines each, all from the same PrevRev: exactly one commit
// wins each round, and the final rev is the number of winners.
func TestReplicasCommit(t *testing.T) {
	schema := newSchema(t)
	replicas := []*Store{mustOpen(t, schema), mustOpen(t, schema)}
	for _, r := range replicas {
		defer r.Close()
	}
	const rounds, perReplica = 15, 6
	ctx := context.Background()
	key := "b24:m:race"
	var rev int64
	var winners []string
	for round := range rounds {
		start := make(chan struct{})
		errs := make([]error, len(replicas)*perReplica)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := engine.Dialog{Key: key, Status: engine.Active, State: fmt.Sprint(i), Rev: rev + 1}
				c := engine.Commit{Dialog: d, PrevRev: rev, Calls: []engine.Call{call(fmt.Sprintf("r%d-g%d", round, i))}}
				<-start
				errs[i] = replicas[i%len(replicas)].Commit(ctx, c)
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: goroutines %d and %d both committed from rev %d", round, winner, i, rev)
			case err == nil:
				winner = i
			case !errors.Is(err, engine.ErrConflict):
				t.Fatalf("round %d: goroutine %d: %v, want nil or ErrConflict", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won", round)
		}
		rev++
		winners = append(winners, fmt.Sprintf("r%d-g%d", round, winner))
		for _, r := range replicas {
			d, err := r.Dialog(ctx, key)
			if err != nil || d.Rev != rev || d.State != fmt.Sprint(winner) {
				t.Fatalf("round %d: Dialog=%+v, %v; want rev %d state %d", round, d, err, rev, winner)
			}
		}
	}
	calls, err := replicas[1].Calls(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, c := range calls {
		got = append(got, c.Method)
		if c.Seq != int64(i+1) {
			t.Fatalf("%s Seq=%d, want %d: a losing commit used a seq", c.Method, c.Seq, i+1)
		}
	}
	if !slices.Equal(got, winners) {
		t.Fatalf("Calls=%q, want the winners' %q", got, winners)
	}
	if p, _, _ := replicas[0].Depth(ctx); p != rounds {
		t.Fatalf("Depth pending=%d, want %d", p, rounds)
	}
}

// TestReplicasClaim claims from two replicas at once: no call goes to two
// owners, only heads are claimed, and together they claim every head.
func TestReplicasClaim(t *testing.T) {
	schema := newSchema(t)
	a, b := mustOpen(t, schema), mustOpen(t, schema)
	defer a.Close()
	defer b.Close()
	const dialogs, owners = 60, 6
	heads := map[string]bool{}
	for i := range dialogs {
		mustCommit(t, a, engine.Dialog{Key: fmt.Sprintf("api:d%d", i)}, 0, call(fmt.Sprintf("d%d-1", i)), call(fmt.Sprintf("d%d-2", i)))
		heads[fmt.Sprintf("d%d-1", i)] = true
	}
	start := make(chan struct{})
	got := make([][]string, owners)
	var wg sync.WaitGroup
	for o := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*Store{a, b}[o%2]
			<-start
			calls, err := s.Claim(context.Background(), fmt.Sprintf("owner%d", o), 13, t0, time.Hour)
			if err != nil {
				t.Errorf("owner%d: %v", o, err)
			}
			for _, c := range calls {
				got[o] = append(got[o], c.Method)
			}
		}()
	}
	close(start)
	wg.Wait()
	got = append(got, claimed(t, b, "late", dialogs, t0, time.Hour))
	by := map[string]int{}
	for o, labels := range got {
		for _, l := range labels {
			if !heads[l] {
				t.Fatalf("owner %d claimed %s, not a head", o, l)
			}
			if prev, dup := by[l]; dup {
				t.Fatalf("%s claimed by owners %d and %d", l, prev, o)
			}
			by[l] = o
		}
	}
	if len(by) != dialogs {
		t.Fatalf("%d heads claimed, want %d", len(by), dialogs)
	}
}

// TestReplicasDeliver drains an outbox with workers on two replicas that
// claim and finish calls at once: each call is delivered once, and each
// dialog's calls in order.
func TestReplicasDeliver(t *testing.T) {
	schema := newSchema(t)
	replicas := []*Store{mustOpen(t, schema), mustOpen(t, schema)}
	for _, r := range replicas {
		defer r.Close()
	}
	const dialogs, calls, workers = 10, 8, 6
	for d := range dialogs {
		var cs []engine.Call
		for i := range calls {
			cs = append(cs, call(fmt.Sprintf("d%d-%d", d, i)))
		}
		mustCommit(t, replicas[d%2], engine.Dialog{Key: fmt.Sprintf("api:d%d", d)}, 0, cs...)
	}
	var (
		mu        sync.Mutex
		delivered = map[string]int{}
		done      = map[string]int{}
		total     int
	)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := replicas[w%2]
			for n := 0; n < 100000; n++ {
				mu.Lock()
				finished := total == dialogs*calls
				mu.Unlock()
				if finished || t.Failed() {
					return
				}
				got, err := s.Claim(ctx, fmt.Sprintf("w%d", w), 2, t0, time.Hour)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				for _, c := range got {
					var d, i int
					fmt.Sscanf(c.Method, "d%d-%d", &d, &i)
					mu.Lock()
					delivered[c.Method]++
					if delivered[c.Method] > 1 || done[c.Dialog] != i {
						t.Errorf("claimed %s (delivery %d) with %d calls of its dialog done", c.Method, delivered[c.Method], done[c.Dialog])
					}
					done[c.Dialog]++
					total++
					mu.Unlock()
					if err := s.Done(ctx, c.ID); err != nil {
						t.Errorf("Done(%s): %v", c.Method, err)
					}
				}
			}
			t.Errorf("worker %d: outbox not drained", w)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if p, k, err := replicas[0].Depth(ctx); err != nil || p != 0 || k != 0 {
		t.Fatalf("Depth=(%d, %d), %v; want (0, 0)", p, k, err)
	}
}

// TestLeaseExpiresAcrossReplicas: replica a claims and dies; replica b gets
// the call when a's lease ends, not before, and the dialog's order holds.
func TestLeaseExpiresAcrossReplicas(t *testing.T) {
	schema := newSchema(t)
	a, b := mustOpen(t, schema), mustOpen(t, schema)
	defer b.Close()
	mustCommit(t, a, engine.Dialog{Key: "api:1"}, 0, call("c1"), call("c2"))
	mustCommit(t, a, engine.Dialog{Key: "api:2"}, 0, call("x1"))
	const lease = time.Minute
	if got := claimed(t, a, "replica-a", 10, t0, lease); !slices.Equal(got, []string{"c1", "x1"}) {
		t.Fatalf("a claimed %q, want [c1 x1]", got)
	}
	if err := a.Done(context.Background(), idOf(t, a, "api:2", "x1")); err != nil {
		t.Fatal(err)
	}
	a.Close() // a dies holding c1

	steps := []struct {
		now  time.Duration
		want []string
	}{
		{0, []string{}},
		{30 * time.Second, []string{}},
		{lease - time.Microsecond, []string{}},
		{lease, []string{"c1"}}, // a's lease ended; c2 still waits behind c1
	}
	for _, st := range steps {
		if got := claimed(t, b, "replica-b", 10, t0.Add(st.now), lease); !slices.Equal(got, st.want) {
			t.Fatalf("b at t0+%v claimed %q, want %q", st.now, got, st.want)
		}
	}
	if err := b.Done(context.Background(), idOf(t, b, "api:1", "c1")); err != nil {
		t.Fatal(err)
	}
	if got := claimed(t, b, "replica-b", 10, t0.Add(lease), lease); !slices.Equal(got, []string{"c2"}) {
		t.Fatalf("b claimed %q after c1, want [c2]", got)
	}
}

// TestReopenKeepsLeases: unlike bolt, whose leases live in memory, a
// restarted replica finds the leases in the database. Another owner waits
// for them to end; the same owner renews its own.
func TestReopenKeepsLeases(t *testing.T) {
	schema := newSchema(t)
	s := mustOpen(t, schema)
	mustCommit(t, s, engine.Dialog{Key: "api:1"}, 0, call("a"), call("b"))
	if got := claimed(t, s, "old", 10, t0, time.Minute); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Claim=%q, want [a]", got)
	}
	s.Close()
	s = mustOpen(t, schema)
	defer s.Close()
	if got := claimed(t, s, "new", 10, t0.Add(30*time.Second), time.Minute); len(got) != 0 {
		t.Fatalf("Claim by another owner after reopen=%q, want none while leased", got)
	}
	if got := claimed(t, s, "old", 10, t0.Add(30*time.Second), time.Minute); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Claim by the same owner after reopen=%q, want [a] (renewed until t0+90s)", got)
	}
	if got := claimed(t, s, "new", 10, t0.Add(89*time.Second), time.Minute); len(got) != 0 {
		t.Fatalf("Claim before the renewed lease ends=%q, want none", got)
	}
	if got := claimed(t, s, "new", 10, t0.Add(90*time.Second), time.Minute); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Claim after the lease=%q, want [a]", got)
	}
}
