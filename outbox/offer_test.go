package outbox

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
)

// TestPollCarriesWaitingRound: a round of the outbox's own that waits for
// a slot of the rate limit is carried by the poll that has one (Rides):
// its reply goes out in the poll's request at once, the round sends
// nothing when its slot comes, and the outcome is recorded — one request
// where there would be two, and the reply before the poll's wait.
func TestPollCarriesWaitingRound(t *testing.T) {
	ctx := context.Background()
	p, bot, botID := registeredV2Bot(t)
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	// one request every 2 s, none at once beyond the first
	o, err := New(Config{Webhook: p.WebhookURL(), V2: bot, Rate: 0.5, Burst: 1}, Options{Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { o.Run(runCtx); close(ran) }()
	t.Cleanup(func() { stop(); <-ran })

	dialog := p.V2Chat(botID, 1, 901, bitrix24.User{FirstName: "Anna"}).DialogID()
	portal := "fake" // the webhook serves every call: any portal id
	key := engine.KeyPortal + portal + ":" + dialog
	if err := o.Wait(ctx, portal); err != nil { // the poll's slot: the round must wait for the next
		t.Fatal(err)
	}
	req := bitrix24.V2MessageSendRequest(botID, dialog, bitrix24.V2Message{Text: "Hello"})
	params, _ := json.Marshal(req.Params)
	if err := store.Commit(ctx, engine.Commit{Dialog: engine.Dialog{Key: key, Status: engine.Active, Rev: 1},
		Calls: []engine.Call{{Portal: portal, Method: req.Method, Params: params, Created: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	o.Wake()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o.mu.Lock()
		n := len(o.offers)
		o.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the round never waited for a slot")
		}
		time.Sleep(time.Millisecond)
	}

	rides := o.Rides(bitrix24.MaxRiders)
	if len(rides) != 1 {
		t.Fatalf("%d rides, want the waiting round's call", len(rides))
	}
	_, results, err := bot.Poll(ctx, 0, 10, []bitrix24.Request{rides[0].Call})
	if err != nil || len(results) != 1 {
		t.Fatalf("poll: %d results, %v", len(results), err)
	}
	rides[0].Done(results[0])

	// past the round's slot: it must not have sent the call again
	if err := o.Wait(ctx, portal); err != nil {
		t.Fatal(err)
	}
	o.Flush(ctx)
	if ms := p.Messages(dialog); len(ms) != 1 {
		t.Fatalf("%d messages, want the reply once", len(ms))
	}
	var inPoll bool
	for _, c := range p.CallsOf(bitrix24.MethodV2MessageSend) {
		inPoll = inPoll || c.Batch != ""
	}
	if !inPoll || len(p.CallsOf(bitrix24.MethodV2MessageSend)) != 1 {
		t.Fatalf("Chat.Message.send calls %v, want one, in the poll's batch", p.CallsOf(bitrix24.MethodV2MessageSend))
	}
	if calls, err := store.Calls(ctx, key); err != nil || len(calls) != 0 {
		t.Fatalf("calls after the ride: %v, %v; want none (done)", calls, err)
	}
}
