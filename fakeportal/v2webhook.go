package fakeportal

import (
	"context"
	"net/url"
	"strconv"

	"github.com/olbot/olbot/bitrix24"
)

// V2Form builds the webhook post of a queued event of a webhook-mode bot
// from the documented envelope (v2.event.webhook, events.md): event, the
// event's data with data[bot] cut to {id, code, auth} (the bot's OAuth
// set), ts and the top-level auth (domain, application_token), encoded as
// PHP's http_build_query (every scalar a string, true "1"). ok is false
// when no such event waits.
func (p *Portal) V2Form(botID int, eventID int64) (form url.Values, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.v2.bots[botID]
	if b == nil {
		return nil, false
	}
	for _, ev := range b.queue {
		if ev.ID == eventID {
			return p.v2FormLocked(b, ev), true
		}
	}
	return nil, false
}

func (p *Portal) v2FormLocked(b *V2Bot, ev v2Event) url.Values {
	tree := mustTree("v2.event.webhook")
	tree["event"] = ev.Type
	tree["ts"] = strconv.FormatInt(p.cfg.Now().Unix(), 10)
	setPresent(group(tree, "auth"), authValues(p.eventAuthLocked()))
	docBot := group(tree, "data", "bot")
	data := cloneTree(ev.Data)
	bot := map[string]any{"id": b.ID, "code": b.Code}
	if auth, ok := docBot["auth"].(map[string]any); ok {
		auth = cloneTree(auth)
		delete(auth, "refresh_token") // the fake hands its refresh token out only with the install
		setPresent(auth, authValues(p.botAuthLocked(p.bots[b.ID]).Auth))
		bot["auth"] = auth
	}
	data["bot"] = bot
	tree["data"] = data
	return bitrix24.EncodeForm(tree)
}

// V2Deliver posts every queued event of a webhook-mode bot to its
// webhookUrl, oldest first, once each, and drops it whatever the answer:
// in webhook mode the portal does not promise retries (index.md). It
// returns the HTTP statuses, 0 for a post that failed.
func (p *Portal) V2Deliver(ctx context.Context, botID int) []int {
	p.mu.Lock()
	b := p.v2.bots[botID]
	if b == nil || b.EventMode != "webhook" {
		p.mu.Unlock()
		return nil
	}
	target := b.WebhookURL
	forms := make([]url.Values, len(b.queue))
	for i, ev := range b.queue {
		forms[i] = p.v2FormLocked(b, ev)
	}
	b.queue = nil
	p.mu.Unlock()
	statuses := make([]int, len(forms))
	for i, f := range forms {
		resp, err := p.Post(ctx, target, f)
		if err != nil {
			p.log.Debug("fakeportal: v2 webhook post failed", "url", target, "error", err)
			continue
		}
		statuses[i] = resp.StatusCode
		_ = resp.Body.Close()
	}
	return statuses
}
