package bitrix24

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Event names the portal sends to a bot (and to a local application).
const (
	EventMessageAdd    = "ONIMBOTMESSAGEADD"
	EventMessageUpdate = "ONIMBOTMESSAGEUPDATE"
	EventMessageDelete = "ONIMBOTMESSAGEDELETE"
	EventJoinChat      = "ONIMBOTJOINCHAT"
	EventCommandAdd    = "ONIMCOMMANDADD"
	EventBotDelete     = "ONIMBOTDELETE"
	EventAppInstall    = "ONAPPINSTALL"
	EventAppUpdate     = "ONAPPUPDATE"
	EventAppUninstall  = "ONAPPUNINSTALL"
)

// EntityLines is CHAT_ENTITY_TYPE of an Open Lines chat.
const EntityLines = "LINES"

// Event is one decoded event post. Only the parts present in the form are
// filled; which ones depends on Name (the events of the docs'
// api-reference/chat-bots/outdated/events/index.md, b24restdocs).
type Event struct {
	Name      string    // event, upper-case: ONIMBOTMESSAGEADD, ONIMBOTJOINCHAT, …
	HandlerID int       // event_handler_id
	TS        time.Time // ts (queue time); zero when absent
	Auth      Auth      // the top-level auth[…] envelope; check Auth.ApplicationToken

	Params   Params          // data[PARAMS] (message, join and command events)
	User     *User           // data[USER]; nil when absent
	Bots     map[int]BotAuth // data[BOT][<BOT_ID>]: each bot's own token set
	Commands map[int]Command // data[COMMAND][<COMMAND_ID>] (ONIMCOMMANDADD)
	BotID    int             // data[BOT_ID] (ONIMBOTDELETE)
	BotCode  string          // data[BOT_CODE] (ONIMBOTDELETE)
	Install  *Install        // data[VERSION|ACTIVE|INSTALLED|LANGUAGE_ID] (ONAPPINSTALL, ONAPPUPDATE)

	// Data is the whole decoded data[…] tree (strings and map[string]any),
	// for fields the typed view does not carry. ParseEvent fills it; Form
	// ignores it. DecodeEventBody leaves it nil: it takes only the posts
	// whose data holds nothing olbot reads outside the typed view.
	Data map[string]any

	// fromZero: data[PARAMS][FROM_USER_ID] was sent as "0" (a system
	// message), not left out.
	fromZero bool
}

// Auth is an OAuth token set as it appears in auth[…], in data[BOT][id] and
// in data[BOT][id][AUTH]. Tokens are absent when the trigger is not tied to a
// user: always check.
type Auth struct {
	AccessToken      string // access_token
	RefreshToken     string // refresh_token (install and some other events only)
	Expires          int64  // expires: unix time
	ExpiresIn        int    // expires_in: seconds
	Scope            string // scope
	Domain           string // domain: example.bitrix24.com
	ClientEndpoint   string // client_endpoint: https://example.bitrix24.com/rest/
	ServerEndpoint   string // server_endpoint: https://oauth.bitrix.info/rest/
	MemberID         string // member_id: the portal's id
	ApplicationToken string // application_token: compare with the one stored at install
	Status           string // status: L local, F free, D demo, T trial, P paid
	UserID           int    // user_id
	ClientID         string // client_id (bot token sets)
}

// BotAuth is one entry of data[BOT]: the bot's own token set (preferred for
// replies) and its id and code. Keys missing at the top of the entry are
// taken from its AUTH copy.
type BotAuth struct {
	BotID   int    // BOT_ID (the data[BOT] key)
	BotCode string // BOT_CODE
	Auth
}

// Command is one entry of data[COMMAND] in ONIMCOMMANDADD.
type Command struct {
	ID        int    // COMMAND_ID (the data[COMMAND] key)
	Command   string // COMMAND, without the slash
	Params    string // COMMAND_PARAMS
	Context   string // COMMAND_CONTEXT: TEXTAREA, KEYBOARD or MENU
	MessageID int    // MESSAGE_ID: the message that carried the command or button
	BotID     int    // BOT_ID
	BotCode   string // BOT_CODE
	Auth             // the bot's token set
}

