package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
)

// Bitrix24Config says how olbot talks to portals.
type Bitrix24Config struct {
	// Incoming-webhook mode: every call goes through Webhook with ClientID.
	Webhook  string
	ClientID string
	// AppToken is the application token events must carry when no install
	// record is known for the portal (webhook mode); HandlerSecret is the k
	// parameter of the handler URL that `olbot register` prints. An event
	// passes if either matches.
	AppToken      string
	HandlerSecret string
	// Local-application mode: tokens come with ONAPPINSTALL and events and
	// are refreshed through OAuthURL with the application's credentials.
	AppClientID     string
	AppClientSecret string
	OAuthURL        string
	Portals         []string // domains allowed to install; empty allows any
	AllowReinstall  bool     // accept a re-install with a different application token
	PublicURL       string   // olbot's public base URL for imbot.register on install; default from the request

	// Rate and Burst are the per-portal rate limit in requests: a single
	// call or a batch of up to 50 calls each take one. Default 2/s, 50.
	Rate  float64
	Burst int

	HTTPClient *http.Client // for tests; default bitrix24's
}

// Sender delivers one outbox call and returns the portal's result. The
// server uses a bitrix24.Client per portal; tests may plug their own.
type Sender interface {
	Send(ctx context.Context, call engine.Call) (json.RawMessage, error)
}

const nsPortal = "portal"

// install is what ONAPPINSTALL leaves behind for one portal (keyed by member_id).
type install struct {
	MemberID         string    `json:"member_id"`
	Domain           string    `json:"domain"`
	ClientEndpoint   string    `json:"client_endpoint"`
	ApplicationToken string    `json:"application_token"`
	AccessToken      string    `json:"access_token,omitempty"`
	RefreshToken     string    `json:"refresh_token,omitempty"`
	Expiry           time.Time `json:"expiry,omitzero"`
	BotID            int       `json:"bot_id,omitempty"`
	InstalledAt      time.Time `json:"installed_at"`
}

// portalSide is everything about Bitrix24: verifying events, turning
// actions into outbox calls, and delivering them.
type portalSide struct {
	s       *Server
	cfg     Bitrix24Config
	kv      engine.KV
	sender  Sender // explicit sender (tests); nil = bitrix24 clients
	webhook *bitrix24.Client
	limiter *bitrix24.Limiter        // this process's own rate limit (single-process stores)
	shared  engine.SharedRateLimiter // the store's rate limit, shared by every replica; nil when it keeps none
	every   time.Duration            // 1/Rate: the interval between calls to one portal
	owner   string
	wakeCh  chan struct{}
	// backoff is the delay before the next attempt of a call that failed
	// attempt times before: bitrix24.Backoff. Tests of this package shorten
	// it (set it between New and Open) so that recovery takes milliseconds.
	backoff func(attempt int) time.Duration
	// maxBatch is the most calls sent in one batch request:
	// bitrix24.MaxBatch; 1 sends every call by itself. Tests set it (between
	// New and Open) to compare the two.
	maxBatch int

	mu      sync.Mutex
	clients map[string]*bitrix24.Client      // OAuth client per member_id
	tokens  map[string]*bitrix24.OAuthTokens // each cached client's token source

	// tokMu serialises the read-modify-write of install records (a refresh
	// saving rotated tokens, an event's fresher token, the bot id): a lost
	// update could bring back a refresh token the portal already rotated out.
	tokMu sync.Mutex
}

func newPortalSide(s *Server, cfg Bitrix24Config, sender Sender) (*portalSide, error) {
	if cfg.Rate <= 0 {
		cfg.Rate = 2
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 50
	}
	p := &portalSide{s: s, cfg: cfg, sender: sender, clients: map[string]*bitrix24.Client{}, tokens: map[string]*bitrix24.OAuthTokens{}, wakeCh: make(chan struct{}, 1),
		backoff: func(attempt int) time.Duration { return bitrix24.Backoff(attempt, nil) }, maxBatch: bitrix24.MaxBatch}
	p.kv = s.store
	p.limiter = bitrix24.NewLimiter(bitrix24.LimiterConfig{Burst: cfg.Burst, Rate: cfg.Rate})
	p.shared, _ = s.store.(engine.SharedRateLimiter)
	p.every = time.Duration(float64(time.Second) / cfg.Rate)
	if cfg.Webhook != "" {
		if cfg.ClientID == "" {
			return nil, errors.New("bitrix24: a webhook needs the CLIENT_ID chosen at registration (--client-id); run olbot register to get one")
		}
		c, err := bitrix24.NewWebhook(cfg.Webhook, cfg.ClientID, p.clientOpts()...)
		if err != nil {
			return nil, fmt.Errorf("bitrix24 webhook: %w", err)
		}
		p.webhook = c
	}
	host, _ := os.Hostname()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	p.owner = fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(rnd[:]))
	return p, nil
}

