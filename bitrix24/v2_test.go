package bitrix24_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

func v2Params(code, token string) bitrix24.V2RegisterParams {
	return bitrix24.V2RegisterParams{Code: code, Token: token, Name: "olbot"}
}

// TestV2Register registers through a webhook and through OAuth against the
// fake portal: idempotent by code, a taken code names the way out, a
// refused webhook is a clear error, bad params never leave the process.
// checkRegisterFields checks the fields of the first imbot.v2.Bot.register
// the portal saw: an Open Lines bot in fetch mode with its token.
func checkRegisterFields(t *testing.T, p *fakeportal.Portal) {
	t.Helper()
	reg := p.CallsOf(bitrix24.MethodV2BotRegister)
	fields, _ := reg[0].Params["fields"].(map[string]any)
	if fields["botToken"] != "token-a" || fields["isSupportOpenline"] != true || fields["eventMode"] != "fetch" || fields["type"] != "openline" {
		t.Fatalf("register fields %v", fields)
	}
}

func TestV2Register(t *testing.T) {
	ctx := context.Background()
	p := startPortal(t, fakeportal.Config{})
	wh := webhookClient(t, p, "")
	first, err := wh.V2Register(ctx, v2Params("olbot", "token-a"))
	if err != nil {
		t.Fatal(err)
	}
	if first.ID <= 0 || first.Code != "olbot" || first.Type != "openline" || first.EventMode != "fetch" {
		t.Fatalf("bot %+v, want an openline fetch bot", first)
	}
	checkRegisterFields(t, p)
	wrong, err := bitrix24.NewWebhook(strings.Replace(p.WebhookURL(), "fakewebhooksecret", "wrong", 1), "")
	if err != nil {
		t.Fatal(err)
	}
	oauth, _ := oauthClient(t, p, nil)

	for _, tc := range []struct {
		name    string
		c       *bitrix24.Client
		params  bitrix24.V2RegisterParams
		wantID  int // 0: a new bot
		wantErr error
		wantMsg string
	}{
		{"same code and token: the same bot", wh, v2Params("olbot", "token-a"), first.ID, nil, ""},
		{"same code, lost token", wh, v2Params("olbot", "token-b"), 0, bitrix24.ErrBotCodeTaken, "--bot-code"},
		{"another code", wh, v2Params("olbot2", "token-b"), 0, nil, ""},
		{"OAuth: the code of a webhook bot", oauth, v2Params("olbot", ""), 0, bitrix24.ErrBotCodeTaken, "--bot-code"},
		{"OAuth: own code", oauth, v2Params("olbot-app", ""), 0, nil, ""},
		{"wrong webhook secret", wrong, v2Params("olbot", "token-a"), 0, bitrix24.ErrWebhookRefused, "NO_AUTH_FOUND"},
		{"no token with webhook auth", wh, v2Params("x", ""), 0, bitrix24.ErrInvalidRequest, "botToken"},
		{"token over 40", wh, v2Params("x", strings.Repeat("t", 41)), 0, bitrix24.ErrInvalidRequest, "at most 40"},
		{"no name", wh, bitrix24.V2RegisterParams{Code: "x", Token: "t"}, 0, bitrix24.ErrInvalidRequest, "name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(p.Calls())
			bot, err := tc.c.V2Register(ctx, tc.params)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("err %v, want %v mentioning %q", err, tc.wantErr, tc.wantMsg)
				}
				if errors.Is(err, bitrix24.ErrInvalidRequest) && len(p.Calls()) != before {
					t.Fatal("a locally refused register reached the portal")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantID != 0 && bot.ID != tc.wantID {
				t.Fatalf("id %d, want the existing %d", bot.ID, tc.wantID)
			}
			if tc.wantID == 0 && bot.ID == first.ID {
				t.Fatal("a new code got the existing bot")
			}
		})
	}
	if got := len(p.V2Bots()); got != 3 {
		t.Fatalf("%d v2 bots, want 3 (olbot, olbot2, olbot-app)", got)
	}
	if err := first.Matches(v2Params("olbot", "token-a")); err != nil {
		t.Fatalf("the registered bot does not match its own params: %v", err)
	}
	hook := v2Params("olbot", "token-a")
	hook.EventMode = "webhook"
	if err := first.Matches(hook); err == nil || !strings.Contains(err.Error(), "--bot-code") {
		t.Fatalf("a fetch bot matched webhook params: %v", err)
	}
	tok, err := bitrix24.NewBotToken()
	if err != nil || len(tok) != bitrix24.MaxBotToken {
		t.Fatalf("NewBotToken: %q, %v", tok, err)
	}
	if again, _ := bitrix24.NewBotToken(); again == tok {
		t.Fatal("two tokens alike")
	}
	got, err := wh.V2GetBot(ctx, first.ID, "", "token-a")
	if err != nil || got.ID != first.ID {
		t.Fatalf("Bot.get: %+v, %v", got, err)
	}
}

