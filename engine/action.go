package engine

import (
	"fmt"
	"sort"
	"strings"
)

// Action is one thing a step asks the channel to do, in order.
// The concrete types are Greet, Say, CRM, Operator, Transfer and Finish.
type Action interface {
	// Kind names the action: greet, say, crm, operator, transfer, finish.
	Kind() string
	// String describes the action for people, e.g. "[handoff → any free operator]".
	String() string
}

// Greet is the session's greeting (imopenlines.bot.session.message.send).
type Greet struct {
	Text    string `json:"text,omitempty"`
	Welcome bool   `json:"welcome,omitempty"` // post the line's own configured greeting
}

// Say is a bot message, optionally with menu buttons (imbot.message.add).
type Say struct {
	Text     string   `json:"text"`
	Buttons  []string `json:"buttons,omitempty"`
	Links    []Link   `json:"links,omitempty"`    // link and call buttons, after the choices
	Numbered bool     `json:"numbered,omitempty"` // add the numbered [SEND=n] text fallback
	// Image and File are the addresses of the message's attachment (say:
	// or ask: {text, image, file}), sent as ATTACH blocks; "" when none.
	Image string `json:"image,omitempty"`
	File  string `json:"file,omitempty"`
}

// Link is a keyboard button that opens an address (URL) or calls a number
// (Phone, E.164) on the client's side: no choice, it does not move the dialog.
type Link struct {
	Text  string `json:"text"`
	URL   string `json:"url,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Target is where the button leads: the address or the number.
func (l Link) Target() string {
	if l.URL != "" {
		return l.URL
	}
	return l.Phone
}

// CRM writes the collected fields into the chat's CRM lead (crm.lead.update / crm.lead.add).
type CRM struct {
	Entity string            `json:"entity"` // "lead"
	LeadID int               `json:"lead_id,omitempty"`
	Fields map[string]string `json:"fields"`
	Title  string            `json:"title,omitempty"` // the lead's TITLE; "" leaves the portal's own
}

// Operator hands the chat to any free operator (imopenlines.bot.session.operator).
type Operator struct{}

// Transfer hands the chat to a given operator or another line (imopenlines.bot.session.transfer).
type Transfer struct {
	User  int  `json:"user,omitempty"`
	Line  int  `json:"line,omitempty"`
	Leave bool `json:"leave,omitempty"`
}

// Finish ends the session (imopenlines.bot.session.finish).
type Finish struct{}

// Note is a message for the operator, posted into the chat before the
// handoff so that the operator sees it and the client does not
// (imbot.message.add with SKIP_CONNECTOR=Y).
type Note struct {
	Text string `json:"text"`
}

func (Note) Kind() string { return "note" }

func (a Note) String() string { return "[note for the operator] " + a.Text }

func (Greet) Kind() string    { return "greet" }
func (Say) Kind() string      { return "say" }
func (CRM) Kind() string      { return "crm" }
func (Operator) Kind() string { return "operator" }
func (Transfer) Kind() string { return "transfer" }
func (Finish) Kind() string   { return "finish" }

func (a Greet) String() string {
	if a.Welcome {
		return "[greeting: the line's own welcome message]"
	}
	return "[greeting] " + a.Text
}

func (a Say) String() string {
	if a.Image != "" || a.File != "" {
		return a.withoutAttach().String() + a.attachString()
	}
	if len(a.Buttons) == 0 && len(a.Links) == 0 {
		return a.Text
	}
	var b strings.Builder
	b.WriteString(a.Text)
	for i, t := range a.Buttons {
		if i == 0 && a.Text != "" {
			b.WriteString("\n")
		} else if i > 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, "[%d] %s", i+1, t)
	}
	for i, l := range a.Links {
		if i == 0 && (a.Text != "" || len(a.Buttons) > 0) {
			b.WriteString("\n")
		} else if i > 0 {
			b.WriteString("  ")
		}
		kind := "link"
		if l.Phone != "" {
			kind = "call"
		}
		fmt.Fprintf(&b, "[%s: %s → %s]", kind, l.Text, l.Target())
	}
	return b.String()
}

func (a CRM) String() string {
	keys := make([]string, 0, len(a.Fields))
	for k := range a.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + a.Fields[k]
	}
	target := "new lead"
	if a.LeadID != 0 {
		target = fmt.Sprintf("lead %d", a.LeadID)
	}
	if a.Title != "" {
		target += fmt.Sprintf(" %q", a.Title)
	}
	return fmt.Sprintf("[crm %s ← %s]", target, strings.Join(parts, ", "))
}

func (Operator) String() string { return "[handoff → any free operator]" }

func (a Transfer) String() string {
	leave := ""
	if a.Leave {
		leave = ", bot leaves"
	}
	if a.User != 0 {
		return fmt.Sprintf("[transfer → operator %d%s]", a.User, leave)
	}
	return fmt.Sprintf("[transfer → line %d%s]", a.Line, leave)
}

func (Finish) String() string { return "[session finished]" }

// MarshalActions encodes actions as JSON objects tagged with their kind:
// [{"type":"say","text":"…","buttons":[…]}, {"type":"operator"}].
func MarshalActions(actions []Action) ([]byte, error) {
	return AppendActions(make([]byte, 0, 128*len(actions)+2), actions)
}

// withoutAttach is the message without its image and file.
func (a Say) withoutAttach() Say {
	a.Image, a.File = "", ""
	return a
}

// attachString shows the message's image and file after its text and
// buttons: "\n[image: URL]", "\n[file: URL]".
func (a Say) attachString() string {
	var b strings.Builder
	if a.Image != "" {
		b.WriteString("\n[image: " + a.Image + "]")
	}
	if a.File != "" {
		b.WriteString("\n[file: " + a.File + "]")
	}
	return b.String()
}
