package fakeportal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olbot/olbot/bitrix24"
)

// Post sends an event to a bot handler the way the portal's queue does: a
// POST with an application/x-www-form-urlencoded body in PHP
// http_build_query form. The caller closes the response body.
func (p *Portal) Post(ctx context.Context, handlerURL string, ev url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, handlerURL, strings.NewReader(ev.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Bitrix24 Webhook Engine")
	return p.client.Do(req)
}

// EventAuth is the auth[…] envelope the portal puts on events: domain,
// member_id, application_token, endpoints and the current access token.
func (p *Portal) EventAuth() bitrix24.Auth {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.eventAuthLocked()
}

func (p *Portal) eventAuthLocked() bitrix24.Auth {
	return bitrix24.Auth{
		AccessToken:      p.access,
		Expires:          p.cfg.Now().Add(p.cfg.TokenTTL).Unix(),
		ExpiresIn:        int(p.cfg.TokenTTL.Seconds()),
		Scope:            "imbot,imopenlines,crm",
		Domain:           p.cfg.Domain,
		ClientEndpoint:   p.cfg.BaseURL + "/rest/",
		ServerEndpoint:   p.cfg.BaseURL + "/rest/",
		MemberID:         p.cfg.MemberID,
		ApplicationToken: p.cfg.ApplicationToken,
		Status:           "L",
		UserID:           1,
	}
}

// botAuthLocked is a bot's entry of data[BOT]: the bot user's own token,
// valid a little longer than the application's, and without CRM rights.
func (p *Portal) botAuthLocked(b *Bot) bitrix24.BotAuth {
	a := p.eventAuthLocked()
	a.UserID = b.ID
	a.ClientID = p.cfg.ClientID
	a.AccessToken = fmt.Sprintf("fake-bot-%d-%d", b.ID, p.tokenSeq)
	if p.tokens[a.AccessToken] == nil {
		p.tokens[a.AccessToken] = &accessToken{expiry: p.cfg.Now().Add(p.cfg.TokenTTL + time.Minute), botUser: true}
	}
	a.Expires = p.cfg.Now().Add(p.cfg.TokenTTL + time.Minute).Unix()
	return bitrix24.BotAuth{BotID: b.ID, BotCode: b.Code, Auth: a}
}

// The fake's events are the documented bodies (fixtures.go) with only ids,
// texts, addresses and tokens changed: keys the documented body has stay,
// keys it lacks are never added.

// setPresent overwrites the keys of m that the documented body has with the
// fake's values; a key the body lacks stays absent.
func setPresent(m map[string]any, values map[string]any) {
	for k, v := range values {
		if _, ok := m[k]; ok {
			m[k] = v
		}
	}
}

// authValues are the fake's values for the keys of an auth set.
func authValues(a bitrix24.Auth) map[string]any {
	return map[string]any{
		"access_token": a.AccessToken, "refresh_token": a.RefreshToken, "expires": strconv.FormatInt(a.Expires, 10),
		"expires_in": strconv.Itoa(a.ExpiresIn), "scope": a.Scope, "domain": a.Domain, "server_endpoint": a.ServerEndpoint,
		"status": a.Status, "client_endpoint": a.ClientEndpoint, "member_id": a.MemberID, "user_id": strconv.Itoa(a.UserID),
		"client_id": a.ClientID, "application_token": a.ApplicationToken,
	}
}

// stamp sets the envelope of a documented event: auth and ts.
func (p *Portal) stampLocked(tree map[string]any, refresh bool) {
	if !refresh {
		delete(group(tree, "auth"), "refresh_token") // the fake hands its refresh token out only with the install
	}
	applyAssigns(tree, p.stampAssignsLocked(refresh))
}

// stampAssignsLocked are stampLocked's values: auth (with the refresh
// token or without) and ts.
func (p *Portal) stampAssignsLocked(refresh bool) []assign {
	a := p.eventAuthLocked()
	if refresh {
		a.RefreshToken = p.refTok
	}
	return []assign{
		{[]string{"auth"}, authValues(a)},
		{nil, map[string]any{"ts": strconv.FormatInt(p.cfg.Now().Unix(), 10)}},
	}
}

// botGroup replaces the one documented entry of data[BOT] (or
// data[COMMAND]) by the fake's bot b, keyed by key, with extra values set.
func (p *Portal) botGroupLocked(g map[string]any, key string, b *Bot, extra map[string]any) {
	rekeyBot(g, key)
	applyAssigns(g, p.botAssignsLocked([]string{key}, b, extra))
}

// rekeyBot puts the one documented entry of a bot group under key,
// without its refresh tokens (the bot's own and its AUTH's).
func rekeyBot(g map[string]any, key string) {
	var entry map[string]any
	for k, v := range g {
		entry, _ = v.(map[string]any)
		delete(g, k)
	}
	delete(entry, "refresh_token")
	if inner, ok := entry["AUTH"].(map[string]any); ok {
		delete(inner, "refresh_token")
	}
	g[key] = entry
}

// botAssignsLocked are the values of bot b's entry at path: its token
// (in the entry and its AUTH), BOT_ID, BOT_CODE and extra.
func (p *Portal) botAssignsLocked(path []string, b *Bot, extra map[string]any) []assign {
	vals := authValues(p.botAuthLocked(b).Auth)
	ids := map[string]any{"BOT_ID": strconv.Itoa(b.ID), "BOT_CODE": b.Code}
	for k, v := range extra {
		ids[k] = v
	}
	return []assign{{path, vals}, {append(slices.Clip(path), "AUTH"), vals}, {path, ids}}
}

// InstallEvent builds the ONAPPINSTALL body, with the refresh token, from
// the documented example (on-app-install.md).
func (p *Portal) InstallEvent() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	tree := mustTree("v1.event.onappinstall")
	p.stampLocked(tree, true)
	setPresent(group(tree, "data"), map[string]any{"LANGUAGE_ID": "en"})
	return bitrix24.EncodeForm(tree)
}

