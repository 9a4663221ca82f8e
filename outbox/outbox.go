// Package outbox delivers the portal calls that steps committed with their
// dialogs (the transactional outbox): it claims due calls under a lease,
// sends each portal's calls on their own (batched, within the portal's rate
// limit, each request bounded by a call timeout), and records each call as
// done, retried with backoff or parked. It also keeps the portals' install
// records and one REST client per portal, and turns a step's actions into
// calls (Calls).
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
)

// Sender delivers one outbox call and returns the portal's result. The
// outbox uses a bitrix24.Client per portal; tests may plug their own.
type Sender interface {
	Send(ctx context.Context, call engine.Call) (json.RawMessage, error)
}

// Health is the store's write health, shared with the event path: while
// the store refuses writes, delivery pauses (a call whose delivery cannot
// be recorded would be sent again every round).
type Health interface {
	// Writable returns nil when the store takes writes, or the last write error.
	Writable(ctx context.Context) error
	// WriteFailed records a failed store write.
	WriteFailed(err error)
}

// Locker serialises the changes of one dialog in this process.
type Locker interface {
	Lock(key string) (unlock func())
}

// Options are the outbox's collaborators.
type Options struct {
	Store   engine.Store // also the key-value space of the install records (NSPortals)
	Health  Health       // nil: the store is taken to take writes
	Locks   Locker       // nil: a lock of the outbox's own
	Logger  *slog.Logger
	Now     func() time.Time
	Metrics prometheus.Registerer // nil: metrics are kept but not exported
	// Sender delivers calls; nil uses the portals' REST clients (and logs
	// the calls of portals that have not installed the application).
	Sender Sender
	// Backoff is the delay before the next attempt of a call that failed
	// attempt times before; default bitrix24.Backoff. Tests shorten it.
	Backoff func(attempt int) time.Duration
}

// Outbox delivers portal calls; one per replica.
type Outbox struct {
	cfg     Config
	store   engine.Store
	portals *Portals
	health  Health
	locks   Locker
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	sender  Sender
	backoff func(int) time.Duration
	limiter *bitrix24.Limiter        // this process's own rate limit (single-process stores)
	shared  engine.SharedRateLimiter // the store's rate limit, shared by every replica; nil when it keeps none
	every   time.Duration            // 1/Rate: the interval between calls to one portal
	owner   string
	wakeCh  chan struct{}

	// claimMu makes claims one at a time: the delivery loop's and the
	// poll's (Rides), so that ended is read by the claim it belongs to.
	claimMu  sync.Mutex
	mu       sync.Mutex
	inFlight map[uint64]bool          // calls being sent now: a claim hands them out again
	lanes    map[string]chan struct{} // per portal: one token per concurrent request
	busy     map[string]int           // per portal: calls of its round in flight
	// claiming is true while a claim runs (one at a time: Run's loop, or
	// Flush after it); ended lists the calls whose send ended meanwhile.
	// The claim may have read them before their outcome was written, so
	// it must not hand them out again: they would be sent twice.
	claiming bool
	ended    map[uint64]bool
	// undone holds the calls the portal has done whose done this process
	// could not record (the store refused the write): they are never sent
	// again from here, and recordUndone writes their done when the store
	// takes writes again.
	undone map[uint64]engine.Call
	// offers are the rounds waiting for a slot of the rate limit, which a
	// poll may carry (offerRide).
	offers map[*offer]struct{}
}

const (
	// claimBatch is how many calls one round claims beyond those in
	// flight: enough for a few full batches, so that a backlog goes out in
	// batches of MaxBatch.
	claimBatch = 4 * bitrix24.MaxBatch
	// senders is how many requests (single calls or batches) go to one
	// portal at once.
	senders = 8
	// maxRetryAge is how long a call keeps being retried before it is parked.
	maxRetryAge = 24 * time.Hour
)

