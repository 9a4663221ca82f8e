package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// portalPost posts an event as the portal would and fails on anything
// but 200.
func portalPost(t *testing.T, p *fakeportal.Portal, target string, form map[string][]string) {
	t.Helper()
	resp, err := p.Post(context.Background(), target, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s answered %s to %s", target, resp.Status, form["event"])
	}
}

// TestMoveV1BotToV2 moves a line from the v1 bot to the v2 bot the way the
// README says, with a dialog running: the dialog starts under the v1 bot
// (a local application, or the v1 webhook mode), collects the client's
// name, and olbot is restarted on the same store in fetch mode with a v2
// bot of a new code; the chat's next message, now an imbot.v2 event,
// continues the dialog where it was, with the name it collected, and its
// replies and session calls go out the v2 way.
func TestMoveV1BotToV2(t *testing.T) {
	for _, tc := range []struct {
		name string
		v1   func(p *fakeportal.Portal) (args []string, handler func(base string) string)
	}{
		{"local application", func(p *fakeportal.Portal) ([]string, func(string) string) {
			return []string{"--oauth-url", p.TokenURL(), "--app-client-id", p.Config().ClientID, "--app-client-secret", p.Config().ClientSecret, "--bot-api", "v1"},
				func(base string) string { return base + "/bitrix24/events" }
		}},
		{"v1 webhook mode", func(p *fakeportal.Portal) ([]string, func(string) string) {
			p.AddBot("olbot", "olbot_move_client", "http://127.0.0.1:1/bitrix24/events?k=movesecret")
			return []string{"--webhook", p.WebhookURL(), "--client-id", "olbot_move_client", "--handler-secret", "movesecret"},
				func(base string) string { return base + "/bitrix24/events?k=movesecret" }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, hs := fakeportal.NewServer(fakeportal.Config{Burst: -1})
			defer hs.Close()
			store := []string{"--store", filepath.Join(t.TempDir(), "olbot.db"), "--scenarios", "../../examples", "--rate", "50,100"}
			v1args, handler := tc.v1(p)
			v1 := startServe(t, append(v1args, store...)...)
			events := handler("http://" + v1.addr)
			if strings.Contains(tc.name, "local") {
				portalPost(t, p, events, p.InstallEvent())
				waitFor(t, "the v1 bot's registration", func() (bool, string) { return len(p.Bots()) == 1, fmt.Sprint(p.Calls()) })
			}
			chat := p.Chat(1, 701, bitrix24.User{FirstName: "Anna"})
			dialog := "chat701"
			n := func(k int, last string) func() (bool, string) {
				return func() (bool, string) {
					r := replies(p, dialog)
					return len(r) >= k && strings.Contains(r[k-1], last), strings.Join(r, "\n")
				}
			}
			portalPost(t, p, events, chat.Join())
			waitFor(t, "the v1 greeting and menu", n(2, "Leave a request"))
			portalPost(t, p, events, chat.Say("Leave a request"))
			waitFor(t, "the name question", n(3, "How may I call you?"))
			portalPost(t, p, events, chat.Say("Anna"))
			waitFor(t, "the email question", n(4, "Anna, what is your email?"))
			// the portal has the question; wait until olbot recorded it sent,
			// or a stop in between leaves it to be sent again (at least once)
			waitFor(t, "the v1 outbox drained", func() (bool, string) {
				resp, err := http.Get("http://" + v1.addr + "/v1/dialogs/" + url.PathEscape("b24:"+p.Config().MemberID+":"+dialog))
				if err != nil {
					return false, err.Error()
				}
				defer resp.Body.Close()
				var d struct {
					State string            `json:"state"`
					Calls []json.RawMessage `json:"calls"`
				}
				err = json.NewDecoder(resp.Body).Decode(&d)
				return err == nil && d.State == "ask_email" && len(d.Calls) == 0, fmt.Sprintf("%+v %v", d, err)
			})
			v1.end(t)
			v1Sends := len(p.CallsOf(bitrix24.MethodMessageAdd))

			// the move: a v2 bot under a new code, in fetch mode, on the same store
			startServe(t, append([]string{"--webhook", p.WebhookURL(), "--bot-code", "olbot2", "--poll-interval", "50ms", "--poll-idle", "100ms"}, store...)...)
			var bot fakeportal.V2Bot
			for _, b := range p.V2Bots() {
				if b.Code == "olbot2" {
					bot = b
				}
			}
			if bot.ID == 0 {
				t.Fatalf("no v2 bot olbot2 registered: %+v", p.V2Bots())
			}
			v2chat := p.V2Chat(bot.ID, 1, 701, bitrix24.User{FirstName: "Anna"})
			v2chat.Say("anna@example.com")
			waitFor(t, "the thanks with the name collected under v1", n(5, "Thank you, Anna! We will write to anna@example.com."))
			waitFor(t, "the session finished", func() (bool, string) { return p.ChatState(701) == fakeportal.StateFinished, fmt.Sprint(p.Calls()) })
			if got := len(p.CallsOf(bitrix24.MethodMessageAdd)); got != v1Sends {
				t.Fatalf("%d imbot.message.add calls after the move, want none (the v2 bot answers)", got-v1Sends)
			}
			thanks := p.CallsOf(bitrix24.MethodV2MessageSend)
			if len(thanks) != 1 || thanks[0].Int("botId") != bot.ID || thanks[0].Error != "" {
				t.Fatalf("Chat.Message.send calls %+v, want the thanks from bot %d", thanks, bot.ID)
			}
			finish := p.CallsOf(bitrix24.MethodSessionFinish)
			if len(finish) != 1 || finish[0].Str("CLIENT_ID") != bot.Token {
				t.Fatalf("session.finish %+v, want one with CLIENT_ID = the v2 botToken", finish)
			}
			lead := p.Lead(chat.LeadID)
			if lead["NAME"] != "Anna" || !strings.Contains(fmt.Sprint(lead["EMAIL"]), "anna@example.com") {
				t.Fatalf("the chat's lead %v, want the name from v1 and the email from v2", lead)
			}
		})
	}
}

