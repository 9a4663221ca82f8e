package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
)

// step is one client event of a conversation and the portal calls it must
// produce, in order (JSON params; %[1]d is the chat id, %[2]d the bot id,
// %[3]d the chat's lead).
type step struct {
	event func(*fakeportal.Chat) url.Values
	calls []string // "method {params}"
}

func join(c *fakeportal.Chat) url.Values { return c.Join() }

func say(text string) func(*fakeportal.Chat) url.Values {
	return func(c *fakeportal.Chat) url.Values { return c.Say(text) }
}

func click(n int) func(*fakeportal.Chat) url.Values {
	return func(c *fakeportal.Chat) url.Values {
		f := c.Command("menu", fmt.Sprint(n))
		for k := range f {
			if strings.HasSuffix(k, "[COMMAND_CONTEXT]") {
				f.Set(k, "KEYBOARD")
			}
		}
		return f
	}
}

const supportMenu = `imbot.message.add {"DIALOG_ID":"chat%[1]d","BOT_ID":%[2]d,"MESSAGE":"[SEND=1]1. Leave a request[/SEND][BR][SEND=2]2. Talk to a person[/SEND]",
	"KEYBOARD":{"BOT_ID":%[2]d,"BUTTONS":[{"TEXT":"Leave a request","ACTION":"SEND","ACTION_VALUE":"Leave a request","DISPLAY":"LINE"},
	{"TEXT":"Talk to a person","ACTION":"SEND","ACTION_VALUE":"Talk to a person","DISPLAY":"LINE"}]}}`

func greeting(name string) string {
	return `imopenlines.bot.session.message.send {"CHAT_ID":%[1]d,"NAME":"DEFAULT","MESSAGE":"Hello, ` + name + `! I am the support assistant."}`
}

func botSays(text string) string {
	return `imbot.message.add {"DIALOG_ID":"chat%[1]d","BOT_ID":%[2]d,"MESSAGE":"` + text + `"}`
}

// expand turns a step's call templates into call renderings for a chat.
func expand(tb testing.TB, chat *fakeportal.Chat, bot int, tmpl string) string {
	tb.Helper()
	method, params, ok := strings.Cut(tmpl, " ")
	if !ok {
		tb.Fatalf("bad call template %q", tmpl)
	}
	return want(tb, method, fmt.Sprintf(params, chat.ChatID, bot, chat.LeadID))
}

