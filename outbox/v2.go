package outbox

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/pull"
)

// The imbot.v2 fetch mode (Config.V2): messages go out through
// imbot.v2.Chat.Message.send, every call is prepared by the bot at send
// time (the stored params carry no botToken), and the due calls travel in
// the poll's batch (Rides) within the same rate limit (Wait).

// v2Say is a Say action as imbot.v2.Chat.Message.send of the chat's bot.
func v2Say(ch engine.Channel, a engine.Say) bitrix24.Request {
	text := a.Text
	if a.Numbered {
		text = bitrix24.MenuText(a.Text, a.Buttons, links(a.Links))
	}
	m := bitrix24.V2Message{Text: text, Buttons: a.Buttons, Links: links(a.Links)}
	if att := attach(a); !att.Empty() {
		m.Attach = att.Blocks() // fields.attach: the same short form as v1's ATTACH
	}
	return bitrix24.V2MessageSendRequest(ch.Bot, ch.Dialog, m)
}

// prepare adds what the v2 bot's calls carry at send time; other modes
// send the stored request as it is.
func (o *Outbox) prepare(r bitrix24.Request) bitrix24.Request {
	if o.cfg.V2 == nil {
		return r
	}
	return o.cfg.V2.Prepare(r)
}

// Wait takes one request slot of portal's rate limit, the one the outbox's
// own requests take (shared by the replicas when the store keeps it): the
// poller's Budget, so that polling and sending share --rate.
func (o *Outbox) Wait(ctx context.Context, portal string) error { return o.waitSlot(ctx, portal) }

// Rides implements pull.Carrier: it claims up to most due calls, of
// portals that have no round of the outbox's own in flight, for the next
// poll's batch. Each ride's Done records the call's outcome as a batch of
// the outbox's own would; until then the delivery loop leaves that
// portal alone, so no call is sent twice. The poll Prepares the calls.
// It carries the calls of any portal: the carrier of the one bot of the
// webhook route, whose calls all go to one portal (RidesOf otherwise).
func (o *Outbox) Rides(most int) []pull.Ride { return o.rides(most, "") }

// RidesOf is the pull.Carrier of one portal's calls (engine.Call.Portal:
// a local application's install record, by member_id): the poll of that
// portal's bot carries no other portal's call, which its request could
// not send. The other portals' calls it claims stay this replica's for
// the delivery loop's next round.
func (o *Outbox) RidesOf(portal string) pull.Carrier { return portalRides{o, portal} }

type portalRides struct {
	o      *Outbox
	portal string
}

// Rides implements pull.Carrier.
func (r portalRides) Rides(most int) []pull.Ride { return r.o.rides(most, r.portal) }

// rides is Rides of portal's calls only; "" takes every portal's. It
// first takes the rounds of the outbox's own that are waiting for a slot
// of the rate limit (offerRide): the poll has its slot already, so they
// go now, in its request, instead of each taking a slot of their own —
// replies before polls, and one request where there would be two.
func (o *Outbox) rides(most int, portal string) []pull.Ride {
	ctx := context.Background() // Done has no context: the outcome is recorded whatever happens to the poll's
	if o.health != nil && o.health.Writable(ctx) != nil {
		return nil // an outcome that cannot be recorded would be sent again
	}
	o.claimMu.Lock()
	o.mu.Lock()
	o.claiming = true
	carried := o.takeOffersLocked(portal, most)
	limit := most - len(carried) + len(o.inFlight) + len(o.undone)
	o.mu.Unlock()
	calls, err := o.store.Claim(ctx, o.owner, limit, o.now(), o.cfg.Lease)
	if err != nil {
		calls = nil
	}
	if portal != "" {
		calls = slices.DeleteFunc(calls, func(c engine.Call) bool { return c.Portal != portal })
	}
	round := map[string]int{} // the carried rounds' portals take more calls in this ride
	for _, c := range carried {
		round[c.Portal]++
	}
	calls = o.takeInto(calls, most, round)
	o.claimMu.Unlock()
	if err != nil {
		o.log.Warn("outbox claim for the poll failed; the calls go out on their own", "err", err)
	}
	if room := most - len(carried); len(calls) > room {
		o.done(calls[room:]) // another portal's: its own round sends them
		calls = calls[:room]
	}
	calls = append(carried, calls...)
	rides := make([]pull.Ride, len(calls))
	for i, c := range calls {
		if c.Method == bitrix24.MethodLeadAdd {
			c = o.leadUpdateIfKnown(ctx, c)
		}
		rides[i] = pull.Ride{
			Call: bitrix24.Request{Method: c.Method, Params: json.RawMessage(c.Params)},
			Done: func(res bitrix24.BatchResult) {
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				o.record(rctx, c, res.Result, res.Err)
				o.done([]engine.Call{c})
			},
		}
	}
	if len(rides) > 0 {
		o.metrics.portalReqs.WithLabelValues("poll").Inc()
	}
	return rides
}

// offer is a round of one portal's calls waiting for a slot of the rate
// limit: a poll that has its slot carries the calls instead (rides).
type offer struct {
	portal string
	calls  []engine.Call
	cancel context.CancelFunc // ends the round's wait
	taken  bool
}

// offerRide offers calls, a round of portal waiting for a slot, to the
// next poll; cancel ends the round's wait. withdraw ends the offer and
// reports whether a poll took the calls: then the ride's Done records
// their outcome and ends their flight, and the round sends nothing.
func (o *Outbox) offerRide(portal string, calls []engine.Call, cancel context.CancelFunc) (withdraw func() (taken bool)) {
	of := &offer{portal: portal, calls: calls, cancel: cancel}
	o.mu.Lock()
	o.offers[of] = struct{}{}
	o.mu.Unlock()
	return func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		delete(o.offers, of)
		return of.taken
	}
}

// takeOffersLocked takes the offered rounds of portal ("" any), whole,
// at most most calls in all. Callers hold mu.
func (o *Outbox) takeOffersLocked(portal string, most int) []engine.Call {
	var out []engine.Call
	for of := range o.offers {
		if (portal != "" && of.portal != portal) || len(out)+len(of.calls) > most {
			continue
		}
		of.taken = true
		of.cancel()
		delete(o.offers, of)
		out = append(out, of.calls...)
	}
	return out
}