func (p *portalSide) clientOpts() []bitrix24.Option {
	opts := []bitrix24.Option{bitrix24.WithLogger(p.s.log)}
	if p.cfg.HTTPClient != nil {
		opts = append(opts, bitrix24.WithHTTPClient(p.cfg.HTTPClient))
	}
	return opts
}

// PortalMode describes how the server reaches portals, for the start-up log.
func (s *Server) PortalMode() string {
	switch {
	case s.portal.sender != nil:
		return "custom sender"
	case s.portal.webhook != nil:
		return "incoming webhook " + s.portal.webhook.String()
	case s.portal.cfg.AppClientID != "":
		return "local application (portals install it)"
	default:
		return "none configured: calls for portals that have not installed the application are logged, not sent"
	}
}

func (p *portalSide) wake() {
	select {
	case p.wakeCh <- struct{}{}:
	default:
	}
}

// calls turns a step's actions into outbox calls for a portal chat.
func (p *portalSide) calls(d engine.Dialog, actions []engine.Action, now time.Time) ([]engine.Call, error) {
	chatID, _ := strconv.Atoi(d.Meta["chat"])
	botID, _ := strconv.Atoi(d.Meta["bot"])
	dialogID := d.Meta["dialog"]
	member := d.Meta["member"]
	if chatID <= 0 || dialogID == "" {
		return nil, fmt.Errorf("dialog %s has no chat id: cannot address the portal", d.Key)
	}
	var out []engine.Call
	for _, a := range actions {
		var r bitrix24.Request
		switch a := a.(type) {
		case engine.Greet:
			if a.Welcome {
				r = bitrix24.SessionMessageSendRequest(chatID, bitrix24.GreetWelcome, "")
			} else {
				r = bitrix24.SessionMessageSendRequest(chatID, bitrix24.GreetDefault, a.Text)
			}
		case engine.Say:
			r = bitrix24.MessageAddRequest(dialogID, botID, a.Text, a.Buttons, a.Numbered)
		case engine.CRM:
			if a.LeadID != 0 {
				r = bitrix24.LeadUpdateRequest(a.LeadID, a.Fields)
			} else {
				r = bitrix24.LeadAddRequest(a.Fields)
			}
		case engine.Operator:
			r = bitrix24.SessionOperatorRequest(chatID)
		case engine.Transfer:
			r = bitrix24.SessionTransferRequest(chatID, a.User, a.Line, a.Leave)
		case engine.Finish:
			r = bitrix24.SessionFinishRequest(chatID)
		default:
			return nil, fmt.Errorf("no portal call for action %T", a)
		}
		params, err := json.Marshal(r.Params)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", r.Method, err)
		}
		out = append(out, engine.Call{Portal: member, Method: r.Method, Params: params, Created: now})
	}
	return out, nil
}

// maxRetryAge is how long a call keeps being retried before it is parked.
const maxRetryAge = 24 * time.Hour

const (
	// claimBatch is how many calls one round claims: enough for a few full
	// batches, so that a backlog goes out in batches of MaxBatch.
	claimBatch = 4 * bitrix24.MaxBatch
	senders    = 8 // concurrent deliveries (single calls or batches)
)

// deliver runs the outbox worker until ctx ends: claim due calls (one per
// dialog at most, so order per dialog holds), send them, record the outcome.
func (p *portalSide) deliver(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		n := p.deliverOnce(ctx)
		p.updateDepth(ctx)
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-p.wakeCh:
		case <-tick.C:
		}
	}
}

