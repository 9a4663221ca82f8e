package fakeportal

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
)

// envelope wraps a documented data object into the documented Event.get
// element (event-get.md).
func envelope(t *testing.T, typ string, data map[string]any) json.RawMessage {
	t.Helper()
	env := cloneTree(group(mustTree("v2.answer.imbot.v2.Event.get"), "result")["events"].([]any)[0].(map[string]any))
	env["type"], env["data"] = typ, data
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestV2FixturesDecode is the v2 half of the contract test: every
// documented data object decodes with olbot's decoder, in fetch JSON and
// as the webhook's form encoding (every scalar a string).
func TestV2FixturesDecode(t *testing.T) {
	for _, tc := range []struct {
		fixture, typ string
		handled      bool
		dialog       string
	}{
		{"v2.data.onimbotv2joinchat", bitrix24.EventV2JoinChat, true, "chat5"},
		{"v2.data.onimbotv2messageadd", bitrix24.EventV2MessageAdd, true, "chat5"},
		{"v2.data.onimbotv2commandadd", bitrix24.EventV2CommandAdd, true, "chat5"},
		{"v2.data.onimbotv2delete", bitrix24.EventV2Delete, true, ""},
		{"v2.data.onimbotv2contextget", bitrix24.EventV2ContextGet, false, ""},
		{"v2.data.onimbotv2reactionchange", bitrix24.EventV2ReactionChange, false, ""},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			data := mustTree(tc.fixture)
			fetch, err := bitrix24.DecodeV2Event(envelope(t, tc.typ, data))
			if err != nil {
				t.Fatalf("fetch: %v", err)
			}
			form := bitrix24.EncodeForm(map[string]any{"event": tc.typ, "data": data,
				"auth": map[string]any{"domain": "portal.example", "application_token": "app-token"}})
			hook, err := bitrix24.ParseV2Form(form)
			if err != nil {
				t.Fatalf("webhook form: %v", err)
			}
			if hook.Auth.ApplicationToken != "app-token" {
				t.Fatalf("auth[application_token] %q", hook.Auth.ApplicationToken)
			}
			hook.ID, hook.Date, hook.Auth = fetch.ID, fetch.Date, bitrix24.Auth{}
			// the form loses only what a string cannot say: message.params' types
			hook.Message.Params, fetch.Message.Params = nil, nil
			if !equalEvents(fetch, hook) {
				t.Fatalf("fetch %+v\nform  %+v", fetch, hook)
			}
			if fetch.Handled() != tc.handled || fetch.DialogID != tc.dialog || fetch.Bot.ID != 456 {
				t.Fatalf("handled %v dialog %q bot %d", fetch.Handled(), fetch.DialogID, fetch.Bot.ID)
			}
			if fetch.ID != 1001 || fetch.Date == "" {
				t.Fatalf("envelope id %d date %q", fetch.ID, fetch.Date)
			}
		})
	}
	// the docs' webhook envelope (events.md) and the tutorial's trimmed
	// Open Lines event: the first has empty groups, which the form drops, the second no bot; both
	// are rejections naming the field, not crashes.
	for name, field := range map[string]string{"v2.event.webhook": "data[chat]", "v2.event.tutorial.openline": "data[bot]"} {
		t.Run(name, func(t *testing.T) {
			f, _ := LoadFixture(name)
			form, err := f.Form()
			if err != nil {
				t.Fatal(err)
			}
			_, err = bitrix24.ParseV2Form(form)
			var rej *bitrix24.V2Rejection
			if !errors.As(err, &rej) || rej.Field != field || rej.Type != bitrix24.EventV2MessageAdd {
				t.Fatalf("err %v, want a rejection of %s", err, field)
			}
		})
	}
}

func equalEvents(a, b bitrix24.V2Event) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestV2Rejections: a documented event changed in one field is rejected
// with that field named.
func TestV2Rejections(t *testing.T) {
	msg := func(edit func(d map[string]any)) map[string]any {
		d := mustTree("v2.data.onimbotv2messageadd")
		edit(d)
		return d
	}
	for _, tc := range []struct {
		name  string
		typ   string
		data  map[string]any
		field string
	}{
		{"message id not a number", bitrix24.EventV2MessageAdd, msg(func(d map[string]any) { group(d, "message")["id"] = "abc" }), "data.message.id"},
		{"no chat", bitrix24.EventV2MessageAdd, msg(func(d map[string]any) { delete(d, "chat") }), "data.chat"},
		{"user is a string", bitrix24.EventV2MessageAdd, msg(func(d map[string]any) { d["user"] = "569" }), "data.user"},
		{"connector not a boolean", bitrix24.EventV2MessageAdd, msg(func(d map[string]any) { group(d, "user")["connector"] = "maybe" }), "data.user.connector"},
		{"no bot id", bitrix24.EventV2MessageAdd, msg(func(d map[string]any) { delete(group(d, "bot"), "id") }), "data.bot.id"},
		{"no data", bitrix24.EventV2MessageAdd, nil, "data"},
		{"undocumented type", "ONIMBOTV2SOMETHING", msg(func(map[string]any) {}), "type"},
		{"command without command", bitrix24.EventV2CommandAdd, msg(func(map[string]any) {}), "data.command"},
		{"join without dialogId", bitrix24.EventV2JoinChat, mustTree("v2.data.onimbotv2delete"), "data.dialogId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bitrix24.DecodeV2Event(envelope(t, tc.typ, tc.data))
			var rej *bitrix24.V2Rejection
			if !errors.As(err, &rej) || rej.Field != tc.field || rej.EventID != 1001 {
				t.Fatalf("err %v, want a rejection of event 1001 naming %s", err, tc.field)
			}
		})
	}
}

