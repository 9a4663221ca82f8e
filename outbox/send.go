package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
)

// maxCASRetries bounds optimistic-concurrency retries when another replica
// committed the same dialog between our read and our write.
const maxCASRetries = 8

// leaseWindow says, for calls claimed at claimed, by when a send must start
// and when it is cut off. A claimed call is this replica's only while its
// lease lasts: after that another replica may claim it, send it and go on
// with the dialog's next call. So the wait for a rate-limit slot must end
// within the first half of the lease (else the call is left for the next
// round, which renews the lease), and the send is cut off before the lease
// ends (it is then retried).
func (o *Outbox) leaseWindow(claimed time.Time) (startBy, cutAt time.Time) {
	lease := o.cfg.Lease
	return claimed.Add(lease / 2), claimed.Add(lease - lease/10)
}

// sendContext bounds one request: the call timeout from now, and never
// past cutAt. A shutdown (ctx ending) does not cut it off: the request
// goes on until the portal answers or the bound ends, and its outcome is
// recorded. A request cut off by shutdown would record nothing, and the
// next process would send again what the portal may have done already.
// Shutdown stops the claims and the waits for a slot at once; only the
// requests already on the wire get this grace, at most CallTimeout.
func (o *Outbox) sendContext(ctx context.Context, cutAt time.Time) (context.Context, context.CancelFunc) {
	if t := time.Now().Add(o.cfg.CallTimeout); t.Before(cutAt) {
		cutAt = t
	}
	return context.WithDeadline(context.WithoutCancel(ctx), cutAt)
}

// deliverCall sends one call claimed at claimed and records done, retry or
// park. It reports false when it left the call unsent for a later round
// (see leaseWindow). With offer, a poll may carry the call while it waits
// for a slot (offerRide): then it reports carried, and the ride records
// the outcome.
func (o *Outbox) deliverCall(ctx context.Context, c engine.Call, claimed time.Time, offer bool) (sent, carried bool) {
	startBy, cutAt := o.leaseWindow(claimed)
	wctx, cancel := context.WithDeadline(ctx, startBy)
	withdraw := func() bool { return false }
	if offer {
		withdraw = o.offerRide(c.Portal, []engine.Call{c}, cancel)
	}
	err := o.waitSlot(wctx, c.Portal)
	carried = withdraw()
	cancel()
	if carried {
		return false, true
	}
	if err != nil {
		return false, false // shutting down, or no slot early enough in the lease: the call is claimed again
	}
	sctx, cancel := o.sendContext(ctx, cutAt)
	defer cancel()
	if c.Method == bitrix24.MethodLeadAdd {
		c = o.leadUpdateIfKnown(sctx, c)
	}
	res, err := o.send(sctx, c)
	o.record(ctx, c, res, err)
	return true, false
}

// deliverBatch sends calls of one portal, claimed at claimed, in one batch
// request and records each call's own outcome. It returns how many calls
// it sent, 0 when it left them all for a later round (see leaseWindow),
// and whether a poll carried them instead, as deliverCall does.
//
// When the batch request as a whole fails, no sub-call is known to have
// run: a transient error (network, 5xx, QUERY_LIMIT_EXCEEDED, expired_token
// that a refresh did not cure, no answer within the call timeout) retries
// every call with backoff and an authorization error parks every call, as
// each would on its own. A 400/405 answer to the batch itself (a batch
// error, not any one call's) sends the calls one by one instead, so that
// one bad call cannot hold up the others.
func (o *Outbox) deliverBatch(ctx context.Context, calls []engine.Call, claimed time.Time) (sent int, carried bool) {
	portal := calls[0].Portal
	startBy, cutAt := o.leaseWindow(claimed)
	wctx, cancel := context.WithDeadline(ctx, startBy)
	withdraw := o.offerRide(portal, calls, cancel)
	err := o.waitSlot(wctx, portal) // one slot: the portal counts a batch as one request
	carried = withdraw()
	cancel()
	if carried {
		return 0, true
	}
	if err != nil {
		return 0, false
	}
	sctx, cancel := o.sendContext(ctx, cutAt)
	defer cancel()
	client, err := o.portals.client(sctx, portal)
	if err == nil && client == nil {
		err = errLogged
	}
	if err != nil {
		for _, c := range calls {
			if errors.Is(err, errLogged) {
				o.logCall(c)
			}
			o.record(ctx, c, nil, err)
		}
		return len(calls), false
	}
	reqs := make([]bitrix24.BatchCall, len(calls))
	for i, c := range calls {
		if c.Method == bitrix24.MethodLeadAdd {
			calls[i] = o.leadUpdateIfKnown(sctx, c)
		}
		reqs[i] = o.prepare(bitrix24.BatchCall{Method: calls[i].Method, Params: json.RawMessage(calls[i].Params)})
	}
	o.metrics.portalReqs.WithLabelValues("batch").Inc()
	results, err := client.Batch(sctx, reqs)
	if err != nil && bitrix24.Classify(err) == bitrix24.ClassPermanent {
		o.countError(err)
		o.log.Warn("portal refused a batch as a whole; sending its calls one by one", "portal", portal, "calls", len(calls), "err", err)
		sent := 0
		for _, c := range calls {
			if ok, _ := o.deliverCall(ctx, c, claimed, false); ok {
				sent++
			}
		}
		return sent, false
	}
	// The outcomes are recorded at once rather than one after another: the
	// calls belong to different dialogs, and concurrent writes share the
	// store's group commit (one fsync, or one PostgreSQL statement) where a
	// loop would wait for one per call.
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			if err != nil {
				o.record(ctx, c, nil, err)
			} else {
				o.record(ctx, c, results[i].Result, results[i].Err)
			}
		})
	}
	wg.Wait()
	return len(calls), false
}