// UpdateEvent builds the ONAPPUPDATE body (on-app-update.md): the
// application's new version, with a new application token when token is
// not empty.
func (p *Portal) UpdateEvent(token string) url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	if token != "" {
		p.cfg.ApplicationToken = token
	}
	tree := mustTree("v1.event.onappupdate")
	p.stampLocked(tree, true)
	setPresent(group(tree, "data"), map[string]any{"LANGUAGE_ID": "en"})
	return bitrix24.EncodeForm(tree)
}

// UninstallEvent builds the ONAPPUNINSTALL body (on-app-uninstall.md).
func (p *Portal) UninstallEvent() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	tree := mustTree("v1.event.onappuninstall")
	p.stampLocked(tree, false)
	return bitrix24.EncodeForm(tree)
}

// DeleteEvent builds the ONIMBOTDELETE body for a bot (on-imbot-delete.md).
func (p *Portal) DeleteEvent(botID int) url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	code := ""
	if b := p.bots[botID]; b != nil {
		code = b.Code
	}
	tree := mustTree("v1.event.onimbotdelete")
	p.stampLocked(tree, false)
	setPresent(group(tree, "data"), map[string]any{"BOT_ID": strconv.Itoa(botID), "BOT_CODE": code})
	return bitrix24.EncodeForm(tree)
}

// Chat is an Open Lines chat of one client with a bot, for building the
// events the portal would post about it. Create it with Portal.Chat.
type Chat struct {
	p         *Portal
	Line      int           // Open Line id
	ChatID    int           // Bitrix chat id; DIALOG_ID is "chat<ChatID>"
	Client    bitrix24.User // the external client
	LeadID    int           // the chat's CRM lead (a real lead of the fake); 0 for none
	ContactID int           // the chat's CRM contact; 0 for none
	DealID    int           // the chat's CRM deal; 0 for none
	BotID     int           // the bot the events go to
	Connector string        // channel, "telegrambot"
	// ConnectorUser is the 4th part of CHAT_ENTITY_ID: the channel's own
	// user id, which for external connectors is not the Bitrix user id.
	// Empty: the client's Bitrix id.
	ConnectorUser string
	lastMsg       int
}

// Chat starts a client chat on an Open Line: it creates the chat's CRM lead
// and picks the lowest-numbered registered bot (registering one, code
// "olbot", for the OAuth application if there is none). A zero client.ID
// gets 100000+chatID.
func (p *Portal) Chat(line, chatID int, client bitrix24.User) *Chat {
	p.mu.Lock()
	defer p.mu.Unlock()
	if client.ID == 0 {
		client.ID = 100000 + chatID
	}
	if client.Name == "" {
		client.Name = strings.TrimSpace(client.FirstName + " " + client.LastName)
	}
	bots := p.sortedBotsLocked()
	var bot *Bot
	if len(bots) > 0 {
		bot = bots[0]
	} else {
		bot = p.addBotLocked("olbot", "oauth", "")
	}
	lead := p.newLeadLocked(map[string]any{"TITLE": client.Name + " - telegrambot", "NAME": client.FirstName})
	c := &Chat{p: p, Line: line, ChatID: chatID, Client: client, LeadID: lead, BotID: bot.ID, Connector: "telegrambot"}
	p.lines[chatID] = c
	return c
}

// entityID is CHAT_ENTITY_ID: <connector>|<line>|<connector chat>|<connector user>.
func (c *Chat) entityID() string {
	user := c.ConnectorUser
	if user == "" {
		user = strconv.Itoa(c.Client.ID)
	}
	return fmt.Sprintf("%s|%d|%d|%s", c.Connector, c.Line, 173633217+c.ChatID, user)
}

