package fakeportal

import (
	"fmt"
	"strconv"

	"github.com/olbot/olbot/bitrix24"
)

// V2Chat is an Open Lines chat of one client with an imbot.v2 bot: it
// queues the events the portal would give the bot through Event.get. Each
// event is built from the documented data object of its type
// (testdata/docs/v2.data.*), changing only ids, texts and the bot; the
// Open Lines values are entityType LINES (tutorials/chat-bots/open-lines-bot.md),
// connector:true for the client (chat-bots-v2/entities.md: "connector for
// Open Channels") and an entityId in the v1 form
// connector|line|chat|user, which the v2 docs do not show (unverified).
type V2Chat struct {
	p         *Portal
	BotID     int
	Line      int           // Open Line id, part 2 of entityId
	ChatID    int           // chat id; dialogId is "chat<ChatID>"
	Client    bitrix24.User // the external client
	Connector string        // "telegrambot"
}

// V2Chat starts a client chat on line for the imbot.v2 bot botID. A zero
// client.ID gets 100000+chatID.
func (p *Portal) V2Chat(botID, line, chatID int, client bitrix24.User) *V2Chat {
	if client.ID == 0 {
		client.ID = 100000 + chatID
	}
	if client.Name == "" {
		client.Name = client.FirstName
	}
	return &V2Chat{p: p, BotID: botID, Line: line, ChatID: chatID, Client: client, Connector: "telegrambot"}
}

// DialogID is the chat's dialogId.
func (c *V2Chat) DialogID() string { return "chat" + strconv.Itoa(c.ChatID) }

// EntityID is chat.entityId: connector|line|connector chat|connector user.
func (c *V2Chat) EntityID() string {
	return fmt.Sprintf("%s|%d|%d|%d", c.Connector, c.Line, 173633217+c.ChatID, c.Client.ID)
}

// botValues fills data.bot with the registered bot's values.
func botValues(g map[string]any, b *V2Bot) {
	g["id"], g["code"], g["type"], g["eventMode"] = b.ID, b.Code, b.Type, b.EventMode
}

func (c *V2Chat) chatValues(g map[string]any) {
	g["id"], g["dialogId"], g["name"] = c.ChatID, c.DialogID(), c.Client.Name+" - "+c.Connector
	g["entityType"], g["entityId"] = bitrix24.EntityLines, c.EntityID()
}

// userValues sets data.user to u; client marks a connector user.
func v2UserValues(g map[string]any, u bitrix24.User, client bool) {
	g["id"], g["name"], g["firstName"], g["lastName"] = u.ID, u.Name, u.FirstName, u.LastName
	g["connector"] = client
	if client {
		g["workPosition"] = ""
	}
}

// eventLocked builds the data of one event from its fixture and queues it.
func (c *V2Chat) eventLocked(typ, fixture string, fill func(data map[string]any)) int64 {
	b := c.p.v2.bots[c.BotID]
	if b == nil {
		panic("fakeportal: V2Chat of a bot that is not registered through imbot.v2")
	}
	data := mustTree(fixture)
	botValues(group(data, "bot"), b)
	if fill != nil {
		fill(data)
	}
	return c.p.v2PushLocked(c.BotID, typ, data)
}

func (c *V2Chat) queue(typ, fixture string, fill func(map[string]any)) int64 {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.eventLocked(typ, fixture, fill)
}

// Join queues ONIMBOTV2JOINCHAT: the line routed the session to the bot
// (ChatState goes back to StateBot).
func (c *V2Chat) Join() int64 {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.p.chats[c.ChatID] = StateBot
	return c.eventLocked(bitrix24.EventV2JoinChat, "v2.data.onimbotv2joinchat", func(d map[string]any) {
		d["dialogId"] = c.DialogID()
		c.chatValues(group(d, "chat"))
		v2UserValues(group(d, "user"), c.Client, true)
	})
}

// message fills an ONIMBOTV2MESSAGEADD data object; author nil is a system
// message (authorId 0, isSystem).
func (c *V2Chat) message(text string, author *bitrix24.User, client bool) func(map[string]any) {
	return func(d map[string]any) {
		c.p.nextMessage++
		m := group(d, "message")
		m["id"], m["chatId"], m["text"] = c.p.nextMessage, c.ChatID, text
		m["date"] = c.p.cfg.Now().Format("2006-01-02T15:04:05-07:00")
		if author == nil {
			m["authorId"], m["isSystem"] = 0, true
		} else {
			m["authorId"] = author.ID
			v2UserValues(group(d, "user"), *author, client)
		}
		c.chatValues(group(d, "chat"))
	}
}

// Say queues ONIMBOTV2MESSAGEADD: the client wrote text.
func (c *V2Chat) Say(text string) int64 {
	return c.queue(bitrix24.EventV2MessageAdd, "v2.data.onimbotv2messageadd", c.message(text, &c.Client, true))
}

// OperatorSay queues a message of an employee in the chat.
func (c *V2Chat) OperatorSay(op bitrix24.User, text string) int64 {
	return c.queue(bitrix24.EventV2MessageAdd, "v2.data.onimbotv2messageadd", c.message(text, &op, false))
}

// SystemSay queues a system message (authorId 0, isSystem true).
func (c *V2Chat) SystemSay(text string) int64 {
	return c.queue(bitrix24.EventV2MessageAdd, "v2.data.onimbotv2messageadd", c.message(text, nil, false))
}

// Command queues ONIMBOTV2COMMANDADD: the client pressed a COMMAND button
// (context "keyboard") or typed /command params.
func (c *V2Chat) Command(command, params, context string) int64 {
	return c.queue(bitrix24.EventV2CommandAdd, "v2.data.onimbotv2commandadd", func(d map[string]any) {
		c.message("/"+command+" "+params, &c.Client, true)(d)
		cmd := group(d, "command")
		cmd["command"], cmd["params"], cmd["context"] = "/"+command, params, context
	})
}

// V2DeleteBot queues ONIMBOTV2DELETE, the bot's last event.
func (p *Portal) V2DeleteBot(botID int) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &V2Chat{p: p, BotID: botID}
	return c.eventLocked(bitrix24.EventV2Delete, "v2.data.onimbotv2delete", nil)
}