// Params is data[PARAMS]. Chat-only fields are empty in private dialogs.
type Params struct {
	Message         string // MESSAGE
	MessageOriginal string // MESSAGE_ORIGINAL
	MessageID       int    // MESSAGE_ID
	MessageType     string // MESSAGE_TYPE: P private, C group, L open line, …
	TemplateID      string // TEMPLATE_ID
	DialogID        string // DIALOG_ID: "chat1777" or a user id
	ChatID          int    // CHAT_ID
	ToChatID        int    // TO_CHAT_ID
	ChatType        string // CHAT_TYPE
	ChatTitle       string // CHAT_TITLE
	ChatEntityType  string // CHAT_ENTITY_TYPE: LINES for Open Lines
	ChatEntityID    string // CHAT_ENTITY_ID: <connector>|<LINE_ID>|<connector chat>|<connector user>
	ChatEntityData1 string // CHAT_ENTITY_DATA_1: session data
	ChatEntityData2 string // CHAT_ENTITY_DATA_2: CRM bindings LEAD|1209|COMPANY|0|…
	ChatEntityData3 string // CHAT_ENTITY_DATA_3
	FromUserID      int    // FROM_USER_ID
	AuthorID        int    // AUTHOR_ID
	ToUserID        int    // TO_USER_ID
	UserID          int    // USER_ID (ONIMBOTJOINCHAT: who the bot should greet)
	BotID           int    // BOT_ID (ONIMBOTJOINCHAT)
	CommandContext  string // COMMAND_CONTEXT
	Language        string // LANGUAGE
	System          bool   // SYSTEM (Y/N)
}

// User is data[USER]: the message's author. In Open Lines, the external client.
type User struct {
	ID           int    // ID
	Name         string // NAME: full name
	FirstName    string // FIRST_NAME
	LastName     string // LAST_NAME
	WorkPosition string // WORK_POSITION
	Gender       string // GENDER
	IsBot        bool   // IS_BOT
	IsConnector  bool   // IS_CONNECTOR: an external channel's user
	// ConnectorSent says whether IS_CONNECTOR was in the event at all: when
	// it was, it tells the client from an operator.
	ConnectorSent bool
	IsNetwork     bool // IS_NETWORK
	IsExtranet    bool // IS_EXTRANET
}

// Install is the data of ONAPPINSTALL and ONAPPUPDATE.
type Install struct {
	Version         string // VERSION: a string such as "1.0.0" (on-app-install.md)
	PreviousVersion string // PREVIOUS_VERSION (ONAPPUPDATE)
	Active          bool   // ACTIVE
	Installed       bool   // INSTALLED
	LanguageID      string // LANGUAGE_ID
}

// field binds one wire key to a struct field, so that decoding and encoding
// share one table per type.
type field struct {
	key string
	ptr any // *string, *int, *int64 or *bool
}

func (a *Auth) fields() []field {
	return []field{
		{"access_token", &a.AccessToken},
		{"refresh_token", &a.RefreshToken},
		{"expires", &a.Expires},
		{"expires_in", &a.ExpiresIn},
		{"scope", &a.Scope},
		{"domain", &a.Domain},
		{"client_endpoint", &a.ClientEndpoint},
		{"server_endpoint", &a.ServerEndpoint},
		{"member_id", &a.MemberID},
		{"application_token", &a.ApplicationToken},
		{"status", &a.Status},
		{"user_id", &a.UserID},
		{"client_id", &a.ClientID},
	}
}

func (p *Params) fields() []field {
	return []field{
		{"MESSAGE", &p.Message},
		{"MESSAGE_ORIGINAL", &p.MessageOriginal},
		{"MESSAGE_ID", &p.MessageID},
		{"MESSAGE_TYPE", &p.MessageType},
		{"TEMPLATE_ID", &p.TemplateID},
		{"DIALOG_ID", &p.DialogID},
		{"CHAT_ID", &p.ChatID},
		{"TO_CHAT_ID", &p.ToChatID},
		{"CHAT_TYPE", &p.ChatType},
		{"CHAT_TITLE", &p.ChatTitle},
		{"CHAT_ENTITY_TYPE", &p.ChatEntityType},
		{"CHAT_ENTITY_ID", &p.ChatEntityID},
		{"CHAT_ENTITY_DATA_1", &p.ChatEntityData1},
		{"CHAT_ENTITY_DATA_2", &p.ChatEntityData2},
		{"CHAT_ENTITY_DATA_3", &p.ChatEntityData3},
		{"FROM_USER_ID", &p.FromUserID},
		{"AUTHOR_ID", &p.AuthorID},
		{"TO_USER_ID", &p.ToUserID},
		{"USER_ID", &p.UserID},
		{"BOT_ID", &p.BotID},
		{"COMMAND_CONTEXT", &p.CommandContext},
		{"LANGUAGE", &p.Language},
		{"SYSTEM", &p.System},
	}
}