// TestServeLocalAppV2 installs olbot as a local application into the fake
// portal with the defaults (--bot-api auto: v2 for a first install) in
// both event modes — webhook (the portal posts ONIMBOTV2* form-encoded to
// /bitrix24/events) and fetch (--events fetch: olbot polls Event.get with
// the application's token; an event without the documented shape is
// listed at GET /v1/rejected and skipped) — and runs a whole
// conversation through it.
func TestServeLocalAppV2(t *testing.T) {
	for _, mode := range []string{"webhook", "fetch"} {
		t.Run(mode, func(t *testing.T) {
			p, hs := fakeportal.NewServer(fakeportal.Config{Burst: -1})
			defer hs.Close()
			args := []string{"--oauth-url", p.TokenURL(), "--app-client-id", p.Config().ClientID, "--app-client-secret", p.Config().ClientSecret,
				"--store", "memory", "--scenarios", "../../examples", "--rate", "50,100", "--poll-interval", "50ms", "--poll-idle", "100ms"}
			if mode == "fetch" {
				args = append(args, "--events", "fetch")
			}
			s := startServe(t, args...)
			portalPost(t, p, "http://"+s.addr+"/bitrix24/events", p.InstallEvent())
			waitFor(t, "the imbot.v2 bot's registration", func() (bool, string) {
				return len(p.V2Bots()) == 1, fmt.Sprint(p.Calls())
			})
			bot := p.V2Bots()[0]
			if bot.EventMode != mode || bot.Token != "" || len(p.CallsOf(bitrix24.MethodRegister)) != 0 {
				t.Fatalf("bot %+v, want an OAuth bot (no botToken) in %s mode and no v1 bot", bot, mode)
			}
			chat := p.V2Chat(bot.ID, 1, 901, bitrix24.User{FirstName: "Anna"})
			var badID int64
			if mode == "fetch" {
				// an event without the documented shape is kept as
				// rejected (GET /v1/rejected) and skipped: the events
				// behind it are answered
				badID = p.V2Push(bot.ID, bitrix24.EventV2MessageAdd, map[string]any{"bot": map[string]any{"id": bot.ID}, "message": map[string]any{"id": "abc"}})
			}
			say := func(k int, last string, queue func() int64) {
				t.Helper()
				queue()
				if mode == "webhook" {
					for _, st := range p.V2Deliver(context.Background(), bot.ID) {
						if st != http.StatusOK {
							t.Fatalf("olbot answered a webhook post with %d:\n%s", st, s.stderr)
						}
					}
				}
				waitFor(t, last, func() (bool, string) {
					r := replies(p, chat.DialogID())
					return len(r) >= k && strings.Contains(r[k-1], last), strings.Join(r, "\n") + "\n" + s.stderr.String()
				})
			}
			say(2, "Leave a request", chat.Join)
			say(3, "How may I call you?", func() int64 { return chat.Say("Leave a request") })
			say(4, "Anna, what is your email?", func() int64 { return chat.Say("Anna") })
			say(5, "Thank you, Anna!", func() int64 { return chat.Say("anna@example.com") })
			waitFor(t, "the session finished", func() (bool, string) { return p.ChatState(901) == fakeportal.StateFinished, fmt.Sprint(p.Calls()) })
			if mode == "fetch" {
				waitFor(t, "every event confirmed", func() (bool, string) { return p.V2Pending(bot.ID) == 0, "" })
				wantRejected(t, s.addr, badID)
			}
			for _, c := range p.CallsOf(bitrix24.MethodV2MessageSend) {
				if c.Auth != "oauth" || c.Params["botToken"] != nil || !c.OK() {
					t.Errorf("Chat.Message.send %v (%s): want the application's token and no botToken", c.Params, c.Error)
				}
			}
			if n := len(p.CallsOf(bitrix24.MethodV2EventGet)); (mode == "fetch") != (n > 0) {
				t.Errorf("%d Event.get calls in %s mode", n, mode)
			}
		})
	}
}