// deliverOnce claims and sends one round of due calls and returns how many
// it sent (whatever the outcome); claimed calls it left for a later round
// (see deliverCall) do not count, so that the worker then waits a tick
// instead of claiming them again at once.
//
// The calls of one portal go out in batches of up to maxBatch calls, each
// batch one request against the portal's rate limit (one Reserve of one
// slot). Order per dialog holds without further care: Claim hands out only
// the first unfinished, unparked call of each dialog, and that dialog's next
// call cannot be claimed before this one is recorded done or parked, which
// happens only after its batch's answer is read. So a batch never holds two
// calls of one dialog, and no later call of a dialog is ever in flight while
// an earlier one may still fail and be retried. The batch goes with halt=0,
// so one call's failure does not stop the calls of other dialogs; each
// sub-call's outcome is recorded on its own call (record).
func (p *portalSide) deliverOnce(ctx context.Context) int {
	if err := p.s.storeWritable(ctx); err != nil {
		return 0 // a delivery that cannot be recorded would be sent again every round
	}
	claimed := time.Now()
	calls, err := p.s.store.Claim(ctx, p.owner, claimBatch, p.s.now(), p.s.cfg.OutboxLease)
	if err != nil {
		if ctx.Err() == nil {
			p.s.log.Warn("outbox claim failed; will retry", "err", err)
		}
		return 0
	}
	sem := make(chan struct{}, senders)
	var wg sync.WaitGroup
	var sent atomic.Int64
	for _, group := range p.batches(calls) {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if len(group) == 1 {
				if p.deliverCall(ctx, group[0], claimed) {
					sent.Add(1)
				}
				return
			}
			sent.Add(int64(p.deliverBatch(ctx, group, claimed)))
		}()
	}
	wg.Wait()
	return int(sent.Load())
}

// batches splits claimed calls into what goes out in one request: the calls
// of one portal, in claim order, maxBatch at a time. A group of one is sent
// as a plain call (deliverCall): it costs the rate limit the same, and its
// errors keep their HTTP status. A custom Sender knows no batches, so with
// one every call is a group of its own.
func (p *portalSide) batches(calls []engine.Call) [][]engine.Call {
	size := p.maxBatch
	if p.sender != nil || size < 1 {
		size = 1
	}
	size = min(size, bitrix24.MaxBatch)
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

func (p *portalSide) updateDepth(ctx context.Context) {
	if pending, parked, err := p.s.store.Depth(ctx); err == nil {
		p.s.metrics.outbox.WithLabelValues("pending").Set(float64(pending))
		p.s.metrics.outbox.WithLabelValues("parked").Set(float64(parked))
	}
}

// flush delivers what is due until nothing is left or ctx ends (shutdown).
func (p *portalSide) flush(ctx context.Context) {
	for ctx.Err() == nil {
		if p.deliverOnce(ctx) == 0 {
			return
		}
	}
}

// leaseWindow says, for calls claimed at claimed, by when a send must start
// and when it is cut off. A claimed call is this replica's only while its
// lease lasts: after that another replica may claim it, send it and go on
// with the dialog's next call. So the wait for a rate-limit slot must end
// within the first half of the lease (else the call is left for the next
// round, which renews the lease), and the send is cut off before the lease
// ends (it is then retried).
func (p *portalSide) leaseWindow(claimed time.Time) (startBy, cutAt time.Time) {
	lease := p.s.cfg.OutboxLease
	return claimed.Add(lease / 2), claimed.Add(lease - lease/10)
}

// deliverCall sends one call claimed at claimed and records done, retry or
// park. It reports false when it left the call unsent for a later round
// (see leaseWindow).
func (p *portalSide) deliverCall(ctx context.Context, c engine.Call, claimed time.Time) bool {
	startBy, cutAt := p.leaseWindow(claimed)
	wctx, cancel := context.WithDeadline(ctx, startBy)
	err := p.waitSlot(wctx, c.Portal)
	cancel()
	if err != nil {
		return false // shutting down, or no slot early enough in the lease: the call is claimed again
	}
	sctx, cancel := context.WithDeadline(ctx, cutAt)
	defer cancel()
	if c.Method == bitrix24.MethodLeadAdd {
		c = p.leadUpdateIfKnown(sctx, c)
	}
	res, err := p.send(sctx, c)
	p.record(ctx, c, res, err)
	return true
}

// deliverBatch sends calls of one portal, claimed at claimed, in one batch
// request and records each call's own outcome. It returns how many calls
// it sent, 0 when it left them all for a later round (see leaseWindow).
//
// When the batch request as a whole fails, no sub-call is known to have
// run: a transient error (network, 5xx, QUERY_LIMIT_EXCEEDED, expired_token
// that a refresh did not cure) retries every call with backoff and an
// authorization error parks every call, as each would on its own. A 400/405
// answer to the batch itself (a batch error, not any one call's) sends the
// calls one by one instead, so that one bad call cannot hold up the others.
func (p *portalSide) deliverBatch(ctx context.Context, calls []engine.Call, claimed time.Time) int {
	portal := calls[0].Portal
	startBy, cutAt := p.leaseWindow(claimed)
	wctx, cancel := context.WithDeadline(ctx, startBy)
	err := p.waitSlot(wctx, portal) // one slot: the portal counts a batch as one request
	cancel()
	if err != nil {
		return 0
	}
	sctx, cancel := context.WithDeadline(ctx, cutAt)
	defer cancel()
	client, err := p.client(sctx, portal)
	if err == nil && client == nil {
		err = errLogged
	}
	if err != nil {
		for _, c := range calls {
			if errors.Is(err, errLogged) {
				p.s.log.Info("portal call (not sent: no portal configured)", "dialog", c.Dialog, "method", c.Method, "params", string(redactParams(c.Params)))
			}
			p.record(ctx, c, nil, err)
		}
		return len(calls)
	}
	reqs := make([]bitrix24.BatchCall, len(calls))
	for i, c := range calls {
		if c.Method == bitrix24.MethodLeadAdd {
			calls[i] = p.leadUpdateIfKnown(sctx, c)
		}
		reqs[i] = bitrix24.BatchCall{Method: calls[i].Method, Params: json.RawMessage(calls[i].Params)}
	}
	p.s.metrics.portalReqs.WithLabelValues("batch").Inc()
	results, err := client.Batch(sctx, reqs)
	if err != nil && bitrix24.Classify(err) == bitrix24.ClassPermanent {
		p.countError(err)
		p.s.log.Warn("portal refused a batch as a whole; sending its calls one by one", "portal", portal, "calls", len(calls), "err", err)
		sent := 0
		for _, c := range calls {
			if p.deliverCall(ctx, c, claimed) {
				sent++
			}
		}
		return sent
	}
	// The outcomes are recorded at once rather than one after another: the
	// calls belong to different dialogs, and concurrent writes share the
	// store's group commit (one fsync, or one PostgreSQL statement) where a
	// loop would wait for one per call.
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			if err != nil {
				p.record(ctx, c, nil, err)
			} else {
				p.record(ctx, c, results[i].Result, results[i].Err)
			}
		})
	}
	wg.Wait()
	return len(calls)
}

