package bitrix24

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// imbot.v2 event types (imbot.v2/events/events.md). olbot acts on the
// first four; the others are documented and skipped.
const (
	EventV2JoinChat       = "ONIMBOTV2JOINCHAT"
	EventV2MessageAdd     = "ONIMBOTV2MESSAGEADD"
	EventV2CommandAdd     = "ONIMBOTV2COMMANDADD"
	EventV2Delete         = "ONIMBOTV2DELETE"
	EventV2MessageUpdate  = "ONIMBOTV2MESSAGEUPDATE"
	EventV2MessageDelete  = "ONIMBOTV2MESSAGEDELETE"
	EventV2ContextGet     = "ONIMBOTV2CONTEXTGET"
	EventV2ReactionChange = "ONIMBOTV2REACTIONCHANGE"
)

// V2Event is one decoded imbot.v2 event, from Event.get (fetch mode) or
// a form-encoded webhook post. Groups an event type does not carry are
// zero.
type V2Event struct {
	ID   int64  // eventId; 0 in webhook mode, which has none
	Type string // ONIMBOTV2MESSAGEADD, …
	Date string // ISO 8601 as sent; "" in webhook mode

	Bot      V2BotRef
	DialogID string // where to answer: data.dialogId, else chat.dialogId
	Chat     V2Chat
	User     V2User // the message's author; for a join, who added the bot
	Message  V2Msg
	Command  V2Cmd
	Language string

	// Auth is the webhook post's top-level auth group (domain,
	// application_token, …) used to verify it; empty in fetch mode.
	Auth Auth
}

// V2BotRef is data.bot: the bot the event is for.
type V2BotRef struct {
	ID   int
	Code string
}

// V2Chat is data.chat (entities.md#chat), the fields olbot reads.
type V2Chat struct {
	ID         int
	DialogID   string
	Type       string
	Name       string
	EntityType string // "LINES" for an Open Lines chat
	EntityID   string // connector|lineId|connectorChatId|connectorUserId (unverified for v2)
}

// V2User is data.user (entities.md#user), the fields olbot reads.
type V2User struct {
	ID             int
	Name           string
	FirstName      string
	LastName       string
	Bot            bool
	Connector      bool   // a client writing through an Open Lines connector
	ExternalAuthID string // default|bot|email|replica|…
	Type           string // employee|extranet|email|collaber|bot
}

// V2Msg is data.message (entities.md#message).
type V2Msg struct {
	ID       int
	ChatID   int
	AuthorID int // 0 for a system message
	Text     string
	IsSystem bool
	// Params is message.params (attach, keyboard, files, …) as decoded;
	// its layout is not documented.
	Params map[string]any
}

// V2Cmd is data.command of ONIMBOTV2COMMANDADD.
type V2Cmd struct {
	ID      int
	Command string // "/help"
	Params  string
	Context string // textarea|keyboard|menu
}

// Handled reports whether olbot acts on this event type.
func (e V2Event) Handled() bool {
	switch e.Type {
	case EventV2JoinChat, EventV2MessageAdd, EventV2CommandAdd, EventV2Delete:
		return true
	}
	return false
}

// IsOpenLine reports whether the event is about an Open Lines chat.
func (e V2Event) IsOpenLine() bool { return e.Chat.EntityType == EntityLines }

// ChatID is the chat's id, the CHAT_ID of the session methods.
func (e V2Event) ChatID() int {
	if e.Chat.ID > 0 {
		return e.Chat.ID
	}
	return e.Message.ChatID
}

// OpenLine returns the line id from chat.entityId
// (connector|lineId|connectorChatId|connectorUserId). The v2 format of
// entityId is not documented; ok is false when it does not read that way.
func (e V2Event) OpenLine() (lineID int, ok bool) {
	// the same reading as the v1 CHAT_ENTITY_ID
	v1 := Event{Params: Params{ChatEntityType: e.Chat.EntityType, ChatEntityID: e.Chat.EntityID}}
	return v1.OpenLine()
}

// Author says who wrote a message.
type Author int

// Authors, from V2Event.From.
const (
	AuthorClient   Author = iota // a client, through an Open Lines connector
	AuthorOperator               // an employee (operator, supervisor)
	AuthorSystem                 // a system message (authorId 0 or isSystem)
	AuthorBot                    // another bot
	AuthorSelf                   // this bot's own message
)