func v2Bot(t *testing.T, p *fakeportal.Portal) *bitrix24.V2 {
	t.Helper()
	c := webhookClient(t, p, "")
	info, err := c.V2Register(context.Background(), v2Params("olbot", "secret-token"))
	if err != nil {
		t.Fatal(err)
	}
	return c.V2Bot(info.ID, "secret-token")
}

// TestV2EventsOffset: events come back until an offset confirms them;
// nextOffset is sent verbatim; limit pages with hasMore.
func TestV2EventsOffset(t *testing.T) {
	ctx := context.Background()
	p := startPortal(t, fakeportal.Config{})
	bot := v2Bot(t, p)
	chat := p.V2Chat(bot.ID(), 1, 1777, bitrix24.User{FirstName: "Anna"})
	chat.Join()
	chat.Say("hello")
	chat.Say("my name is Anna")

	var lastNext int64
	for _, tc := range []struct {
		name     string
		offset   int64 // -1: the previous nextOffset
		limit    int
		want     int
		wantMore bool
		pending  int
	}{
		{"first call, no offset", 0, 0, 3, false, 3},
		{"repeat without offset: nothing was confirmed", 0, 0, 3, false, 3},
		{"limit pages", 0, 2, 2, true, 3},
		{"offset confirms the first two", -1, 0, 1, false, 1},
		{"offset confirms the rest", -1, 0, 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off := tc.offset
			if off < 0 {
				off = lastNext
			}
			page, err := bot.Events(ctx, off, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			lastNext = page.NextOffset
			if len(page.Events) != tc.want || page.HasMore != tc.wantMore {
				t.Fatalf("%d events, hasMore %v; want %d, %v", len(page.Events), page.HasMore, tc.want, tc.wantMore)
			}
			if got := p.V2Pending(bot.ID()); got != tc.pending {
				t.Fatalf("%d pending at the portal, want %d", got, tc.pending)
			}
			for _, raw := range page.Events {
				ev, err := bitrix24.DecodeV2Event(raw)
				if err != nil {
					t.Fatal(err)
				}
				if ev.ID >= page.NextOffset {
					t.Fatalf("event %d not below nextOffset %d", ev.ID, page.NextOffset)
				}
			}
		})
	}
	got := p.CallsOf(bitrix24.MethodV2EventGet)
	if tok := got[0].Str("botToken"); tok != "secret-token" {
		t.Fatalf("Event.get botToken %q: webhook auth sends it on every imbot.v2 call", tok)
	}
	if _, ok := got[0].Params["offset"]; ok {
		t.Fatal("the first Event.get sent an offset")
	}
}

