package engine

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Dialog key namespaces: each channel addresses only its own dialogs.
const (
	KeyPortal     = "b24:" // b24:<member_id>:<DIALOG_ID>, a Bitrix24 Open Lines chat
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
		c.Bot = n.Bot
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
	for k, v := range map[string]string{"member": c.Member, "domain": c.Domain, "dialog": c.Dialog, "entity": c.Entity} {
		if v != "" {
			m[k] = v
		}
	}
	if c.Chat != 0 {
		m["chat"] = strconv.Itoa(c.Chat)
	}
	if c.Bot != 0 {
		m["bot"] = strconv.Itoa(c.Bot)
	}
	if c.Contact != 0 {
		m["contact"] = strconv.Itoa(c.Contact)
	}
	if c.Deal != 0 {
		m["deal"] = strconv.Itoa(c.Deal)
	}
	if c.Playground {
		m["playground"] = "true"
	}
	return m
}

// channelOf reads the record's string pairs, naming the pair that is wrong.
func channelOf(m map[string]string) (Channel, error) {
	var c Channel
	for k, v := range m {
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
		case "entity":
			c.Entity = v
		case "contact":
			c.Contact, err = strconv.Atoi(v)
		case "deal":
			c.Deal, err = strconv.Atoi(v)
		default:
			return Channel{}, fmt.Errorf("channel: unknown key %q", k)
		}
		if err != nil {
			return Channel{}, fmt.Errorf("channel %s %q: %w", k, v, err)
		}
	}
	return c, nil
}

// MarshalJSON writes the channel as the string pairs of older records.
func (c Channel) MarshalJSON() ([]byte, error) { return json.Marshal(c.pairs()) }

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
