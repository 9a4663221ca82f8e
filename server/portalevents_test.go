package server

import (
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
)

// TestPortalEventsAsDocumented: events as the real portal sends them
// (the documented bodies of fakeportal/testdata/docs) reach the scenario as
// the client meant them.
func TestPortalEventsAsDocumented(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	e.install()

	t.Run("a client of an external connector is the client", func(t *testing.T) {
		// CHAT_ENTITY_ID's 4th part is the channel's own user id, not the
		// Bitrix user (FROM_USER_ID); IS_CONNECTOR=Y says it is the client
		chat := e.chat(1, 5101, "Anna")
		chat.ConnectorUser = "42" // a number, but not the Bitrix user id
		e.send(chat, chat.Join())
		resp := e.send(chat, chat.Say("Leave a request"))
		if resp["outcome"] != "applied" {
			t.Fatalf("answer %v, want the message applied", resp)
		}
		if d := e.record(e.key(chat)); d.State != "ask_name" {
			t.Fatalf("state %q, want ask_name", d.State)
		}
	})

	t.Run("a quoted menu in a reply picks no button", func(t *testing.T) {
		chat := e.chat(1, 5102, "Boris")
		e.send(chat, chat.Join())
		quote := strings.Repeat("-", 54) + "#BR#olbot [02.12.2026 10:00]#BR#1. Leave a request#BR#2. Talk to a person#BR#" + strings.Repeat("-", 54) + "#BR#hm"
		e.send(chat, chat.Say(quote))
		if d := e.record(e.key(chat)); d.State != "welcome" || d.Status != engine.Active {
			t.Fatalf("state %q (%s), want still welcome: the quote chose a button", d.State, d.Status)
		}
		// the reply's own words still count
		e.send(chat, chat.Say(quote+"#BR#Leave a request"))
		if d := e.record(e.key(chat)); d.State != "ask_name" {
			t.Fatalf("state %q, want ask_name", d.State)
		}
	})

	t.Run("a file is a file event, not an empty answer", func(t *testing.T) {
		chat := e.chat(1, 5103, "Clara")
		e.send(chat, chat.Join())
		e.send(chat, chat.Say("Leave a request"))
		resp := e.send(chat, chat.SendFile("passport.jpg"))
		if why, _ := resp["reason"].(string); !strings.Contains(why, "file") {
			t.Fatalf("answer %v, want the reason to name the file", resp)
		}
		d := e.record(e.key(chat))
		if d.State != "ask_name" || d.Fields["name"] != "" || d.Retries != 1 {
			t.Fatalf("state %q fields %v retries %d, want ask_name re-asked once with nothing saved", d.State, d.Fields, d.Retries)
		}
	})

	t.Run("a join while the dialog runs starts a new session", func(t *testing.T) {
		chat := e.chat(1, 5104, "Dina")
		e.send(chat, chat.Join())
		e.send(chat, chat.Say("Leave a request"))
		e.send(chat, chat.Say("dina"))
		e.settle()
		before := len(p.CallsFor(chat.ChatID))
		resp := e.send(chat, chat.Join())
		if resp["outcome"] != "applied" {
			t.Fatalf("join: %v, want a new session", resp)
		}
		d := e.record(e.key(chat))
		if d.State != "welcome" || d.Status != engine.Active || len(d.Fields) != 0 {
			t.Fatalf("state %q (%s) fields %v, want a fresh run in welcome", d.State, d.Status, d.Fields)
		}
		e.settle()
		for _, c := range p.CallsFor(chat.ChatID)[before:] {
			if c.Method != "imopenlines.bot.session.message.send" && c.Method != "imbot.message.add" {
				t.Fatalf("the closed run made a call: %s (closing takes no actions)", c.Method)
			}
		}
	})

	t.Run("a join while handed off starts a new session", func(t *testing.T) {
		chat := e.chat(1, 5105, "Egor")
		e.send(chat, chat.Join())
		e.send(chat, chat.Say("Talk to a person"))
		if d := e.record(e.key(chat)); d.Status != engine.HandedOff {
			t.Fatalf("status %s, want handed off", d.Status)
		}
		e.send(chat, chat.Join())
		if d := e.record(e.key(chat)); d.State != "welcome" || d.Status != engine.Active {
			t.Fatalf("state %q (%s), want a fresh run", d.State, d.Status)
		}
	})
}

// TestCRMBindings: the data a scenario collects goes to the CRM entity the
// chat is bound to (CHAT_ENTITY_DATA_2): a contact or a deal is updated
// instead of creating a duplicate lead.
func TestCRMBindings(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	e.install()
	for _, kind := range []string{"contact", "deal"} {
		t.Run(kind, func(t *testing.T) {
			chat := e.chat(1, 5201+len(kind), "Anna")
			chat.LeadID = 0
			id := p.AddCRM(kind, map[string]any{"NAME": "Anna"})
			if kind == "contact" {
				chat.ContactID = id
			} else {
				chat.DealID = id
			}
			leads := len(p.CallsOf(bitrix24.MethodLeadAdd))
			for _, ev := range supportEvents(chat, "Anna") {
				e.send(chat, ev())
			}
			e.settle()
			if n := len(p.CallsOf(bitrix24.MethodLeadAdd)); n != leads {
				t.Fatalf("%d crm.lead.add calls, want none: the chat is bound to a %s", n-leads, kind)
			}
			got := p.CRM(kind, id)
			switch kind {
			case "contact":
				if emails, _ := got["EMAIL"].([]map[string]string); len(emails) != 1 || emails[0]["VALUE"] != "anna@example.com" {
					t.Fatalf("contact %v, want the collected email", got)
				}
			case "deal":
				if c, _ := got["COMMENTS"].(string); !strings.Contains(c, "email: anna@example.com") {
					t.Fatalf("deal %v, want the collected fields in its comments", got)
				}
			}
		})
	}
}