// New builds the outbox; Run delivers.
func New(cfg Config, opts Options) (*Outbox, error) {
	cfg.defaults()
	if opts.Store == nil {
		return nil, errors.New("outbox: a store is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	if opts.Backoff == nil {
		opts.Backoff = func(attempt int) time.Duration { return bitrix24.Backoff(attempt, nil) }
	}
	if opts.Locks == nil {
		opts.Locks = &ownLocks{}
	}
	portals, err := newPortals(cfg, opts.Store, opts.Logger, opts.Now)
	if err != nil {
		return nil, err
	}
	o := &Outbox{cfg: cfg, store: opts.Store, portals: portals, health: opts.Health, locks: opts.Locks, log: opts.Logger, now: opts.Now,
		metrics: newMetrics(opts.Metrics), sender: opts.Sender, backoff: opts.Backoff,
		limiter: bitrix24.NewLimiter(bitrix24.LimiterConfig{Burst: cfg.Burst, Rate: cfg.Rate}),
		every:   time.Duration(float64(time.Second) / cfg.Rate), wakeCh: make(chan struct{}, 1),
		inFlight: map[uint64]bool{}, ended: map[uint64]bool{}, undone: map[uint64]engine.Call{}, offers: map[*offer]struct{}{}, lanes: map[string]chan struct{}{}, busy: map[string]int{}}
	o.shared, _ = opts.Store.(engine.SharedRateLimiter) // PostgreSQL: one limit for every replica
	host, _ := os.Hostname()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	o.owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(rnd[:]))
	return o, nil
}

// ownLocks is the Locker of an outbox used without the event path's locks.
type ownLocks struct{ mu sync.Mutex }

func (l *ownLocks) Lock(string) func() { l.mu.Lock(); return l.mu.Unlock }

// Portals returns the install records and REST clients.
func (o *Outbox) Portals() *Portals { return o.portals }

// Owner is the name this replica claims calls under.
func (o *Outbox) Owner() string { return o.owner }

// Mode describes how the outbox reaches portals, for the start-up log.
func (o *Outbox) Mode() string {
	switch {
	case o.sender != nil:
		return "custom sender"
	case o.cfg.V2 != nil:
		return fmt.Sprintf("imbot.v2 bot %d (fetch mode) through incoming webhook %s", o.cfg.V2.ID(), o.portals.webhook.String())
	case o.portals.webhook != nil:
		return "incoming webhook " + o.portals.webhook.String()
	case o.cfg.AppClientID != "":
		return "local application (portals install it)"
	default:
		return "none configured: calls for portals that have not installed the application are logged, not sent"
	}
}

// Wake makes the delivery loop claim at once (a commit queued calls).
func (o *Outbox) Wake() {
	select {
	case o.wakeCh <- struct{}{}:
	default:
	}
}

// slowRound is how long the delivery loop waits for a round before it
// claims again. Rounds normally end well within it, and the loop claims
// after each, as one worker would: a claim while a round is in flight
// would only lease calls of that round's portals, which wait for the round
// anyway, and keep them from the other replicas. A round still running
// then has a slow or hanging portal: the loop goes on without it.
const slowRound = time.Second

// Run delivers until ctx ends: claim due calls (one per dialog at most, so
// order per dialog holds) and hand them to their portal's lane, which sends
// them and records the outcome. A portal gets one round at a time and the
// loop waits at most slowRound for it, so a portal that does not answer
// holds only its own calls, while the other portals' calls keep going. Run
// returns after every send it started ended.
func (o *Outbox) Run(ctx context.Context) {
	var all sync.WaitGroup
	defer all.Wait()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		var round sync.WaitGroup
		n := o.dispatch(ctx, &round, nil)
		ended := make(chan struct{})
		all.Go(func() {
			round.Wait()
			close(ended)
		})
		if n > 0 {
			wait := time.NewTimer(slowRound)
			select {
			case <-ctx.Done():
			case <-ended:
			case <-wait.C:
			}
			wait.Stop()
		}
		o.updateDepth(ctx)
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-o.wakeCh:
		case <-tick.C:
		}
	}
}

