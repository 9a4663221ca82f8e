// Package memstore is an in-memory engine.Store for tests, benchmarks and
// `--store memory`. Everything is lost on Close. It passes the conformance
// suite in package storetest, including the choices documented there.
package memstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/olbot/olbot/engine"
)

var _ engine.Store = (*Store)(nil)

// ErrClosed is returned by every method of a closed Store.
var ErrClosed = errors.New("memstore: store is closed")

// Store is an in-memory engine.Store. One mutex guards everything, so every
// method is atomic. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	closed  bool
	dialogs map[string]engine.Dialog
	calls   map[uint64]*engine.Call
	queues  map[string][]uint64 // each dialog's outstanding (pending and parked) call ids in Seq order
	seqs    map[string]int64    // last Seq given per dialog
	lastID  uint64
	parked  int
	leases  map[uint64]lease
	kv      map[string][]byte // ns + "\x00" + key
}

type lease struct {
	owner string
	until time.Time
}

// New returns an empty store.
func New() *Store {
	return &Store{
		dialogs: map[string]engine.Dialog{},
		calls:   map[uint64]*engine.Call{},
		queues:  map[string][]uint64{},
		seqs:    map[string]int64{},
		leases:  map[uint64]lease{},
	}
}

// Dialog returns a copy of the record for key, or engine.ErrNotFound.
func (s *Store) Dialog(ctx context.Context, key string) (engine.Dialog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return engine.Dialog{}, ErrClosed
	}
	d, ok := s.dialogs[key]
	if !ok {
		return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, engine.ErrNotFound)
	}
	return d.Clone(), nil
}

// Commit stores copies of the record and its calls atomically. It returns
// engine.ErrInvalid for a commit engine.CheckCommit refuses and
// engine.ErrConflict when the stored Rev is not c.PrevRev (0: no record);
// either way it writes nothing. A Cursor is kept in the key-value space
// (engine.NSCursor) and its Fence ignored: one process, whose lease guards
// the commit.
func (s *Store) Commit(ctx context.Context, c engine.Commit) error {
	if err := engine.CheckCommit(c); err != nil {
		return err
	}
	d := c.Dialog.Clone()
	d.Started, d.LastIn, d.Updated, d.IdleAt = d.Started.Round(0), d.LastIn.Round(0), d.Updated.Round(0), d.IdleAt.Round(0)
	d.RemindFrom, d.Ended = d.RemindFrom.Round(0), d.Ended.Round(0)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.dialogs[d.Key].Rev != c.PrevRev {
		return fmt.Errorf("commit %q from rev %d: %w", d.Key, c.PrevRev, engine.ErrConflict)
	}
	if cur := c.Cursor; cur != nil {
		if err := s.raiseCursor(cur.Key, cur.Value); err != nil {
			return fmt.Errorf("commit %q: %w", d.Key, err)
		}
	}
	s.dialogs[d.Key] = d
	for _, in := range c.Calls {
		call := copyCall(in)
		s.lastID++
		s.seqs[d.Key]++
		call.ID, call.Seq, call.Dialog = s.lastID, s.seqs[d.Key], d.Key
		call.Created, call.NextAt = call.Created.Round(0), call.NextAt.Round(0)
		s.calls[call.ID] = &call
		s.queues[d.Key] = append(s.queues[d.Key], call.ID)
		if call.Parked {
			s.parked++
		}
	}
	return nil
}

// Claim leases up to limit deliverable calls to owner until now+lease: the
// head call of each dialog (its lowest-Seq unparked call) when it is due and
// not leased by another owner, longest-due first. A head already leased by
// owner is returned again with its lease renewed.
func (s *Store) Claim(ctx context.Context, owner string, limit int, now time.Time, leaseFor time.Duration) ([]engine.Call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if err := engine.CheckOwner(owner); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	var due []*engine.Call
	for _, ids := range s.queues {
		for _, id := range ids {
			c := s.calls[id]
			if c.Parked {
				continue
			}
			l, leased := s.leases[id]
			if !c.NextAt.After(now) && (!leased || l.owner == owner || !now.Before(l.until)) {
				due = append(due, c)
			}
			break // only the head
		}
	}
	slices.SortFunc(due, func(a, b *engine.Call) int {
		if c := a.NextAt.Compare(b.NextAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]engine.Call, 0, len(due))
	for _, c := range due {
		s.leases[c.ID] = lease{owner: owner, until: now.Add(leaseFor)}
		out = append(out, copyCall(*c))
	}
	return out, nil
}

// Done removes a call, or returns engine.ErrNotFound.
func (s *Store) Done(ctx context.Context, id uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.call(id)
	if err != nil {
		return err
	}
	q := s.queues[c.Dialog]
	q = slices.Delete(q, slices.Index(q, id), slices.Index(q, id)+1)
	if len(q) == 0 {
		delete(s.queues, c.Dialog)
	} else {
		s.queues[c.Dialog] = q
	}
	if c.Parked {
		s.parked--
	}
	delete(s.calls, id)
	delete(s.leases, id)
	return nil
}

// Retry records a failed attempt (Attempts+1, Error) and makes the call due
// at next, releasing its lease. A parked call stays parked.
func (s *Store) Retry(ctx context.Context, id uint64, next time.Time, errText string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.call(id)
	if err != nil {
		return err
	}
	c.Attempts++
	c.NextAt, c.Error = next.Round(0), errText
	delete(s.leases, id)
	return nil
}

// Park makes the call a dead letter with errText, releasing its lease; the
// dialog's later calls proceed.
func (s *Store) Park(ctx context.Context, id uint64, errText string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.call(id)
	if err != nil {
		return err
	}
	if !c.Parked {
		c.Parked = true
		s.parked++
	}
	c.Error = errText
	delete(s.leases, id)
	return nil
}

// call returns the outstanding call id; the caller holds s.mu.
func (s *Store) call(id uint64) (*engine.Call, error) {
	if s.closed {
		return nil, ErrClosed
	}
	c, ok := s.calls[id]
	if !ok {
		return nil, fmt.Errorf("call %d: %w", id, engine.ErrNotFound)
	}
	return c, nil
}

// Calls lists copies of a dialog's pending and parked calls in Seq order.
func (s *Store) Calls(ctx context.Context, dialog string) ([]engine.Call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	ids := s.queues[dialog]
	out := make([]engine.Call, 0, len(ids))
	for _, id := range ids {
		out = append(out, copyCall(*s.calls[id]))
	}
	return out, nil
}

// Idle lists up to limit keys of dialogs whose idle event is due: IdleAt
// is set and not after before. Earliest IdleAt first, then by key.
func (s *Store) Idle(ctx context.Context, before time.Time, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	var idle []*engine.Dialog
	for key := range s.dialogs {
		d := s.dialogs[key]
		if !d.IdleAt.IsZero() && !d.IdleAt.After(before) {
			idle = append(idle, &d)
		}
	}
	slices.SortFunc(idle, func(a, b *engine.Dialog) int {
		if c := a.IdleAt.Compare(b.IdleAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	out := make([]string, 0, min(limit, len(idle)))
	for _, d := range idle[:min(limit, len(idle))] {
		out = append(out, d.Key)
	}
	return out, nil
}

// Depth returns how many calls wait for delivery and how many are parked.
func (s *Store) Depth(ctx context.Context) (pending, parked int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	return len(s.calls) - s.parked, s.parked, nil
}

// Close drops everything; later calls return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.dialogs, s.calls, s.queues, s.seqs, s.leases = nil, nil, nil, nil, nil
	return nil
}

func copyCall(c engine.Call) engine.Call {
	c.Params = bytes.Clone(c.Params)
	return c
}