var authorNames = [...]string{"client", "operator", "system", "bot", "self"}

func (a Author) String() string {
	if a >= 0 && int(a) < len(authorNames) {
		return authorNames[a]
	}
	return "Author(" + strconv.Itoa(int(a)) + ")"
}

// From tells the client from operators, system messages and bots by the
// documented entity fields: message.isSystem or authorId 0 is a system
// message; authorId == bot.id is the bot's own; user.bot (or type/
// externalAuthId "bot") another bot; user.connector a client; anyone else
// an employee.
func (e V2Event) From() Author {
	switch {
	case e.Message.IsSystem || (e.Type != EventV2JoinChat && e.Message.AuthorID == 0):
		return AuthorSystem
	case e.Message.AuthorID != 0 && e.Message.AuthorID == e.Bot.ID:
		return AuthorSelf
	case e.User.Bot || e.User.Type == "bot" || e.User.ExternalAuthID == "bot":
		return AuthorBot
	case e.User.Connector:
		return AuthorClient
	}
	return AuthorOperator
}

// V2Rejection is an event that does not have the documented shape. The
// poller records it (log, counter, Reason kept) and skips it.
type V2Rejection struct {
	EventID int64  // 0 when unknown
	Type    string // "" when unknown
	Field   string // the offending field: data.message.id (fetch) or data[message][id] (webhook)
	Msg     string
}

func (r *V2Rejection) Error() string {
	var b strings.Builder
	b.WriteString("imbot.v2 event")
	if r.EventID != 0 {
		fmt.Fprintf(&b, " %d", r.EventID)
	}
	if r.Type != "" {
		b.WriteString(" " + clip(r.Type))
	}
	b.WriteString(": ")
	if r.Field != "" {
		b.WriteString(r.Field + ": ")
	}
	b.WriteString(r.Msg)
	return b.String()
}

// vnode walks a decoded event tree: JSON values (json.Number, string,
// bool, nil, maps) in fetch mode, strings in webhook mode ("789", "1").
type vnode struct {
	m    map[string]any
	path []string
	form bool
}

func (n vnode) name(key string) string {
	p := append(append([]string(nil), n.path...), key)
	if !n.form {
		return strings.Join(p, ".")
	}
	return joinKey(p)
}

func (n vnode) fail(key, msg string) *V2Rejection {
	return &V2Rejection{Field: n.name(key), Msg: msg}
}

// group returns the object under key; a missing one is an error only when
// required (and is then an empty node).
func (n vnode) group(key string, required bool) (vnode, error) {
	child := vnode{path: append(append([]string(nil), n.path...), key), form: n.form}
	switch v := n.m[key].(type) {
	case map[string]any:
		child.m = v
		return child, nil
	case nil:
	case []any:
		if len(v) == 0 { // PHP's empty array
			child.m = map[string]any{}
			return child, nil
		}
		return child, n.fail(key, "is a list, not an object")
	case string:
		if v == "" && n.form {
			child.m = map[string]any{}
			return child, nil
		}
		return child, n.fail(key, "is not an object")
	default:
		return child, n.fail(key, "is not an object")
	}
	if required {
		return child, n.fail(key, "is missing")
	}
	child.m = map[string]any{}
	return child, nil
}