// Flush delivers what is due until a round sends nothing or ctx ends
// (shutdown, after Run returned: both claim as the same owner).
func (o *Outbox) Flush(ctx context.Context) {
	for ctx.Err() == nil {
		var wg sync.WaitGroup
		var n countSent
		o.dispatch(ctx, &wg, &n)
		wg.Wait()
		if n.get() == 0 {
			return
		}
	}
}

// countSent counts the calls a round sent (whatever the outcome).
type countSent struct {
	mu sync.Mutex
	n  int
}

func (c *countSent) add(n int) {
	if c != nil {
		c.mu.Lock()
		c.n += n
		c.mu.Unlock()
	}
}

func (c *countSent) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// dispatch claims one round of due calls and starts sending those not in
// flight already, each portal's in its lane; it returns how many it
// started. sent, when not nil, counts the calls sent once they are; calls
// left for a later round (see deliverCall) do not count.
//
// The calls of one portal go out in batches of up to MaxBatch calls, each
// batch one request against the portal's rate limit (one Reserve of one
// slot). Order per dialog holds without further care: Claim hands out only
// the first unfinished, unparked call of each dialog, and that dialog's next
// call cannot be claimed before this one is recorded done or parked, which
// happens only after its batch's answer is read. So a batch never holds two
// calls of one dialog, and no later call of a dialog is ever in flight while
// an earlier one may still fail and be retried. The batch goes with halt=0,
// so one call's failure does not stop the calls of other dialogs; each
// sub-call's outcome is recorded on its own call (record).
func (o *Outbox) dispatch(ctx context.Context, wg *sync.WaitGroup, sent *countSent) int {
	if o.health != nil {
		if err := o.health.Writable(ctx); err != nil {
			return 0 // a delivery that cannot be recorded would be sent again every round
		}
	}
	o.recordUndone(ctx)
	o.claimMu.Lock()
	o.mu.Lock()
	limit := claimBatch + len(o.inFlight) + len(o.undone)
	o.claiming = true
	o.mu.Unlock()
	claimed := time.Now()
	calls, err := o.store.Claim(ctx, o.owner, limit, o.now(), o.cfg.Lease)
	calls = o.take(calls)
	o.claimMu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("outbox claim failed; will retry", "err", err)
		}
		return 0
	}
	started := 0
	for _, group := range o.batches(calls) {
		started += len(group)
		wg.Add(1)
		go func() {
			defer wg.Done()
			carried := false // by a poll, whose ride ends the calls' flight
			defer func() {
				if !carried {
					o.done(group)
				}
			}()
			lane := o.lane(group[0].Portal)
			select {
			case lane <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-lane }()
			if len(group) == 1 {
				var ok bool
				if ok, carried = o.deliverCall(ctx, group[0], claimed, true); ok {
					sent.add(1)
				}
				return
			}
			var n int
			n, carried = o.deliverBatch(ctx, group, claimed)
			sent.add(n)
		}()
	}
	return started
}

// take returns the claimed calls that are neither in flight nor ended
// during the claim, of the portals that have no round in
// flight, at most claimBatch per portal, and marks them in flight: each
// portal gets one round at a time, as if it had a delivery loop of its
// own, while the other portals' rounds go on. The calls left out stay
// claimed for a later round.
func (o *Outbox) take(calls []engine.Call) []engine.Call { return o.takeAtMost(calls, claimBatch) }

// takeAtMost is take with most calls per portal.
func (o *Outbox) takeAtMost(calls []engine.Call, most int) []engine.Call {
	return o.takeInto(calls, most, map[string]int{})
}

// takeInto is takeAtMost into a round that holds round[portal] calls
// already (in flight: a portal in it is taking, not busy).
func (o *Outbox) takeInto(calls []engine.Call, most int, round map[string]int) []engine.Call {
	o.mu.Lock()
	defer o.mu.Unlock()
	defer func() { o.claiming, o.ended = false, map[uint64]bool{} }()
	out := calls[:0:0]
	for _, c := range calls {
		n, taking := round[c.Portal]
		_, undone := o.undone[c.ID]
		if o.inFlight[c.ID] || o.ended[c.ID] || undone || (!taking && o.busy[c.Portal] > 0) || n >= most {
			continue
		}
		round[c.Portal] = n + 1
		o.inFlight[c.ID] = true
		o.busy[c.Portal]++
		out = append(out, c)
	}
	return out
}