// record stores the outcome of one sent call (single or a batch's
// sub-call): done (also for errors that mean the goal already holds, such
// as WRONG_CHAT on session.operator), a retry with backoff for transient
// errors younger than maxRetryAge, or parked.
func (p *portalSide) record(ctx context.Context, c engine.Call, res json.RawMessage, err error) {
	log := p.s.log.With("dialog", c.Dialog, "call", c.ID, "method", c.Method)
	class := bitrix24.Classify(err)
	if errors.Is(err, errLogged) {
		class = bitrix24.ClassOK
		p.s.metrics.portalCalls.WithLabelValues(c.Method, "logged").Inc()
	}
	now := p.s.now()
	switch {
	case class == bitrix24.ClassOK || class == bitrix24.ClassDone:
		if err := p.s.store.Done(ctx, c.ID); err != nil && !errors.Is(err, engine.ErrNotFound) {
			log.Warn("outbox: could not mark a delivered call done; it may be sent again", "err", err)
			p.s.writeFailed(err)
		}
		if !errors.Is(err, errLogged) {
			p.s.metrics.portalCalls.WithLabelValues(c.Method, "ok").Inc()
			p.s.metrics.deliveryLag.Observe(now.Sub(c.Created).Seconds())
		}
		if c.Method == bitrix24.MethodLeadAdd && err == nil {
			p.saveLead(ctx, c.Dialog, res)
		}
		if c.Method == bitrix24.MethodRegister && err == nil {
			p.saveBot(ctx, c.Portal, res)
		}
	case class.Retry() && now.Sub(c.Created) < maxRetryAge:
		p.countError(err)
		delay := p.backoff(c.Attempts)
		var ae *bitrix24.APIError
		if errors.As(err, &ae) && ae.RetryAfter > delay {
			delay = ae.RetryAfter
		}
		p.s.metrics.retries.Inc()
		p.s.metrics.portalCalls.WithLabelValues(c.Method, "retry").Inc()
		log.Warn("portal call failed; retrying", "attempt", c.Attempts+1, "in", delay.Round(time.Millisecond), "err", err)
		if err := p.s.store.Retry(ctx, c.ID, now.Add(delay), err.Error()); err != nil {
			log.Warn("outbox: could not schedule a retry", "err", err)
			p.s.writeFailed(err)
		}
	default:
		p.countError(err)
		reason := err.Error()
		if class.Retry() {
			reason = "gave up after 24h of retries: " + reason
		}
		p.s.metrics.portalCalls.WithLabelValues(c.Method, "parked").Inc()
		log.Error("portal call parked (dead letter): it will not be retried", "class", class.String(), "err", err)
		if err := p.s.store.Park(ctx, c.ID, reason); err != nil {
			log.Warn("outbox: could not park a call", "err", err)
			p.s.writeFailed(err)
		}
	}
}

