package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/outbox"
)

// installV2 posts ONAPPINSTALL and waits until the imbot.v2 bot's id is on
// the install record.
func (e *env) installV2() outbox.Install {
	e.t.Helper()
	if status, body := e.postForm(e.portal.InstallEvent(), ""); status != http.StatusOK {
		e.t.Fatalf("ONAPPINSTALL: %d %v", status, body)
	}
	var in outbox.Install
	waitFor(e.t, "the imbot.v2 bot registration", func() (bool, string) {
		var err error
		in, err = e.srv.Outbox.Portals().Get(context.Background(), e.member())
		return err == nil && in.V2BotID > 0, fmt.Sprintf("install record %+v, calls %v", in, e.portal.Calls())
	})
	return in
}

// TestInstallV2Webhook: with --bot-api v2 (olbot serve's default for a
// first install) a local application's install registers an imbot.v2 Open
// Lines bot with the application's OAuth tokens in webhook mode, whose
// events the portal posts form-encoded to /bitrix24/events; a whole
// conversation runs through it, verified by the top-level
// auth[application_token], answered with imbot.v2.Chat.Message.send and
// the session methods, all with the application's token and no botToken
// or CLIENT_ID (OAuth binds the bot to the application).
func TestInstallV2Webhook(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { e.cfg.Bitrix24.BotAPI = "auto" })
	in := e.installV2()
	handler := e.base + "/bitrix24/events"
	regs := p.CallsOf(bitrix24.MethodV2BotRegister)
	if len(regs) != 1 || !regs[0].OK() || regs[0].Auth != "oauth" {
		t.Fatalf("Bot.register calls %+v, want one with the application's token", regs)
	}
	wantReg := want(t, "imbot.v2.bot.register", `{"fields":{"code":"olbot","type":"openline","eventMode":"webhook","isSupportOpenline":true,
		"properties":{"name":"olbot"},"webhookUrl":"`+handler+`"}}`)
	if got := call(regs[0]); got != wantReg {
		t.Fatalf("registration:\n got %s\nwant %s", got, wantReg)
	}
	if n := len(p.CallsOf(bitrix24.MethodRegister)); n != 0 || in.BotID != 0 || in.V2Events != "webhook" {
		t.Fatalf("%d imbot.register calls, record %+v: want the v2 bot only", n, in)
	}

	chat := p.V2Chat(in.V2BotID, 1, 801, bitrix24.User{FirstName: "Anna"})
	deliver := func(id int64) {
		t.Helper()
		for _, status := range p.V2Deliver(context.Background(), in.V2BotID) {
			if status != http.StatusOK {
				t.Fatalf("a webhook post of event %d was answered %d:\n%s", id, status, e.logs)
			}
		}
		e.settle()
	}
	deliver(chat.Join())
	deliver(chat.OperatorSay(bitrix24.User{ID: 7, FirstName: "Olga", Name: "Olga Petrova"}, "I am watching"))
	deliver(chat.SystemSay("The session was started"))

	// a post with another application token changes nothing
	id := chat.Say("Leave a request")
	form, ok := p.V2Form(in.V2BotID, id)
	if !ok {
		t.Fatal("no queued event to forge")
	}
	forged := url.Values{}
	for k, v := range form {
		forged[k] = v
	}
	forged.Set("auth[application_token]", "forged-token")
	if status, body := e.postForm(forged, ""); status != http.StatusUnauthorized || body["field"] != "auth[application_token]" {
		t.Fatalf("forged v2 event: %d %v, want 401 naming auth[application_token]", status, body)
	}
	if form.Get("auth[member_id]") != "" || form.Get("data[user][connector]") != "1" || form.Get("data[bot][id]") != fmt.Sprint(in.V2BotID) {
		t.Fatalf("the fake's post is not the documented form (top-level auth of domain and token, scalars as strings): %v", form)
	}
	deliver(id)
	deliver(chat.Say("Anna"))
	deliver(chat.Say("anna@example"))
	deliver(chat.Say("anna@example.com"))
	waitFor(t, "the session finished", func() (bool, string) { return p.ChatState(801) == fakeportal.StateFinished, fmt.Sprint(p.Calls()) })

	var got []string
	for _, m := range p.Messages(chat.DialogID()) {
		got = append(got, m.Kind+": "+m.Text)
	}
	wantMsgs := []string{
		"greeting: Hello, Anna! I am the support assistant.",
		"bot: [SEND=1]1. Leave a request[/SEND][BR][SEND=2]2. Talk to a person[/SEND]",
		"bot: How may I call you?",
		"bot: Anna, what is your email?",
		"bot: That does not look like an email. Example: anna@example.com",
		"bot: Thank you, Anna! We will write to anna@example.com.",
	}
	if strings.Join(got, "\n") != strings.Join(wantMsgs, "\n") {
		t.Fatalf("messages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantMsgs, "\n"))
	}
	access, _ := p.Tokens()
	for _, c := range p.Calls() {
		if c.Method == "oauth/token" || c.Method == strings.ToLower(bitrix24.MethodV2BotRegister) || c.Method == "event.bind" {
			continue
		}
		// A batched sub-call travels under its batch's auth (the batch itself is checked here too).
		tokenOK := c.Str("auth") == access || c.Batch != ""
		if c.Auth != "oauth" || !tokenOK || c.Params["botToken"] != nil || c.Params["CLIENT_ID"] != nil || !c.OK() {
			t.Errorf("call %s %v (%s): want the application's token, no botToken or CLIENT_ID, accepted", c.Method, c.Params, c.Error)
		}
	}
	if n := len(p.CallsOf(bitrix24.MethodMessageAdd)); n != 0 {
		t.Fatalf("%d imbot.message.add calls: the v2 bot answers with imbot.v2.Chat.Message.send", n)
	}
	if n := len(p.CallsOf(bitrix24.MethodV2MessageSend)); n != 5 {
		t.Fatalf("%d Chat.Message.send calls, want 5", n)
	}
	leads := p.CallsOf(bitrix24.MethodLeadAdd)
	if len(leads) != 1 || !strings.Contains(fmt.Sprint(leads[0].Params["fields"]), "imol|"+chat.EntityID()) {
		t.Fatalf("crm.lead.add %+v, want one with the chat's IM binding", leads)
	}
}