func (u *User) fields() []field {
	return []field{
		{"ID", &u.ID},
		{"NAME", &u.Name},
		{"FIRST_NAME", &u.FirstName},
		{"LAST_NAME", &u.LastName},
		{"WORK_POSITION", &u.WorkPosition},
		{"GENDER", &u.Gender},
		{"IS_BOT", &u.IsBot},
		{"IS_CONNECTOR", &u.IsConnector},
		{"IS_NETWORK", &u.IsNetwork},
		{"IS_EXTRANET", &u.IsExtranet},
	}
}

func (in *Install) fields() []field {
	return []field{
		{"VERSION", &in.Version},
		{"PREVIOUS_VERSION", &in.PreviousVersion},
		{"ACTIVE", &in.Active},
		{"INSTALLED", &in.Installed},
		{"LANGUAGE_ID", &in.LanguageID},
	}
}

func (c *Command) fields() []field {
	return []field{
		{"COMMAND", &c.Command},
		{"COMMAND_PARAMS", &c.Params},
		{"COMMAND_CONTEXT", &c.Context},
		{"MESSAGE_ID", &c.MessageID},
		{"BOT_ID", &c.BotID},
		{"BOT_CODE", &c.BotCode},
	}
}

// node is a decoded subtree with its wire path, for error messages.
type node struct {
	path string
	m    map[string]any
}

// at names key under n in wire notation, for error messages. Keys come from
// the request, so each is clipped: a hostile key is not echoed at length.
func (n node) at(key string) string {
	if n.path == "" {
		return clip(key)
	}
	return n.path + "[" + clip(key) + "]"
}

// child returns the group under key; ok is false when it is absent.
func (n node) child(key string) (node, bool, error) {
	v, present := n.m[key]
	if !present {
		return node{}, false, nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		if s, _ := v.(string); s == "" {
			// PHP drops empty arrays; an empty string here is the same "nothing".
			return node{}, false, nil
		}
		return node{}, false, &FieldError{Field: n.at(key), Msg: "is a value, want a group of keys"}
	}
	return node{path: n.at(key), m: m}, true, nil
}

func (n node) str(key string) (string, error) {
	switch v := n.m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", &FieldError{Field: n.at(key), Msg: "is a group of keys, want a value"}
	}
}

// parseNumber parses a non-negative decimal integer as sent by the portal.
func parseNumber(field, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, &FieldError{Field: field, Msg: fmt.Sprintf("%q is out of range", clip(s))}
		}
		return 0, &FieldError{Field: field, Msg: fmt.Sprintf("%q is not a number", clip(s))}
	}
	if n < 0 {
		return 0, &FieldError{Field: field, Msg: fmt.Sprintf("%q is negative", clip(s))}
	}
	return n, nil
}

func parseBool(field, s string) (bool, error) {
	switch s {
	case "Y", "y", "1", "true":
		return true, nil
	case "N", "n", "0", "false", "":
		return false, nil
	}
	return false, &FieldError{Field: field, Msg: fmt.Sprintf("%q is not Y or N", clip(s))}
}

// decode fills the fields of a table from n. An empty string counts as absent.
func (n node) decode(fs []field) error {
	for _, f := range fs {
		s, err := n.str(f.key)
		if err != nil {
			return err
		}
		if s == "" {
			continue
		}
		if fe := assign(f.ptr, s); fe != nil {
			fe.Field = n.at(f.key)
			return fe
		}
	}
	return nil
}