// bindings is CHAT_ENTITY_DATA_2: the chat's CRM bindings.
func (c *Chat) bindings() string {
	return fmt.Sprintf("LEAD|%d|COMPANY|0|CONTACT|%d|DEAL|%d", c.LeadID, c.ContactID, c.DealID)
}

// botLocked returns the chat's bot, or a stand-in if it was unregistered.
func (c *Chat) botLocked() *Bot {
	if b := c.p.bots[c.BotID]; b != nil {
		return b
	}
	return &Bot{ID: c.BotID, Code: "olbot"}
}

// chatValues are the fake's values for the chat keys of data[PARAMS].
func (c *Chat) chatValues() map[string]any {
	chat := strconv.Itoa(c.ChatID)
	return map[string]any{
		"DIALOG_ID": "chat" + chat, "TO_CHAT_ID": chat, "CHAT_ID": chat,
		"CHAT_TITLE": c.Client.Name + " - " + c.Connector, "CHAT_ENTITY_ID": c.entityID(),
		"CHAT_ENTITY_DATA_1": fmt.Sprintf("Y|LEAD|%d|N|N|%d|0|0|0|0", c.LeadID, 300+c.ChatID),
		"CHAT_ENTITY_DATA_2": c.bindings(), "BOT_ID": strconv.Itoa(c.BotID), "USER_ID": strconv.Itoa(c.Client.ID),
		"LANGUAGE": "en",
	}
}

func userValues(u bitrix24.User) map[string]any {
	return map[string]any{"ID": strconv.Itoa(u.ID), "NAME": u.Name, "FIRST_NAME": u.FirstName, "LAST_NAME": u.LastName}
}

// Join builds ONIMBOTJOINCHAT: the session was routed to the bot. The chat
// goes back to the bot (ChatState StateBot). As documented, it carries no
// CHAT_ENTITY_DATA_*: olbot learns the CRM bindings from the first message.
func (c *Chat) Join() url.Values {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return bitrix24.EncodeForm(treeOf(c.joinLocked()))
}

// JoinBody is Join().Encode(), from the shape's template (bodies.go; the
// load tool sends one per dialog).
func (c *Chat) JoinBody() []byte {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	shape, as := c.joinLocked()
	return c.p.bodyLocked(c.shapeKey(joinBase, true), shape, as)
}

const (
	joinBase = "v1.event.onimbotjoinchat.openline"
	sayBase  = "v1.event.onimbotmessageadd.openline"
)

func (c *Chat) joinLocked() (func() map[string]any, []assign) {
	c.p.chats[c.ChatID] = StateBot
	as := append(c.envelopeLocked(),
		assign{[]string{"data", "PARAMS"}, c.chatValues()},
		assign{[]string{"data", "USER"}, userValues(c.Client)})
	return c.shape(joinBase, "459"), as
}

// shapeKey names the shape of base for this chat's bot (its id is a key of
// data[BOT]), with or without an author's assigns.
func (c *Chat) shapeKey(base string, author bool) string {
	return base + "|" + strconv.Itoa(c.BotID) + "|" + strconv.FormatBool(author)
}

// shape is the fixture base as the chat's events change its structure:
// no refresh tokens (the fake hands its refresh token out only with the
// install), the documented bot's entry of data[BOT] under the chat's bot
// id, the handler id.
func (c *Chat) shape(base, handlerID string) func() map[string]any {
	key := strconv.Itoa(c.BotID)
	return func() map[string]any {
		tree := mustTree(base)
		delete(group(tree, "auth"), "refresh_token")
		if bots, ok := groupAt(tree, []string{"data", "BOT"}); ok {
			rekeyBot(bots, key)
		}
		tree["event_handler_id"] = handlerID
		return tree
	}
}

// envelopeLocked are the assigns of an event's envelope (stampLocked and
// botGroupLocked): auth, ts, and the chat's bot in data[BOT].
func (c *Chat) envelopeLocked() []assign {
	return append(c.p.stampAssignsLocked(false),
		c.p.botAssignsLocked([]string{"data", "BOT", strconv.Itoa(c.BotID)}, c.botLocked(), nil)...)
}

// messageLocked is ONIMBOTMESSAGEADD from the fixture base, with text and
// a new MESSAGE_ID; author nil keeps the fixture's author (none, for a
// system message): its shape and assigns.
func (c *Chat) messageLocked(base, text string, author *bitrix24.User) (func() map[string]any, []assign) {
	c.p.nextMessage++
	c.lastMsg = c.p.nextMessage
	as := append(c.envelopeLocked(),
		assign{[]string{"data", "PARAMS"}, c.chatValues()},
		assign{[]string{"data", "PARAMS"}, map[string]any{"MESSAGE": text, "MESSAGE_ORIGINAL": text, "MESSAGE_ID": strconv.Itoa(c.lastMsg),
			"CHAT_PREV_MESSAGE_ID": strconv.Itoa(c.lastMsg - 1), "TEMPLATE_ID": fmt.Sprintf("00000000-0000-4000-8000-%012d", c.lastMsg)}})
	if author != nil {
		id := strconv.Itoa(author.ID)
		as = append(as,
			assign{[]string{"data", "PARAMS"}, map[string]any{"FROM_USER_ID": id, "AUTHOR_ID": id, "RID": id}},
			assign{[]string{"data", "USER"}, userValues(*author)})
	}
	return c.shape(base, "403"), as
}