// TestInstallBotAPI: which platform an install registers its bot with.
// "auto" (olbot serve's default) takes v2 for a first install and keeps a
// portal installed with v1 on v1; "v2" gives a v1 portal a v2 bot beside
// its v1 bot (code olbot_v2: the v1 bot keeps olbot) at its next install;
// "v1" (and the server's zero value) registers the v1 bot only. The v2
// bot of "fetch" events is registered in fetch mode.
func TestInstallBotAPI(t *testing.T) {
	for _, tc := range []struct {
		name, api, events string
		v1First           bool   // the portal is installed with v1 first
		v1, v2            int    // imbot.register and imbot.v2.Bot.register calls after the (second) install
		code, mode        string // the v2 registration's code and eventMode
	}{
		{name: "auto, first install", api: "auto", v2: 1, code: "olbot", mode: "webhook"},
		{name: "auto, fetch events", api: "auto", events: "fetch", v2: 1, code: "olbot", mode: "fetch"},
		{name: "auto keeps a v1 install on v1", api: "auto", v1First: true, v1: 1},
		{name: "v2 asked for a v1 install", api: "v2", v1First: true, v1: 1, v2: 1, code: "olbot_v2", mode: "webhook"},
		{name: "v1", api: "v1", v1: 1},
		{name: "zero value", api: "", v1: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPortal(t, fakeportal.Config{})
			e := startEnv(t, p, func(e *env) { e.bolt = true })
			if tc.v1First {
				e.install() // with the server's zero value: v1
			}
			e.stop()
			e.cfg.Bitrix24.BotAPI, e.cfg.Bitrix24.Events = tc.api, tc.events
			e.start()
			if status, body := e.postForm(p.InstallEvent(), ""); status != http.StatusOK {
				t.Fatalf("ONAPPINSTALL: %d %v", status, body)
			}
			e.settle()
			v1, v2 := p.CallsOf(bitrix24.MethodRegister), p.CallsOf(bitrix24.MethodV2BotRegister)
			if len(v1) != tc.v1 || len(v2) != tc.v2 {
				t.Fatalf("%d imbot.register and %d imbot.v2.Bot.register calls, want %d and %d", len(v1), len(v2), tc.v1, tc.v2)
			}
			if tc.v2 == 0 {
				return
			}
			fields, _ := v2[0].Params["fields"].(map[string]any)
			if fields["code"] != tc.code || fields["eventMode"] != tc.mode || !v2[0].OK() {
				t.Fatalf("Bot.register fields %v (%s), want code %s, eventMode %s", fields, v2[0].Error, tc.code, tc.mode)
			}
			in, err := e.srv.Outbox.Portals().Get(context.Background(), e.member())
			if err != nil || in.V2BotID == 0 || in.V2Events != tc.mode || (tc.v1First != (in.BotID != 0)) {
				t.Fatalf("install record %+v, %v", in, err)
			}
		})
	}
}

// TestV2WebhookRefused: a v2 webhook post that does not have the
// documented shape is a 400 naming the field, one that no installed
// portal's application token proves is a 401; neither changes anything.
func TestV2WebhookRefused(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { e.cfg.Bitrix24.BotAPI = "v2" })
	in := e.installV2()
	chat := p.V2Chat(in.V2BotID, 1, 811, bitrix24.User{FirstName: "Anna"})
	form, _ := p.V2Form(in.V2BotID, chat.Join())
	for _, tc := range []struct {
		name   string
		change func(f url.Values)
		status int
		field  string
	}{
		{"a message id that is no number", func(f url.Values) {
			f.Set("event", bitrix24.EventV2MessageAdd)
			f.Set("data[message][id]", "abc")
			f.Set("data[message][chatId]", "811")
			f.Set("data[message][authorId]", "100811")
		}, http.StatusBadRequest, "data[message][id]"},
		{"an undocumented event", func(f url.Values) { f.Set("event", "ONIMBOTV2SOMETHING") }, http.StatusBadRequest, "event"},
		{"no top-level token", func(f url.Values) { f.Del("auth[application_token]") }, http.StatusUnauthorized, "auth[application_token]"},
		{"a token only in the bot's group", func(f url.Values) {
			f.Set("data[bot][auth][application_token]", f.Get("auth[application_token]"))
			f.Set("auth[application_token]", "forged-token")
		}, http.StatusUnauthorized, "auth[application_token]"},
		{"an unknown portal", func(f url.Values) { f.Set("auth[domain]", "other.bitrix24.com") }, http.StatusUnauthorized, "auth[domain]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = append([]string(nil), v...)
			}
			tc.change(f)
			if status, body := e.postForm(f, ""); status != tc.status || body["field"] != tc.field {
				t.Fatalf("%d %v, want %d naming %s", status, body, tc.status, tc.field)
			}
			if _, err := e.store.Dialog(context.Background(), "b24:"+e.member()+":"+chat.DialogID()); err == nil {
				t.Fatal("a refused post made a dialog")
			}
		})
	}
}
