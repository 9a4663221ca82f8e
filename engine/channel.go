package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Dialog key namespaces: each channel addresses only its own dialogs.
const (
	KeyPortal     = "b24:" // b24:<portal>:<DIALOG_ID>, a Bitrix24 Open Lines chat (<portal>: outbox.Portals.PortalID)
	KeyAPI        = "api:" // api:<dialog>, POST /v1/events
	KeyPlayground = "pg:"  // pg:<session>, the playground page; never reaches a portal
)

// Channel is where a dialog's replies go, as the channel its events come
// from last told: the portal chat for a Bitrix24 dialog. The engine never
// reads it. Records keep it as the string pairs older versions wrote
// (member, domain, dialog, chat, bot, playground), so records of every
// version decode.
type Channel struct {
	Member     string // the portal's member_id
	Domain     string // the portal's domain
	Dialog     string // the portal's DIALOG_ID (chat<N>)
	Chat       int    // the Open Lines chat id
	Bot        int    // the bot the chat's events come to
	Playground bool   // a playground dialog: it never reaches a portal
	// V2 says Bot is an imbot.v2 bot: its replies go out through
	// imbot.v2.Chat.Message.send. It travels with Bot (Merge).
	V2 bool
	// Entity is the Open Lines user code (CHAT_ENTITY_ID,
	// connector|line|chat|user): a new lead gets it as its IM binding.
	Entity string
	// Contact and Deal are the CRM contact and deal the chat is bound to
	// (CHAT_ENTITY_DATA_2): collected data goes there instead of into a
	// duplicate lead.
	Contact, Deal int
}

// IsZero reports whether no channel has addressed the dialog.
func (c Channel) IsZero() bool { return c == Channel{} }

// Merge returns c with the values set in n replacing its own: an event
// that does not carry the bot keeps the one an earlier event named.
func (c Channel) Merge(n Channel) Channel {
	for _, f := range []struct{ dst, src *string }{{&c.Member, &n.Member}, {&c.Domain, &n.Domain}, {&c.Dialog, &n.Dialog}, {&c.Entity, &n.Entity}} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
	if n.Chat != 0 {
		c.Chat = n.Chat
	}
	if n.Bot != 0 {
		c.Bot, c.V2 = n.Bot, n.V2 // the bot that named itself says its platform
	}
	if n.Contact != 0 {
		c.Contact = n.Contact
	}
	if n.Deal != 0 {
		c.Deal = n.Deal
	}
	c.Playground = c.Playground || n.Playground
	return c
}

// pairs is the channel as the record's string pairs; nil when empty.
func (c Channel) pairs() map[string]string {
	if c.IsZero() {
		return nil
	}
	m := make(map[string]string, 6)
	c.each(func(k, v string) { m[k] = v })
	return m
}

// each calls fn with every pair that is set, in key order (the order of
// the record's sorted pairs).
func (c Channel) each(fn func(k, v string)) {
	var num [20]byte
	if c.Bot != 0 {
		fn("bot", string(strconv.AppendInt(num[:0], int64(c.Bot), 10)))
	}
	if c.Chat != 0 {
		fn("chat", string(strconv.AppendInt(num[:0], int64(c.Chat), 10)))
	}
	for _, p := range [...]struct{ k, v string }{{"dialog", c.Dialog}, {"domain", c.Domain}, {"member", c.Member}} {
		if p.v != "" {
			fn(p.k, p.v)
		}
	}
	if c.Playground {
		fn("playground", "true")
	}
	if c.V2 {
		fn("v2", "true")
	}
}

// set sets the pair k, naming it when its value does not parse.
func (c *Channel) set(k, v string) error {
	var err error
	switch k {
	case "member":
		c.Member = v
	case "domain":
		c.Domain = v
	case "dialog":
		c.Dialog = v
	case "chat":
		c.Chat, err = strconv.Atoi(v)
	case "bot":
		c.Bot, err = strconv.Atoi(v)
	case "playground":
		c.Playground, err = strconv.ParseBool(v)
	case "v2":
		c.V2, err = strconv.ParseBool(v)
	default:
		return fmt.Errorf("channel: unknown key %q", k)
	}
	if err != nil {
		return fmt.Errorf("channel %s %q: %w", k, v, err)
	}
	return nil
}

// channelOf reads the record's string pairs, naming the pair that is wrong.
func channelOf(m map[string]string) (Channel, error) {
	var c Channel
	for k, v := range m {
		if err := c.set(k, v); err != nil {
			return Channel{}, err
		}
	}
	return c, nil
}

// MarshalJSON writes the channel as the string pairs of older records. The
// pairs are written directly when every value is plain printable ASCII
// (ids, domains, numbers: the usual case), through a map otherwise.
func (c Channel) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 128)
	b = append(b, '{')
	plain := true
	c.each(func(k, v string) {
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] >= 0x7f || v[i] == '"' || v[i] == '\\' || v[i] == '<' || v[i] == '>' || v[i] == '&' {
				plain = false
			}
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(append(append(append(append(b, '"'), k...), `":"`...), v...), '"')
	})
	if !plain {
		return json.Marshal(c.pairs())
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads the string pairs MarshalJSON (and older versions) wrote.
func (c *Channel) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	out, err := channelOf(m)
	if err != nil {
		return err
	}
	*c = out
	return nil
}
