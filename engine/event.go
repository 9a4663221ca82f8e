package engine

import (
	"fmt"
	"time"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/scenarios"
)

// EventType is the kind of a dialog event.
type EventType string

// Dialog events.
const (
	Start   EventType = "start"   // the bot joined the chat / the client opened it
	Message EventType = "message" // the client wrote something
	Button  EventType = "button"  // the client pressed button N of the last menu
	Idle    EventType = "idle"    // the client was silent for settings.idle
	Close   EventType = "close"   // the session was closed from outside
	// File: the client sent a file and no text (Event.File says which,
	// when the channel tells). It answers a `type: file` ask; in any
	// other state it is input that matches nothing: a re-ask, then
	// on_fail. A Message with Event.File set (a file with a caption)
	// answers a file ask with the file, any other state with its text.
	File EventType = "file"
	// SwitchLanguage: the dialog's language is switched from outside the
	// scenario (the playground's or olbot chat's language switch) to
	// Event.Language; nothing else happens.
	SwitchLanguage EventType = "language"
	// CallStart: the server takes up the call the dialog waits on
	// (Event.Answer.Call); the step records the attempt and its lease, or
	// is ignored when another attempt holds it.
	CallStart EventType = "call_start"
	// CallAnswer: the answer of the call the dialog waits on, in
	// Event.Answer; the step saves its fields and follows next or on_error.
	CallAnswer EventType = "call_answer"
)

// Event is one input to a dialog.
type Event struct {
	Type   EventType
	Text   string // message text; for Button, the button's text when Button is 0
	Button int    // 1-based button number for Button events
	Client string // client's first name as the channel reports it
	Line   int    // Open Line id
	LeadID int    // CRM lead bound to the chat (CHAT_ENTITY_DATA_2), 0 if none
	// Language is the Open Line's language (its LANGUAGE_ID), "" when not
	// known. Portal events carry the portal's language, not the client's,
	// so this is the best a start can know.
	Language string
	ID       string    // channel's event/message id, for de-duplication
	Time     time.Time // when it happened; the engine never reads the clock
	Answer   *Answer   // CallStart, CallAnswer: which call, and its answer
	// File is the file of a File event, or of a Message that carries one;
	// nil when there is none or the channel gave no details.
	File *answers.ClientFile
	// LineHours is the working time of the dialog's Open Line, for a
	// scenario's from_line hours, as the server last read it from the
	// portal; nil when not known (from_line hours then count as open).
	// It is data given with the event: the step never asks the portal.
	LineHours *scenarios.Schedule
}

// Validate reports whether the event is well-formed.
func (e Event) Validate() error {
	switch e.Type {
	case Start, Message, Idle, Close, File:
		return nil
	case CallStart, CallAnswer:
		if e.Answer == nil {
			return fmt.Errorf("a %s event needs the call it is about", e.Type)
		}
		return nil
	case SwitchLanguage:
		if e.Language == "" {
			return fmt.Errorf("a language event needs the language, e.g. en")
		}
		return nil
	case Button:
		if e.Button < 0 {
			return fmt.Errorf("button number %d: must be 1 or more", e.Button)
		}
		if e.Button == 0 && e.Text == "" {
			return fmt.Errorf("button event needs a button number or text")
		}
		return nil
	case "":
		return fmt.Errorf("event type is missing (want start, message, button, idle or close)")
	default:
		return fmt.Errorf("unknown event type %q (want start, message, button, idle or close)", e.Type)
	}
}