func (o *Outbox) writeFailed(err error) {
	if o.health != nil {
		o.health.WriteFailed(err)
	}
}

// record stores the outcome of one sent call (single or a batch's
// sub-call): done (also for errors that mean the goal already holds, such
// as WRONG_CHAT on session.operator), a retry with backoff for transient
// errors younger than maxRetryAge, or parked.
// recordTimeout bounds the store write of one call's outcome.
const recordTimeout = 10 * time.Second

func (o *Outbox) record(ctx context.Context, c engine.Call, res json.RawMessage, err error) {
	// The outcome is written even when ctx has ended (a shutdown while the
	// request was in flight: sendContext lets it finish): a call the portal
	// has done must not be sent again by the next process because its done
	// was never recorded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	log := o.log.With("dialog", c.Dialog, "call", c.ID, "method", c.Method)
	class := bitrix24.Classify(err)
	if errors.Is(err, errLogged) {
		class = bitrix24.ClassOK
		o.metrics.portalCalls.WithLabelValues(c.Method, "logged").Inc()
	}
	now := o.now()
	switch {
	case class == bitrix24.ClassOK || class == bitrix24.ClassDone:
		if err := o.store.Done(ctx, c.ID); err != nil && !errors.Is(err, engine.ErrNotFound) {
			log.Warn("outbox: could not record a delivered call as done; this process keeps it and records it when the store takes writes again", "err", err)
			o.writeFailed(err)
			o.keepUndone(c)
		}
		if !errors.Is(err, errLogged) {
			o.metrics.portalCalls.WithLabelValues(c.Method, "ok").Inc()
			o.metrics.deliveryLag.Observe(now.Sub(c.Created).Seconds())
		}
		if c.Method == bitrix24.MethodLeadAdd && err == nil {
			o.saveLead(ctx, c.Dialog, res)
		}
		if c.Method == bitrix24.MethodRegister && err == nil {
			o.portals.saveBot(ctx, c.Portal, res)
		}
		if c.Method == bitrix24.MethodV2BotRegister && err == nil {
			o.portals.saveV2Bot(ctx, c.Portal, res)
		}
	case class.Retry() && now.Sub(c.Created) < maxRetryAge:
		o.countError(err)
		delay := o.backoff(c.Attempts)
		var ae *bitrix24.APIError
		if errors.As(err, &ae) && ae.RetryAfter > delay {
			delay = ae.RetryAfter
		}
		o.metrics.retries.Inc()
		o.metrics.portalCalls.WithLabelValues(c.Method, "retry").Inc()
		log.Warn("portal call failed; retrying", "attempt", c.Attempts+1, "in", delay.Round(time.Millisecond), "err", err)
		if err := o.store.Retry(ctx, c.ID, now.Add(delay), err.Error()); err != nil {
			log.Warn("outbox: could not schedule a retry", "err", err)
			o.writeFailed(err)
		}
	default:
		o.countError(err)
		reason := err.Error()
		if class.Retry() {
			reason = "gave up after 24h of retries: " + reason
		}
		o.metrics.portalCalls.WithLabelValues(c.Method, "parked").Inc()
		log.Error("portal call parked (dead letter): it will not be retried", "class", class.String(), "err", err)
		if err := o.store.Park(ctx, c.ID, reason); err != nil {
			log.Warn("outbox: could not park a call", "err", err)
			o.writeFailed(err)
		}
	}
}

// keepUndone remembers a delivered call whose done could not be written.
func (o *Outbox) keepUndone(c engine.Call) {
	o.mu.Lock()
	o.undone[c.ID] = c
	n := len(o.undone)
	o.mu.Unlock()
	o.metrics.undone.Set(float64(n))
}

