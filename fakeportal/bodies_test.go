package fakeportal

import (
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
)

// TestBodyTemplates: SayBody and JoinBody (a shape's template with the
// values filled in) give exactly the bytes of Say and Join (the fixture's
// tree with the values put in, encoded), whatever the values: texts that
// need escaping or look like a placeholder, other chats and clients, a new
// token pair, the clock moving on, a second bot.
func TestBodyTemplates(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	p := New(Config{BaseURL: "http://127.0.0.1:1", Now: func() time.Time { return now }})
	anna := p.Chat(1, 100, bitrix24.User{FirstName: "Anna", Name: "Anna"})
	ivan := p.Chat(2, 101, bitrix24.User{FirstName: "Иван", LastName: "Петров & сын", Name: "Иван Петров & сын"})
	texts := []string{"hello", "", "a&b=c%20d+e", "Анна <anna@example.com>", "line\nbreak\ttab", holePrefix + "00000q", strings.Repeat("x", 3000)}
	// same returns the body the tree path gives for the message (or join)
	// the template path just built: the same counter, the same clock
	same := func(c *Chat, body []byte, tree func() string) {
		t.Helper()
		p.mu.Lock()
		p.nextMessage--
		p.mu.Unlock()
		if want := tree(); string(body) != want {
			t.Fatalf("template body differs from the tree's:\n got %s\nwant %s", body, want)
		}
	}
	for round := range 3 {
		switch round {
		case 1:
			p.mu.Lock()
			p.issueLocked() // a new token pair for the events' auth
			p.mu.Unlock()
			now = now.Add(90 * time.Second)
		case 2:
			p.AddBot("second", "", "http://127.0.0.1:1/h")
			ivan.BotID = p.Bots()[len(p.Bots())-1].ID
			ivan.LeadID, ivan.ContactID = 77, 88
		}
		for _, c := range []*Chat{anna, ivan} {
			body := c.JoinBody()
			p.mu.Lock()
			p.nextMessage++ // a join takes no message id: same's decrement undone
			p.mu.Unlock()
			same(c, body, func() string { return c.Join().Encode() })
			for _, text := range texts {
				body := c.SayBody(text)
				same(c, body, func() string { return c.Say(text).Encode() })
			}
		}
	}
	if len(p.bodies) < 3 {
		t.Fatalf("%d templates, want at least 3 (join, say, say of the second bot)", len(p.bodies))
	}
	for key, tmpl := range p.bodies {
		if tmpl == nil || len(tmpl.holes) < 20 {
			t.Fatalf("template %s: %v; want one with the envelope's and the chat's holes", key, tmpl)
		}
	}
}