// TestV2Authors polls the fake's events over HTTP and tells the client
// from operators, system messages and the bot's own.
func TestV2Authors(t *testing.T) {
	ctx := context.Background()
	p, srv := NewServer(Config{Burst: -1})
	defer srv.Close()
	c, err := bitrix24.NewWebhook(p.WebhookURL(), "")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.V2Register(ctx, bitrix24.V2RegisterParams{Code: "olbot", Token: "tok", Name: "olbot"})
	if err != nil {
		t.Fatal(err)
	}
	bot := c.V2Bot(info.ID, "tok")
	chat := p.V2Chat(info.ID, 3, 1777, bitrix24.User{FirstName: "Anna"})
	chat.Join()
	chat.Say("hello")
	chat.OperatorSay(bitrix24.User{ID: 1, Name: "John Smith", FirstName: "John"}, "I am here")
	chat.SystemSay("The dialog was transferred")
	chat.Command("menu", "1", "keyboard")
	p.V2DeleteBot(info.ID)
	page, err := bot.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ    string
		author bitrix24.Author
		text   string
	}{
		{bitrix24.EventV2JoinChat, bitrix24.AuthorClient, ""},
		{bitrix24.EventV2MessageAdd, bitrix24.AuthorClient, "hello"},
		{bitrix24.EventV2MessageAdd, bitrix24.AuthorOperator, "I am here"},
		{bitrix24.EventV2MessageAdd, bitrix24.AuthorSystem, "The dialog was transferred"},
		{bitrix24.EventV2CommandAdd, bitrix24.AuthorClient, "/menu 1"},
		{bitrix24.EventV2Delete, bitrix24.AuthorSystem, ""},
	}
	if len(page.Events) != len(want) {
		t.Fatalf("%d events, want %d", len(page.Events), len(want))
	}
	for i, raw := range page.Events {
		ev, err := bitrix24.DecodeV2Event(raw)
		if err != nil {
			t.Fatal(err)
		}
		w := want[i]
		if ev.Type != w.typ || ev.Message.Text != w.text {
			t.Fatalf("event %d: %s %q, want %s %q", i, ev.Type, ev.Message.Text, w.typ, w.text)
		}
		if ev.Type == bitrix24.EventV2Delete {
			continue
		}
		if got := ev.From(); got != w.author {
			t.Fatalf("event %d (%q): from %v, want %v", i, w.text, got, w.author)
		}
		line, ok := ev.OpenLine()
		if !ev.IsOpenLine() || !ok || line != 3 || ev.ChatID() != 1777 || ev.DialogID != "chat1777" {
			t.Fatalf("event %d: open line %v %d, chat %d, dialog %q", i, ok, line, ev.ChatID(), ev.DialogID)
		}
	}
	if s := bitrix24.AuthorSelf.String(); !strings.Contains(s, "self") {
		t.Fatal(s)
	}
}

// TestV2Webhook: a webhook-mode bot's events are posted form-encoded to
// its webhookUrl, and olbot's form decoder reads each as the fetch
// decoder reads the same event; the top-level auth carries the
// application token to verify.
func TestV2Webhook(t *testing.T) {
	ctx := context.Background()
	p, srv := NewServer(Config{Burst: -1})
	defer srv.Close()
	var got []bitrix24.V2Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		ev, err := bitrix24.ParseV2Form(r.PostForm)
		if err != nil {
			t.Errorf("ParseV2Form: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got = append(got, ev)
	}))
	defer hook.Close()
	access, _ := p.Tokens()
	c, err := bitrix24.NewOAuth(p.Endpoint(), bitrix24.StaticToken(access))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.V2Register(ctx, bitrix24.V2RegisterParams{Code: "olbot", Name: "olbot", EventMode: "webhook", WebhookURL: hook.URL})
	if err != nil {
		t.Fatal(err)
	}
	chat := p.V2Chat(info.ID, 1, 1777, bitrix24.User{FirstName: "Anna"})
	chat.Join()
	id := chat.Say("hello")
	form, ok := p.V2Form(info.ID, id)
	if !ok || form.Get("data[user][connector]") != "1" || form.Get("data[message][isSystem]") != "0" {
		t.Fatalf("form %v: booleans travel as 1/0", form)
	}
	statuses := p.V2Deliver(ctx, info.ID)
	if len(statuses) != 2 || statuses[0] != http.StatusOK || statuses[1] != http.StatusOK || len(got) != 2 {
		t.Fatalf("statuses %v, %d decoded", statuses, len(got))
	}
	if p.V2Pending(info.ID) != 0 {
		t.Fatal("delivered events still queued")
	}
	for i, ev := range got {
		if ev.Auth.ApplicationToken != p.Config().ApplicationToken || ev.Bot.ID != info.ID || ev.DialogID != "chat1777" || ev.From() != bitrix24.AuthorClient {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	if got[1].Type != bitrix24.EventV2MessageAdd || got[1].Message.Text != "hello" || got[1].Message.ID == 0 {
		t.Fatalf("message %+v", got[1])
	}
}
