package outbox

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
)

// Calls turns a step's actions into outbox calls to the dialog's portal
// chat (d.Channel).
// A chat of an imbot.v2 bot (Channel.V2) gets its messages through
// imbot.v2.Chat.Message.send.
func Calls(d engine.Dialog, actions []engine.Action, now time.Time) ([]engine.Call, error) {
	return calls(d, actions, now, d.Channel.V2)
}

// calls is Calls; with v2, messages go through imbot.v2.Chat.Message.send.
func calls(d engine.Dialog, actions []engine.Action, now time.Time, v2 bool) ([]engine.Call, error) {
	ch := d.Channel
	if ch.Chat <= 0 || ch.Dialog == "" {
		return nil, fmt.Errorf("dialog %s has no chat id: cannot address the portal", d.Key)
	}
	var out []engine.Call
	for _, a := range actions {
		if _, ok := a.(engine.Lookup); ok {
			continue // made by package lookup, never through the portal
		}
		r, err := request(ch, a, v2)
		if err != nil {
			return nil, err
		}
		params, err := json.Marshal(r.Params)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", r.Method, err)
		}
		out = append(out, engine.Call{Portal: ch.Member, Method: r.Method, Params: params, Created: now})
	}
	return out, nil
}

// request is the REST call of one action.
func request(ch engine.Channel, a engine.Action, v2 bool) (bitrix24.Request, error) {
	switch a := a.(type) {
	case engine.Greet:
		if a.Welcome {
			return bitrix24.SessionMessageSendRequest(ch.Chat, bitrix24.GreetWelcome, ""), nil
		}
		return bitrix24.SessionMessageSendRequest(ch.Chat, bitrix24.GreetDefault, a.Text), nil
	case engine.Say:
		if v2 {
			return v2Say(ch, a), nil
		}
		return bitrix24.MessageRequest(ch.Dialog, ch.Bot, bitrix24.Message{Text: a.Text, Buttons: a.Buttons, Links: links(a.Links), Numbered: a.Numbered, Attach: attach(a)}), nil
	case engine.Note:
		// in the chat, kept from the client's channel: the operator reads it
		if v2 {
			return bitrix24.V2MessageSendRequest(ch.Bot, ch.Dialog, bitrix24.V2Message{Text: a.Text, SkipConnector: true}), nil
		}
		return bitrix24.MessageRequest(ch.Dialog, ch.Bot, bitrix24.Message{Text: a.Text, SkipConnector: true}), nil
	case engine.CRM:
		// the chat's own CRM binding first: a lead, else a contact or a
		// deal (no duplicate lead for a known client); a new lead carries
		// the chat's IM binding
		fields := a.Fields
		if a.Title != "" {
			// the title goes where a "title" field would: TITLE of a
			// lead, a line of a contact's or a deal's COMMENTS
			fields = make(map[string]string, len(a.Fields)+1)
			for k, v := range a.Fields {
				fields[k] = v
			}
			fields["title"] = a.Title
		}
		switch {
		case a.LeadID != 0:
			return bitrix24.LeadUpdateRequest(a.LeadID, fields), nil
		case ch.Contact != 0:
			return bitrix24.ContactUpdateRequest(ch.Contact, fields), nil
		case ch.Deal != 0:
			return bitrix24.DealUpdateRequest(ch.Deal, fields), nil
		}
		return bitrix24.OpenLineLeadRequest(fields, ch.Entity), nil
	case engine.Operator:
		return bitrix24.SessionOperatorRequest(ch.Chat), nil
	case engine.Transfer:
		return bitrix24.SessionTransferRequest(ch.Chat, a.User, a.Line, a.Leave), nil
	case engine.Finish:
		return bitrix24.SessionFinishRequest(ch.Chat), nil
	}
	return bitrix24.Request{}, fmt.Errorf("no portal call for action %T", a)
}

// links are a Say's link and call buttons for the keyboard.
func links(ls []engine.Link) []bitrix24.Link {
	if len(ls) == 0 {
		return nil
	}
	out := make([]bitrix24.Link, len(ls))
	for i, l := range ls {
		out[i] = bitrix24.Link{Text: l.Text, URL: l.URL, Phone: l.Phone}
	}
	return out
}

// attach is a Say's image and file, for ATTACH.
func attach(a engine.Say) bitrix24.Attachment {
	return bitrix24.Attachment{Image: a.Image, File: a.File}
}

// RedactParams hides tokens in call params shown by the API and logs.
func RedactParams(b []byte) []byte {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return b
	}
	changed := false
	for _, k := range []string{"auth", "AUTH", "access_token", "refresh_token", "CLIENT_ID"} {
		if _, ok := m[k]; ok {
			m[k] = "***"
			changed = true
		}
	}
	if !changed {
		return b
	}
	out, err := json.Marshal(m)
	if err != nil {
		return b
	}
	return out
}

// Calls is the package's Calls, for the event path (dialogs.Portal).
func (o *Outbox) Calls(d engine.Dialog, actions []engine.Action, now time.Time) ([]engine.Call, error) {
	return calls(d, actions, now, o.cfg.V2 != nil || d.Channel.V2)
}
