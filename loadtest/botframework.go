package loadtest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The botframework mode drives a Bot Framework bot (bench/botbuilder, the
// peer olbot is compared with) the way a channel does: each event is an
// activity POSTed to /api/messages. Every activity asks for
// deliveryMode "expectReplies", so the bot's SDK answers with the turn's
// replies in the HTTP response ({"activities": [...]}) once the turn and its
// state save are done: an event's latency is the round trip, as for olbot's
// POST /v1/events, and the tool checks the replies it got.

// botPath is where a Bot Framework bot takes activities.
const botPath = "/api/messages"

// botAccount is a channel account of an activity.
type botAccount struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// botActivity is the part of a Bot Framework activity the tool sends.
type botActivity struct {
	Type         string       `json:"type"`
	ID           string       `json:"id"`
	ChannelID    string       `json:"channelId"`
	ServiceURL   string       `json:"serviceUrl"`
	DeliveryMode string       `json:"deliveryMode"`
	Conversation botAccount   `json:"conversation"`
	From         botAccount   `json:"from"`
	Recipient    botAccount   `json:"recipient"`
	Text         string       `json:"text,omitempty"`
	MembersAdded []botAccount `json:"membersAdded,omitempty"`
}

// botReplies is the answer to an expectReplies activity.
type botReplies struct {
	Activities []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"activities"`
}

// botBody is the activity of step s of dialog id: a start is the client
// joining the conversation (conversationUpdate with membersAdded), a
// message a message activity.
func botBody(id string, client string, s int, st Step) ([]byte, error) {
	user := botAccount{ID: "client-" + id, Name: client}
	a := botActivity{
		ID: fmt.Sprintf("%s-%d", id, s), ChannelID: "olbot-load",
		// never called: the replies come back in the answer
		ServiceURL: "http://127.0.0.1:9/", DeliveryMode: "expectReplies",
		Conversation: botAccount{ID: id}, From: user, Recipient: botAccount{ID: "bot", Name: "bot"},
	}
	if st.Type == StepStart {
		a.Type, a.MembersAdded = "conversationUpdate", []botAccount{user}
	} else {
		a.Type, a.Text = "message", st.Text
	}
	return json.Marshal(a)
}

// botPhase plays the script through POST /api/messages.
func (d *driver) botPhase() phase {
	cfg := d.cfg
	last := len(cfg.Script.Steps) - 1
	return phase{
		name: string(ModeBotFramework), path: botPath, ctype: "application/json",
		open: func(i int) (func(int) ([]byte, error), error) {
			id := DialogID(cfg.RunID, i)
			return func(s int) ([]byte, error) { return botBody(id, cfg.Script.Client, s, cfg.Script.Steps[s]) }, nil
		},
		check: func(step int, body []byte) (string, string, bool, int) {
			var r botReplies
			if err := json.Unmarshal(body, &r); err != nil {
				return "bad answer", snippet(body), false, 0
			}
			if len(r.Activities) == 0 {
				return "no reply", snippet(body), false, 0
			}
			if step == last {
				end := r.Activities[len(r.Activities)-1].Text
				if !strings.HasPrefix(end, cfg.Script.EndReply) {
					return "", fmt.Sprintf("the last reply was %q, want one starting %q", end, cfg.Script.EndReply), false, 0
				}
			}
			return "", "", true, 0
		},
	}
}