// TestV2PollCarriesCalls: waiting calls ride in the poll's batch, each
// with its own outcome.
func TestV2PollCarriesCalls(t *testing.T) {
	ctx := context.Background()
	p := startPortal(t, fakeportal.Config{})
	bot := v2Bot(t, p)
	p.V2Chat(bot.ID(), 1, 1777, bitrix24.User{FirstName: "Anna"}).Say("hi")
	waiting := []bitrix24.Request{
		bot.MessageSendRequest("chat1777", bitrix24.V2Message{Text: "Hi, Anna!", Buttons: []string{"Leave a request", "Talk to a person"}}),
		bot.MessageSendRequest("chat1777", bitrix24.V2Message{}), // EMPTY_MESSAGE
		bot.SessionTransferRequest(1777, 0, 3, false),
	}
	page, riders, err := bot.Poll(ctx, 0, 0, waiting)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || len(riders) != 3 {
		t.Fatalf("%d events, %d rider results", len(page.Events), len(riders))
	}
	var ae *bitrix24.APIError
	if riders[0].Err != nil || !errors.As(riders[1].Err, &ae) || ae.Code != "EMPTY_MESSAGE" || riders[2].Err != nil {
		t.Fatalf("rider errors %v, %v, %v; want nil, EMPTY_MESSAGE, nil", riders[0].Err, riders[1].Err, riders[2].Err)
	}
	if n := len(p.CallsOf(bitrix24.MethodBatch)); n != 1 {
		t.Fatalf("%d batch requests, want 1", n)
	}
	msgs := p.Messages("chat1777")
	if len(msgs) != 1 || msgs[0].Text != "Hi, Anna!" || msgs[0].Keyboard == nil {
		t.Fatalf("messages %+v", msgs)
	}
	tr := p.CallsOf(bitrix24.MethodSessionTransfer)
	if len(tr) != 1 || tr[0].Str("CLIENT_ID") != "secret-token" || tr[0].Batch == "" {
		t.Fatalf("transfer %+v: want CLIENT_ID = the botToken, inside the batch", tr)
	}
	if st := p.ChatState(1777); st != fakeportal.StateTransferred {
		t.Fatalf("chat state %q", st)
	}
	if _, _, err := bot.Poll(ctx, 0, 0, make([]bitrix24.Request, bitrix24.MaxRiders+1)); !errors.Is(err, bitrix24.ErrInvalidRequest) {
		t.Fatalf("50 riders: %v", err)
	}
}

// TestV2SessionRequests pins where CLIENT_ID = botToken goes.
func TestV2SessionRequests(t *testing.T) {
	p := startPortal(t, fakeportal.Config{})
	wh := webhookClient(t, p, "").V2Bot(5, "tok")
	oauthC, _ := oauthClient(t, p, nil)
	oa := oauthC.V2Bot(5, "tok")
	stored := bitrix24.V2MessageSendRequest(5, "chat1", bitrix24.V2Message{Text: "hi"})
	for _, tc := range []struct {
		name, key, want string // the param key and its value, "" for none
		req             bitrix24.Request
	}{
		{"stored send: no token", "botToken", "", stored},
		{"prepared send: the token", "botToken", "tok", wh.Prepare(stored)},
		{"prepared twice: the token once", "botToken", "tok", wh.Prepare(wh.Prepare(stored))},
		{"oauth send: no token", "botToken", "", oa.Prepare(stored)},
		{"stored transfer prepared", "CLIENT_ID", "tok", wh.Prepare(bitrix24.SessionTransferRequest(1, 7, 0, true))},
		{"v1 message untouched", "CLIENT_ID", "", wh.Prepare(bitrix24.MessageAddRequest("chat1", 5, "hi", nil, false))},
		{"webhook transfer", "CLIENT_ID", "tok", wh.SessionTransferRequest(1, 7, 0, true)},
		{"webhook finish", "CLIENT_ID", "tok", wh.SessionFinishRequest(1)},
		{"webhook operator: not documented", "CLIENT_ID", "", wh.SessionOperatorRequest(1)},
		{"webhook greeting: not documented", "CLIENT_ID", "", wh.SessionMessageSendRequest(1, bitrix24.GreetWelcome, "")},
		{"oauth transfer", "CLIENT_ID", "", oa.SessionTransferRequest(1, 7, 0, true)},
		{"oauth finish", "CLIENT_ID", "", oa.SessionFinishRequest(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.req.Params)
			if err != nil {
				t.Fatal(err)
			}
			var p map[string]any
			_ = json.Unmarshal(raw, &p)
			got, _ := p[tc.key].(string)
			if got != tc.want {
				t.Fatalf("%s %q, want %q (params %s)", tc.key, got, tc.want, raw)
			}
		})
	}
}
