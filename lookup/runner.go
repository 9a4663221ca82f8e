package lookup

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
)

// Applier applies an event to a dialog (dialogs.Processor).
type Applier interface {
	Apply(ctx context.Context, in dialogs.Input) (dialogs.Outcome, error)
}

// Runner makes the calls dialogs wait on, in lanes: one per endpoint, each
// with the endpoint's concurrency of workers and a queue of dialog keys
// in memory. A waiting dialog is a key in a queue, never a goroutine; the
// call itself is in its record (engine.PendingCall), so a call queued or
// in flight when the process dies is taken up again from the store.
type Runner struct {
	client *Client
	apply  Applier
	owner  string
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	ctx     context.Context // set by Run; nil before
	lanes   map[string]*lane
	queued  map[string]int64               // dialog key -> the call's Seq, while queued or running
	waiters map[job][]chan dialogs.Outcome // by dialog and call
	// answered keeps the last answers of API and playground dialogs for
	// Wait, which may come after the answer (a fast endpoint).
	answered map[job]dialogs.Outcome
	order    []job
	wg       sync.WaitGroup
}

type lane struct {
	name    string
	queue   []job
	workers int
	wake    chan struct{}
}

type job struct {
	key string
	seq int64
}

// Options are a runner's collaborators.
type Options struct {
	Client *Client // nil: no endpoint is configured (every call takes on_error)
	Apply  Applier
	// Owner names this process in the calls' leases. A process that alone
	// uses its store (bolt, memory) passes a fixed name, so that after a
	// restart it takes its own calls up at once (Recover); replicas on
	// PostgreSQL pass names of their own.
	Owner  string
	Logger *slog.Logger
	Now    func() time.Time
}

// NewRunner builds a runner; Run starts its lanes.
func NewRunner(o Options) *Runner {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Runner{client: o.Client, apply: o.Apply, owner: o.Owner, log: o.Logger, now: o.Now,
		lanes: map[string]*lane{}, queued: map[string]int64{}, waiters: map[job][]chan dialogs.Outcome{}, answered: map[job]dialogs.Outcome{}}
}

// Run serves the lanes until ctx ends, then waits for the calls in
// flight to end (their context ends with ctx; a call cut off is taken up
// again by the next process).
func (r *Runner) Run(ctx context.Context) {
	r.mu.Lock()
	r.ctx = ctx
	for _, l := range r.lanes {
		r.startLocked(l)
	}
	r.mu.Unlock()
	<-ctx.Done()
	r.wg.Wait()
}

