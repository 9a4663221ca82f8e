package dialogs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/olbot/olbot/engine"
)

// nsHealth is the KV namespace of the store's write probe.
const nsHealth = "health"

// probeEvery bounds how often a failing store is probed with a write.
const probeEvery = 250 * time.Millisecond

// storeHealth tracks whether the store takes writes. An unreachable store
// shows in the readiness read; one that reads but cannot write (a full disk,
// a read-only file, a database that refuses writes) shows only when a write
// fails. From a failed write until a write succeeds again the server is not
// ready and delivery pauses — a call whose delivery cannot be recorded would
// otherwise be sent again every round — and a probe write, at most one per
// probeEvery, finds out when the store is back. Nothing waits for traffic:
// readiness and the delivery worker probe by themselves.
type storeHealth struct {
	failing atomic.Bool // fast path for ok()

	mu      sync.Mutex
	err     error     // the last failed write; nil while writes work
	since   time.Time // first failure of the current outage
	probed  time.Time // last probe
	probing bool      // a probe is running
}

// failed records a failed write and reports whether it starts an outage.
func (h *storeHealth) failed(err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	first := h.err == nil
	if first {
		h.since = time.Now()
	}
	h.err = err
	h.failing.Store(true)
	return first
}

// ok records a successful write; when it ends an outage it returns how
// long that lasted, else 0.
func (h *storeHealth) ok() time.Duration {
	if !h.failing.Load() {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recoveredLocked()
}

// recoveredLocked ends the outage, returning how long it lasted (at least
// 1ns), or 0 when there was none. Callers hold mu.
func (h *storeHealth) recoveredLocked() time.Duration {
	if h.err == nil {
		return 0
	}
	h.err = nil
	h.failing.Store(false)
	return max(time.Since(h.since), 1)
}

// check returns nil while writes work. While they fail it probes with a
// write (one probe at a time, at most one per probeEvery; meanwhile it
// returns the last error) and ends the outage when the probe succeeds,
// returning how long it lasted.
func (h *storeHealth) check(ctx context.Context, probe func(context.Context) error) (lasted time.Duration, err error) {
	if !h.failing.Load() {
		return 0, nil
	}
	h.mu.Lock()
	if h.err == nil || h.probing || time.Since(h.probed) < probeEvery {
		err := h.err
		h.mu.Unlock()
		return 0, err
	}
	h.probing, h.probed = true, time.Now()
	h.mu.Unlock()
	perr := probe(ctx) // without the lock: writes that fail or succeed meanwhile are not held up
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probing = false
	switch {
	case perr != nil && h.err == nil:
		return 0, nil // a write succeeded meanwhile: writes work
	case perr != nil:
		h.err = perr
		return 0, perr
	}
	return h.recoveredLocked(), nil
}

// WriteFailed records a store write that failed for another reason than a
// concurrent update.
func (p *Processor) WriteFailed(err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, engine.ErrInvalid) {
		return // the caller went away (a client hung up, shutdown), or the input was bad: says nothing about the store
	}
	if p.health.failed(err) {
		p.log.Error("the store refuses writes: events get 503, readiness is false and delivery pauses until it takes writes again", "err", err)
	}
}

// writeOK records a store write that succeeded.
func (p *Processor) writeOK() {
	if lasted := p.health.ok(); lasted > 0 {
		p.log.Info("the store takes writes again: serving", "after", lasted.Round(time.Millisecond))
	}
}

// probeWrite is the write that tells whether the store takes writes again.
func (p *Processor) probeWrite(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return p.store.Put(ctx, nsHealth, "probe", []byte(p.now().UTC().Format(time.RFC3339Nano)))
}

// Writable returns nil when the store takes writes, or the last write
// error while it does not (see storeHealth).
func (p *Processor) Writable(ctx context.Context) error {
	lasted, err := p.health.check(ctx, p.probeWrite)
	if lasted > 0 {
		p.log.Info("the store takes writes again: serving", "after", lasted.Round(time.Millisecond))
	}
	return err
}

// readyTimeout bounds the store probe of Ready: a store that does not
// answer in time is not ready, whatever its driver's own timeouts are.
const readyTimeout = time.Second

// Ready reads and, after a failed write, writes the store; it returns the
// problem, or "" when the store is fine. It never takes longer than
// readyTimeout, so orchestrators get an answer while the store hangs.
func (p *Processor) Ready(parent context.Context) string {
	ctx, cancel := context.WithTimeout(parent, readyTimeout)
	defer cancel()
	done := make(chan string, 1)
	go func() {
		if _, err := p.store.Dialog(ctx, "olbot:readyz"); err != nil && !errors.Is(err, engine.ErrNotFound) {
			done <- "store unreachable: " + err.Error()
		} else if err := p.Writable(ctx); err != nil {
			done <- "store refuses writes: " + err.Error()
		} else {
			done <- ""
		}
	}()
	select {
	case msg := <-done:
		return msg
	case <-ctx.Done():
		return fmt.Sprintf("store unreachable: no answer within %s", readyTimeout)
	}
}