// assign sets the field behind ptr (*string, *int, *int64 or *bool) from
// its wire value s, which is not empty. A refusal's Field is for the
// caller to fill.
func assign(ptr any, s string) *FieldError {
	switch p := ptr.(type) {
	case *string:
		*p = s
	case *int:
		v, err := parseNumber("", s)
		if err != nil {
			return err.(*FieldError)
		}
		if int64(int(v)) != v {
			return &FieldError{Msg: fmt.Sprintf("%q is out of range", clip(s))}
		}
		*p = int(v)
	case *int64:
		v, err := parseNumber("", s)
		if err != nil {
			return err.(*FieldError)
		}
		*p = v
	case *bool:
		v, err := parseBool("", s)
		if err != nil {
			return err.(*FieldError)
		}
		*p = v
	}
	return nil
}

// encode is the inverse of decode: zero values are left out.
func encode(fs []field) map[string]any {
	m := map[string]any{}
	for _, f := range fs {
		switch p := f.ptr.(type) {
		case *string:
			if *p != "" {
				m[f.key] = *p
			}
		case *int:
			if *p != 0 {
				m[f.key] = strconv.Itoa(*p)
			}
		case *int64:
			if *p != 0 {
				m[f.key] = strconv.FormatInt(*p, 10)
			}
		case *bool:
			if *p {
				m[f.key] = "Y"
			}
		}
	}
	return m
}

// idKey parses a map key that must be an id (data[BOT][1011]).
func idKey(n node, key, what string) (int, error) {
	v, err := parseNumber(n.at(key), key)
	if err != nil || v == 0 || int64(int(v)) != v {
		return 0, &FieldError{Field: n.at(key), Msg: fmt.Sprintf("%s %q is not a positive number", what, clip(key))}
	}
	return int(v), nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// decodeAuth decodes a token set, taking keys missing at the top from its AUTH copy.
func decodeAuth(n node, a *Auth) error {
	if err := n.decode(a.fields()); err != nil {
		return err
	}
	inner, ok, err := n.child("AUTH")
	if err != nil || !ok {
		return err
	}
	var copyAuth Auth
	if err := inner.decode(copyAuth.fields()); err != nil {
		return err
	}
	mergeAuth(a, &copyAuth)
	return nil
}

// mergeAuth fills the fields of a that are empty from its AUTH copy.
func mergeAuth(a, copyAuth *Auth) {
	top, fallback := a.fields(), copyAuth.fields()
	for i := range top {
		switch p := top[i].ptr.(type) {
		case *string:
			if *p == "" {
				*p = *fallback[i].ptr.(*string)
			}
		case *int:
			if *p == 0 {
				*p = *fallback[i].ptr.(*int)
			}
		case *int64:
			if *p == 0 {
				*p = *fallback[i].ptr.(*int64)
			}
		}
	}
}

// ParseEvent decodes an event post (the form body of POST /bitrix24/events)
// into an Event. Errors are *FieldError naming the field, e.g.
// `data[PARAMS][CHAT_ID]: "abc" is not a number`; the caller should answer
// 400 and change nothing.
//
// Besides the form limits of DecodeForm it requires: event; data[PARAMS]
// [DIALOG_ID] for ONIMBOTMESSAGEADD, ONIMBOTJOINCHAT and ONIMCOMMANDADD; at least one
// data[COMMAND] entry for ONIMCOMMANDADD; data[BOT_ID] for ONIMBOTDELETE;
// auth[member_id] and auth[application_token] for ONAPPINSTALL. It does not
// check the application token: that is the caller's job.
func ParseEvent(form url.Values) (*Event, error) {
	tree, err := DecodeForm(form)
	if err != nil {
		return nil, err
	}
	return ParseEventTree(tree)
}

// ParseEventTree is ParseEvent of a form already decoded into its tree
// (DecodeForm, DecodeFormBody). The event's Data keeps parts of tree.
func ParseEventTree(tree map[string]any) (*Event, error) {
	root := node{m: tree}
	ev := &Event{}
	name, err := root.str("event")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, &FieldError{Field: "event", Msg: "missing"}
	}
	ev.Name = strings.ToUpper(name)
	if err := root.decode([]field{{"event_handler_id", &ev.HandlerID}}); err != nil {
		return nil, err
	}
	ts, err := root.str("ts")
	if err != nil {
		return nil, err
	}
	if ts != "" {
		// Unix seconds; a fraction is tolerated and dropped.
		whole, frac, _ := strings.Cut(ts, ".")
		sec, err := parseNumber("ts", whole)
		if err != nil || strings.Trim(frac, "0123456789") != "" {
			return nil, &FieldError{Field: "ts", Msg: fmt.Sprintf("%q is not a unix time", clip(ts))}
		}
		ev.TS = time.Unix(sec, 0).UTC()
	}
	if auth, ok, err := root.child("auth"); err != nil {
		return nil, err
	} else if ok {
		if err := auth.decode(ev.Auth.fields()); err != nil {
			return nil, err
		}
	}
	data, hasData, err := root.child("data")
	if err != nil {
		return nil, err
	}
	if hasData {
		ev.Data = data.m
		if err := ev.decodeData(data); err != nil {
			return nil, err
		}
	}
	if err := ev.require(); err != nil {
		return nil, err
	}
	return ev, nil
}