// TestServeBotAPIv2MovesV1Install: a portal installed with the v1 bot
// stays v1 under the default; `--bot-api v2` registers its v2 bot at the
// next start, beside the v1 one (code olbot_v2), with the handler URL the
// install came to.
func TestServeBotAPIv2MovesV1Install(t *testing.T) {
	p, hs := fakeportal.NewServer(fakeportal.Config{Burst: -1})
	defer hs.Close()
	app := []string{"--oauth-url", p.TokenURL(), "--app-client-id", p.Config().ClientID, "--app-client-secret", p.Config().ClientSecret,
		"--store", filepath.Join(t.TempDir(), "olbot.db"), "--scenarios", "../../examples"}
	v1 := startServe(t, append(app, "--bot-api", "v1")...)
	handler := "http://" + v1.addr + "/bitrix24/events"
	portalPost(t, p, handler, p.InstallEvent())
	waitFor(t, "the v1 bot", func() (bool, string) { return len(p.Bots()) == 1, fmt.Sprint(p.Calls()) })
	v1.end(t)

	startServe(t, app...).end(t) // the default, auto: a v1 install stays v1
	if n := len(p.CallsOf(bitrix24.MethodV2BotRegister)); n != 0 {
		t.Fatalf("%d imbot.v2.Bot.register calls under --bot-api auto, want none", n)
	}
	v2 := startServe(t, append(app, "--bot-api", "v2")...)
	waitFor(t, "the v2 bot beside the v1 bot", func() (bool, string) { return len(p.V2Bots()) == 1, v2.stderr.String() })
	bot := p.V2Bots()[0]
	if bot.Code != "olbot_v2" || bot.EventMode != "webhook" || bot.WebhookURL != handler || len(p.Bots()) != 2 {
		t.Fatalf("v2 bot %+v (bots %+v), want olbot_v2 in webhook mode at %s beside the v1 bot", bot, p.Bots(), handler)
	}
}
