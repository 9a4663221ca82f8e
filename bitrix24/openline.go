package bitrix24

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// IsOpenLine reports whether the event comes from an Open Lines chat
// (CHAT_ENTITY_TYPE=LINES).
func (ev *Event) IsOpenLine() bool { return ev.Params.ChatEntityType == EntityLines }

// OpenLine returns the Open Line id from CHAT_ENTITY_ID
// (<connector>|<LINE_ID>|<connector chat>|<connector user>) of an Open Lines
// chat. ok is false for other chats and for a malformed id.
func (ev *Event) OpenLine() (lineID int, ok bool) {
	if !ev.IsOpenLine() {
		return 0, false
	}
	parts := strings.Split(ev.Params.ChatEntityID, "|")
	if len(parts) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// Connector returns the channel of an Open Lines chat (the first part of
// CHAT_ENTITY_ID: telegrambot, livechat, …), or "".
func (ev *Event) Connector() string {
	if !ev.IsOpenLine() {
		return ""
	}
	c, _, _ := strings.Cut(ev.Params.ChatEntityID, "|")
	return c
}

// LeadID returns the CRM lead bound to the chat, from CHAT_ENTITY_DATA_2
// (LEAD|1209|COMPANY|0|CONTACT|0|DEAL|0), or 0 when there is none.
func (ev *Event) LeadID() int {
	parts := strings.Split(ev.Params.ChatEntityData2, "|")
	for i := 0; i+1 < len(parts); i += 2 {
		if parts[i] == "LEAD" {
			n, err := strconv.Atoi(parts[i+1])
			if err != nil || n < 0 {
				return 0
			}
			return n
		}
	}
	return 0
}

// ChatID returns the numeric chat id: CHAT_ID, or DIALOG_ID without its
// "chat" prefix; 0 for a private dialog (DIALOG_ID is a user id).
func (ev *Event) ChatID() int {
	if ev.Params.ChatID > 0 {
		return ev.Params.ChatID
	}
	return DialogChatID(ev.Params.DialogID)
}

// DialogChatID returns the chat id of a DIALOG_ID "chat1777" (1777), or 0
// when the dialog is not a chat.
func DialogChatID(dialogID string) int {
	rest, ok := strings.CutPrefix(dialogID, "chat")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// Bot returns the token set to reply with: the bot the event is about
// (PARAMS[BOT_ID], or the command's BOT_ID), else the lowest-numbered bot in
// data[BOT]. ok is false when the event carries no bot.
func (ev *Event) Bot() (BotAuth, bool) {
	if b, ok := ev.Bots[ev.Params.BotID]; ok && ev.Params.BotID != 0 {
		return b, true
	}
	cmdIDs := make([]int, 0, len(ev.Commands))
	for id := range ev.Commands {
		cmdIDs = append(cmdIDs, id)
	}
	sort.Ints(cmdIDs)
	for _, id := range cmdIDs {
		c := ev.Commands[id]
		if b, ok := ev.Bots[c.BotID]; ok {
			return b, true
		}
		if c.BotID != 0 {
			return BotAuth{BotID: c.BotID, BotCode: c.BotCode, Auth: c.Auth}, true
		}
	}
	best := 0
	for id := range ev.Bots {
		if best == 0 || id < best {
			best = id
		}
	}
	if best == 0 {
		return BotAuth{}, false
	}
	return ev.Bots[best], true
}

// Author says who wrote a message event, and why it is not the client's
// when it is not (client is then false): a system message (SYSTEM=Y, or
// FROM_USER_ID 0), a bot (USER[IS_BOT]), or an employee. The client is told
// from an operator by USER[IS_CONNECTOR] (an external channel's user) when
// the event has it; only when it has not, by the 4th part of
// CHAT_ENTITY_ID, which for external connectors need not be a Bitrix user
// id at all.
func (ev *Event) Author() (client bool, why string) {
	switch {
	case ev.Params.System:
		return false, "a system message (SYSTEM=Y)"
	case ev.fromNobody():
		return false, "a system message (FROM_USER_ID=0)"
	case ev.User != nil && ev.User.IsBot:
		return false, "a bot's message"
	case ev.User != nil && ev.User.ConnectorSent:
		if ev.User.IsConnector {
			return true, ""
		}
		return false, fmt.Sprintf("a message from user %d, who is not an external channel's user (IS_CONNECTOR=N): an operator", ev.User.ID)
	}
	parts := strings.Split(ev.Params.ChatEntityID, "|")
	if len(parts) >= 4 {
		if c, err := strconv.Atoi(parts[3]); err == nil && c > 0 && ev.Params.FromUserID != 0 && ev.Params.FromUserID != c {
			return false, fmt.Sprintf("a message from user %d, not the client (%d): an operator", ev.Params.FromUserID, c)
		}
	}
	return true, ""
}

// fromNobody reports a FROM_USER_ID that the event sends as 0.
func (ev *Event) fromNobody() bool { return ev.fromZero }

// HasFiles reports whether a message carries files (data[PARAMS][FILES]).
// The docs do not describe FILES; its presence is all olbot relies on.
func (ev *Event) HasFiles() bool {
	params, _ := ev.Data["PARAMS"].(map[string]any)
	files, _ := params["FILES"].(map[string]any)
	return len(files) > 0
}

// Text is the message as the client typed it: MESSAGE through CleanMessage.
func (ev *Event) Text() string { return CleanMessage(ev.Params.Message) }

// Bindings are the CRM entities an Open Lines chat is bound to, from
// CHAT_ENTITY_DATA_2 (LEAD|1209|COMPANY|0|CONTACT|0|DEAL|0) or the
// entity_data_2 of imopenlines.dialog.get.
type Bindings struct {
	Lead, Company, Contact, Deal int
}

// ParseBindings reads LEAD|1209|COMPANY|0|CONTACT|0|DEAL|0; unknown or
// malformed pairs are skipped.
func ParseBindings(s string) Bindings {
	var b Bindings
	parts := strings.Split(s, "|")
	for i := 0; i+1 < len(parts); i += 2 {
		n, err := strconv.Atoi(parts[i+1])
		if err != nil || n < 0 {
			continue
		}
		switch parts[i] {
		case "LEAD":
			b.Lead = n
		case "COMPANY":
			b.Company = n
		case "CONTACT":
			b.Contact = n
		case "DEAL":
			b.Deal = n
		}
	}
	return b
}

// Bindings returns the chat's CRM bindings from CHAT_ENTITY_DATA_2.
func (ev *Event) Bindings() Bindings { return ParseBindings(ev.Params.ChatEntityData2) }