// done ends the calls' flight; when that ends a portal's round it wakes
// the loop, for the dialogs' next calls.
func (o *Outbox) done(group []engine.Call) {
	o.mu.Lock()
	roundEnded := false
	for _, c := range group {
		delete(o.inFlight, c.ID)
		if o.claiming {
			o.ended[c.ID] = true
		}
		if o.busy[c.Portal]--; o.busy[c.Portal] <= 0 {
			delete(o.busy, c.Portal)
			roundEnded = true
		}
	}
	o.mu.Unlock()
	if roundEnded {
		o.Wake()
	}
}

// lane returns a portal's request tokens.
func (o *Outbox) lane(portal string) chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.lanes[portal]
	if l == nil {
		l = make(chan struct{}, senders)
		o.lanes[portal] = l
	}
	return l
}

// batches splits calls into what goes out in one request: the calls of one
// portal, in claim order, MaxBatch at a time. A group of one is sent as a
// plain call (deliverCall): it costs the rate limit the same, and its
// errors keep their HTTP status. A custom Sender knows no batches, so with
// one every call is a group of its own.
func (o *Outbox) batches(calls []engine.Call) [][]engine.Call {
	size := o.cfg.MaxBatch
	if o.sender != nil {
		size = 1
	}
	var order []string
	byPortal := map[string][]engine.Call{}
	for _, c := range calls {
		if _, ok := byPortal[c.Portal]; !ok {
			order = append(order, c.Portal)
		}
		byPortal[c.Portal] = append(byPortal[c.Portal], c)
	}
	var out [][]engine.Call
	for _, portal := range order {
		cs := byPortal[portal]
		for len(cs) > 0 {
			n := min(size, len(cs))
			out = append(out, cs[:n:n])
			cs = cs[n:]
		}
	}
	return out
}

func (o *Outbox) updateDepth(ctx context.Context) {
	if pending, parked, err := o.store.Depth(ctx); err == nil {
		o.metrics.depth.WithLabelValues("pending").Set(float64(pending))
		o.metrics.depth.WithLabelValues("parked").Set(float64(parked))
	}
}

// Release ends this replica's outbox leases in a store that keeps them
// across processes, after the final flush: what is left goes out from the
// other replicas at once.
func (o *Outbox) Release() {
	r, ok := o.store.(engine.LeaseReleaser) // PostgreSQL: leases outlive the process
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := r.Release(ctx, o.owner)
	switch {
	case err != nil:
		o.log.Warn("could not release this replica's outbox calls; other replicas send them when their leases end", "err", err)
	case n > 0:
		o.log.Info("released unsent outbox calls to the other replicas", "calls", n)
	}
}

// BotCode is the CODE olbot registers its Open Lines bot under.
const BotCode = "olbot"

// appDialog is the outbox key of a portal's application-level calls
// (bot registration), kept apart from every chat.
func appDialog(member string) string { return engine.KeyPortal + member + ":~app" }

// QueueRegister commits the bot's registration (imbot.register with handler
// as its event URL) to the portal's application outbox. A store failure is
// returned wrapped as ErrStore.
func (o *Outbox) QueueRegister(ctx context.Context, member, handler string) error {
	r := bitrix24.RegisterRequest(bitrix24.RegisterParams{Code: BotCode, Type: "O", OpenLine: true, EventHandler: handler,
		Properties: bitrix24.BotProperties{Name: "olbot", WorkPosition: "Open Lines assistant", Color: "AZURE"}})
	return o.queueApp(ctx, member, "the bot registration", r)
}

