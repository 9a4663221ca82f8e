package bolt

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/olbot/olbot/engine"
)

// TestApplyCoalesces: an apply that writes a dialog stepped several times
// in its batch once, with its last record, leaves every bucket of the
// B-tree as the same batch applied one record at a time does — the
// dialogs, the idle and ended indexes, the outbox's calls, queues, heads
// and seqs — for batches of random steps (idle and end times that come
// and go, calls, parked calls) and dones of earlier calls.
func TestApplyCoalesces(t *testing.T) {
	tests := []struct {
		name            string
		keys, steps     int
		callsPerStep    int // at most
		doneEvery, seed uint64
	}{
		{"one dialog stepped many times", 1, 12, 0, 0, 1},
		{"a few dialogs, no calls", 3, 40, 0, 0, 2},
		{"calls and dones between the steps", 4, 60, 2, 5, 3},
		{"many dialogs, most stepped once", 50, 80, 1, 7, 4},
		{"dones of calls queued in the same batch's earlier applies", 2, 50, 3, 3, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tt.seed, 99))
			coalesced := mustOpen(t, filepath.Join(t.TempDir(), "a.db"), Options{NoLog: true})
			defer coalesced.Close()
			single := mustOpen(t, filepath.Join(t.TempDir(), "b.db"), Options{NoLog: true})
			defer single.Close()

			// two applies: the second batch's dones may name the first's calls
			times := []time.Time{{}, t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}
			cur := map[string]recMeta{}
			var calls uint64 // ids given so far (the first apply's calls: 1..calls)
			for round := range 2 {
				var batch []*pendEntry
				var seq uint64
				doneIDs := map[uint64]bool{}
				for i := range tt.steps {
					seq++
					if tt.doneEvery > 0 && round == 1 && uint64(i)%tt.doneEvery == 0 && calls > 0 {
						id := 1 + rng.Uint64N(calls)
						if !doneIDs[id] {
							doneIDs[id] = true
							batch = append(batch, &pendEntry{seq: seq, done: []uint64{id}})
							continue
						}
					}
					key := fmt.Sprintf("api:d%d", rng.IntN(tt.keys))
					old := cur[key]
					nw := recMeta{rev: old.rev + 1, idleAt: times[rng.IntN(len(times))], endedAt: times[rng.IntN(len(times))]}
					cur[key] = nw
					e := &pendEntry{seq: seq, key: key, old: old, nw: nw, rec: fmt.Appendf(nil, "record %s rev %d", key, nw.rev)}
					for c := range rng.IntN(tt.callsPerStep + 1) {
						e.calls = append(e.calls, engine.Call{Method: fmt.Sprintf("m%d.%d", seq, c), Params: []byte(`{}`), Parked: rng.IntN(4) == 0, NextAt: t0})
					}
					if rng.IntN(5) == 0 {
						e.cursor = &engine.Cursor{Key: "pull", Value: int64(seq)}
					}
					batch = append(batch, e)
				}
				if err := coalesced.db.Update(func(tx *bbolt.Tx) error { return applyTx(tx, batch) }); err != nil {
					t.Fatalf("round %d: coalesced apply: %v", round, err)
				}
				if err := single.db.Update(func(tx *bbolt.Tx) error {
					for _, e := range batch {
						if err := applyTx(tx, []*pendEntry{e}); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatalf("round %d: apply one by one: %v", round, err)
				}
				for _, e := range batch {
					calls += uint64(len(e.calls))
				}
			}
			a, b := dumpBuckets(t, coalesced), dumpBuckets(t, single)
			if a != b {
				t.Fatalf("the B-trees differ:\ncoalesced:\n%s\none at a time:\n%s", a, b)
			}
			if !bytes.Contains([]byte(a), []byte(`dialogs "api:d0"`)) {
				t.Fatalf("no dialog in the B-tree:\n%s", a)
			}
		})
	}
}

// dumpBuckets lists every key and value of every bucket but meta (which
// holds the seq of the last applied record).
func dumpBuckets(t *testing.T, s *Store) string {
	t.Helper()
	var out bytes.Buffer
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			if string(name) == string(bucketMeta) {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				fmt.Fprintf(&out, "%s %q = %q\n", name, k, v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}