func (ev *Event) decodeData(data node) error {
	if params, ok, err := data.child("PARAMS"); err != nil {
		return err
	} else if ok {
		if err := params.decode(ev.Params.fields()); err != nil {
			return err
		}
		v, _ := params.str("FROM_USER_ID")
		ev.fromZero = strings.TrimSpace(v) == "0"
	}
	if user, ok, err := data.child("USER"); err != nil {
		return err
	} else if ok {
		ev.User = &User{}
		if err := user.decode(ev.User.fields()); err != nil {
			return err
		}
		if v, _ := user.str("IS_CONNECTOR"); v != "" {
			ev.User.ConnectorSent = true
		}
	}
	if bots, ok, err := data.child("BOT"); err != nil {
		return err
	} else if ok {
		ev.Bots = map[int]BotAuth{}
		for _, k := range sortedKeys(bots.m) {
			id, err := idKey(bots, k, "bot id")
			if err != nil {
				return err
			}
			b, _, err := bots.child(k)
			if err != nil {
				return err
			}
			bot := BotAuth{BotID: id}
			if b.m != nil {
				var inner int
				if err := b.decode([]field{{"BOT_ID", &inner}, {"BOT_CODE", &bot.BotCode}}); err != nil {
					return err
				}
				if inner != 0 && inner != id {
					return &FieldError{Field: b.at("BOT_ID"), Msg: fmt.Sprintf("%d does not match the key %d", inner, id)}
				}
				if err := decodeAuth(b, &bot.Auth); err != nil {
					return err
				}
			}
			ev.Bots[id] = bot
		}
	}
	if cmds, ok, err := data.child("COMMAND"); err != nil {
		return err
	} else if ok {
		ev.Commands = map[int]Command{}
		for _, k := range sortedKeys(cmds.m) {
			id, err := idKey(cmds, k, "command id")
			if err != nil {
				return err
			}
			c, present, err := cmds.child(k)
			if err != nil {
				return err
			}
			if !present {
				return &FieldError{Field: cmds.at(k), Msg: "is empty"}
			}
			cmd := Command{ID: id}
			if err := c.decode(cmd.fields()); err != nil {
				return err
			}
			if err := decodeAuth(c, &cmd.Auth); err != nil {
				return err
			}
			ev.Commands[id] = cmd
		}
	}
	if err := data.decode([]field{{"BOT_ID", &ev.BotID}, {"BOT_CODE", &ev.BotCode}}); err != nil {
		return err
	}
	if ev.Name == EventAppInstall || ev.Name == EventAppUpdate {
		ev.Install = &Install{}
		if err := data.decode(ev.Install.fields()); err != nil {
			return err
		}
	}
	return nil
}

func (ev *Event) require() error {
	switch ev.Name {
	case EventMessageAdd, EventJoinChat, EventCommandAdd:
		if ev.Params.DialogID == "" {
			return &FieldError{Field: "data[PARAMS][DIALOG_ID]", Msg: "missing"}
		}
	case EventBotDelete:
		if ev.BotID == 0 {
			return &FieldError{Field: "data[BOT_ID]", Msg: "missing"}
		}
	case EventAppInstall:
		if ev.Auth.MemberID == "" {
			return &FieldError{Field: "auth[member_id]", Msg: "missing"}
		}
		if ev.Auth.ApplicationToken == "" {
			return &FieldError{Field: "auth[application_token]", Msg: "missing"}
		}
	}
	if ev.Name == EventCommandAdd && len(ev.Commands) == 0 {
		return &FieldError{Field: "data[COMMAND]", Msg: "missing"}
	}
	return nil
}
