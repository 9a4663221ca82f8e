package bitrix24

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Request is one REST call: a method and its params (a map, a struct or
// JSON object bytes). The *Request constructors build the params exactly as
// the typed Client helpers send them, so an outbox can store Method and
// json.Marshal(Params) at step time and send them later with Client.Do.
type Request struct {
	Method string
	Params any
}

// Session message kinds for SessionMessageSend.
const (
	GreetWelcome = "WELCOME" // post the line's configured greeting; the message is ignored
	GreetDefault = "DEFAULT" // post the given message
)

func yn(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}

// NumberedText is text followed by the buttons as numbered [SEND] links,
// one a line, so that the client may also answer with the number.
func NumberedText(text string, buttons []string) string { return MenuText(text, buttons, nil) }

// MenuText is NumberedText followed by the link and call buttons, one a
// line and without a number (they are no choice): "Track the parcel:
// https://…", "Call us: +74951234567" — what a channel without keyboards
// shows of them.
func MenuText(text string, buttons []string, links []Link) string {
	var b strings.Builder
	b.WriteString(text)
	for i, t := range buttons {
		if b.Len() > 0 {
			b.WriteString("[BR]")
		}
		fmt.Fprintf(&b, "[SEND=%d]%d. %s[/SEND]", i+1, i+1, t)
	}
	for _, l := range links {
		if b.Len() > 0 {
			b.WriteString("[BR]")
		}
		fmt.Fprintf(&b, "%s: %s", l.Text, l.target())
	}
	return b.String()
}

// Link is a keyboard button that opens an address (URL: a LINK button) or
// calls a number (Phone, E.164: ACTION=CALL), as message-keyboards.md
// documents them; it sends nothing to the bot.
type Link struct {
	Text, URL, Phone string
}

func (l Link) target() string {
	if l.URL != "" {
		return l.URL
	}
	return l.Phone
}

// keyboard is the documented KEYBOARD buttons (message-keyboards.md): one
// inline SEND button per choice, whose press sends its text as the client's
// message, then the link (LINK) and call (ACTION=CALL) buttons.
func keyboard(buttons []string, links []Link) []map[string]string {
	kb := make([]map[string]string, 0, len(buttons)+len(links))
	for _, t := range buttons {
		kb = append(kb, map[string]string{"TEXT": t, "ACTION": "SEND", "ACTION_VALUE": t, "DISPLAY": "LINE"})
	}
	for _, l := range links {
		if l.URL != "" {
			kb = append(kb, map[string]string{"TEXT": l.Text, "LINK": l.URL, "DISPLAY": "LINE"})
		} else {
			kb = append(kb, map[string]string{"TEXT": l.Text, "ACTION": "CALL", "ACTION_VALUE": l.Phone, "DISPLAY": "LINE"})
		}
	}
	return kb
}

// Message is what imbot.message.add posts besides the dialog and the bot.
type Message struct {
	Text     string
	Buttons  []string // SEND buttons: the menu's choices
	Links    []Link   // link and call buttons, after the choices
	Numbered bool     // the numbered text fallback of the buttons (MenuText)
	// SkipConnector: the message stays in Bitrix24 — the operator sees it,
	// the client's channel does not get it (SKIP_CONNECTOR=Y).
	SkipConnector bool
	// Attach is the message's image and file, sent as ATTACH blocks.
	Attach Attachment
}

// MessageAddRequest builds imbot.message.add. Buttons become a KEYBOARD of
// inline SEND buttons ({"TEXT":t,"ACTION":"SEND","ACTION_VALUE":t,"DISPLAY":"LINE"}):
// pressing one sends its text as the client's message. With numbered, the
// text also gets a numbered menu ([BR][SEND=1]1. Text[/SEND] per button), the
// fallback for channels that do not show keyboards; the client may then
// answer with the digit. botID 0 leaves BOT_ID out (the app's first bot).
// text is sent as it is: pass client-supplied parts through EscapeBB first.
func MessageAddRequest(dialogID string, botID int, text string, buttons []string, numbered bool) Request {
	return MessageRequest(dialogID, botID, Message{Text: text, Buttons: buttons, Numbered: numbered})
}

// MessageRequest is MessageAddRequest of a whole Message: with link and
// call buttons on the keyboard (and in the numbered fallback), and
// SKIP_CONNECTOR=Y for a note only the operator sees.
func MessageRequest(dialogID string, botID int, m Message) Request {
	p := map[string]any{"DIALOG_ID": dialogID}
	if botID > 0 {
		p["BOT_ID"] = botID
	}
	msg := m.Text
	if m.Numbered {
		msg = MenuText(m.Text, m.Buttons, m.Links)
	}
	p["MESSAGE"] = msg
	if len(m.Buttons)+len(m.Links) > 0 {
		kb := map[string]any{"BUTTONS": keyboard(m.Buttons, m.Links)}
		if botID > 0 {
			kb["BOT_ID"] = botID
		}
		p["KEYBOARD"] = kb
	}
	if !m.Attach.Empty() {
		p["ATTACH"] = m.Attach.Blocks()
	}
	if m.SkipConnector {
		p["SKIP_CONNECTOR"] = "Y"
	}
	return Request{Method: MethodMessageAdd, Params: p}
}

// SessionMessageSendRequest builds imopenlines.bot.session.message.send;
// name is GreetWelcome or GreetDefault.
func SessionMessageSendRequest(chatID int, name, message string) Request {
	p := map[string]any{"CHAT_ID": chatID, "NAME": name}
	if name != GreetWelcome {
		p["MESSAGE"] = message
	}
	return Request{Method: MethodSessionMessageSend, Params: p}
}

// SessionOperatorRequest builds imopenlines.bot.session.operator.
func SessionOperatorRequest(chatID int) Request {
	return Request{Method: MethodSessionOperator, Params: map[string]any{"CHAT_ID": chatID}}
}

// SessionTransferRequest builds imopenlines.bot.session.transfer to an
// employee (userID) or, when userID is 0, to a line's queue (queueID = the
// line ID). leave=true makes the bot leave at once.
func SessionTransferRequest(chatID, userID, queueID int, leave bool) Request {
	p := map[string]any{"CHAT_ID": chatID, "LEAVE": yn(leave)}
	switch {
	case userID > 0:
		p["USER_ID"] = userID
	case queueID > 0:
		p["QUEUE_ID"] = queueID
	}
	return Request{Method: MethodSessionTransfer, Params: p}
}

// SessionFinishRequest builds imopenlines.bot.session.finish.
func SessionFinishRequest(chatID int) Request {
	return Request{Method: MethodSessionFinish, Params: map[string]any{"CHAT_ID": chatID}}
}

// RegisterParams are the imbot.register parameters olbot uses.
type RegisterParams struct {
	Code     string // CODE, unique per portal
	Type     string // TYPE: "O" (Open Lines bot) when empty
	OpenLine bool   // OPENLINE; forced Y by the portal for TYPE O
	// EventHandler is copied into all event URLs by the portal; the
	// Event* fields override single ones.
	EventHandler        string
	EventMessageAdd     string
	EventMessageUpdate  string
	EventMessageDelete  string
	EventWelcomeMessage string
	EventBotDelete      string
	Properties          BotProperties
}

// BotProperties is imbot.register's PROPERTIES. Name or LastName is required.
type BotProperties struct {
	Name           string `json:"NAME,omitempty"`
	LastName       string `json:"LAST_NAME,omitempty"`
	Color          string `json:"COLOR,omitempty"`
	Email          string `json:"EMAIL,omitempty"`
	WorkPosition   string `json:"WORK_POSITION,omitempty"`
	PersonalWWW    string `json:"PERSONAL_WWW,omitempty"`
	PersonalGender string `json:"PERSONAL_GENDER,omitempty"`
	PersonalPhoto  string `json:"PERSONAL_PHOTO,omitempty"` // base64
}

// RegisterRequest builds imbot.register.
func RegisterRequest(r RegisterParams) Request {
	typ := r.Type
	if typ == "" {
		typ = "O"
	}
	p := map[string]any{
		"CODE":       r.Code,
		"TYPE":       typ,
		"OPENLINE":   yn(r.OpenLine || typ == "O"),
		"PROPERTIES": r.Properties,
	}
	for k, v := range map[string]string{
		"EVENT_HANDLER":         r.EventHandler,
		"EVENT_MESSAGE_ADD":     r.EventMessageAdd,
		"EVENT_MESSAGE_UPDATE":  r.EventMessageUpdate,
		"EVENT_MESSAGE_DELETE":  r.EventMessageDelete,
		"EVENT_WELCOME_MESSAGE": r.EventWelcomeMessage,
		"EVENT_BOT_DELETE":      r.EventBotDelete,
	} {
		if v != "" {
			p[k] = v
		}
	}
	return Request{Method: MethodRegister, Params: p}
}

// EventBindRequest builds event.bind of handler for event (event-bind.md).
// The portal drops an application's bindings when it is updated, so they
// are bound again by every version's install and update.
func EventBindRequest(event, handler string) Request {
	return Request{Method: MethodEventBind, Params: map[string]any{"event": event, "handler": handler}}
}

// UnregisterRequest builds imbot.unregister.
func UnregisterRequest(botID int) Request {
	return Request{Method: MethodUnregister, Params: map[string]any{"BOT_ID": botID}}
}

// LeadAddRequest builds crm.lead.add with LeadFields(fields).
func LeadAddRequest(fields map[string]string) Request {
	return Request{Method: MethodLeadAdd, Params: map[string]any{"fields": LeadFields(fields)}}
}

// OpenLineLeadRequest builds crm.lead.add for the client of an Open Lines
// chat: LeadFields(fields) plus the chat's IM binding, the Open Lines user
// code userCode (CHAT_ENTITY_ID) as the messenger value "imol|<code>" of
// type OPENLINE (crm-lead-get.md, tutorials/openlines/find-crm-object-by-dialog.md),
// so the portal links the lead to the conversation.
func OpenLineLeadRequest(fields map[string]string, userCode string) Request {
	f := LeadFields(fields)
	if userCode != "" {
		f["IM"] = []map[string]string{{"VALUE": "imol|" + userCode, "VALUE_TYPE": "OPENLINE"}}
	}
	return Request{Method: MethodLeadAdd, Params: map[string]any{"fields": f}}
}

// ContactUpdateRequest builds crm.contact.update of contact id with
// LeadFields(fields) (a contact has the same NAME, LAST_NAME, PHONE, EMAIL
// and COMMENTS fields); TITLE, which a contact lacks, goes into COMMENTS.
func ContactUpdateRequest(id int, fields map[string]string) Request {
	f := LeadFields(fields)
	if t, ok := f["TITLE"].(string); ok {
		delete(f, "TITLE")
		c, _ := f["COMMENTS"].(string)
		f["COMMENTS"] = strings.TrimSuffix("title: "+t+"\n"+c, "\n")
	}
	return Request{Method: MethodContactUpdate, Params: map[string]any{"id": id, "fields": f}}
}

// DealUpdateRequest builds crm.deal.update of deal id: a deal has no
// contact fields, so every collected field becomes a "key: value" line of
// its COMMENTS.
func DealUpdateRequest(id int, fields map[string]string) Request {
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = k + ": " + fields[k]
	}
	return Request{Method: MethodDealUpdate, Params: map[string]any{"id": id, "fields": map[string]any{"COMMENTS": strings.Join(lines, "\n")}}}
}

