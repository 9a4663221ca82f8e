package loadtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// Step types.
const (
	StepStart   = "start"   // the client opens the chat (ONIMBOTJOINCHAT)
	StepMessage = "message" // the client writes Text (ONIMBOTMESSAGEADD)
)

// Step is one client event of a conversation.
type Step struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
}

// Script is a conversation every dialog of a run plays, and the end it must
// reach.
type Script struct {
	Name   string `json:"name"`
	Client string `json:"client"` // the client's first name
	Steps  []Step `json:"steps"`
	// EndState and EndStatus are what the dialog must look like after the
	// last step (json mode checks the last answer; bitrix24 mode counts the
	// session.finish calls the portal received when EndStatus is finished).
	EndState  string `json:"end_state"`
	EndStatus string `json:"end_status"`
	// EndReply is how the last reply of the last step starts (botframework
	// mode, where the bot's state is not in the answer).
	EndReply string `json:"end_reply"`
}

// Support is examples/support.yaml's happy path: open the chat, choose
// "Leave a request", give a name and an email; the dialog finishes in
// "thanks" (greeting, menu, two questions, thank-you, CRM lead update and
// session.finish on the portal).
func Support() *Script {
	return &Script{
		Name:   "support",
		Client: "Anna",
		Steps: []Step{
			{Type: StepStart},
			{Type: StepMessage, Text: "Leave a request"},
			{Type: StepMessage, Text: "anna"},
			{Type: StepMessage, Text: "anna@example.com"},
		},
		EndState:  "thanks",
		EndStatus: "finished",
		EndReply:  "Thank you,",
	}
}

// Scripts are the built-in conversations by name.
var Scripts = map[string]func() *Script{"support": Support}

func (s *Script) validate() error {
	if len(s.Steps) == 0 {
		return errors.New("script: no steps")
	}
	for i, st := range s.Steps {
		switch st.Type {
		case StepStart:
		case StepMessage:
			if st.Text == "" {
				return fmt.Errorf("script %s: step %d: a message needs text", s.Name, i+1)
			}
		default:
			return fmt.Errorf("script %s: step %d: unknown type %q (start or message)", s.Name, i+1, st.Type)
		}
	}
	return nil
}

// eventBody is the body of POST /v1/events as the README documents it: the
// client's side of the server's EventRequest.
type eventBody struct {
	Dialog   string `json:"dialog"`
	Line     int    `json:"line,omitempty"`
	Scenario string `json:"scenario,omitempty"`
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	Client   string `json:"client,omitempty"`
}

// jsonBody is the POST /v1/events body of step st in dialog id.
func jsonBody(id string, line int, scenario string, client string, st Step) ([]byte, error) {
	req := eventBody{Dialog: id, Line: line, Scenario: scenario, Type: st.Type, Text: st.Text}
	if st.Type == StepStart {
		req.Client = client
	}
	return json.Marshal(req)
}

// formBody is the POST /bitrix24/events body of step st in a fake-portal chat.
func formBody(chat *fakeportal.Chat, st Step) []byte {
	if st.Type == StepStart {
		return chat.JoinBody()
	}
	return chat.SayBody(st.Text)
}

// newChat opens a fake-portal chat for one dialog.
func newChat(p *fakeportal.Portal, line, chatID int, client string) *fakeportal.Chat {
	return p.Chat(line, chatID, bitrix24.User{FirstName: client, Name: client})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
