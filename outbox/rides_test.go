package outbox

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
)

// TestRidesOf: the carrier of one portal's poll (a local application's
// bot, whose install is one of many portals) hands out only that portal's
// due calls; they travel in a real poll's batch to the fake portal, their
// outcomes are recorded (done), and the other portal's calls stay
// waiting for the delivery loop.
func TestRidesOf(t *testing.T) {
	ctx := context.Background()
	p, bot, botID := registeredV2Bot(t)

	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	ob, err := New(Config{}, Options{Store: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	say := func(portal string, chat int, text string) string {
		dialog := p.V2Chat(botID, 1, chat, bitrix24.User{FirstName: "Anna"}).DialogID()
		key := "b24:" + portal + ":" + dialog
		req := bitrix24.V2MessageSendRequest(botID, dialog, bitrix24.V2Message{Text: text})
		params, err := json.Marshal(req.Params)
		if err != nil {
			t.Fatal(err)
		}
		err = store.Commit(ctx, engine.Commit{Dialog: engine.Dialog{Key: key, Status: engine.Active, Rev: 1},
			Calls: []engine.Call{{Portal: portal, Method: req.Method, Params: params}}})
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	mine := []string{say("member-a", 901, "to a, chat 901"), say("member-a", 902, "to a, chat 902")}
	other := say("member-b", 903, "to b")

	rides := ob.RidesOf("member-a").Rides(bitrix24.MaxRiders)
	if len(rides) != 2 {
		t.Fatalf("%d rides, want member-a's 2 calls", len(rides))
	}
	waiting := make([]bitrix24.Request, len(rides))
	for i, r := range rides {
		waiting[i] = r.Call
	}
	_, results, err := bot.Poll(ctx, 0, 10, waiting)
	if err != nil || len(results) != len(rides) {
		t.Fatalf("poll with %d riders: %d results, %v", len(rides), len(results), err)
	}
	for i, r := range rides {
		r.Done(results[i])
	}

	var batchOf []string // the methods of the requests' batches, in order
	for _, c := range p.Calls() {
		if c.Batch != "" {
			batchOf = append(batchOf, c.Method)
		}
	}
	want := []string{bitrix24.MethodV2EventGet, bitrix24.MethodV2MessageSend, bitrix24.MethodV2MessageSend}
	for i := range want {
		want[i] = strings.ToLower(want[i])
	}
	if !slices.Equal(batchOf, want) {
		t.Fatalf("the poll's batch held %v, want %v", batchOf, want)
	}
	for _, chat := range []string{"chat901", "chat902"} {
		if ms := p.Messages(chat); len(ms) != 1 {
			t.Fatalf("%s got %d messages, want 1", chat, len(ms))
		}
	}
	for _, key := range mine {
		if calls, err := store.Calls(ctx, key); err != nil || len(calls) != 0 {
			t.Fatalf("calls of %s after the ride: %v, %v; want none (done)", key, calls, err)
		}
	}
	if calls, err := store.Calls(ctx, other); err != nil || len(calls) != 1 {
		t.Fatalf("calls of member-b's %s: %v, %v; want its one call still waiting", other, calls, err)
	}
	if ms := p.Messages("chat903"); len(ms) != 0 {
		t.Fatalf("member-b's call went out with member-a's poll")
	}
	if rides := ob.RidesOf("member-a").Rides(bitrix24.MaxRiders); len(rides) != 0 {
		t.Fatalf("%d more rides of member-a, want none", len(rides))
	}
	if rides := ob.RidesOf("member-b").Rides(bitrix24.MaxRiders); len(rides) != 1 {
		t.Fatalf("%d rides of member-b, want its one call", len(rides))
	}
}
