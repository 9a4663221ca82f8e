package bolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/olbot/olbot/engine"
)

// buckets are one transaction's buckets.
type buckets struct {
	dialogs, seqs, outbox, queue, parked, ready, idle, ended *bbolt.Bucket
}

func txBuckets(tx *bbolt.Tx) buckets {
	return buckets{
		dialogs: tx.Bucket(bucketDialogs),
		seqs:    tx.Bucket(bucketSeqs),
		outbox:  tx.Bucket(bucketOutbox),
		queue:   tx.Bucket(bucketQueue),
		parked:  tx.Bucket(bucketParked),
		ready:   tx.Bucket(bucketReady),
		idle:    tx.Bucket(bucketIdle),
		ended:   tx.Bucket(bucketEnded),
	}
}

// commitResult is what one run of a commit did.
type commitResult struct {
	conflict        bool
	pending, parked int64
}

// Commit writes the record and its calls in one transaction, batched with
// concurrent writes, and returns once they are on disk. It returns
// engine.ErrInvalid for a commit engine.CheckCommit refuses and
// engine.ErrConflict when the stored Rev is not c.PrevRev (0: no record);
// either way it writes nothing. A Cursor is kept in the key-value space
// (engine.NSCursor), in the same transaction, and its Fence ignored: one
// process, whose lease guards the commit. A cancelled ctx stops Commit
// only before it joins a batch.
func (s *Store) Commit(ctx context.Context, c engine.Commit) error {
	if err := engine.CheckCommit(c); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rec := c.Dialog.AppendRecord(nil)
	var res commitResult
	fn := func(tx *bbolt.Tx) error {
		res = commitResult{}
		if err := commitTx(txBuckets(tx), c, rec, &res); err != nil || res.conflict || c.Cursor == nil {
			return err
		}
		return raiseCursor(tx.Bucket(bucketKV), c.Cursor.Key, c.Cursor.Value)
	}
	var err error
	if s.log != nil {
		err = s.logged(fn, &logCommit{c: &c, rec: rec, res: &res})
	} else {
		err = s.write(fn)
	}
	switch {
	case err != nil:
		return fmt.Errorf("commit %q: %w", c.Dialog.Key, err)
	case res.conflict:
		return fmt.Errorf("commit %q from rev %d: %w", c.Dialog.Key, c.PrevRev, engine.ErrConflict)
	}
	s.pending.Add(res.pending)
	s.parked.Add(res.parked)
	return nil
}

func commitTx(b buckets, c engine.Commit, rec []byte, res *commitResult) error {
	key := c.Dialog.Key
	var old recMeta
	if v := b.dialogs.Get([]byte(key)); v != nil {
		var d engine.Dialog
		if err := d.DecodeRecord(v); err != nil {
			return err
		}
		old = metaOf(&d)
	}
	if old.rev != c.PrevRev {
		res.conflict = true
		return nil
	}
	return writeCommit(b, key, old, metaOf(&c.Dialog), rec, c.Calls, res)
}

// recMeta is what a commit needs of the record it replaces: its Rev and
// its entries in the idle and ended indexes. The zero value: no record.
type recMeta struct {
	rev             int64
	idleAt, endedAt time.Time
}

func metaOf(d *engine.Dialog) recMeta {
	return recMeta{rev: d.Rev, idleAt: d.IdleAt, endedAt: d.EndedAt()}
}

// writeCommit stores the record rec of dialog key, which replaces one
// described by old, with the indexes and calls of the new record nw.
func writeCommit(b buckets, key string, old, nw recMeta, rec []byte, calls []engine.Call, res *commitResult) error {
	if err := writeRecord(b, key, old, nw, rec); err != nil {
		return err
	}
	return writeCalls(b, key, calls, res)
}

// writeRecord stores the record rec of dialog key, which replaces one
// described by old, and moves its idle and ended index entries from old's
// times to nw's.
func writeRecord(b buckets, key string, old, nw recMeta, rec []byte) error {
	if !old.idleAt.IsZero() {
		if err := b.idle.Delete(idleKey(old.idleAt, key)); err != nil {
			return err
		}
	}
	if !nw.idleAt.IsZero() {
		if err := b.idle.Put(idleKey(nw.idleAt, key), nil); err != nil {
			return err
		}
	}
	if err := reindexEnded(b, key, old.endedAt, nw.endedAt); err != nil {
		return err
	}
	return b.dialogs.Put([]byte(key), rec)
}