func (n vnode) integer(key string, required bool) (int64, error) {
	var s string
	switch v := n.m[key].(type) {
	case nil:
		if required {
			return 0, n.fail(key, "is missing")
		}
		return 0, nil
	case json.Number:
		s = v.String()
	case string:
		s = v
		if s == "" && !required {
			return 0, nil // null in webhook form
		}
	default:
		return 0, n.fail(key, "is not a number")
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil || i < 0 {
		return 0, n.fail(key, fmt.Sprintf("%q is not a non-negative integer", clip(s)))
	}
	return i, nil
}

func (n vnode) id(key string, required bool) (int, error) {
	i, err := n.integer(key, required)
	if err == nil && i > 1<<31-1 {
		return 0, n.fail(key, "is out of range")
	}
	return int(i), err
}

func (n vnode) str(key string, required bool) (string, error) {
	switch v := n.m[key].(type) {
	case nil:
		if required {
			return "", n.fail(key, "is missing")
		}
		return "", nil
	case string:
		if required && v == "" {
			return "", n.fail(key, "is empty")
		}
		return v, nil
	case json.Number:
		return v.String(), nil // dialogId "123" may come as a number
	}
	return "", n.fail(key, "is not a string")
}

func (n vnode) boolean(key string) (bool, error) {
	b, ok := looseBool(n.m[key])
	if !ok {
		return false, n.fail(key, "is not a boolean")
	}
	return b, nil
}

// seq runs decoding steps until one fails.
func seq(steps ...func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

func (n vnode) decodeBot(b *V2BotRef) error {
	return seq(
		func() (err error) { b.ID, err = n.id("id", true); return },
		func() (err error) { b.Code, err = n.str("code", false); return },
	)
}

func (n vnode) decodeChat(c *V2Chat) error {
	return seq(
		func() (err error) { c.ID, err = n.id("id", true); return },
		func() (err error) { c.DialogID, err = n.str("dialogId", false); return },
		func() (err error) { c.Type, err = n.str("type", false); return },
		func() (err error) { c.Name, err = n.str("name", false); return },
		func() (err error) { c.EntityType, err = n.str("entityType", false); return },
		func() (err error) { c.EntityID, err = n.str("entityId", false); return },
	)
}

func (n vnode) decodeUser(u *V2User) error {
	return seq(
		func() (err error) { u.ID, err = n.id("id", true); return },
		func() (err error) { u.Name, err = n.str("name", false); return },
		func() (err error) { u.FirstName, err = n.str("firstName", false); return },
		func() (err error) { u.LastName, err = n.str("lastName", false); return },
		func() (err error) { u.Bot, err = n.boolean("bot"); return },
		func() (err error) { u.Connector, err = n.boolean("connector"); return },
		func() (err error) { u.ExternalAuthID, err = n.str("externalAuthId", false); return },
		func() (err error) { u.Type, err = n.str("type", false); return },
	)
}

func (n vnode) decodeMessage(m *V2Msg) error {
	err := seq(
		func() (err error) { m.ID, err = n.id("id", true); return },
		func() (err error) { m.ChatID, err = n.id("chatId", true); return },
		func() (err error) { m.AuthorID, err = n.id("authorId", true); return },
		func() (err error) { m.Text, err = n.str("text", false); return },
		func() (err error) { m.IsSystem, err = n.boolean("isSystem"); return },
	)
	if err != nil {
		return err
	}
	if p, ok := n.m["params"].(map[string]any); ok {
		m.Params = p
	}
	return nil
}

func (n vnode) decodeCommand(c *V2Cmd) error {
	return seq(
		func() (err error) { c.ID, err = n.id("id", true); return },
		func() (err error) { c.Command, err = n.str("command", true); return },
		func() (err error) { c.Params, err = n.str("params", false); return },
		func() (err error) { c.Context, err = n.str("context", false); return },
	)
}

// decodeData reads data for the event's type. What each type carries is
// events.md's table: every handled type has bot; join, message and command
// events have chat and user; message and command events a message.
func (e *V2Event) decodeData(data vnode) error {
	bot, err := data.group("bot", true)
	if err != nil {
		return err
	}
	if err := bot.decodeBot(&e.Bot); err != nil {
		return err
	}
	if !e.Handled() || e.Type == EventV2Delete {
		return nil
	}
	if e.Language, err = data.str("language", false); err != nil {
		return err
	}
	if e.Type == EventV2JoinChat {
		if e.DialogID, err = data.str("dialogId", true); err != nil {
			return err
		}
	}
	chat, err := data.group("chat", true)
	if err == nil {
		err = chat.decodeChat(&e.Chat)
	}
	if err != nil {
		return err
	}
	user, err := data.group("user", true)
	if err == nil {
		err = user.decodeUser(&e.User)
	}
	if err != nil {
		return err
	}
	if e.Type == EventV2JoinChat {
		return nil
	}
	msg, err := data.group("message", true)
	if err == nil {
		err = msg.decodeMessage(&e.Message)
	}
	if err != nil {
		return err
	}
	if e.Type == EventV2CommandAdd {
		cmd, err := data.group("command", true)
		if err == nil {
			err = cmd.decodeCommand(&e.Command)
		}
		if err != nil {
			return err
		}
	}
	if e.DialogID == "" {
		e.DialogID = e.Chat.DialogID
	}
	if e.DialogID == "" {
		return chat.fail("dialogId", "is missing")
	}
	return nil
}

func knownV2Type(t string) bool {
	switch t {
	case EventV2JoinChat, EventV2MessageAdd, EventV2CommandAdd, EventV2Delete,
		EventV2MessageUpdate, EventV2MessageDelete, EventV2ContextGet, EventV2ReactionChange:
		return true
	}
	// user events (withUserEvents) are documented under im.v2
	return strings.HasPrefix(t, "ONIMV2")
}

// DecodeV2Event decodes one element of Event.get's result.events:
// {"eventId":1001,"type":"ONIMBOTV2MESSAGEADD","date":"…","data":{…}}.
// An event that does not have the documented shape gives a *V2Rejection
// naming the field (with the event's id and type when they could be read).
// Documented types olbot does not act on decode with only Bot set (see
// Handled).
func DecodeV2Event(raw json.RawMessage) (V2Event, error) {
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return V2Event{}, &V2Rejection{Msg: "is not a JSON object"}
	}
	root := vnode{m: m}
	var e V2Event
	err := seq(
		func() (err error) { e.ID, err = root.integer("eventId", true); return },
		func() (err error) { e.Type, err = root.str("type", true); return },
		func() (err error) { e.Date, err = root.str("date", false); return },
	)
	if err == nil {
		err = e.decodeTyped(root, "data")
	}
	return e, e.reject(err)
}

// IsV2Form reports whether a form-encoded post is an imbot.v2 webhook
// event (event=ONIMBOTV2…), not a v1 one.
func IsV2Form(form url.Values) bool { return isV2Event(form.Get("event")) }

func isV2Event(name string) bool { return strings.HasPrefix(strings.ToUpper(name), "ONIMBOTV2") }

// ParseV2Form decodes a v2 webhook post (application/x-www-form-urlencoded,
// event=ONIMBOTV2…&data[…]=…&auth[…]=…; every scalar a string, booleans
// "1"/"0"). The caller verifies Auth.ApplicationToken, the top-level one.
func ParseV2Form(form url.Values) (V2Event, error) {
	tree, err := DecodeForm(form)
	if err != nil {
		return V2Event{}, &V2Rejection{Msg: err.Error()}
	}
	return ParseV2Tree(tree)
}

// IsV2Tree is IsV2Form of a form decoded into its tree.
func IsV2Tree(tree map[string]any) bool {
	name, _ := tree["event"].(string)
	return isV2Event(name)
}

// ParseV2Tree is ParseV2Form of a form already decoded into its tree
// (DecodeForm, DecodeFormBody).
func ParseV2Tree(tree map[string]any) (V2Event, error) {
	root := vnode{m: tree, form: true}
	var e V2Event
	var err error
	if e.Type, err = root.str("event", true); err != nil {
		return e, e.reject(err)
	}
	e.Type = strings.ToUpper(e.Type)
	if auth, ok := tree["auth"].(map[string]any); ok {
		if err := decodeAuth(node{m: auth, path: "auth"}, &e.Auth); err != nil {
			fe, _ := err.(*FieldError)
			r := &V2Rejection{Msg: err.Error()}
			if fe != nil {
				r.Field, r.Msg = fe.Field, fe.Msg
			}
			return e, e.reject(r)
		}
	}
	return e, e.reject(e.decodeTyped(root, "data"))
}

func (e *V2Event) decodeTyped(root vnode, dataKey string) error {
	if !knownV2Type(e.Type) {
		key := "type"
		if root.form {
			key = "event"
		}
		return root.fail(key, fmt.Sprintf("%q is not a documented imbot.v2 event", clip(e.Type)))
	}
	if strings.HasPrefix(e.Type, "ONIMV2") {
		return nil // user events carry no bot
	}
	data, err := root.group(dataKey, true)
	if err != nil {
		return err
	}
	return e.decodeData(data)
}

// reject stamps the event's id and type on a rejection.
func (e *V2Event) reject(err error) error {
	if r, ok := err.(*V2Rejection); ok {
		r.EventID, r.Type = e.ID, e.Type
		return r
	}
	return err
}