// messageTreeLocked is messageLocked's event as a tree.
func (c *Chat) messageTreeLocked(base, text string, author *bitrix24.User) map[string]any {
	return treeOf(c.messageLocked(base, text, author))
}

// Say builds ONIMBOTMESSAGEADD: the client wrote text. Each message gets a
// new, increasing MESSAGE_ID (shared with the ids imbot.message.add returns).
func (c *Chat) Say(text string) url.Values {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return bitrix24.EncodeForm(c.messageTreeLocked(sayBase, text, &c.Client))
}

// SayBody is Say(text).Encode(), from the shape's template (bodies.go; the
// load tool sends one per client message).
func (c *Chat) SayBody(text string) []byte {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	shape, as := c.messageLocked(sayBase, text, &c.Client)
	return c.p.bodyLocked(c.shapeKey(sayBase, true), shape, as)
}

// OperatorSay builds ONIMBOTMESSAGEADD of an employee (IS_CONNECTOR N)
// writing in the chat.
func (c *Chat) OperatorSay(operator bitrix24.User, text string) url.Values {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return bitrix24.EncodeForm(c.messageTreeLocked("v1.event.onimbotmessageadd.operator", text, &operator))
}

// SystemSay builds a system message (SYSTEM=Y, FROM_USER_ID=0, no USER).
func (c *Chat) SystemSay(text string) url.Values {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return bitrix24.EncodeForm(c.messageTreeLocked("v1.event.onimbotmessageadd.system", text, nil))
}

// Command builds ONIMCOMMANDADD: the client typed /command params
// (COMMAND_CONTEXT=TEXTAREA), with a new MESSAGE_ID. The portal sends it
// only for a command the bot registered (imbot.command.register).
func (c *Chat) Command(command, params string) url.Values {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.p.nextMessage++
	c.lastMsg = c.p.nextMessage
	tree := mustTree("v1.event.onimcommandadd.group")
	c.p.stampLocked(tree, false)
	data := group(tree, "data")
	msg := strconv.Itoa(c.lastMsg)
	c.p.botGroupLocked(group(data, "COMMAND"), "1", c.botLocked(), map[string]any{
		"COMMAND": command, "COMMAND_ID": "1", "COMMAND_PARAMS": params, "MESSAGE_ID": msg})
	prm := group(data, "PARAMS")
	setPresent(prm, c.chatValues())
	text := strings.TrimSpace("/" + command + " " + params)
	id := strconv.Itoa(c.Client.ID)
	setPresent(prm, map[string]any{"MESSAGE": text, "MESSAGE_ID": msg, "FROM_USER_ID": id, "AUTHOR_ID": id,
		"MESSAGE_TYPE": "L", "CHAT_TYPE": "L"})
	// the documented command example is of a group chat; an Open Lines chat is LINES
	prm["CHAT_ENTITY_TYPE"] = bitrix24.EntityLines
	prm["CHAT_ENTITY_ID"] = c.entityID()
	setPresent(group(data, "USER"), userValues(c.Client))
	tree["event_handler_id"] = "1045"
	return bitrix24.EncodeForm(tree)
}

// LastMessageID is the MESSAGE_ID of the last Say or Command.
func (c *Chat) LastMessageID() int {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.lastMsg
}

// Send posts an event of this chat to the handler the chat's bot registered
// for it (EVENT_WELCOME_MESSAGE for ONIMBOTJOINCHAT, EVENT_MESSAGE_ADD for
// messages and commands).
func (c *Chat) Send(ctx context.Context, ev url.Values) (*http.Response, error) {
	key := "EVENT_MESSAGE_ADD"
	switch ev.Get("event") {
	case bitrix24.EventJoinChat:
		key = "EVENT_WELCOME_MESSAGE"
	case bitrix24.EventBotDelete:
		key = "EVENT_BOT_DELETE"
	}
	c.p.mu.Lock()
	var handler string
	if b := c.p.bots[c.BotID]; b != nil {
		handler = b.Handlers[key]
	}
	c.p.mu.Unlock()
	if handler == "" {
		return nil, errors.New("fakeportal: bot " + fmt.Sprint(c.BotID) + " has no " + key + " handler")
	}
	return c.p.Post(ctx, handler, ev)
}
