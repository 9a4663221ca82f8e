package pull

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
)

// Input is what one imbot.v2 event means for a dialog: the step to run
// and where its replies go.
type Input struct {
	// Key is the dialog key b24:<portal>:<dialogId>, the same as for the
	// v1 bot's events of that chat, so a line moved from the v1 bot to the
	// v2 bot keeps its running dialogs.
	Key   string
	Event engine.Event
	// Meta says where the replies go: portal, dialog (the dialogId to
	// answer), chat (CHAT_ID of the session methods), bot (the v2 bot id)
	// and api "v2".
	Meta map[string]string
}

// DialogInput turns a decoded event into a dialog step for portal (the
// portal's stable id: its member id when known, else its host). It
// returns a non-empty reason instead when the event is no step: not an
// Open Lines chat, a message that is not the client's (an operator's, a
// system message, a bot's, the bot's own), a command that is not a menu
// button, ONIMBOTV2DELETE (the caller forgets the bot), or a type olbot
// does not act on. Message and command events carry the ids the v1 route
// uses (m<message id>, c<message id>:<command id>), so an event seen twice
// is applied once.
func DialogInput(portal string, ev bitrix24.V2Event, now time.Time) (Input, string) {
	switch ev.Type {
	case bitrix24.EventV2JoinChat, bitrix24.EventV2MessageAdd, bitrix24.EventV2CommandAdd:
	case bitrix24.EventV2Delete:
		return Input{}, fmt.Sprintf("bot %d was deleted on the portal", ev.Bot.ID)
	default:
		return Input{}, "olbot does not handle " + ev.Type
	}
	if !ev.IsOpenLine() {
		return Input{}, "not an Open Lines chat"
	}
	if ev.ChatID() <= 0 || ev.DialogID == "" {
		return Input{}, "the event names no chat"
	}
	line, _ := ev.OpenLine()
	in := Input{
		Key:   "b24:" + portal + ":" + ev.DialogID,
		Event: engine.Event{Line: line, Time: now},
		Meta: map[string]string{"portal": portal, "dialog": ev.DialogID, "chat": strconv.Itoa(ev.ChatID()),
			"bot": strconv.Itoa(ev.Bot.ID), "api": "v2"},
	}
	if ev.Type == bitrix24.EventV2JoinChat {
		in.Event.Type = engine.Start
		if ev.User.Connector {
			in.Event.Client = firstName(ev.User)
		}
		return in, ""
	}
	if who := ev.From(); who != bitrix24.AuthorClient {
		return Input{}, "a message of the " + who.String() + ", not the client's"
	}
	in.Event.Client = firstName(ev.User)
	if ev.Type == bitrix24.EventV2MessageAdd {
		in.Event.Type, in.Event.Text = engine.Message, ev.Message.Text
		in.Event.ID = "m" + strconv.Itoa(ev.Message.ID)
		return in, ""
	}
	n, err := strconv.Atoi(strings.TrimSpace(ev.Command.Params))
	if err != nil || n < 1 {
		return Input{}, fmt.Sprintf("command %q with params %q is not a menu button", ev.Command.Command, ev.Command.Params)
	}
	in.Event.Type, in.Event.Button = engine.Button, n
	in.Event.ID = fmt.Sprintf("c%d:%d", ev.Message.ID, ev.Command.ID)
	return in, ""
}

func firstName(u bitrix24.V2User) string {
	if u.FirstName != "" {
		return u.FirstName
	}
	first, _, _ := strings.Cut(u.Name, " ")
	return first
}