// LeadUpdateRequest builds crm.lead.update of lead id with LeadFields(fields).
// Note that COMMENTS replaces the lead's comments, and PHONE/EMAIL entries
// are added to the lead's existing ones.
func LeadUpdateRequest(id int, fields map[string]string) Request {
	return Request{Method: MethodLeadUpdate, Params: map[string]any{"id": id, "fields": LeadFields(fields)}}
}

// LeadFields maps collected dialog fields to CRM lead fields: name → NAME,
// last_name → LAST_NAME, title → TITLE, phone → PHONE and email → EMAIL (as
// multifields [{"VALUE":…,"VALUE_TYPE":"WORK"}]); every other non-empty field
// becomes a "key: value" line of COMMENTS, sorted by key. Keys are matched
// case-insensitively.
func LeadFields(fields map[string]string) map[string]any {
	out := map[string]any{}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var comments []string
	for _, k := range keys {
		v := fields[k]
		if v == "" {
			continue
		}
		switch strings.ToLower(k) {
		case "name":
			out["NAME"] = v
		case "last_name":
			out["LAST_NAME"] = v
		case "title":
			out["TITLE"] = v
		case "phone":
			out["PHONE"] = []map[string]string{{"VALUE": v, "VALUE_TYPE": "WORK"}}
		case "email":
			out["EMAIL"] = []map[string]string{{"VALUE": v, "VALUE_TYPE": "WORK"}}
		default:
			comments = append(comments, k+": "+v)
		}
	}
	if len(comments) > 0 {
		out["COMMENTS"] = strings.Join(comments, "\n")
	}
	return out
}

