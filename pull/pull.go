// Package pull polls an imbot.v2 bot's events (fetch mode) and hands
// them, with the offset that confirms them, to a sink that commits each
// event's step together with the offset past it (engine.Commit.Cursor).
// The portal confirms an event only when the next poll sends an offset
// above its id, so an event is confirmed only after the step it caused is
// committed: nothing is lost on a crash, a crash between two steps resumes
// after the last committed one, and an event seen again anyway is the
// sink's to apply once (DialogSink: by the event ids each dialog keeps).
//
// Exactly one replica polls a bot: the poller holds a Lease with a fencing
// number, and the sink refuses an offset written under a fence that no
// longer holds the lease (ErrFenced).
//
// The portal's side is documented in the official docs
// (github.com/bitrix24/b24restdocs) at
// api-reference/chat-bots/chat-bots-v2/imbot.v2/events/event-get.md and
// chat-bots-v2/index.md (polling pauses, backoff on errors and 429).
package pull

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
)

// Source fetches one page of a bot's events after offset (0: the first
// call, no offset), carrying waiting calls in the same request.
// *bitrix24.V2 implements it.
type Source interface {
	Poll(ctx context.Context, offset int64, limit int, waiting []bitrix24.Request) (bitrix24.V2Page, []bitrix24.BatchResult, error)
}

// Sink commits what a page of events caused.
type Sink interface {
	// Offset returns the offset last written for key, 0 when none was.
	Offset(ctx context.Context, key string) (int64, error)
	// Apply commits the steps of events and nextOffset as key's offset so
	// that the page counts once, and writes the offset only while fence
	// still holds key's lease: a fence whose lease lapsed or was taken
	// over gets ErrFenced and no offset is written. Each step's commit
	// carries the offset past its event (engine.Commit.Cursor), so a step
	// and the offset that confirms it are one transaction; nextOffset is
	// written after the page's steps, for the events that made none.
	// events may repeat ones applied before (the portal resends what a
	// crash left unconfirmed): the dialogs' kept event ids apply them once
	// whatever the offset says. events may be empty; the offset is written
	// all the same.
	Apply(ctx context.Context, events []bitrix24.V2Event, nextOffset int64, fence Fence) error
}

// Fence is a held lease: Number grows with every grant of Key, so a
// write carrying an older Number is refused.
type Fence struct {
	Key    string
	Holder string
	Number int64
	Until  time.Time // by the lease's clock
}

// Lease grants one holder at a time the right to poll a key.
type Lease interface {
	// Acquire grants key to holder for ttl when it is free, lapsed, or
	// already holder's; ErrLeaseHeld when another holder's lease is live.
	Acquire(ctx context.Context, key, holder string, ttl time.Duration) (Fence, error)
	// Renew extends a live lease by ttl from now; ErrLeaseLost when it
	// lapsed or another grant replaced it (then Acquire again, which
	// gives a new Number, and re-read the offset).
	Renew(ctx context.Context, f Fence, ttl time.Duration) (Fence, error)
	// Release gives the lease up early (on shutdown), if f still holds it.
	Release(ctx context.Context, f Fence) error
}

// Lease and sink errors.
var (
	ErrLeaseHeld = errors.New("pull: another replica holds the lease")
	ErrLeaseLost = errors.New("pull: the lease lapsed or was taken over")
	// ErrFenced is the stores' engine.ErrFenced, so that a refused commit
	// and a refused offset read the same.
	ErrFenced = engine.ErrFenced
)

// Budget spaces requests to the portal; *bitrix24.Limiter implements it.
type Budget interface {
	Wait(ctx context.Context, portal string) error
}

// Ride is a waiting portal call that travels in a poll's batch. Done gets
// its outcome: its batch result, or the request's error in Err when the
// batch as a whole failed.
type Ride struct {
	Call bitrix24.Request
	Done func(bitrix24.BatchResult)
}

// Carrier hands the poller calls that are waiting (at most max), so that
// polling and sending share one request of the budget.
type Carrier interface {
	Rides(max int) []Ride
}

// Rejection is an event that was recorded and skipped: it does not have
// the documented shape.
type Rejection struct {
	Key    string
	Offset int64 // the offset of the poll that brought it
	Reason *bitrix24.V2Rejection
	Time   time.Time
}