// writeCalls queues a step's calls of dialog key behind its earlier ones.
func writeCalls(b buckets, key string, calls []engine.Call, res *commitResult) error {
	if len(calls) == 0 {
		return nil
	}

	_, hasHead := head(b, key)
	var seq int64
	if v := b.seqs.Get([]byte(key)); v != nil {
		seq = int64(binary.BigEndian.Uint64(v))
	}
	for _, call := range calls {
		id, err := b.outbox.NextSequence()
		if err != nil {
			return err
		}
		seq++
		call.ID, call.Seq, call.Dialog = id, seq, key
		if err := putCall(b, &call); err != nil {
			return err
		}
		if call.Parked {
			res.parked++
			if err := b.parked.Put(seqKey(key, seq), u64(id)); err != nil {
				return err
			}
			continue
		}
		res.pending++
		if err := b.queue.Put(seqKey(key, seq), u64(id)); err != nil {
			return err
		}
		if !hasHead {
			hasHead = true
			if err := b.ready.Put(readyKey(call.NextAt, id), nil); err != nil {
				return err
			}
		}
	}
	return b.seqs.Put([]byte(key), u64(uint64(seq)))
}

// head returns the id of the dialog's first pending call.
func head(b buckets, key string) (uint64, bool) {
	prefix := dialogPrefix(key)
	k, v := b.queue.Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

func getCall(b buckets, id uint64) (engine.Call, bool, error) {
	v := b.outbox.Get(u64(id))
	if v == nil {
		return engine.Call{}, false, nil
	}
	var c engine.Call
	if err := decodeCall(v, &c); err != nil {
		return engine.Call{}, false, fmt.Errorf("decode call %d: %w", id, err)
	}
	return c, true, nil
}

func putCall(b buckets, c *engine.Call) error {
	v, err := encodeCall(c)
	if err != nil {
		return fmt.Errorf("encode call %d: %w", c.ID, err)
	}
	return b.outbox.Put(u64(c.ID), v)
}

// unqueue takes a pending call out of its dialog's queue; when it was the
// head, the next pending call becomes the head.
func unqueue(b buckets, c *engine.Call) error {
	headID, _ := head(b, c.Dialog)
	if err := b.queue.Delete(seqKey(c.Dialog, c.Seq)); err != nil {
		return err
	}
	if headID != c.ID {
		return nil
	}
	if err := b.ready.Delete(readyKey(c.NextAt, c.ID)); err != nil {
		return err
	}
	next, ok := head(b, c.Dialog)
	if !ok {
		return nil
	}
	n, found, err := getCall(b, next)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: queued call %d is missing", ErrCorrupt, next)
	}
	return b.ready.Put(readyKey(n.NextAt, n.ID), nil)
}

// callResult is what one run of Done, Retry or Park did.
type callResult struct {
	notFound        bool
	pending, parked int64
}

// update runs a batched write on call id, marking the id busy for Claim
// while it runs and releasing its lease afterwards.
// With viaLog and the commit log on, the write is a done record of the
// log (Done), and the id stays busy until the B-tree has it (applied).
func (s *Store) update(ctx context.Context, op string, id uint64, viaLog bool, fn func(b buckets, c *engine.Call, res *callResult) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var ld *logDone
	s.mu.Lock()
	s.busy[id]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if ld == nil || !ld.logged {
			if s.busy[id]--; s.busy[id] == 0 {
				delete(s.busy, id)
			}
		}
		delete(s.leases, id)
		s.mu.Unlock()
	}()

	var res callResult
	write := func(tx *bbolt.Tx) error {
		res = callResult{}
		b := txBuckets(tx)
		c, ok, err := getCall(b, id)
		if err != nil || !ok {
			res.notFound = !ok
			return err
		}
		return fn(b, &c, &res)
	}
	var err error
	if viaLog && s.log != nil {
		ld = &logDone{id: id, res: &res}
		err = s.loggedDone(write, ld)
	} else {
		err = s.write(write)
	}
	switch {
	case err != nil:
		return fmt.Errorf("%s call %d: %w", op, id, err)
	case res.notFound:
		return fmt.Errorf("%s call %d: %w", op, id, engine.ErrNotFound)
	}
	s.pending.Add(res.pending)
	s.parked.Add(res.parked)
	return nil
}

