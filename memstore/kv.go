package memstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/olbot/olbot/engine"
)

func kvKey(ns, key string) string { return ns + "\x00" + key }

// Get returns the value stored under ns/key, or engine.ErrNotFound.
func (s *Store) Get(ctx context.Context, ns, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	v, ok := s.kv[kvKey(ns, key)]
	if !ok {
		return nil, fmt.Errorf("get %s/%s: %w", ns, key, engine.ErrNotFound)
	}
	return append([]byte{}, v...), nil
}

// Put stores a copy of value under ns/key, or returns engine.ErrInvalid
// for a namespace or key engine.CheckKV refuses.
func (s *Store) Put(ctx context.Context, ns, key string, value []byte) error {
	if err := engine.CheckKV(ns, key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.kv == nil {
		s.kv = map[string][]byte{}
	}
	s.kv[kvKey(ns, key)] = append([]byte{}, value...)
	return nil
}

// Delete removes ns/key; deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, ns, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	delete(s.kv, kvKey(ns, key))
	return nil
}

// ScanDialogs calls fn with a copy of every dialog record, in key order,
// until fn returns an error, which ScanDialogs returns.
func (s *Store) ScanDialogs(ctx context.Context, fn func(engine.Dialog) error) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	keys := make([]string, 0, len(s.dialogs))
	for k := range s.dialogs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	list := make([]engine.Dialog, len(keys))
	for i, k := range keys {
		list[i] = s.dialogs[k].Clone()
	}
	s.mu.Unlock()
	for _, d := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// Cursor returns the value Commit last wrote for a cursor key, 0 when none.
func (s *Store) Cursor(ctx context.Context, key string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.cursor(key)
}

// cursor reads a cursor under s.mu.
func (s *Store) cursor(key string) (int64, error) {
	v, ok := s.kv[kvKey(engine.NSCursor, key)]
	if !ok {
		return 0, nil
	}
	return engine.ParseCursor(key, v)
}

// raiseCursor sets a cursor to max(stored, value) under s.mu.
func (s *Store) raiseCursor(key string, value int64) error {
	old, err := s.cursor(key)
	if err != nil {
		return err
	}
	if value <= old {
		return nil // a replayed event's position: the stored one stays
	}
	if s.kv == nil {
		s.kv = map[string][]byte{}
	}
	s.kv[kvKey(engine.NSCursor, key)] = strconv.AppendInt(nil, value, 10)
	return nil
}
