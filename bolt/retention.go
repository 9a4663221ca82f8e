package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/olbot/olbot/engine"
)

// reindexEnded moves dialog key's entry in the ended index from was to
// is (zero: no entry).
func reindexEnded(b buckets, key string, was, is time.Time) error {
	if was.Equal(is) && !was.IsZero() {
		return nil
	}
	space := engine.KeySpace(key)
	if !was.IsZero() {
		if err := b.ended.Delete(endedKey(space, was, key)); err != nil {
			return err
		}
	}
	if is.IsZero() {
		return nil
	}
	return b.ended.Put(endedKey(space, is, key), nil)
}

// indexEnded builds the ended index of a file written before it existed.
func indexEnded(tx *bbolt.Tx) error {
	b := txBuckets(tx)
	return b.dialogs.ForEach(func(k, v []byte) error {
		var d engine.Dialog
		if err := d.DecodeRecord(v); err != nil {
			return fmt.Errorf("dialog %q: %w", k, err)
		}
		return reindexEnded(b, d.Key, time.Time{}, d.EndedAt())
	})
}

// Ended lists up to limit keys of the dialogs of key space space that
// ended not after before, earliest first, then by key.
func (s *Store) Ended(ctx context.Context, space string, before time.Time, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	if err := s.catchUp(); err != nil {
		return nil, fmt.Errorf("ended dialogs: %w", err)
	}
	prefix := dialogPrefix(space)
	end := timeKey(before)
	var keys []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketEnded).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(keys) < limit; k, _ = c.Next() {
			rest := k[len(prefix):]
			if len(rest) < 8 || bytes.Compare(rest[:8], end) > 0 {
				break
			}
			keys = append(keys, string(rest[8:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ended dialogs: %w", err)
	}
	return keys, nil
}

// eraseResult is what one run of an erase did.
type eraseResult struct {
	engine.Erased
	ids             []uint64
	pending, parked int64
}

// Erase deletes the dialog's record and all its calls in one batched
// transaction; with a non-zero endedBefore only while the dialog is still
// ended not after it. A call of the dialog that Claim handed out before
// the erase is not recalled: its Done then finds it gone.
func (s *Store) Erase(ctx context.Context, key string, endedBefore time.Time) (engine.Erased, error) {
	if err := ctx.Err(); err != nil {
		return engine.Erased{}, err
	}
	if engine.CheckKey(key) != nil {
		return engine.Erased{}, nil // no commit could have stored it
	}
	var res eraseResult
	err := s.write(func(tx *bbolt.Tx) error {
		res = eraseResult{}
		return eraseTx(txBuckets(tx), key, endedBefore, &res)
	})
	if err != nil {
		return engine.Erased{}, fmt.Errorf("erase %q: %w", key, err)
	}
	s.pending.Add(res.pending)
	s.parked.Add(res.parked)
	if len(res.ids) > 0 {
		s.mu.Lock()
		for _, id := range res.ids {
			delete(s.leases, id)
		}
		s.mu.Unlock()
	}
	return res.Erased, nil
}

func eraseTx(b buckets, key string, endedBefore time.Time, res *eraseResult) error {
	if v := b.dialogs.Get([]byte(key)); v != nil {
		var d engine.Dialog
		if err := d.DecodeRecord(v); err != nil {
			return err
		}
		at := d.EndedAt()
		if !endedBefore.IsZero() && (at.IsZero() || at.After(endedBefore)) {
			return nil // restarted (or ended later) since it was listed
		}
		if idles(&d) {
			if err := b.idle.Delete(idleKey(d.IdleAt, key)); err != nil {
				return err
			}
		}
		if !at.IsZero() {
			if err := b.ended.Delete(endedKey(engine.KeySpace(key), at, key)); err != nil {
				return err
			}
		}
		if err := b.dialogs.Delete([]byte(key)); err != nil {
			return err
		}
		res.Dialog = true
	} else if !endedBefore.IsZero() {
		return nil
	}
	if h, ok := head(b, key); ok {
		c, found, err := getCall(b, h)
		if err != nil {
			return err
		}
		if found {
			if err := b.ready.Delete(readyKey(c.NextAt, c.ID)); err != nil {
				return err
			}
		}
	}
	prefix := dialogPrefix(key)
	for _, bucket := range []*bbolt.Bucket{b.queue, b.parked} {
		var keys [][]byte
		cur := bucket.Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			keys = append(keys, bytes.Clone(k))
			id := binary.BigEndian.Uint64(v)
			if err := b.outbox.Delete(u64(id)); err != nil {
				return err
			}
			res.ids = append(res.ids, id)
			res.Calls++
			if bucket == b.queue {
				res.pending--
			} else {
				res.parked--
			}
		}
		for _, k := range keys {
			if err := bucket.Delete(k); err != nil {
				return err
			}
		}
	}
	return b.seqs.Delete([]byte(key))
}