// BotCodeV2 is the code of a local application's imbot.v2 bot on a portal
// that already has the v1 bot (code BotCode): codes are unique within the
// application, and the portal returns a bot of the same code unchanged.
const BotCodeV2 = "olbot_v2"

// QueueRegisterV2 commits the registration of the portal's imbot.v2 bot
// with the application's OAuth tokens (no botToken: the bot is bound to
// the application): an Open Lines bot with eventMode events ("webhook":
// ONIMBOTV2* events posted to handler; "fetch": polled with
// imbot.v2.Event.get), under code. A store failure is returned wrapped as
// ErrStore.
func (o *Outbox) QueueRegisterV2(ctx context.Context, member, handler, events, code string) error {
	r, err := bitrix24.V2RegisterRequest(bitrix24.V2RegisterParams{Code: code, Name: "olbot", EventMode: events, WebhookURL: handler}, false)
	if err != nil {
		return err
	}
	return o.queueApp(ctx, member, "the imbot.v2 bot registration", r)
}

// QueueV2ForInstalled queues the imbot.v2 bot's registration (eventMode
// events) for every installed portal that has none yet — olbot serve
// --bot-api v2 asks that of portals installed with v1, whose v1 bot stays
// beside the new one (code BotCodeV2). A webhook-mode bot needs the handler
// URL the install came to; a portal whose record (from an earlier version)
// lacks it is left for its next install or update and named in skipped.
// Registration is idempotent by code, so replicas doing it at once register
// one bot.
func (o *Outbox) QueueV2ForInstalled(ctx context.Context, events string) (queued int, skipped []string, err error) {
	list, err := o.portals.List(ctx)
	if err != nil {
		return 0, nil, storeErr(err)
	}
	for _, in := range list {
		if in.V2BotID != 0 {
			continue
		}
		if events != "fetch" && in.Handler == "" {
			skipped = append(skipped, in.Domain)
			continue
		}
		code := BotCode
		if in.BotID != 0 {
			code = BotCodeV2
		}
		if err := o.QueueRegisterV2(ctx, in.MemberID, in.Handler, events, code); err != nil {
			return queued, skipped, err
		}
		queued++
	}
	return queued, skipped, nil
}

// QueueBind commits event.bind of handler for ONAPPUNINSTALL and
// ONAPPUPDATE to the portal's application outbox: only ONAPPINSTALL comes
// without a binding, and the portal drops bindings on every update.
func (o *Outbox) QueueBind(ctx context.Context, member, handler string) error {
	return o.queueApp(ctx, member, "the event bindings",
		bitrix24.EventBindRequest(bitrix24.EventAppUninstall, handler), bitrix24.EventBindRequest(bitrix24.EventAppUpdate, handler))
}

func (o *Outbox) queueApp(ctx context.Context, member, what string, reqs ...bitrix24.Request) error {
	calls := make([]engine.Call, 0, len(reqs))
	for _, r := range reqs {
		params, err := json.Marshal(r.Params)
		if err != nil {
			return err
		}
		calls = append(calls, engine.Call{Portal: member, Method: r.Method, Params: params, Created: o.now()})
	}
	key := appDialog(member)
	unlock := o.locks.Lock(key)
	defer unlock()
	d, err := o.store.Dialog(ctx, key)
	if errors.Is(err, engine.ErrNotFound) {
		d = engine.Dialog{Key: key}
	} else if err != nil {
		return storeErr(fmt.Errorf("read %s: %w", key, err))
	}
	prev := d.Rev
	d.Rev++
	d.Updated = o.now()
	if err := o.store.Commit(ctx, engine.Commit{Dialog: d, PrevRev: prev, Calls: calls}); err != nil {
		return storeErr(fmt.Errorf("queue %s for %s: %w", what, member, err))
	}
	o.Wake()
	return nil
}

// Drain is the shutdown of delivery, after Run returned: flush what is due
// within ctx, then release the calls still held to the other replicas.
func (o *Outbox) Drain(ctx context.Context) {
	o.Flush(ctx)
	o.recordUndone(ctx) // a last try, so the next process does not send them again
	o.Release()
}