// Done removes a delivered (or parked) call, or returns engine.ErrNotFound.
// The dialog's next call becomes claimable.
func (s *Store) Done(ctx context.Context, id uint64) error {
	return s.update(ctx, "done", id, true, func(b buckets, c *engine.Call, res *callResult) error {
		if c.Parked {
			res.parked = -1
		} else {
			res.pending = -1
		}
		return delivered(b, id, c)
	})
}

// delivered removes a delivered (or parked) call.
func delivered(b buckets, id uint64, c *engine.Call) error {
	if err := b.outbox.Delete(u64(id)); err != nil {
		return err
	}
	if c.Parked {
		return b.parked.Delete(seqKey(c.Dialog, c.Seq))
	}
	return unqueue(b, c)
}

// doneTx applies a done record: the calls of ids are removed. A call that
// is not there is skipped: a done removes, it never fails the records
// applied after it.
func doneTx(b buckets, ids []uint64) error {
	for _, id := range ids {
		c, ok, err := getCall(b, id)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := delivered(b, id, &c); err != nil {
			return fmt.Errorf("call %d: %w", id, err)
		}
	}
	return nil
}

// Retry records a failed attempt (Attempts+1, Error) and makes the call due
// at next, releasing its lease. A parked call stays parked.
func (s *Store) Retry(ctx context.Context, id uint64, next time.Time, errText string) error {
	return s.update(ctx, "retry", id, false, func(b buckets, c *engine.Call, res *callResult) error {
		if headID, _ := head(b, c.Dialog); !c.Parked && headID == c.ID {
			if err := b.ready.Delete(readyKey(c.NextAt, c.ID)); err != nil {
				return err
			}
			if err := b.ready.Put(readyKey(next, c.ID), nil); err != nil {
				return err
			}
		}
		c.Attempts++
		c.NextAt, c.Error = next, errText
		return putCall(b, c)
	})
}

// Park makes the call a dead letter with errText, releasing its lease; the
// dialog's later calls proceed. Parking a parked call updates its Error.
func (s *Store) Park(ctx context.Context, id uint64, errText string) error {
	return s.update(ctx, "park", id, false, func(b buckets, c *engine.Call, res *callResult) error {
		if !c.Parked {
			if err := unqueue(b, c); err != nil {
				return err
			}
			if err := b.parked.Put(seqKey(c.Dialog, c.Seq), u64(c.ID)); err != nil {
				return err
			}
			c.Parked = true
			res.pending, res.parked = -1, 1
		}
		c.Error = errText
		return putCall(b, c)
	})
}

// Claim leases up to limit deliverable calls to owner until now+lease: the
// head call of each dialog (its lowest-Seq unparked call) when it is due and
// not leased by another owner, longest-due first. A head already leased by
// owner is returned again with its lease renewed. Leases live in memory.
func (s *Store) Claim(ctx context.Context, owner string, limit int, now time.Time, leaseFor time.Duration) ([]engine.Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := engine.CheckOwner(owner); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	if err := s.catchUp(); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	end := string(timeKey(now))
	var out []engine.Call
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := txBuckets(tx)
		cur := b.ready.Cursor()
		for k, _ := cur.First(); k != nil && string(k[:8]) <= end && len(out) < limit; k, _ = cur.Next() {
			id := binary.BigEndian.Uint64(k[8:])
			if s.busy[id] > 0 {
				continue
			}
			if l, ok := s.leases[id]; ok && l.owner != owner && now.Before(l.until) {
				continue
			}
			c, ok, err := getCall(b, id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: ready call %d is missing", ErrCorrupt, id)
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	for _, c := range out {
		s.leases[c.ID] = lease{owner: owner, until: now.Add(leaseFor)}
	}
	return out, nil
}

// Calls lists a dialog's pending and parked calls in Seq order.
func (s *Store) Calls(ctx context.Context, dialog string) ([]engine.Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if engine.CheckKey(dialog) != nil {
		return nil, nil // no commit could have stored calls for it
	}
	if err := s.catchUp(); err != nil {
		return nil, fmt.Errorf("calls of %q: %w", dialog, err)
	}
	prefix := dialogPrefix(dialog)
	var out []engine.Call
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := txBuckets(tx)
		for _, bucket := range []*bbolt.Bucket{b.queue, b.parked} {
			cur := bucket.Cursor()
			for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
				id := binary.BigEndian.Uint64(v)
				c, ok, err := getCall(b, id)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("%w: listed call %d is missing", ErrCorrupt, id)
				}
				out = append(out, c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("calls of %q: %w", dialog, err)
	}
	slices.SortFunc(out, func(a, b engine.Call) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}
