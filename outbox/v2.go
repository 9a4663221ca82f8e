package outbox

import (
	"context"
	"encoding/json"
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
func (o *Outbox) Rides(most int) []pull.Ride {
	ctx := context.Background() // Done has no context: the outcome is recorded whatever happens to the poll's
	if o.health != nil && o.health.Writable(ctx) != nil {
		return nil // an outcome that cannot be recorded would be sent again
	}
	o.claimMu.Lock()
	o.mu.Lock()
	o.claiming = true
	limit := most + len(o.inFlight) + len(o.undone)
	o.mu.Unlock()
	calls, err := o.store.Claim(ctx, o.owner, limit, o.now(), o.cfg.Lease)
	calls = o.takeAtMost(calls, most)
	o.claimMu.Unlock()
	if err != nil {
		o.log.Warn("outbox claim for the poll failed; the calls go out on their own", "err", err)
		return nil
	}
	if len(calls) > most {
		o.done(calls[most:]) // another portal's: its own round sends them
		calls = calls[:most]
	}
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
