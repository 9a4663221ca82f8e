package bolt

import (
	"context"
	"fmt"
	"strconv"

	"go.etcd.io/bbolt"

	"github.com/olbot/olbot/engine"
)

// kvKey keeps namespaces apart whatever bytes they hold.
func kvKey(ns, key string) []byte { return append(dialogPrefix(ns), key...) }

// Get returns the value stored under ns/key, or engine.ErrNotFound.
func (s *Store) Get(ctx context.Context, ns, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if engine.CheckKV(ns, key) != nil {
		return nil, fmt.Errorf("get %s/%s: %w", ns, key, engine.ErrNotFound)
	}
	if ns == engine.NSCursor {
		if err := s.catchUp(); err != nil { // commits move cursors
			return nil, fmt.Errorf("get %s/%s: %w", ns, key, err)
		}
	}
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketKV).Get(kvKey(ns, key)); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", ns, key, err)
	}
	if out == nil {
		return nil, fmt.Errorf("get %s/%s: %w", ns, key, engine.ErrNotFound)
	}
	return out, nil
}

// Put stores value under ns/key, durably, or returns engine.ErrInvalid
// for a namespace or key engine.CheckKV refuses.
func (s *Store) Put(ctx context.Context, ns, key string, value []byte) error {
	if err := engine.CheckKV(ns, key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	v := append([]byte{}, value...)
	return s.write(func(tx *bbolt.Tx) error { return tx.Bucket(bucketKV).Put(kvKey(ns, key), v) })
}

// Delete removes ns/key; deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, ns, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if engine.CheckKV(ns, key) != nil {
		return nil // it cannot exist
	}
	return s.write(func(tx *bbolt.Tx) error { return tx.Bucket(bucketKV).Delete(kvKey(ns, key)) })
}

// ScanDialogs calls fn for every dialog record, in key order, until fn
// returns an error, which ScanDialogs returns.
func (s *Store) ScanDialogs(ctx context.Context, fn func(engine.Dialog) error) error {
	if err := s.catchUp(); err != nil {
		return fmt.Errorf("scan dialogs: %w", err)
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketDialogs).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var d engine.Dialog
			if err := d.DecodeRecord(v); err != nil {
				return fmt.Errorf("dialog %q: %w", k, err)
			}
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	})
}

// Cursor returns the value Commit last wrote for a cursor key, 0 when none.
func (s *Store) Cursor(ctx context.Context, key string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.catchUp(); err != nil {
		return 0, fmt.Errorf("cursor: %w", err)
	}
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = cursor(tx.Bucket(bucketKV), key)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cursor: %w", err)
	}
	return n, nil
}

func cursor(kv *bbolt.Bucket, key string) (int64, error) {
	v := kv.Get(kvKey(engine.NSCursor, key))
	if v == nil {
		return 0, nil
	}
	return engine.ParseCursor(key, v)
}

// raiseCursor sets a cursor to max(stored, value) within a commit's
// transaction.
func raiseCursor(kv *bbolt.Bucket, key string, value int64) error {
	old, err := cursor(kv, key)
	if err != nil || value <= old {
		return err // a replayed event's position: the stored one stays
	}
	return kv.Put(kvKey(engine.NSCursor, key), strconv.AppendInt(nil, value, 10))
}
