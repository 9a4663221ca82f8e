package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
)

func TestDuplicateDelivery(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	bot := e.install()
	chat := e.chat(1, 4001, "Anna")
	e.send(chat, chat.Join())
	e.settle()

	msg := chat.Say("Leave a request")
	first := e.send(chat, msg)
	if first["outcome"] != "applied" {
		t.Fatalf("first delivery: %v", first)
	}
	rev := e.record(e.key(chat)).Rev
	again := e.send(chat, msg)
	if again["outcome"] != "duplicate" {
		t.Fatalf("second delivery of MESSAGE_ID %d: %v, want outcome duplicate", chat.LastMessageID(), again)
	}
	e.send(chat, chat.Say("anna"))
	e.settle()
	if d := e.record(e.key(chat)); d.Rev != rev+1 || d.State != "ask_email" {
		t.Fatalf("dialog rev %d state %q, want rev %d in ask_email: the duplicate changed it", d.Rev, d.State, rev+1)
	}
	checkCalls(t, delivered(p, about(chat)), supportFlow(t, chat, bot, "Anna")[:4])

	// a menu click delivered twice is applied once too; olbot's buttons are
	// ACTION=SEND, so a click arrives as a message with the button's text
	// (it used to be read from ONIMCOMMANDADD, which the portal sends only
	// for registered commands)
	other := e.chat(1, 4002, "Boris")
	e.send(other, other.Join())
	cmd := other.Say("Talk to a person")
	if resp := e.send(other, cmd); resp["outcome"] != "applied" {
		t.Fatalf("first click: %v", resp)
	}
	if resp := e.send(other, cmd); resp["outcome"] != "duplicate" {
		t.Fatalf("second delivery of the click: %v, want duplicate", resp)
	}
	e.settle()
	wantOther := []string{
		expand(t, other, bot, greeting("Boris")), expand(t, other, bot, supportMenu),
		expand(t, other, bot, botSays("Connecting you to an operator…")),
		expand(t, other, bot, `imopenlines.bot.session.operator {"CHAT_ID":%[1]d}`),
	}
	checkCalls(t, delivered(p, about(other)), wantOther)
}

func TestForgedEvent(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	bot := e.install()
	chat := e.chat(1, 4101, "Anna")
	e.send(chat, chat.Join())
	e.settle()
	before := e.record(e.key(chat))

	real := chat.Say("Leave a request")
	forged := url.Values{}
	for k, v := range real {
		forged[k] = append([]string(nil), v...)
	}
	forged.Set("auth[application_token]", "forged-token")
	status, body := e.postForm(forged, "")
	if status != http.StatusUnauthorized || body["code"] != EUnauthorized || body["field"] != "auth[application_token]" {
		t.Fatalf("forged event: %d %v, want 401 naming auth[application_token]", status, body)
	}
	noToken := url.Values{}
	for k, v := range real {
		if k != "auth[application_token]" {
			noToken[k] = v
		}
	}
	if status, body := e.postForm(noToken, ""); status != http.StatusUnauthorized {
		t.Fatalf("event without an application token: %d %v, want 401", status, body)
	}
	if after := e.record(e.key(chat)); after.Rev != before.Rev || after.State != before.State || len(after.Recent) != len(before.Recent) {
		t.Fatalf("a refused event changed the dialog: %+v → %+v", before, after)
	}
	// the real event with the same MESSAGE_ID afterwards is applied
	if resp := e.send(chat, real); resp["outcome"] != "applied" {
		t.Fatalf("real event after the forged one: %v, want applied", resp)
	}
	e.settle()
	checkCalls(t, delivered(p, about(chat)), supportFlow(t, chat, bot, "Anna")[:3])
}

func TestBadEventBodies(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { e.cfg.BodyLimit = 16 << 10 })
	e.install()
	chat := e.chat(1, 4201, "Anna")
	e.send(chat, chat.Join())
	e.settle()
	key := e.key(chat)
	before := e.record(key)
	set := func(k, v string) func(url.Values) {
		return func(f url.Values) { f.Set(k, v) }
	}
	tests := []struct {
		name        string
		body        func() string // raw body; nil: the chat's next message modified by edit
		edit        func(url.Values)
		contentType string
		wantStatus  int
		wantField   string
		wantIn      string // part of the error message
	}{
		{name: "chat id not a number", edit: set("data[PARAMS][CHAT_ID]", "abc"), wantStatus: 400, wantField: "data[PARAMS][CHAT_ID]", wantIn: "not a number"},
		{name: "message id negative", edit: set("data[PARAMS][MESSAGE_ID]", "-5"), wantStatus: 400, wantField: "data[PARAMS][MESSAGE_ID]"},
		{name: "no dialog id", edit: func(f url.Values) { f.Del("data[PARAMS][DIALOG_ID]") }, wantStatus: 400, wantField: "data[PARAMS][DIALOG_ID]", wantIn: "missing"},
		{name: "no event name", edit: func(f url.Values) { f.Del("event") }, wantStatus: 400, wantField: "event"},
		{name: "params is a value", edit: func(f url.Values) {
			for k := range f {
				if strings.HasPrefix(k, "data[PARAMS]") {
					f.Del(k)
				}
			}
			f.Set("data[PARAMS]", "x")
		}, wantStatus: 400, wantField: "data[PARAMS]"},
		{name: "bot key not a number", edit: set("data[BOT][abc][BOT_ID]", "1"), wantStatus: 400, wantField: "data[BOT][abc]"},
		{name: "bad ts", edit: set("ts", "yesterday"), wantStatus: 400, wantField: "ts"},
		{name: "not form-encoded", body: func() string { return "event=%zz" }, wantStatus: 400, wantIn: "form"},
		{name: "JSON instead of a form", body: func() string { return `{"event":"ONIMBOTMESSAGEADD"}` }, contentType: "application/json", wantStatus: 415, wantField: "Content-Type", wantIn: "application/x-www-form-urlencoded"},
		{name: "body over the limit", body: func() string { return chat.Say(strings.Repeat("x", 20<<10)).Encode() }, wantStatus: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var raw string
			if tc.body != nil {
				raw = tc.body()
			} else {
				f := chat.Say("Leave a request")
				tc.edit(f)
				raw = f.Encode()
			}
			ct := tc.contentType
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			status, b := e.request(http.MethodPost, "/bitrix24/events", ct, strings.NewReader(raw), "")
			if status != tc.wantStatus {
				t.Fatalf("status %d %s, want %d", status, b, tc.wantStatus)
			}
			got := parseError(t, b)
			if got.Field != tc.wantField || !strings.Contains(got.Error, tc.wantIn) {
				t.Fatalf("error %+v, want field %q and a message containing %q", got, tc.wantField, tc.wantIn)
			}
			if tc.wantStatus == 413 && got.Code != ETooLarge {
				t.Fatalf("code %q, want %q", got.Code, ETooLarge)
			}
		})
	}
	if after := e.record(key); after.Rev != before.Rev {
		t.Fatalf("a rejected body changed the dialog: rev %d → %d", before.Rev, after.Rev)
	}
}

