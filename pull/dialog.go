package pull

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
)

// DialogInput turns a decoded event into a dialog step for portal (the
// portal's dialog-key id, outbox.Portals.PortalID: the member id the store
// knows for the host, else the host; domain is its host). The key is b24:<portal>:<dialogId>, the same as for the v1
// bot's events of that chat, so a line moved from the v1 bot to the v2
// bot keeps its running dialogs; the channel names the chat and the v2
// bot the replies go to. It
// returns a non-empty reason instead when the event is no step: not an
// Open Lines chat, a message that is not the client's (an operator's, a
// system message, a bot's, the bot's own), a command that is not a menu
// button, ONIMBOTV2DELETE (the caller forgets the bot), or a type olbot
// does not act on. Message and command events carry the ids the v1 route
// uses (m<message id>, c<message id>:<command id>) and a join polled in
// fetch mode j<eventId>, so an event seen twice (a replay after a crash)
// is applied once.
func DialogInput(portal, domain string, ev bitrix24.V2Event, now time.Time) (dialogs.Input, string) {
	switch ev.Type {
	case bitrix24.EventV2JoinChat, bitrix24.EventV2MessageAdd, bitrix24.EventV2CommandAdd:
	case bitrix24.EventV2Delete:
		return dialogs.Input{}, fmt.Sprintf("bot %d was deleted on the portal", ev.Bot.ID)
	default:
		return dialogs.Input{}, "olbot does not handle " + ev.Type
	}
	if !ev.IsOpenLine() {
		return dialogs.Input{}, "not an Open Lines chat"
	}
	if ev.ChatID() <= 0 || ev.DialogID == "" {
		return dialogs.Input{}, "the event names no chat"
	}
	line, ok := ev.OpenLine()
	in := dialogs.Input{
		Key:     engine.KeyPortal + portal + ":" + ev.DialogID,
		Event:   engine.Event{Line: line, Time: now},
		Channel: engine.Channel{Member: portal, Domain: domain, Dialog: ev.DialogID, Chat: ev.ChatID(), Bot: ev.Bot.ID, V2: true},
	}
	if ok && strings.Count(ev.Chat.EntityID, "|") == 3 {
		// the Open Lines user code, as v1's CHAT_ENTITY_ID: a new lead
		// carries it as its IM binding (imol|…, OPENLINE). The v2 docs do
		// not show entityId for LINES; a value that does not read as
		// connector|line|chat|user binds nothing rather than something wrong.
		in.Channel.Entity = ev.Chat.EntityID
	}
	if ev.Type == bitrix24.EventV2JoinChat {
		in.Event.Type = engine.Start
		if ev.ID > 0 {
			// a replayed join must not restart the session it started
			in.Event.ID = "j" + strconv.FormatInt(ev.ID, 10)
		}
		if ev.User.Connector {
			in.Event.Client = firstName(ev.User)
		}
		return in, ""
	}
	if who := ev.From(); who != bitrix24.AuthorClient {
		return dialogs.Input{}, "a message of the " + who.String() + ", not the client's"
	}
	in.Event.Client = firstName(ev.User)
	if ev.Type == bitrix24.EventV2MessageAdd {
		in.Event.Type, in.Event.Text = engine.Message, ev.Message.Text
		in.Event.ID = "m" + strconv.Itoa(ev.Message.ID)
		if files := ev.Message.Files(); len(files) > 0 {
			f := answers.ClientFile(files[0]) // a file ask takes the first file
			in.Event.File = &f
			if strings.TrimSpace(in.Event.Text) == "" {
				in.Event.Type = engine.File
			}
		}
		return in, ""
	}
	n, err := strconv.Atoi(strings.TrimSpace(ev.Command.Params))
	if err != nil || n < 1 {
		return dialogs.Input{}, fmt.Sprintf("command %q with params %q is not a menu button", ev.Command.Command, ev.Command.Params)
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