func TestConversations(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { e.bolt = true })
	bot := e.install()

	tests := []struct {
		name      string
		line      int
		client    string
		steps     []step
		wantState string // dialog state and status at the end
		wantStat  engine.Status
		wantChat  string // fake portal's chat state at the end
	}{
		{
			name: "support: name, a bad email, email, lead updated, finished", line: 1, client: "Anna",
			steps: []step{
				{join, []string{greeting("Anna"), supportMenu}},
				{say("Leave a request"), []string{botSays("How may I call you?")}},
				{say("anna"), []string{botSays("Anna, what is your email?")}},
				{say("not an email"), []string{botSays("That does not look like an email. Example: anna@example.com")}},
				{say("Anna@Example.COM"), []string{
					botSays("Thank you, Anna! We will write to Anna@example.com."),
					`crm.lead.update {"id":%[3]d,"fields":{"NAME":"Anna","EMAIL":[{"VALUE":"Anna@example.com","VALUE_TYPE":"WORK"}]}}`,
					`imopenlines.bot.session.finish {"CHAT_ID":%[1]d}`,
				}},
			},
			wantState: "thanks", wantStat: engine.Finished, wantChat: fakeportal.StateFinished,
		},
		{
			name: "the typed number of a menu item chooses it", line: 3, client: "Boris",
			steps: []step{
				{join, []string{greeting("Boris"), supportMenu}},
				{say("1"), []string{botSays("How may I call you?")}},
			},
			wantState: "ask_name", wantStat: engine.Active, wantChat: fakeportal.StateBot,
		},
		{
			name: "handoff to any free operator", line: 1, client: "Vera",
			steps: []step{
				{join, []string{greeting("Vera"), supportMenu}},
				{say("Talk to a person"), []string{botSays("Connecting you to an operator…"), `imopenlines.bot.session.operator {"CHAT_ID":%[1]d}`}},
				{say("hello?"), nil}, // an operator has the chat: ignored
			},
			wantState: "handoff", wantStat: engine.HandedOff, wantChat: fakeportal.StateOperator,
		},
		{
			// olbot's buttons are ACTION=SEND: a click arrives as the
			// button's text. ONIMCOMMANDADD comes only for registered
			// commands, which olbot has none of (it used to read a click
			// from one): it is ignored and changes nothing.
			name: "a menu click arrives as the button's text; ONIMCOMMANDADD is ignored", line: 1, client: "Gleb",
			steps: []step{
				{join, []string{greeting("Gleb"), supportMenu}},
				{click(2), nil},
				{say("Talk to a person"), []string{botSays("Connecting you to an operator…"), `imopenlines.bot.session.operator {"CHAT_ID":%[1]d}`}},
			},
			wantState: "handoff", wantStat: engine.HandedOff, wantChat: fakeportal.StateOperator,
		},
		{
			// Incoming text is cleaned first as the official example bot
			// does ([URL=…]text[/URL] keeps its text); BB-codes the clean-up
			// leaves ([SEND=…]) are escaped in the echo.
			name: "transfer to another line; client BB-codes are cleaned or escaped in the echo", line: 5, client: "Dina",
			steps: []step{
				{join, []string{botSays("Say something")}},
				{say("see [URL=https://evil.example]this[/URL] [SEND=x]go[/SEND]"), []string{
					botSays("You wrote: see this [\u200bSEND=x]go[\u200b/SEND]"),
					`imopenlines.bot.session.transfer {"CHAT_ID":%[1]d,"QUEUE_ID":7,"LEAVE":"Y"}`,
				}},
			},
			wantState: "echo", wantStat: engine.HandedOff, wantChat: fakeportal.StateTransferred,
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chat := e.chat(tc.line, 2001+i, tc.client)
			var wantCalls []string
			for _, st := range tc.steps {
				resp := e.send(chat, st.event(chat))
				if resp["ok"] != true {
					t.Fatalf("answer %v", resp)
				}
				for _, c := range st.calls {
					wantCalls = append(wantCalls, expand(t, chat, bot, c))
				}
				// each step's calls arrive before the next event is posted
				checkCalls(t, waitDelivered(t, p, len(wantCalls), about(chat)), wantCalls)
			}
			e.settle()
			checkCalls(t, delivered(p, about(chat)), wantCalls)
			d := e.dialog(e.key(chat))
			if d.State != tc.wantState || d.Status != string(tc.wantStat) || d.Scenario == "" || d.Line != tc.line || len(d.Calls) != 0 {
				t.Fatalf("dialog %+v; want state %s, status %s, line %d, no pending calls", d, tc.wantState, tc.wantStat, tc.line)
			}
			if got := p.ChatState(chat.ChatID); got != tc.wantChat {
				t.Fatalf("portal chat state %q, want %q", got, tc.wantChat)
			}
		})
	}

	t.Run("WRONG_CHAT on handoff counts as done", func(t *testing.T) {
		chat := e.chat(1, 2101, "Egor")
		e.send(chat, chat.Join())
		p.SetChatState(chat.ChatID, fakeportal.StateOperator) // a person took the chat meanwhile
		e.send(chat, chat.Say("Talk to a person"))
		e.send(chat, chat.Say("anyone?")) // ignored: handed off
		e.settle()
		var ops []fakeportal.Call
		for _, c := range p.CallsFor(chat.ChatID) {
			if c.Method == bitrix24.MethodSessionOperator {
				ops = append(ops, c)
			}
		}
		if len(ops) != 1 || ops[0].Error != "WRONG_CHAT" {
			t.Fatalf("session.operator calls %+v, want one answered WRONG_CHAT", ops)
		}
		if d := e.dialog(e.key(chat)); d.Status != string(engine.HandedOff) || len(d.Calls) != 0 {
			t.Fatalf("dialog %+v: want handed off with no pending or parked call", d)
		}
	})

	t.Run("no lead on the chat: the lead is created, saved and updated next time", func(t *testing.T) {
		chat := e.chat(1, 2201, "Zoya")
		chat.LeadID = 0
		for _, ev := range supportEvents(chat, "Zoya") {
			e.send(chat, ev())
		}
		e.settle()
		var add *fakeportal.Call
		for _, c := range p.CallsOf(bitrix24.MethodLeadAdd) {
			if c.OK() {
				add = &c
			}
		}
		if add == nil {
			t.Fatal("no crm.lead.add was delivered")
		}
		// a new lead carries the chat's IM binding (imol|<Open Lines user code>)
		imol := fmt.Sprintf(`"IM":[{"VALUE":"imol|telegrambot|1|%d|%d","VALUE_TYPE":"OPENLINE"}]`, 173633217+chat.ChatID, chat.Client.ID)
		if got, w := call(*add), want(t, "crm.lead.add", `{"fields":{"NAME":"Zoya","EMAIL":[{"VALUE":"zoya@example.com","VALUE_TYPE":"WORK"}],`+imol+`}}`); got != w {
			t.Fatalf("lead add:\n got %s\nwant %s", got, w)
		}
		lead := 0
		fmt.Sscan(fmt.Sprint(add.Result), &lead)
		if f := p.Lead(lead); f == nil || f["NAME"] != "Zoya" {
			t.Fatalf("portal lead %d: %v", lead, f)
		}
		waitFor(t, "the new lead id on the dialog", func() (bool, string) {
			d := e.record(e.key(chat))
			return d.LeadID == lead, fmt.Sprintf("lead %d", d.LeadID)
		})
		// a new run of the same chat writes into the lead it created
		e.send(chat, chat.Say("Leave a request"))
		e.send(chat, chat.Say("Zoya"))
		e.send(chat, chat.Say("zoya@mail.example.com"))
		e.settle()
		chat.LeadID = lead
		got := delivered(p, func(c fakeportal.Call) bool { return strings.HasPrefix(c.Method, "crm.lead.") })
		wantLast := want(t, "crm.lead.update", fmt.Sprintf(`{"id":%d,"fields":{"NAME":"Zoya","EMAIL":[{"VALUE":"zoya@mail.example.com","VALUE_TYPE":"WORK"}]}}`, lead))
		if len(got) == 0 || got[len(got)-1] != wantLast {
			t.Fatalf("crm calls %q; want the last to be %s", got, wantLast)
		}
		if n := len(p.CallsOf(bitrix24.MethodLeadAdd)); n != 1 {
			t.Fatalf("crm.lead.add called %d times, want once", n)
		}
	})
}

