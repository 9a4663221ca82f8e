package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// A batcher runs concurrent operations of one kind (dialog reads, commits)
// together: one statement, one round trip and, for commits, one
// transaction and one WAL flush for a whole batch.
//
// Measured on 2 vCPUs (BENCHMARKS.md), an event's cost with one statement
// per read and per commit was mostly per round trip — context switches and
// socket calls in olbot and in the PostgreSQL backend — not the fsync,
// which PostgreSQL already shares among concurrent commits.
//
// Batches form without waiting: a few workers each take the first waiting
// operation, then every operation waiting at that moment, up to max. An
// operation that finds a worker idle runs at once, as before, and under
// load the batches grow by themselves while the workers are busy.
type batcher[In, Out any] struct {
	queue chan *op[In, Out] // unbuffered: a send succeeds only into a worker
	quit  chan struct{}
	wg    sync.WaitGroup
	max   int
	multi atomic.Int64 // batches of more than one op run, for tests
	// key, when set, keeps operations with equal keys out of one batch.
	key func(In) string
	// run executes a batch: it sets out or err of every op. ctx is
	// cancelled when every op's caller has given up.
	run func(ctx context.Context, ops []*op[In, Out])
}

// op is one operation in a batch.
type op[In, Out any] struct {
	ctx  context.Context
	in   In
	out  Out
	err  error
	done chan struct{}
}

func newBatcher[In, Out any](workers, max int, key func(In) string, run func(context.Context, []*op[In, Out])) *batcher[In, Out] {
	b := &batcher[In, Out]{queue: make(chan *op[In, Out]), quit: make(chan struct{}), max: max, key: key, run: run}
	b.wg.Add(workers)
	for range workers {
		go b.work()
	}
	return b
}

// do runs one operation in the next batch and waits for its result or for
// ctx. A caller that gives up while its batch runs gets ctx's error; what
// the batch did for it stays done (as when a single statement is
// cancelled after it reached the server).
func (b *batcher[In, Out]) do(ctx context.Context, in In) (Out, error) {
	var zero Out
	o := &op[In, Out]{ctx: ctx, in: in, done: make(chan struct{})}
	select {
	case b.queue <- o:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-b.quit:
		return zero, ErrClosed
	}
	select {
	case <-o.done:
		if o.err != nil && errors.Is(o.err, context.Canceled) && ctx.Err() != nil {
			// the batch's context ended because every caller gave up:
			// this caller gets its own context's error
			return zero, ctx.Err()
		}
		return o.out, o.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// close stops the workers after the batches in flight; later operations
// return ErrClosed.
func (b *batcher[In, Out]) close() {
	select {
	case <-b.quit:
	default:
		close(b.quit)
	}
	b.wg.Wait()
}

func (b *batcher[In, Out]) work() {
	defer b.wg.Done()
	var (
		batch []*op[In, Out]
		keys  = map[string]struct{}{}
		carry *op[In, Out] // took it, but its key was in the batch already
	)
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-b.queue:
			case <-b.quit:
				return
			}
		}
		batch = append(batch[:0], first)
		clear(keys)
		if b.key != nil {
			keys[b.key(first.in)] = struct{}{}
		}
	fill:
		for len(batch) < b.max {
			select {
			case o := <-b.queue:
				if b.key != nil {
					k := b.key(o.in)
					if _, dup := keys[k]; dup {
						carry = o
						break fill
					}
					keys[k] = struct{}{}
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		b.exec(batch)
		clear(batch) // let the ops go
	}
}

// exec runs a batch with a context that ends when every caller gave up, so
// that a statement stuck on a dead connection ends too.
func (b *batcher[In, Out]) exec(batch []*op[In, Out]) {
	live := batch[:0]
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			close(o.done)
			continue
		}
		live = append(live, o)
	}
	switch len(live) {
	case 0:
		return
	case 1: // alone: on the caller's context, as without batching
		b.run(live[0].ctx, live)
		close(live[0].done)
		return
	}
	b.multi.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	left := atomic.Int32{}
	left.Store(int32(len(live)))
	stops := make([]func() bool, 0, len(live))
	for _, o := range live {
		stops = append(stops, context.AfterFunc(o.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	b.run(ctx, live)
	for _, stop := range stops {
		stop()
	}
	for _, o := range live {
		close(o.done)
	}
}
