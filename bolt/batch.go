package bolt

import (
	"fmt"
	"slices"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// batcher is the group commit: one goroutine runs the queued writes in one
// bbolt transaction (one fsync) at a time.
//
// When it is idle, the first write waits for others to join it (or until
// size are queued): up to delay, or, when the write is a step bound for the
// commit log, up to as long as the log's recent appends took (groupWait).
// Writes that queue while a transaction is being written go together into
// the next transaction; with the commit log, that group first lingers while
// more writes keep arriving (linger).
// bbolt's own DB.Batch is not used: its timer starts at a batch's first
// write and the batch takes no more writes once the timer fires, even while
// it waits for the previous transaction, so under load the writers split
// into several half-full batches that each pay a full fsync.
type batcher struct {
	db    *bbolt.DB
	delay time.Duration
	size  int
	// runner, when set, runs each batch instead of run (the commit log)
	runner func(b *batcher, batch []*request)

	mu    sync.Mutex
	queue []*request

	// syncAvg is a moving average of the commit log's append and
	// fdatasync (0: none yet; noteSync). Only the loop's goroutine, which
	// runs the appends and the gathers, uses it.
	syncAvg time.Duration
	// lingerGap ends a busy group's linger: no write arrived for that long
	// (defaultLingerGap; a test sets its own)
	lingerGap time.Duration

	wake    chan struct{} // capacity 1: there is work
	stop    chan struct{} // closed by close
	stopped chan struct{} // closed when loop returns
}

type request struct {
	fn func(*bbolt.Tx) error
	lc *logCommit // a Commit that may go to the commit log instead of fn
	ld *logDone   // a Done that may go to the commit log instead of fn
	// newLogID: fn writes it into bbolt; once that committed, the commit
	// log starts over under it
	newLogID []byte
	done     chan error // capacity 1
}

func newBatcher(db *bbolt.DB, delay time.Duration, size int) *batcher {
	b := &batcher{
		db:        db,
		delay:     delay,
		size:      size,
		lingerGap: defaultLingerGap,
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	go b.loop()
	return b
}

// do runs fn in a batched write transaction and returns once it is
// committed and synced, or failed. fn may run more than once, each time in
// a fresh transaction: when a function in the batch fails, the transaction
// is rolled back and the others run again without it.
func (b *batcher) do(fn func(*bbolt.Tx) error) error {
	return b.doLogged(fn, nil)
}

// doLogged is do for a Commit, which the runner may append to the log
// instead of running fn.
func (b *batcher) doLogged(fn func(*bbolt.Tx) error, lc *logCommit) error {
	return b.send(&request{fn: fn, lc: lc, done: make(chan error, 1)})
}

// send queues r and waits for its outcome.
func (b *batcher) send(r *request) error {
	b.mu.Lock()
	b.queue = append(b.queue, r)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return <-r.done
}

// close stops the loop. The caller makes sure no do is in flight.
func (b *batcher) close() {
	close(b.stop)
	<-b.stopped
}

func (b *batcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

func (b *batcher) take() []*request {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.queue), b.size)
	batch := slices.Clone(b.queue[:n])
	b.queue = slices.Delete(b.queue, 0, n)
	return batch
}

func (b *batcher) loop() {
	defer close(b.stopped)
	idle := true
	for {
		if idle {
			select {
			case <-b.wake:
			case <-b.stop:
				return
			}
			b.gather()
		}
		batch := b.take()
		if len(batch) == 0 {
			idle = true
			continue
		}
		if b.runner != nil {
			b.runner(b, batch)
		} else {
			b.run(batch)
		}
		idle = b.queued() == 0
		if !idle {
			b.linger()
		}
	}
}

// defaultLingerGap is batcher.lingerGap: about the CPU time of a handler's
// step, so that the handlers already running join the group, while a lull
// in the arrivals ends the wait.
const defaultLingerGap = 50 * time.Microsecond

// linger holds a busy group — writes queued while the last append ran —
// while more keep arriving, each within lingerGap of the one before, and
// for no longer than one of the log's appends takes (syncAvg), or until the
// group is full. Without the log (syncAvg 0) it does not wait.
//
// Under load every write queued behind an append used to go at once, so
// the groups were as large as what arrived during one append (≈ 11 writes
// at 32 clients, 25 at 256, BENCHMARKS.md), and each group's fdatasync
// costs ≈ 50–100 µs of CPU on this project's VM, shared by the group. The
// writes that join while the group lingers share that cost, and the wait
// is bounded as groupWait bounds an idle group's: never longer than the
// sync it saves. Same-run A/Bs (BENCHMARKS.md): +8–10 % events/s at 256
// clients, +3–12 % at 32, the form route and the open loop within the noise.
func (b *batcher) linger() {
	max, gap := b.syncAvg, b.lingerGap
	if max <= 0 || gap <= 0 {
		return
	}
	deadline := time.Now().Add(max)
	timer := time.NewTimer(min(gap, max))
	defer timer.Stop()
	for b.queued() < b.size {
		select {
		case <-b.wake:
			left := time.Until(deadline)
			if left <= 0 {
				return
			}
			timer.Reset(min(gap, left))
		case <-timer.C:
			return
		case <-b.stop:
			return
		}
	}
}

// gather waits for writes to join the first one (groupWait).
func (b *batcher) gather() {
	b.mu.Lock()
	step := len(b.queue) > 0 && b.queue[0].lc != nil
	b.mu.Unlock()
	wait := groupWait(b.delay, b.syncAvg, step)
	if wait <= 0 {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for b.queued() < b.size {
		select {
		case <-timer.C:
			return
		case <-b.wake:
		case <-b.stop:
			return
		}
	}
}

// minGroupWait is the shortest wait of a group that starts with a step.
const minGroupWait = 50 * time.Microsecond

// groupWait is how long a group waits for writes to join its first one.
//
// A group that starts with a step (a Commit bound for the commit log) waits
// about as long as one of the log's appends takes (syncTime, a moving
// average; between minGroupWait and delay): a write that joins saves the
// group an fdatasync, and waiting longer than one costs more latency than
// the sync it could save. On a fast disk that is far less than delay, which
// made a round trip at 32 clients mostly waiting (same-run A/Bs,
// BENCHMARKS.md: +7.5–11 % events/s at 32 clients, +9–11 % at 256, the
// form route within the noise). Any other group — the outbox's dones of a batch, which arrive
// together from goroutines of their own, and the writes that go to bbolt —
// and any group before the first append waits the whole delay.
func groupWait(delay, syncTime time.Duration, step bool) time.Duration {
	if delay <= 0 || !step || syncTime <= 0 {
		return delay
	}
	return min(delay, max(minGroupWait, syncTime))
}

// noteSync adds one append and fdatasync of the commit log, which took d,
// to syncAvg (an exponential moving average over about eight appends).
func (b *batcher) noteSync(d time.Duration) {
	if b.syncAvg == 0 {
		b.syncAvg = d
		return
	}
	b.syncAvg += (d - b.syncAvg) / 8
}

// run commits the batch in one transaction. A function that fails gets its
// error, and the transaction runs again without it.
func (b *batcher) run(batch []*request) { b.runAfter(batch, nil) }

// runAfter is run with first, when not nil, run at the start of every
// attempt's transaction (the commit log's pending commits); an error of
// first fails the whole batch. It reports whether a transaction with
// first committed.
func (b *batcher) runAfter(batch []*request, first func(*bbolt.Tx) error) (committed bool) {
	for len(batch) > 0 {
		failed, ferr := -1, error(nil)
		err := b.db.Update(func(tx *bbolt.Tx) error {
			if first != nil {
				if err := first(tx); err != nil {
					return err
				}
			}
			for i, r := range batch {
				if err := safely(r.fn, tx); err != nil {
					failed, ferr = i, err
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			batch[failed].done <- ferr
			batch = slices.Delete(batch, failed, failed+1)
			continue
		}
		for _, r := range batch {
			r.done <- err
		}
		return err == nil
	}
	return false
}

func safely(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a store write: %v", p)
		}
	}()
	return fn(tx)
}