// waitSlot waits until a call to portal fits the rate limit and takes the
// slot: the store's limit, shared by every replica, when it keeps one; this
// process's own otherwise. It gives up at once when the slot would come
// after ctx's deadline.
func (p *portalSide) waitSlot(ctx context.Context, portal string) error {
	if p.shared == nil {
		return p.limiter.Wait(ctx, portal)
	}
	for {
		wait, err := p.shared.Reserve(ctx, portal, time.Time{}, p.every, p.cfg.Burst)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			p.s.log.Warn("the shared portal rate limit is unavailable; limiting this replica's calls only", "portal", portal, "err", err)
			return p.limiter.Wait(ctx, portal)
		case wait <= 0:
			return nil
		}
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
			return context.DeadlineExceeded
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// release ends this replica's outbox leases in a store that keeps them
// across processes, after the final flush: what is left goes out from the
// other replicas at once.
func (p *portalSide) release() {
	r, ok := p.s.store.(engine.LeaseReleaser)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := r.Release(ctx, p.owner)
	switch {
	case err != nil:
		p.s.log.Warn("could not release this replica's outbox calls; other replicas send them when their leases end", "err", err)
	case n > 0:
		p.s.log.Info("released unsent outbox calls to the other replicas", "calls", n)
	}
}

func (p *portalSide) countError(err error) {
	code := "network"
	var ae *bitrix24.APIError
	if errors.As(err, &ae) && ae.Code != "" {
		code = ae.Code
	}
	p.s.metrics.portalErrors.WithLabelValues(code).Inc()
}

// errLogged marks a call that was logged because no portal is configured.
var errLogged = errors.New("logged, not sent: no portal configured")

// send delivers one call through the right client.
func (p *portalSide) send(ctx context.Context, c engine.Call) (json.RawMessage, error) {
	if p.sender != nil {
		return p.sender.Send(ctx, c)
	}
	client, err := p.client(ctx, c.Portal)
	if err != nil {
		return nil, err
	}
	if client == nil {
		p.s.log.Info("portal call (not sent: no portal configured)", "dialog", c.Dialog, "method", c.Method, "params", string(redactParams(c.Params)))
		return nil, errLogged
	}
	p.s.metrics.portalReqs.WithLabelValues("single").Inc()
	return client.Do(ctx, bitrix24.Request{Method: c.Method, Params: json.RawMessage(c.Params)})
}

// client returns the REST client for a portal: the webhook, the portal's
// OAuth client from its install record, or nil when no portal is configured.
func (p *portalSide) client(ctx context.Context, member string) (*bitrix24.Client, error) {
	if p.webhook != nil {
		return p.webhook, nil
	}
	p.mu.Lock()
	c := p.clients[member]
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	in, err := p.install(ctx, member)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	tok := bitrix24.Token{AccessToken: in.AccessToken, RefreshToken: in.RefreshToken, Expiry: in.Expiry, ClientEndpoint: in.ClientEndpoint, MemberID: in.MemberID, Domain: in.Domain}
	src, err := bitrix24.NewOAuthTokens(bitrix24.OAuthConfig{
		ClientID: p.cfg.AppClientID, ClientSecret: p.cfg.AppClientSecret, TokenURL: p.cfg.OAuthURL, HTTPClient: p.cfg.HTTPClient, Logger: p.s.log,
		OnRefresh: func(ctx context.Context, t bitrix24.Token) error { return p.saveTokens(ctx, member, t) },
		// replicas share the install record: a pair another replica rotated
		// is taken from there instead of refreshing a retired refresh token
		Stored: func(ctx context.Context) (bitrix24.Token, error) {
			in, err := p.install(ctx, member)
			return bitrix24.Token{AccessToken: in.AccessToken, RefreshToken: in.RefreshToken, Expiry: in.Expiry}, err
		},
	}, tok)
	if err != nil {
		return nil, fmt.Errorf("portal %s: %w", in.Domain, err)
	}
	c, err = bitrix24.NewOAuth(in.ClientEndpoint, src, p.clientOpts()...)
	if err != nil {
		return nil, fmt.Errorf("portal %s: %w", in.Domain, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cached := p.clients[member]; cached != nil {
		// built concurrently: keep one token source per portal, or two
		// would refresh the same rotating refresh token
		return cached, nil
	}
	p.clients[member], p.tokens[member] = c, src
	return c, nil
}

func (p *portalSide) install(ctx context.Context, member string) (install, error) {
	var in install
	b, err := p.kv.Get(ctx, nsPortal, member)
	if err != nil {
		return in, err
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, fmt.Errorf("portal record %s: %w", member, err)
	}
	return in, nil
}

func (p *portalSide) putInstall(ctx context.Context, in install) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return p.kv.Put(ctx, nsPortal, in.MemberID, b)
}

// saveTokens keeps rotated tokens: the old refresh token stops working.
func (p *portalSide) saveTokens(ctx context.Context, member string, t bitrix24.Token) error {
	p.tokMu.Lock()
	defer p.tokMu.Unlock()
	in, err := p.install(ctx, member)
	if err != nil {
		return err
	}
	in.AccessToken, in.RefreshToken, in.Expiry = t.AccessToken, t.RefreshToken, t.Expiry
	return p.putInstall(ctx, in)
}

// leadUpdateIfKnown turns a queued crm.lead.add into crm.lead.update when an
// earlier call of the dialog created the lead meanwhile.
func (p *portalSide) leadUpdateIfKnown(ctx context.Context, c engine.Call) engine.Call {
	d, err := p.s.store.Dialog(ctx, c.Dialog)
	if err != nil || d.LeadID == 0 {
		return c
	}
	var params struct {
		Fields map[string]any `json:"fields"`
	}
	if json.Unmarshal(c.Params, &params) != nil {
		return c
	}
	b, err := json.Marshal(map[string]any{"id": d.LeadID, "fields": params.Fields})
	if err != nil {
		return c
	}
	c.Method, c.Params = bitrix24.MethodLeadUpdate, b
	return c
}

// saveLead records a created lead's id on the dialog, so a later crm action updates it.
func (p *portalSide) saveLead(ctx context.Context, key string, res json.RawMessage) {
	id, err := bitrix24.ParseID(res)
	if err != nil || id <= 0 {
		p.s.log.Warn("crm.lead.add returned no lead id", "dialog", key, "result", string(res))
		return
	}
	unlock := p.s.locks.lock(key)
	defer unlock()
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		d, err := p.s.store.Dialog(ctx, key)
		if err != nil {
			p.s.log.Warn("could not record the new lead on the dialog", "dialog", key, "lead", id, "err", err)
			return
		}
		if d.LeadID == id {
			return
		}
		prev := d.Rev
		d.LeadID, d.Rev = id, d.Rev+1
		err = p.s.store.Commit(ctx, engine.Commit{Dialog: d, PrevRev: prev})
		if err == nil || !errors.Is(err, engine.ErrConflict) {
			return
		}
	}
}

// redactParams hides tokens in call params shown by the API and logs.
func redactParams(b []byte) []byte {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	changed := false
	for _, k := range []string{"auth", "AUTH", "access_token", "refresh_token", "CLIENT_ID"} {
		if _, ok := m[k]; ok {
			m[k] = "***"
			changed = true
		}
	}
	if !changed {
		return b
	}
	out, err := json.Marshal(m)
	if err != nil {
		return b
	}
	return out
}

// hostOf returns the host of a URL, lower-cased, or "".
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}