// Enqueue queues the call a committed step made the dialog wait on. It
// never blocks: the processor calls it under the dialog's lock.
func (r *Runner) Enqueue(key string, c engine.PendingCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queued[key] == c.Seq {
		return
	}
	r.queued[key] = c.Seq
	l := r.lanes[c.Endpoint]
	if l == nil {
		n := r.client.Concurrency(c.Endpoint)
		if r.client == nil {
			n = 1
		}
		l = &lane{name: c.Endpoint, workers: n, wake: make(chan struct{}, n)}
		r.lanes[c.Endpoint] = l
		if r.ctx != nil {
			r.startLocked(l)
		}
	}
	l.queue = append(l.queue, job{key, c.Seq})
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Overdue is the idle sweeper's report of a call whose lease ran out: one
// queued here gets a longer lease (its lane is busy), any other is queued.
func (r *Runner) Overdue(ctx context.Context, key string, c engine.PendingCall) {
	r.mu.Lock()
	seq, queued := r.queued[key]
	var wait int
	if l := r.lanes[c.Endpoint]; l != nil {
		wait = len(l.queue)/max(l.workers, 1) + 2
	}
	r.mu.Unlock()
	if !queued || seq != c.Seq {
		r.Enqueue(key, c)
		return
	}
	lease := time.Duration(wait) * (c.Timeout + engine.CallGrace)
	r.start(ctx, key, c.Seq, lease, false)
}

// Recover queues every call waiting in the store: what a process that
// alone uses its store does on start, for the calls its predecessor left.
func (r *Runner) Recover(ctx context.Context, scan func(context.Context, func(engine.Dialog) error) error) (int, error) {
	var found []engine.Dialog
	err := scan(ctx, func(d engine.Dialog) error {
		if d.Call != nil && d.Status == engine.Active {
			found = append(found, engine.Dialog{Key: d.Key, Call: d.Call})
		}
		return nil
	})
	for _, d := range found {
		r.Enqueue(d.Key, *d.Call)
	}
	return len(found), err
}

// Wait waits until this process has applied the answer of the dialog's
// call seq, and returns that step (the playground and the API show the
// answer's messages with the request that led to the call). ok is false
// when ctx ended first or the call is not queued here.
func (r *Runner) Wait(ctx context.Context, key string, seq int64) (dialogs.Outcome, bool) {
	r.mu.Lock()
	if out, ok := r.answered[job{key, seq}]; ok {
		delete(r.answered, job{key, seq})
		r.mu.Unlock()
		return out, true
	}
	if r.queued[key] != seq {
		r.mu.Unlock()
		return dialogs.Outcome{}, false
	}
	ch := make(chan dialogs.Outcome, 1)
	r.waiters[job{key, seq}] = append(r.waiters[job{key, seq}], ch)
	r.mu.Unlock()
	select {
	case out := <-ch:
		return out, true
	case <-ctx.Done():
		return dialogs.Outcome{}, false
	}
}

func (r *Runner) startLocked(l *lane) {
	for i := 0; i < l.workers; i++ {
		r.wg.Add(1)
		go r.work(r.ctx, l)
	}
}

func (r *Runner) work(ctx context.Context, l *lane) {
	defer r.wg.Done()
	for {
		r.mu.Lock()
		if len(l.queue) == 0 {
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
				continue
			}
		}
		j := l.queue[0]
		l.queue = l.queue[1:]
		if len(l.queue) == 0 {
			l.queue = nil // let the backing array go after a burst
		}
		more := len(l.queue) > 0
		r.mu.Unlock()
		if more {
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
		r.run(ctx, j)
	}
}

// run makes one call: take the lease, call, feed the answer back.
func (r *Runner) run(ctx context.Context, j job) {
	var out dialogs.Outcome
	defer func() { r.finish(j, out) }()
	d, ok := r.start(ctx, j.key, j.seq, 0, true)
	if !ok {
		return
	}
	c := *d.Call
	var a engine.Answer
	switch {
	case c.Attempts > 1 && c.Method == "POST" && !r.client.RetryPost(c.Endpoint):
		a = engine.Answer{Call: c.Seq, Error: "a POST cut off by a restart is not sent again (the endpoint has no retry_post: true)"}
	case !r.client.Has(c.Endpoint):
		a = engine.Answer{Call: c.Seq, Error: "endpoint " + c.Endpoint + " is not configured: " + c.Method + " " + Describe(c) + " was not called"}
	default:
		a = r.client.Do(ctx, c)
	}
	if ctx.Err() != nil {
		return // shutting down: the call is taken up again by the next process
	}
	if a.Error != "" || a.Status < 200 || a.Status > 299 {
		r.log.Warn("call failed; the dialog takes on_error", "dialog", j.key, "endpoint", c.Endpoint, "method", c.Method, "path", c.Path,
			"status", a.Status, "reason", a.Error, "attempt", c.Attempts)
	}
	out, ok = r.feed(ctx, j.key, engine.Event{Type: engine.CallAnswer, Answer: &a, ID: engine.CallEventID(engine.CallAnswer, c.Seq, c.Attempts)})
	if ok && out.Reason != "" && out.Dialog.Call == nil {
		r.log.Info("call answered", "dialog", j.key, "endpoint", c.Endpoint, "path", c.Path, "status", a.Status, "note", out.Reason)
	}
}

// start takes the call's lease (and with send counts an attempt); ok is
// false when the dialog no longer waits on this call or another process
// holds it.
func (r *Runner) start(ctx context.Context, key string, seq int64, lease time.Duration, send bool) (engine.Dialog, bool) {
	ev := engine.Event{Type: engine.CallStart, Answer: &engine.Answer{Call: seq, Owner: r.owner, Lease: lease, Send: send}}
	out, ok := r.feed(ctx, key, ev)
	if !ok || out.Outcome != engine.Applied || out.Dialog.Call == nil || out.Dialog.Call.Seq != seq {
		return engine.Dialog{}, false
	}
	return out.Dialog, true
}

// feed applies an event, retrying a store that is down for a while; a
// call whose answer cannot be stored is taken up again when its lease
// runs out.
func (r *Runner) feed(ctx context.Context, key string, ev engine.Event) (dialogs.Outcome, bool) {
	for attempt := 0; ; attempt++ {
		ev.Time = r.now()
		out, err := r.apply.Apply(ctx, dialogs.Input{Key: key, Event: ev})
		if err == nil {
			return out, true
		}
		var ie *dialogs.InvalidError
		if errors.As(err, &ie) || attempt == 4 || ctx.Err() != nil {
			r.log.Warn("call: the dialog cannot take the event; its call is taken up again later", "dialog", key, "event", ev.Type, "err", err)
			return out, false
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
}

// finish ends a job: the dialog may be queued again (a new call), and
// whoever waits on this call hears its answer.
func (r *Runner) finish(j job, out dialogs.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queued[j.key] == j.seq {
		delete(r.queued, j.key)
	}
	ws := r.waiters[j]
	delete(r.waiters, j)
	if len(ws) == 0 && out.Result.Outcome != "" && (strings.HasPrefix(j.key, engine.KeyAPI) || strings.HasPrefix(j.key, engine.KeyPlayground)) {
		if len(r.order) >= maxAnswered {
			delete(r.answered, r.order[0])
			r.order = r.order[1:]
		}
		r.answered[j] = out
		r.order = append(r.order, j)
	}
	for _, ch := range ws {
		ch <- out
	}
}

// maxAnswered bounds the answers kept for a Wait that may follow them.
const maxAnswered = 1024

// Queued is how many calls wait in this process's lanes or are in flight.
func (r *Runner) Queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queued)
}
