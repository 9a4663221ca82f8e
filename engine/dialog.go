package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Status is where a dialog is in its lifecycle.
type Status string

// Dialog lifecycle states.
const (
	Active    Status = "active"     // the bot is talking to the client
	HandedOff Status = "handed_off" // an operator or another line has the chat
	Finished  Status = "finished"   // the session ended
)

// RecentIDs is how many processed event ids a dialog remembers for de-duplication.
const RecentIDs = 8

// Dialog is the whole state of one conversation: plain data that a store keeps.
// Nothing about a dialog lives only in memory.
type Dialog struct {
	Key      string            `json:"k"`            // namespaced (KeyPortal, KeyAPI, KeyPlayground)
	Scenario string            `json:"s,omitempty"`  // scenario name
	Version  string            `json:"v,omitempty"`  // scenario version hash the state belongs to
	State    string            `json:"st,omitempty"` // current state
	Status   Status            `json:"x,omitempty"`  // "" before the first start
	Fields   map[string]string `json:"f,omitempty"`  // collected answers
	Retries  int               `json:"r,omitempty"`  // bad answers in the current state
	Client   string            `json:"c,omitempty"`  // client's first name from the channel
	Line     int               `json:"l,omitempty"`  // Open Line id
	LeadID   int               `json:"lead,omitempty"`
	IdleDone bool              `json:"i,omitempty"`   // idle already fired for the current silence
	IdleAt   time.Time         `json:"ia,omitzero"`   // when the idle event is due; zero when none is
	Started  time.Time         `json:"t0,omitzero"`   // start of the current run
	LastIn   time.Time         `json:"ti,omitzero"`   // client's last message
	Updated  time.Time         `json:"tu,omitzero"`   // last change
	Rev      int64             `json:"rev,omitempty"` // optimistic concurrency: bumped by every commit
	Recent   []string          `json:"ids,omitempty"` // ring of recently processed event ids
	Channel  Channel           `json:"m,omitzero"`    // where replies go (the portal chat); not used by the engine
	// Language is the dialog's language, one of the scenario's languages;
	// "" for a scenario in one language. LanguageChosen: a set: or the
	// client's script chose it, so it is kept from run to run.
	Language       string `json:"lg,omitempty"`
	LanguageChosen bool   `json:"lgc,omitempty"`
	// Call is the lookup the dialog waits on (a call: state), nil when
	// none; CallSeq numbers the dialog's calls, so a late answer of an
	// earlier one is told apart. Held is the client's input that arrived
	// during the call, applied in order after its answer.
	Call    *PendingCall `json:"call,omitempty"`
	CallSeq int64        `json:"cs,omitempty"`
	Held    []Held       `json:"held,omitempty"`
	// Reminded is how many reminders (the state's remind:) went out in the
	// current silence; RemindFrom is when the next one starts counting
	// when that is not LastIn: the last reminder, or entering the state
	// without a client message. Zero when unused.
	Reminded   int       `json:"rm,omitempty"`
	RemindFrom time.Time `json:"rf,omitzero"`
	// Ended is when the dialog finished or was handed off (the event's
	// time); zero while it is active. Retention counts from it (EndedAt).
	Ended time.Time `json:"te,omitzero"`
}

// EndedAt is the time retention counts from: when the dialog finished or
// was handed off, or zero while it is active (or was never started).
// Records written before Ended existed count from their last change. A
// playground session (KeyPlayground) that is still active counts from its
// last change too: the page that ran it is simply left, so nothing ever
// finishes it.
func (d *Dialog) EndedAt() time.Time {
	switch {
	case d.Status == Active && strings.HasPrefix(d.Key, KeyPlayground):
		return d.Updated
	case d.Status != Finished && d.Status != HandedOff:
		return time.Time{}
	case !d.Ended.IsZero():
		return d.Ended
	}
	return d.Updated
}

// KeySpace is the namespace of a dialog key (KeyPortal, KeyAPI,
// KeyPlayground), or "" for a key in none of them (none the server
// writes). Retention sweeps each space with its own period.
func KeySpace(key string) string {
	for _, ns := range KeySpaces {
		if strings.HasPrefix(key, ns) {
			return ns
		}
	}
	return ""
}

// KeySpaces are the dialog key namespaces, and "" for the keys in none.
var KeySpaces = []string{KeyPortal, KeyAPI, KeyPlayground, ""}

// Exists reports whether the dialog has ever been started.
func (d *Dialog) Exists() bool { return d.Status != "" }

// Seen reports whether the event id was already applied to this dialog.
func (d *Dialog) Seen(id string) bool {
	if id == "" {
		return false
	}
	for _, r := range d.Recent {
		if r == id {
			return true
		}
	}
	return false
}

// Remember adds an event id to the ring of recent ids.
func (d *Dialog) Remember(id string) {
	if id == "" {
		return
	}
	d.Recent = append(d.Recent, id)
	if n := len(d.Recent); n > RecentIDs {
		d.Recent = append(d.Recent[:0], d.Recent[n-RecentIDs:]...)
	}
}

// Clone returns a deep copy, so a step never changes the record it was given.
func (d Dialog) Clone() Dialog {
	if d.Fields != nil {
		f := make(map[string]string, len(d.Fields))
		for k, v := range d.Fields {
			f[k] = v
		}
		d.Fields = f
	}
	if d.Recent != nil {
		d.Recent = append([]string(nil), d.Recent...)
	}
	if d.Call != nil {
		c := *d.Call
		d.Call = &c
	}
	if d.Held != nil {
		d.Held = append([]Held(nil), d.Held...)
	}
	return d
}

// MarshalBinary encodes the record compactly (short JSON keys, empty values omitted).
func (d Dialog) MarshalBinary() ([]byte, error) { return json.Marshal(d) }

// UnmarshalBinary decodes a record written by MarshalBinary.
func (d *Dialog) UnmarshalBinary(b []byte) error {
	if err := json.Unmarshal(b, d); err != nil {
		return fmt.Errorf("decode dialog record: %w", err)
	}
	return nil
}
