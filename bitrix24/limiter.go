package bitrix24

import (
	"context"
	"sync"
	"time"
)

// Portal limits of non-Enterprise plans: a leaky bucket per portal (and
// source IP) of 50 requests draining at 2 per second.
const (
	DefaultBurst = 50
	DefaultRate  = 2.0
)

// LimiterConfig configures a Limiter. Zero fields take defaults.
type LimiterConfig struct {
	Burst int              // bucket size X; DefaultBurst when 0
	Rate  float64          // drain per second Y; DefaultRate when 0
	Now   func() time.Time // clock; time.Now when nil
	// Sleep waits d or until ctx is done; a timer-based sleep when nil.
	// Tests pass one that advances their fake clock.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Limiter is a leaky bucket per portal, mirroring the portal's own limit so
// that calls are spaced instead of answered with QUERY_LIMIT_EXCEEDED. Each
// call adds 1 to its portal's bucket, which drains at Rate per second; a call
// that would lift it above Burst must wait. It limits one process: replicas
// sharing a portal need a shared limit (or a share of Rate each). It is safe
// for concurrent use.
type Limiter struct {
	cfg     LimiterConfig
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	level float64
	last  time.Time
}

// NewLimiter returns a Limiter.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	return &Limiter{cfg: cfg, buckets: map[string]*bucket{}}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain brings portal's bucket up to now and returns it. Callers hold mu.
func (l *Limiter) drain(portal string, now time.Time) *bucket {
	b := l.buckets[portal]
	if b == nil {
		b = &bucket{last: now}
		l.buckets[portal] = b
		return b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.level -= el * l.cfg.Rate
		if b.level < 0 {
			b.level = 0
		}
		b.last = now
	}
	return b
}

// Delay returns how long until portal may make a call; 0 means now. It takes nothing.
func (l *Limiter) Delay(portal string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delayLocked(l.drain(portal, l.cfg.Now()))
}

func (l *Limiter) delayLocked(b *bucket) time.Duration {
	over := b.level + 1 - float64(l.cfg.Burst)
	if over <= 0 {
		return 0
	}
	d := time.Duration(over / l.cfg.Rate * float64(time.Second))
	if d <= 0 {
		d = time.Nanosecond
	}
	return d
}

// Allow takes a slot for one call of portal if one is free now and reports
// whether it did. It never blocks.
func (l *Limiter) Allow(portal string) bool {
	return l.Reserve(portal) == 0
}

// Reserve takes a slot if one is free now and returns 0; otherwise it takes
// nothing and returns how long until one is free. It never blocks.
func (l *Limiter) Reserve(portal string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	b := l.drain(portal, now)
	if d := l.delayLocked(b); d > 0 {
		return d
	}
	b.level++
	l.prune(now)
	return 0
}

// Wait blocks until portal may make a call and takes the slot, or returns
// ctx's error.
func (l *Limiter) Wait(ctx context.Context, portal string) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := l.Reserve(portal)
		if d == 0 {
			return nil
		}
		if err := l.cfg.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// prune drops drained buckets of other portals so the map stays small.
// Callers hold mu.
func (l *Limiter) prune(now time.Time) {
	if len(l.buckets) < 64 {
		return
	}
	for p, b := range l.buckets {
		if b.level-now.Sub(b.last).Seconds()*l.cfg.Rate <= 0 {
			delete(l.buckets, p)
		}
	}
}