// recordUndone writes the done of every delivered call kept by
// keepUndone, dropping those it wrote (or that are gone: erased, or done
// by another replica); the rest wait for the next round. Delivery runs it
// before each claim and at shutdown.
func (o *Outbox) recordUndone(ctx context.Context) {
	o.mu.Lock()
	if len(o.undone) == 0 {
		o.mu.Unlock()
		return
	}
	ids := make([]uint64, 0, len(o.undone))
	for id := range o.undone {
		ids = append(ids, id)
	}
	o.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	recorded := 0
	for _, id := range ids {
		err := o.store.Done(ctx, id)
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			o.writeFailed(err)
			break // the store still refuses: the next round tries again
		}
		o.mu.Lock()
		delete(o.undone, id)
		o.mu.Unlock()
		recorded++
	}
	o.mu.Lock()
	n := len(o.undone)
	o.mu.Unlock()
	o.metrics.undone.Set(float64(n))
	if recorded > 0 {
		o.log.Info("outbox: recorded delivered calls as done after the store took writes again", "calls", recorded, "left", n)
	}
}

// waitSlot waits until a call to portal fits the rate limit and takes the
// slot: the store's limit, shared by every replica, when it keeps one; this
// process's own otherwise. It gives up at once when the slot would come
// after ctx's deadline.
func (o *Outbox) waitSlot(ctx context.Context, portal string) error {
	if o.shared == nil {
		return o.limiter.Wait(ctx, portal)
	}
	for {
		wait, err := o.shared.Reserve(ctx, portal, time.Time{}, o.every, o.cfg.Burst)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			o.log.Warn("the shared portal rate limit is unavailable; limiting this replica's calls only", "portal", portal, "err", err)
			return o.limiter.Wait(ctx, portal)
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

func (o *Outbox) countError(err error) {
	code := "network"
	var ae *bitrix24.APIError
	if errors.As(err, &ae) && ae.Code != "" {
		code = ae.Code
	}
	o.metrics.portalErrors.WithLabelValues(code).Inc()
}

// errLogged marks a call that was logged because no portal is configured.
var errLogged = errors.New("logged, not sent: no portal configured")

// logCall logs a call that no portal takes. Its params carry the client's
// text (replies quote collected fields), which must not outlive an
// erasure in a log: they show at debug level only.
func (o *Outbox) logCall(c engine.Call) {
	if o.log.Enabled(context.Background(), slog.LevelDebug) {
		o.log.Debug("portal call (not sent: no portal configured)", "dialog", c.Dialog, "method", c.Method, "params", string(RedactParams(c.Params)))
		return
	}
	o.log.Info("portal call (not sent: no portal configured; --log-level debug shows its params)", "dialog", c.Dialog, "method", c.Method)
}

// send delivers one call through the right client.
func (o *Outbox) send(ctx context.Context, c engine.Call) (json.RawMessage, error) {
	if o.sender != nil {
		return o.sender.Send(ctx, c)
	}
	client, err := o.portals.client(ctx, c.Portal)
	if err != nil {
		return nil, err
	}
	if client == nil {
		o.logCall(c)
		return nil, errLogged
	}
	o.metrics.portalReqs.WithLabelValues("single").Inc()
	return client.Do(ctx, o.prepare(bitrix24.Request{Method: c.Method, Params: json.RawMessage(c.Params)}))
}

// leadUpdateIfKnown turns a queued crm.lead.add into crm.lead.update when an
// earlier call of the dialog created the lead meanwhile.
func (o *Outbox) leadUpdateIfKnown(ctx context.Context, c engine.Call) engine.Call {
	d, err := o.store.Dialog(ctx, c.Dialog)
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
func (o *Outbox) saveLead(ctx context.Context, key string, res json.RawMessage) {
	id, err := bitrix24.ParseID(res)
	if err != nil || id <= 0 {
		o.log.Warn("crm.lead.add returned no lead id", "dialog", key, "result", string(res))
		return
	}
	unlock := o.locks.Lock(key)
	defer unlock()
	for attempt := 0; attempt < maxCASRetries; attempt++ {
		d, err := o.store.Dialog(ctx, key)
		if err != nil {
			o.log.Warn("could not record the new lead on the dialog", "dialog", key, "lead", id, "err", err)
			return
		}
		if d.LeadID == id {
			return
		}
		prev := d.Rev
		d.LeadID, d.Rev = id, d.Rev+1
		err = o.store.Commit(ctx, engine.Commit{Dialog: d, PrevRev: prev})
		if err == nil || !errors.Is(err, engine.ErrConflict) {
			return
		}
	}
}