// EscapeBB makes client-supplied text unable to form BB-codes by putting a
// zero-width space (U+200B) after every "[": "[URL=x]" shows as typed but is
// no longer a tag.
func EscapeBB(s string) string {
	return strings.ReplaceAll(s, "[", "[\u200b")
}

// MessageAdd posts a bot message (see MessageAddRequest) and returns its id.
func (c *Client) MessageAdd(ctx context.Context, dialogID string, botID int, text string, buttons []string, numbered bool) (int, error) {
	res, err := c.Do(ctx, MessageAddRequest(dialogID, botID, text, buttons, numbered))
	if err != nil {
		return 0, err
	}
	return ParseID(res)
}

// SessionMessageSend posts an automatic message into the Open Lines dialog;
// name is GreetWelcome (the line's greeting) or GreetDefault (message).
func (c *Client) SessionMessageSend(ctx context.Context, chatID int, name, message string) error {
	_, err := c.Do(ctx, SessionMessageSendRequest(chatID, name, message))
	return err
}

// SessionOperator hands the dialog to the next free operator. A WRONG_CHAT
// answer (a person already has the chat) is returned as an *APIError that
// Classify reports as ClassDone.
func (c *Client) SessionOperator(ctx context.Context, chatID int) error {
	_, err := c.Do(ctx, SessionOperatorRequest(chatID))
	return err
}

