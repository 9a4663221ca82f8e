package pull

import (
	"context"
	"sync"
	"time"
)

// Memory is an in-process Lease and offset table: the single-process
// counterpart of the store tables a PostgreSQL deployment shares between
// replicas. Commit is its one transaction: fence check, the caller's
// writes and the offset under one lock. It is safe for concurrent use.
type Memory struct {
	// Now is the lease clock; time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	leases  map[string]memLease
	offsets map[string]int64
}

type memLease struct {
	holder string
	number int64
	until  time.Time
}

var _ Lease = (*Memory)(nil)

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Memory) init() {
	if m.leases == nil {
		m.leases = map[string]memLease{}
		m.offsets = map[string]int64{}
	}
}

// Acquire implements Lease. A grant to a new holder, or after a lapse,
// takes the next fencing number; a live lease of the same holder keeps
// its number.
func (m *Memory) Acquire(_ context.Context, key, holder string, ttl time.Duration) (Fence, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	now := m.now()
	l := m.leases[key]
	live := now.Before(l.until)
	if live && l.holder != holder {
		return Fence{}, ErrLeaseHeld
	}
	if !live || l.holder != holder {
		l.number++
	}
	l.holder, l.until = holder, now.Add(ttl)
	m.leases[key] = l
	return Fence{Key: key, Holder: holder, Number: l.number, Until: l.until}, nil
}

// Renew implements Lease.
func (m *Memory) Renew(_ context.Context, f Fence, ttl time.Duration) (Fence, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	now := m.now()
	l := m.leases[f.Key]
	if l.number != f.Number || l.holder != f.Holder || !now.Before(l.until) {
		return Fence{}, ErrLeaseLost
	}
	l.until = now.Add(ttl)
	m.leases[f.Key] = l
	f.Until = l.until
	return f, nil
}

// Release implements Lease.
func (m *Memory) Release(_ context.Context, f Fence) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if l := m.leases[f.Key]; l.number == f.Number && l.holder == f.Holder {
		l.until = time.Time{}
		m.leases[f.Key] = l
	}
	return nil
}

// Offset returns key's offset, 0 when none was written.
func (m *Memory) Offset(_ context.Context, key string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	return m.offsets[key], nil
}

// Commit runs write and sets f.Key's offset to next in one step, only
// while f holds a live lease: otherwise ErrFenced and neither happens. An
// error from write leaves the offset as it was.
func (m *Memory) Commit(_ context.Context, f Fence, next int64, write func() error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if !m.holds(f) {
		return ErrFenced
	}
	if write != nil {
		if err := write(); err != nil {
			return err
		}
	}
	m.offsets[f.Key] = next
	return nil
}

// holds reports, under m.mu, whether f is key's live lease.
func (m *Memory) holds(f Fence) bool {
	l := m.leases[f.Key]
	return l.number == f.Number && l.holder == f.Holder && m.now().Before(l.until)
}
