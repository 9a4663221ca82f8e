package bitrix24

import (
	"math/rand/v2"
	"time"
)

// Default backoff bounds.
const (
	BackoffBase = time.Second
	BackoffCap  = 5 * time.Minute
)

// Backoff returns how long to wait before retry number attempt (0 for the
// first retry) with the default bounds: exponential with full jitter, a
// uniformly random duration in [0, min(BackoffCap, BackoffBase·2^attempt)).
// rnd returns a number in [0, 1); nil means math/rand/v2.Float64. Tests pass
// a fixed function.
func Backoff(attempt int, rnd func() float64) time.Duration {
	return BackoffPolicy{Base: BackoffBase, Cap: BackoffCap}.Delay(attempt, rnd)
}

// BackoffPolicy is exponential backoff with full jitter between Base and Cap.
type BackoffPolicy struct {
	Base time.Duration // the ceiling of the first delay
	Cap  time.Duration // the largest ceiling
}

// Ceiling is the upper bound of the delay for attempt, before jitter.
func (p BackoffPolicy) Ceiling(attempt int) time.Duration {
	if attempt < 0 {
		attempt = 0
	}
	d := p.Base
	for i := 0; i < attempt && d < p.Cap; i++ {
		d *= 2
	}
	if d > p.Cap {
		d = p.Cap
	}
	return d
}

// Delay returns a random delay in [0, Ceiling(attempt)); see Backoff.
func (p BackoffPolicy) Delay(attempt int, rnd func() float64) time.Duration {
	if rnd == nil {
		rnd = rand.Float64
	}
	f := rnd()
	if f < 0 || f >= 1 {
		f = 0
	}
	return time.Duration(f * float64(p.Ceiling(attempt)))
}
