package fakeportal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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

func (p *Portal) botAuthLocked(b *Bot) bitrix24.BotAuth {
	a := p.eventAuthLocked()
	a.UserID = b.ID
	a.ClientID = p.cfg.ClientID
	return bitrix24.BotAuth{BotID: b.ID, BotCode: b.Code, Auth: a}
}

// InstallEvent builds the ONAPPINSTALL body, with the refresh token.
func (p *Portal) InstallEvent() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.eventAuthLocked()
	a.RefreshToken = p.refTok
	ev := bitrix24.InstallEvent(a, bitrix24.Install{Version: 1, Active: true, Installed: true, LanguageID: "en"})
	ev.HandlerID = 1
	ev.TS = p.cfg.Now()
	return ev.Form()
}

// DeleteEvent builds the ONIMBOTDELETE body for a bot.
func (p *Portal) DeleteEvent(botID int) url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	code := ""
	if b := p.bots[botID]; b != nil {
		code = b.Code
	}
	ev := bitrix24.DeleteEvent(p.eventAuthLocked(), botID, code)
	ev.TS = p.cfg.Now()
	return ev.Form()
}

// Chat is an Open Lines chat of one client with a bot, for building the
// events the portal would post about it. Create it with Portal.Chat.
type Chat struct {
	p         *Portal
	Line      int           // Open Line id
	ChatID    int           // Bitrix chat id; DIALOG_ID is "chat<ChatID>"
	Client    bitrix24.User // the external client
	LeadID    int           // the chat's CRM lead (a real lead of the fake)
	BotID     int           // the bot the events go to
	Connector string        // channel, "telegrambot"
	lastMsg   int
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
	return &Chat{p: p, Line: line, ChatID: chatID, Client: client, LeadID: lead, BotID: bot.ID, Connector: "telegrambot"}
}

func (c *Chat) info() bitrix24.LineChat {
	return bitrix24.LineChat{ChatID: c.ChatID, Line: c.Line, Connector: c.Connector, Client: c.Client,
		LeadID: c.LeadID, SessionID: 300 + c.ChatID}
}

// botLocked returns the chat's bot, or a stand-in if it was unregistered.
func (c *Chat) botLocked() *Bot {
	if b := c.p.bots[c.BotID]; b != nil {
		return b
	}
	return &Bot{ID: c.BotID, Code: "olbot"}
}

func (c *Chat) finish(ev *bitrix24.Event) url.Values {
	ev.HandlerID = 403
	ev.TS = c.p.cfg.Now()
	return ev.Form()
}

// Join builds ONIMBOTJOINCHAT: the session was routed to the bot. The chat
// goes back to the bot (ChatState StateBot).
func (c *Chat) Join() url.Values {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.p.chats[c.ChatID] = StateBot
	b := c.botLocked()
	return c.finish(bitrix24.JoinEvent(c.p.eventAuthLocked(), c.p.botAuthLocked(b), c.info()))
}

// Say builds ONIMBOTMESSAGEADD: the client wrote text. Each message gets a
// new, increasing MESSAGE_ID (shared with the ids imbot.message.add returns).
func (c *Chat) Say(text string) url.Values {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.p.nextMessage++
	c.lastMsg = c.p.nextMessage
	b := c.botLocked()
	return c.finish(bitrix24.MessageEvent(c.p.eventAuthLocked(), c.p.botAuthLocked(b), c.info(), c.lastMsg, text))
}

// Command builds ONIMCOMMANDADD: the client typed /command params
// (COMMAND_CONTEXT=TEXTAREA), with a new MESSAGE_ID.
func (c *Chat) Command(command, params string) url.Values {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.p.nextMessage++
	c.lastMsg = c.p.nextMessage
	b := c.botLocked()
	bot := c.p.botAuthLocked(b)
	cmd := bitrix24.Command{ID: 1, Command: command, Params: params, Context: "TEXTAREA", MessageID: c.lastMsg}
	return c.finish(bitrix24.CommandEvent(c.p.eventAuthLocked(), bot, c.info(), cmd))
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