// Config configures a Poller. Zero durations take the defaults in their
// comments.
type Config struct {
	Key    string // the lease and offset key, e.g. b24:<portal>:v2bot:<id>
	Holder string // this replica's id
	Portal string // the Budget key
	Source Source
	Sink   Sink
	Lease  Lease
	Budget Budget  // nil: no spacing beyond the intervals
	Rides  Carrier // nil: polls travel alone

	// Interval and Idle are the pauses from the portal's answer to the
	// next poll: Interval while chats are active or more events wait, 2 s
	// (the docs' minimum); Idle otherwise, 5 s.
	Interval  time.Duration
	Idle      time.Duration
	ActiveFor time.Duration // how long after an event chats count as active; 1 min
	LeaseTTL  time.Duration // 15 s; renewed every third of it
	Limit     int           // events per poll; 100
	// Backoff spaces retries after errors and 429/503: 1 s doubling to 1 min
	// with full jitter, RateLimitPause more after a rate-limit refusal (a
	// Retry-After hint of the portal is waited at least).
	Backoff bitrix24.BackoffPolicy

	Now   func() time.Time                                 // time.Now
	Sleep func(ctx context.Context, d time.Duration) error // a timer
	Rand  func() float64                                   // jitter; math/rand
	Log   *slog.Logger                                     // slog.Default()
	// Rejects keeps every rejected event (the reason with it), e.g.
	// Rejects over the store; nil: kept in Stats only. A failure to keep
	// one is logged; the event is skipped all the same.
	Rejects RejectLog
	// OnReject is called for every rejected event (after it is logged,
	// counted and kept).
	OnReject func(Rejection)
}

// Stats are the poller's counters.
type Stats struct {
	Polls    int64 // successful polls
	Errors   int64 // failed polls and failed Apply calls
	Events   int64 // events handed to the sink (with repeats)
	Rejected int64 // events rejected and skipped
	Ignored  int64 // documented events olbot does not act on
	Fenced   int64 // Apply calls refused for a lost lease
	Holding  bool  // whether this replica holds the lease now
	Offset   int64 // the offset the next poll sends
	// Rejections are the latest rejected events, oldest first (at most
	// maxRejections).
	Rejections []Rejection
}

const maxRejections = 100