// SessionTransfer transfers the dialog to an employee or a line's queue
// (see SessionTransferRequest).
func (c *Client) SessionTransfer(ctx context.Context, chatID, userID, queueID int, leave bool) error {
	_, err := c.Do(ctx, SessionTransferRequest(chatID, userID, queueID, leave))
	return err
}

// SessionFinish ends the current session of the dialog.
func (c *Client) SessionFinish(ctx context.Context, chatID int) error {
	_, err := c.Do(ctx, SessionFinishRequest(chatID))
	return err
}

// Register registers a bot and returns its BOT_ID.
func (c *Client) Register(ctx context.Context, r RegisterParams) (int, error) {
	res, err := c.Do(ctx, RegisterRequest(r))
	if err != nil {
		return 0, err
	}
	return ParseID(res)
}

// Unregister deletes a bot.
func (c *Client) Unregister(ctx context.Context, botID int) error {
	_, err := c.Do(ctx, UnregisterRequest(botID))
	return err
}

// LeadAdd creates a lead from collected fields (see LeadFields) and returns its id.
func (c *Client) LeadAdd(ctx context.Context, fields map[string]string) (int, error) {
	res, err := c.Do(ctx, LeadAddRequest(fields))
	if err != nil {
		return 0, err
	}
	return ParseID(res)
}

// LeadUpdate writes collected fields (see LeadFields) into lead id.
func (c *Client) LeadUpdate(ctx context.Context, id int, fields map[string]string) error {
	_, err := c.Do(ctx, LeadUpdateRequest(id, fields))
	return err
}
