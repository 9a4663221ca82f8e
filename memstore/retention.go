package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/olbot/olbot/engine"
)

// Ended lists up to limit keys of the dialogs of key space space that
// ended not after before, earliest first, then by key.
func (s *Store) Ended(ctx context.Context, space string, before time.Time, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	type entry struct {
		at  time.Time
		key string
	}
	var ended []entry
	for key, d := range s.dialogs {
		if at := d.EndedAt(); !at.IsZero() && !at.After(before) && engine.KeySpace(key) == space {
			ended = append(ended, entry{at, key})
		}
	}
	slices.SortFunc(ended, func(a, b entry) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	out := make([]string, 0, min(limit, len(ended)))
	for _, e := range ended[:min(limit, len(ended))] {
		out = append(out, e.key)
	}
	return out, nil
}

// Erase deletes the dialog's record and all its calls; with a non-zero
// endedBefore only while the dialog is still ended not after it.
func (s *Store) Erase(ctx context.Context, key string, endedBefore time.Time) (engine.Erased, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return engine.Erased{}, ErrClosed
	}
	var out engine.Erased
	d, ok := s.dialogs[key]
	if !endedBefore.IsZero() {
		if at := d.EndedAt(); !ok || at.IsZero() || at.After(endedBefore) {
			return out, nil
		}
	}
	if ok {
		delete(s.dialogs, key)
		out.Dialog = true
	}
	for _, id := range s.queues[key] {
		if s.calls[id].Parked {
			s.parked--
		}
		delete(s.calls, id)
		delete(s.leases, id)
		out.Calls++
	}
	delete(s.queues, key)
	delete(s.seqs, key)
	return out, nil
}