// Poller polls one bot. Create it with New and run it with Run.
type Poller struct {
	cfg Config

	mu    sync.Mutex
	stats Stats
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Poller, error) {
	switch {
	case cfg.Key == "" || cfg.Holder == "":
		return nil, errors.New("pull: Key and Holder are required")
	case cfg.Source == nil || cfg.Sink == nil || cfg.Lease == nil:
		return nil, errors.New("pull: Source, Sink and Lease are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Interval, 2*time.Second)
	def(&cfg.Idle, 5*time.Second)
	def(&cfg.ActiveFor, time.Minute)
	def(&cfg.LeaseTTL, 15*time.Second)
	def(&cfg.Backoff.Base, time.Second)
	def(&cfg.Backoff.Cap, time.Minute)
	if cfg.Limit <= 0 || cfg.Limit > bitrix24.MaxEventLimit {
		cfg.Limit = bitrix24.DefaultEventLimit
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Poller{cfg: cfg}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d): // collected when ctx ends first (Go 1.23)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns a copy of the counters.
func (p *Poller) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Rejections = append([]Rejection(nil), s.Rejections...)
	return s
}

func (p *Poller) count(f func(*Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// run is the state of one Run.
type run struct {
	fence      Fence
	holding    bool
	renewAt    time.Time
	offset     int64
	attempt    int
	lastActive time.Time
}

// Run polls until ctx is done (then it releases the lease and returns
// nil) or the portal answers with an error a person must act on (an
// authorization failure such as a deleted webhook, BOT_NOT_FOUND,
// BOT_OWNERSHIP_ERROR, …), which it returns.
func (p *Poller) Run(ctx context.Context) error {
	var r run
	defer func() {
		if r.holding {
			// ctx is done: give the lease back with a short context of its own.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = p.cfg.Lease.Release(rctx, r.fence)
			p.count(func(s *Stats) { s.Holding = false })
		}
	}()
	for ctx.Err() == nil {
		wait, err := p.step(ctx, &r)
		if err != nil {
			return err
		}
		if p.cfg.Sleep(ctx, wait) != nil {
			break
		}
	}
	return nil
}

// step makes one attempt — take or renew the lease, poll, apply — and
// returns how long to wait before the next, or a fatal error.
func (p *Poller) step(ctx context.Context, r *run) (time.Duration, error) {
	if ok, wait := p.hold(ctx, r); !ok {
		return wait, nil
	}
	if p.cfg.Budget != nil {
		if err := p.cfg.Budget.Wait(ctx, p.cfg.Portal); err != nil {
			return 0, nil // ctx is done
		}
	}
	var rides []Ride
	if p.cfg.Rides != nil {
		rides = p.cfg.Rides.Rides(bitrix24.MaxRiders)
	}
	calls := make([]bitrix24.Request, len(rides))
	for i, rd := range rides {
		calls[i] = rd.Call
	}
	page, results, err := p.cfg.Source.Poll(ctx, r.offset, p.cfg.Limit, calls)
	answered := p.cfg.Now()
	settle(rides, results, err)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		if c := bitrix24.Classify(err); !c.Retry() || errors.Is(err, bitrix24.ErrWebhookRefused) {
			return 0, fmt.Errorf("pull %s: polling stopped: %w", p.cfg.Key, err)
		}
		return p.retry(ctx, r, "poll failed", err), nil
	}
	events := p.decode(ctx, page, r.offset)
	err = p.cfg.Sink.Apply(ctx, events, page.NextOffset, r.fence)
	switch {
	case errors.Is(err, ErrFenced):
		p.cfg.Log.WarnContext(ctx, "pull: lease lost before commit; the batch is left to the new holder", "key", p.cfg.Key, "fence", r.fence.Number)
		r.holding = false
		p.count(func(s *Stats) { s.Fenced++; s.Holding = false })
		return 0, nil
	case err != nil:
		if ctx.Err() != nil {
			return 0, nil
		}
		// Nothing was committed: the same offset is polled again and the
		// portal, which confirmed nothing, returns the same events.
		return p.retry(ctx, r, "apply failed", err), nil
	}
	r.attempt = 0
	r.offset = page.NextOffset
	now := p.cfg.Now()
	if len(page.Events) > 0 {
		r.lastActive = now
	}
	p.count(func(s *Stats) { s.Polls++; s.Events += int64(len(events)); s.Offset = r.offset })
	pause := p.cfg.Idle
	if page.HasMore || (!r.lastActive.IsZero() && now.Sub(r.lastActive) < p.cfg.ActiveFor) {
		pause = p.cfg.Interval
	}
	// The docs' pause is between requests: it counts from the portal's
	// answer, so the time the page's steps took to commit is part of it
	// rather than added to every client's wait for the next poll.
	return max(0, pause-now.Sub(answered)), nil
}

// hold takes or renews the lease. It reports false (with how long to wait)
// when this replica does not hold it.
func (p *Poller) hold(ctx context.Context, r *run) (bool, time.Duration) {
	now := p.cfg.Now()
	ttl := p.cfg.LeaseTTL
	if r.holding && now.Before(r.renewAt) {
		return true, 0
	}
	if r.holding {
		f, err := p.cfg.Lease.Renew(ctx, r.fence, ttl)
		if err == nil {
			r.fence, r.renewAt = f, now.Add(ttl/3)
			return true, 0
		}
		if !errors.Is(err, ErrLeaseLost) {
			// The lease may still be live; the sink's fence check guards the
			// writes meanwhile.
			p.cfg.Log.WarnContext(ctx, "pull: lease renewal failed", "key", p.cfg.Key, "error", err)
			return true, 0
		}
		p.cfg.Log.WarnContext(ctx, "pull: lease lost", "key", p.cfg.Key, "fence", r.fence.Number)
		r.holding = false
		p.count(func(s *Stats) { s.Holding = false })
	}
	f, err := p.cfg.Lease.Acquire(ctx, p.cfg.Key, p.cfg.Holder, ttl)
	if errors.Is(err, ErrLeaseHeld) {
		return false, ttl / 3
	}
	if err != nil {
		return false, p.retry(ctx, r, "lease acquire failed", err)
	}
	off, err := p.cfg.Sink.Offset(ctx, p.cfg.Key)
	if err != nil {
		return false, p.retry(ctx, r, "reading the offset failed", err)
	}
	r.fence, r.holding, r.renewAt, r.offset = f, true, now.Add(ttl/3), off
	p.cfg.Log.InfoContext(ctx, "pull: polling", "key", p.cfg.Key, "holder", p.cfg.Holder, "fence", f.Number, "offset", off)
	p.count(func(s *Stats) { s.Holding = true; s.Offset = off })
	return true, 0
}

// RateLimitPause is the least wait after the portal refused a request for
// its rate limit (QUERY_LIMIT_EXCEEDED, HTTP 429/503): the portal lowers
// its request counter once a second (limits.md), so a retry sooner than
// that meets a counter no lower and is refused again.
const RateLimitPause = time.Second

// retry counts an error and returns the backoff before the next attempt:
// exponential with full jitter, as the docs ask for errors and HTTP 429
// (chat-bots-v2/index.md, "Limits"); after a rate-limit refusal at least
// RateLimitPause more, and never less than the portal's Retry-After.
func (p *Poller) retry(ctx context.Context, r *run, what string, err error) time.Duration {
	d := p.cfg.Backoff.Delay(r.attempt, p.cfg.Rand)
	if RateLimited(err) {
		d += RateLimitPause
	}
	var ae *bitrix24.APIError
	if errors.As(err, &ae) && ae.RetryAfter > d {
		d = ae.RetryAfter
	}
	r.attempt++
	p.count(func(s *Stats) { s.Errors++ })
	p.cfg.Log.WarnContext(ctx, "pull: "+what, "key", p.cfg.Key, "error", err, "attempt", r.attempt, "retry_in", d)
	return d
}

// RateLimited reports whether err is the portal refusing a request for
// its rate limit: QUERY_LIMIT_EXCEEDED (limits.md: status 503), or an
// HTTP 429 (the bot platform's page names 429 for the same limit).
func RateLimited(err error) bool {
	var ae *bitrix24.APIError
	if !errors.As(err, &ae) {
		return false
	}
	return strings.EqualFold(ae.Code, "QUERY_LIMIT_EXCEEDED") || ae.Status == http.StatusTooManyRequests
}

// settle tells each ride its outcome.
func settle(rides []Ride, results []bitrix24.BatchResult, err error) {
	for i, rd := range rides {
		if rd.Done == nil {
			continue
		}
		switch {
		case i < len(results):
			rd.Done(results[i])
		case err != nil:
			rd.Done(bitrix24.BatchResult{Err: err})
		default:
			rd.Done(bitrix24.BatchResult{Err: fmt.Errorf("%w: no result for the call", bitrix24.ErrBadResponse)})
		}
	}
}

// decode turns a page into the events olbot acts on; rejected events are
// recorded, documented ones olbot ignores are counted, and both skipped.
func (p *Poller) decode(ctx context.Context, page bitrix24.V2Page, offset int64) []bitrix24.V2Event {
	events := make([]bitrix24.V2Event, 0, len(page.Events))
	for _, raw := range page.Events {
		ev, err := bitrix24.DecodeV2Event(raw)
		var rej *bitrix24.V2Rejection
		switch {
		case errors.As(err, &rej):
			p.reject(ctx, Rejection{Key: p.cfg.Key, Offset: offset, Reason: rej, Time: p.cfg.Now()})
		case err != nil: // DecodeV2Event gives only rejections; kept safe anyway
			p.reject(ctx, Rejection{Key: p.cfg.Key, Offset: offset, Reason: &bitrix24.V2Rejection{Msg: err.Error()}, Time: p.cfg.Now()})
		case !ev.Handled():
			p.count(func(s *Stats) { s.Ignored++ })
		default:
			events = append(events, ev)
		}
	}
	return events
}

func (p *Poller) reject(ctx context.Context, r Rejection) {
	p.cfg.Log.WarnContext(ctx, "pull: event rejected and skipped", "key", r.Key, "offset", r.Offset, "reason", r.Reason.Error())
	p.count(func(s *Stats) {
		s.Rejected++
		s.Rejections = append(s.Rejections, r)
		if len(s.Rejections) > maxRejections {
			s.Rejections = s.Rejections[len(s.Rejections)-maxRejections:]
		}
	})
	if p.cfg.Rejects != nil {
		if err := p.cfg.Rejects.Record(ctx, r); err != nil {
			p.cfg.Log.WarnContext(ctx, "pull: the rejected event could not be kept; skipped all the same", "key", r.Key, "offset", r.Offset, "error", err)
		}
	}
	if p.cfg.OnReject != nil {
		p.cfg.OnReject(r)
	}
}
