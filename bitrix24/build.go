package bitrix24

import (
	"fmt"
	"strconv"
)

// LineChat describes an Open Lines chat and its client, for building events
// with MessageEvent, JoinEvent and CommandEvent (tests, the fake portal).
type LineChat struct {
	ChatID          int    // Bitrix chat id; DIALOG_ID is "chat<ChatID>"
	Line            int    // Open Line id (2nd part of CHAT_ENTITY_ID)
	Connector       string // channel; "telegrambot" when empty
	ConnectorChatID string // 3rd part of CHAT_ENTITY_ID; derived from ChatID when empty
	Client          User   // the external client; its ID is FROM_USER_ID/AUTHOR_ID
	LeadID          int    // CRM lead bound to the chat (CHAT_ENTITY_DATA_1/2); 0 for none
	SessionID       int    // session id for CHAT_ENTITY_DATA_1; 0 for none
	Title           string // CHAT_TITLE; "<client name> - <connector>" when empty
	Language        string // LANGUAGE; "en" when empty
}

func (c LineChat) params() Params {
	connector := c.Connector
	if connector == "" {
		connector = "telegrambot"
	}
	cchat := c.ConnectorChatID
	if cchat == "" {
		cchat = strconv.Itoa(173633217 + c.ChatID)
	}
	title := c.Title
	if title == "" {
		name := c.Client.Name
		if name == "" {
			name = c.Client.FirstName
		}
		title = name + " - " + connector
	}
	lang := c.Language
	if lang == "" {
		lang = "en"
	}
	return Params{
		MessageType:     "L",
		DialogID:        "chat" + strconv.Itoa(c.ChatID),
		ChatID:          c.ChatID,
		ToChatID:        c.ChatID,
		ChatType:        "L",
		ChatTitle:       title,
		ChatEntityType:  EntityLines,
		ChatEntityID:    fmt.Sprintf("%s|%d|%s|%d", connector, c.Line, cchat, c.Client.ID),
		ChatEntityData1: fmt.Sprintf("Y|LEAD|%d|N|N|%d|0|0|0|0", c.LeadID, c.SessionID),
		ChatEntityData2: fmt.Sprintf("LEAD|%d|COMPANY|0|CONTACT|0|DEAL|0", c.LeadID),
		ChatEntityData3: "N",
		FromUserID:      c.Client.ID,
		AuthorID:        c.Client.ID,
		Language:        lang,
	}
}

func (c LineChat) user() *User {
	u := c.Client
	u.IsConnector, u.ConnectorSent = true, true
	return &u
}

func bots(bot BotAuth) map[int]BotAuth {
	if bot.BotID == 0 {
		return nil
	}
	return map[int]BotAuth{bot.BotID: bot}
}

// MessageEvent builds ONIMBOTMESSAGEADD: the client wrote text in the chat.
// auth is the envelope, bot the receiving bot's own token set.
func MessageEvent(auth Auth, bot BotAuth, chat LineChat, messageID int, text string) *Event {
	p := chat.params()
	p.Message = text
	p.MessageID = messageID
	return &Event{Name: EventMessageAdd, Auth: auth, Params: p, User: chat.user(), Bots: bots(bot)}
}

// JoinEvent builds ONIMBOTJOINCHAT: the session was routed to the bot.
func JoinEvent(auth Auth, bot BotAuth, chat LineChat) *Event {
	p := chat.params()
	p.BotID = bot.BotID
	p.UserID = chat.Client.ID
	p.FromUserID, p.AuthorID = 0, 0
	return &Event{Name: EventJoinChat, Auth: auth, Params: p, User: chat.user(), Bots: bots(bot)}
}

// CommandEvent builds ONIMCOMMANDADD: the client typed a slash command or
// pressed a COMMAND button. cmd.ID is the command id; its bot fields and
// token set default to bot's.
func CommandEvent(auth Auth, bot BotAuth, chat LineChat, cmd Command) *Event {
	p := chat.params()
	p.MessageID = cmd.MessageID
	p.Message = "/" + cmd.Command
	if cmd.Params != "" {
		p.Message += " " + cmd.Params
	}
	if cmd.Context == "" {
		cmd.Context = "TEXTAREA"
	}
	p.CommandContext = cmd.Context
	if cmd.BotID == 0 {
		cmd.BotID = bot.BotID
	}
	if cmd.BotCode == "" {
		cmd.BotCode = bot.BotCode
	}
	if cmd.Auth == (Auth{}) {
		cmd.Auth = bot.Auth
	}
	return &Event{Name: EventCommandAdd, Auth: auth, Params: p, User: chat.user(), Bots: bots(bot),
		Commands: map[int]Command{cmd.ID: cmd}}
}

// DeleteEvent builds ONIMBOTDELETE for the bot botID.
func DeleteEvent(auth Auth, botID int, botCode string) *Event {
	return &Event{Name: EventBotDelete, Auth: auth, BotID: botID, BotCode: botCode}
}

// InstallEvent builds ONAPPINSTALL; auth should carry the tokens, member_id,
// domain, client_endpoint and application_token.
func InstallEvent(auth Auth, in Install) *Event {
	return &Event{Name: EventAppInstall, Auth: auth, Install: &in}
}