func TestWebhookConversation(t *testing.T) {
	const clientID, secret = "olbot-webhook-client", "handler-secret-k"
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) { webhookMode(e, p, clientID, secret) })
	bot := p.AddBot("olbot", clientID, e.base+"/bitrix24/events?k="+url.QueryEscape(secret))
	chat := e.chat(1, 3001, "Anna")
	if chat.BotID != bot {
		t.Fatalf("chat bot %d, want %d", chat.BotID, bot)
	}

	// without k (and no application token configured) the event is refused
	status, body := e.postForm(chat.Join(), "")
	if status != http.StatusUnauthorized || body["code"] != EUnauthorized {
		t.Fatalf("event without k: %d %v, want 401", status, body)
	}
	if status, body := e.postForm(chat.Join(), "k=wrong"); status != http.StatusUnauthorized {
		t.Fatalf("event with a wrong k: %d %v, want 401", status, body)
	}
	if _, err := e.store.Dialog(context.Background(), e.key(chat)); err == nil {
		t.Fatal("a refused event created the dialog")
	}

	for _, ev := range supportEvents(chat, "Anna") {
		e.send(chat, ev()) // the registered handler carries ?k=
	}
	e.settle()
	checkCalls(t, delivered(p, about(chat)), supportFlow(t, chat, bot, "Anna"))
	for _, c := range p.Calls() {
		if !about(chat)(c) {
			continue
		}
		if c.Auth != "webhook" {
			t.Errorf("%s went through %q, want the webhook", c.Method, c.Auth)
		}
		needsID := strings.HasPrefix(c.Method, "imbot.") || strings.HasPrefix(c.Method, "imopenlines.bot.")
		if got := c.Str("CLIENT_ID"); needsID && got != clientID {
			t.Errorf("%s has CLIENT_ID %q, want %q", c.Method, got, clientID)
		}
	}
	if got := p.ChatState(chat.ChatID); got != fakeportal.StateFinished {
		t.Fatalf("portal chat state %q, want finished", got)
	}
}

func TestWebhookApplicationToken(t *testing.T) {
	// an event passes with the configured application token even without k
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, func(e *env) {
		webhookMode(e, p, "olbot-client", "some-secret")
		e.cfg.Bitrix24.AppToken = p.Config().ApplicationToken
	})
	p.AddBot("olbot", "olbot-client", e.base+"/bitrix24/events")
	chat := e.chat(1, 3101, "Anna")
	if status, body := e.postForm(chat.Join(), ""); status != http.StatusOK {
		t.Fatalf("event with the application token: %d %v", status, body)
	}
	forged := chat.Say("Leave a request")
	forged.Set("auth[application_token]", "forged")
	if status, body := e.postForm(forged, ""); status != http.StatusUnauthorized || body["field"] != "auth[application_token]" {
		t.Fatalf("forged token without k: %d %v, want 401 naming auth[application_token]", status, body)
	}
	if status, body := e.postForm(forged, "k=some-secret"); status != http.StatusOK {
		t.Fatalf("forged token with the right k: %d %v, want 200 (either check passes)", status, body)
	}
}