func TestIgnoredEvents(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	e.install()
	chat := e.chat(1, 4301, "Anna")
	e.send(chat, chat.Join())
	e.settle()
	key := e.key(chat)
	before := e.record(key)
	callsBefore := len(p.Calls())

	tests := []struct {
		name string
		form func() url.Values
		why  string // part of the "ignored" answer
	}{
		{"not an Open Lines chat", func() url.Values {
			f := chat.Say("Leave a request")
			f.Set("data[PARAMS][CHAT_ENTITY_TYPE]", "")
			f.Set("data[PARAMS][CHAT_TYPE]", "C")
			return f
		}, "not an Open Lines chat"},
		{"a group chat without entity fields", func() url.Values {
			f := chat.Say("Leave a request")
			for k := range f {
				if strings.HasPrefix(k, "data[PARAMS][CHAT_ENTITY") {
					f.Del(k)
				}
			}
			return f
		}, "not an Open Lines chat"},
		{"an operator's message", func() url.Values {
			f := chat.Say("Leave a request")
			f.Set("data[PARAMS][FROM_USER_ID]", "7")
			f.Set("data[PARAMS][AUTHOR_ID]", "7")
			f.Set("data[USER][ID]", "7")
			f.Set("data[USER][IS_CONNECTOR]", "N")
			return f
		}, "an operator"},
		{"an operator's message as the portal sends it", func() url.Values {
			return chat.OperatorSay(bitrix24.User{ID: 27, Name: "Svetlana Ivanova", FirstName: "Svetlana"}, "Leave a request")
		}, "IS_CONNECTOR=N"},
		{"a system message", func() url.Values { return chat.SystemSay("Leave a request") }, "system message"},
		{"a message from nobody", func() url.Values {
			f := chat.Say("Leave a request")
			f.Set("data[PARAMS][FROM_USER_ID]", "0")
			f.Set("data[PARAMS][AUTHOR_ID]", "0")
			return f
		}, "FROM_USER_ID=0"},
		{"a bot's message", func() url.Values {
			f := chat.Say("Leave a request")
			f.Set("data[USER][IS_BOT]", "Y")
			return f
		}, "bot"},
		{"a message update", func() url.Values {
			f := chat.Say("Leave a request")
			f.Set("event", "ONIMBOTMESSAGEUPDATE")
			return f
		}, "does not handle"},
		{"a slash command", func() url.Values { return chat.Command("help", "") }, "not one of olbot's"},
		{"a button of an old keyboard as a command", func() url.Values { return chat.Command("menu", "9") }, "not one of olbot's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.postForm(tc.form(), "")
			why, _ := body["ignored"].(string)
			if status != http.StatusOK || !strings.Contains(why, tc.why) {
				t.Fatalf("answer %d %v, want 200 ignored because %q", status, body, tc.why)
			}
		})
	}
	e.settle()
	if after := e.record(key); after.Rev != before.Rev || after.State != before.State {
		t.Fatalf("an ignored event changed the dialog: %+v → %+v", before, after)
	}
	if n := len(p.Calls()); n != callsBefore {
		t.Fatalf("ignored events made %d portal calls", n-callsBefore)
	}
	// events of an unknown portal (no install, no webhook token) are refused
	other := url.Values{}
	for k, v := range chat.Say("hi") {
		other[k] = v
	}
	other.Set("auth[member_id]", "another-member")
	if status, body := e.postForm(other, ""); status != http.StatusUnauthorized {
		t.Fatalf("event of an unknown portal: %d %v, want 401", status, body)
	}
	if _, err := e.store.Dialog(context.Background(), engine.KeyPortal+"another-member:chat4301"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("an unknown portal's event created a dialog (err %v)", err)
	}
}
