package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/olbot/olbot/scenarios"
)

// Limits of a call: state's lookup.
const (
	// MaxAnswer is the largest answer of an endpoint taken; a longer one
	// is cut off there and counts as failed (on_error).
	MaxAnswer = 1 << 20
	// MaxHeld is how many client inputs a dialog keeps while it waits on a
	// call; later ones are dropped (and the log says so).
	MaxHeld = 32
	// CallGrace is added to a call's timeout for its lease: a call started
	// and not answered by then was cut off (a crash) and is taken up again.
	CallGrace = 30 * time.Second
)

// Lookup is the action of entering a call: state: ask an endpoint of the
// server's configuration. It is made by package lookup, outside the step,
// which feeds the answer back as a CallAnswer event.
type Lookup struct {
	Endpoint string `json:"endpoint"`
	Method   string `json:"method"`
	Path     string `json:"path,omitempty"`
}

// Kind is "call".
func (Lookup) Kind() string { return "call" }

func (a Lookup) String() string { return fmt.Sprintf("[call %s: %s %s]", a.Endpoint, a.Method, a.Path) }

// PendingCall is a call a dialog waits on, in its record: everything
// needed to make it again after a crash. It never holds an endpoint's
// URL or headers (the secrets live in the server's configuration only).
type PendingCall struct {
	Seq      int64           `json:"n"`
	Endpoint string          `json:"e"`
	Method   string          `json:"m"`
	Path     string          `json:"p,omitempty"`
	Body     json.RawMessage `json:"b,omitempty"`
	Timeout  time.Duration   `json:"to"`
	Since    time.Time       `json:"t0"`
	// Attempts counts the attempts started (CallStart events that send).
	// More than one means an attempt was cut off (a crash, a lost lease).
	Attempts int `json:"a,omitempty"`
	// Owner is the process that holds the call's lease (CallStart.Owner);
	// "" until one takes it.
	Owner string `json:"o,omitempty"`
	// Due is when the call is to be taken up: at once when emitted, the
	// end of the lease while an attempt runs. The record's IdleAt is Due,
	// so the stores' idle index finds calls left behind by a crash.
	Due time.Time `json:"due"`
}

// Held is a client input kept while the dialog waits on a call.
type Held struct {
	Type   EventType `json:"y"`
	Text   string    `json:"t,omitempty"`
	Button int       `json:"b,omitempty"`
	ID     string    `json:"id,omitempty"`
	Time   time.Time `json:"at"`
}

// Answer is what a call's endpoint answered, or why there is no answer;
// for CallStart, who takes the call and for how long.
type Answer struct {
	Call   int64  // PendingCall.Seq it is about
	Status int    // HTTP status; 0 when none came
	Body   []byte // the answer, at most MaxAnswer bytes
	Error  string // why the call failed before an answer: timeout, refused, too large…

	Owner string        // CallStart: the process taking the lease
	Lease time.Duration // CallStart: how long it holds it
	Send  bool          // CallStart: an attempt starts now (else the call is only queued)
}

// ErrNotJSON: an endpoint's answer is not one JSON value.
var ErrNotJSON = errors.New("the answer is not JSON")

// DecodeAnswer decodes an endpoint's answer as one JSON value, numbers
// kept as written.
func DecodeAnswer(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: more than one value", ErrNotJSON)
	}
	return v, nil
}

// SaveAnswer is the fields a call's save: takes from an answer, or why
// the answer cannot be used (then on_error).
func SaveAnswer(c *scenarios.Call, a Answer) (map[string]string, error) {
	switch {
	case a.Error != "":
		return nil, errors.New(a.Error)
	case a.Status < 200 || a.Status > 299:
		return nil, fmt.Errorf("status %d", a.Status)
	case len(a.Body) > MaxAnswer:
		return nil, fmt.Errorf("the answer is over %d bytes", MaxAnswer)
	}
	if len(c.Save) == 0 && len(bytes.TrimSpace(a.Body)) == 0 {
		return nil, nil // nothing to save: an empty 2xx will do
	}
	doc, err := DecodeAnswer(a.Body)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(c.Save))
	for _, s := range c.Save {
		v, ok := s.Path.Lookup(doc)
		if !ok {
			return nil, fmt.Errorf("the answer has no %s (save: %s)", s.Path, s.Field)
		}
		out[s.Field] = v
	}
	return out, nil
}

// startCall emits the lookup of a call: state and makes the dialog wait on it.
func (s *stepper) startCall(st *scenarios.State) {
	d := &s.d
	c := st.Call
	d.CallSeq++
	// Due is a first lease: the process that committed the step makes the
	// call; others take it up only when that has not happened by then.
	p := &PendingCall{Seq: d.CallSeq, Endpoint: c.Endpoint, Method: c.Method, Timeout: c.Timeout, Since: s.ev.Time, Due: s.ev.Time.Add(c.Timeout + CallGrace)}
	p.Path = c.RenderPath(s.lookup, s.missing)
	if b := c.RenderBody(s.lookup, s.missing); b != nil {
		p.Body = b
	}
	d.Call = p
	s.emit(Lookup{Endpoint: p.Endpoint, Method: p.Method, Path: p.Path})
}

// waiting handles an event that arrives while the dialog waits on a call:
// client input is held, idle waits, a close ends it all. done is false
// for events the usual way handles.
func (s *stepper) waiting() (done bool, err error) {
	d, ev := &s.d, s.ev
	switch ev.Type {
	case Message, Button, File:
		if len(d.Held) >= MaxHeld {
			return true, s.ignore(fmt.Sprintf("a call is in flight and %d messages are held already; this one is dropped", MaxHeld))
		}
		d.Held = append(d.Held, Held{Type: ev.Type, Text: ev.Text, Button: ev.Button, ID: ev.ID, Time: ev.Time})
		s.r.Reason = "held until the call is answered"
		return true, nil
	case Idle:
		return true, s.ignore("a call is in flight: idle waits")
	case Close:
		d.Call, d.Held = nil, nil
		return false, nil
	case CallStart:
		return true, s.callStart()
	case CallAnswer:
		return true, s.callAnswer()
	}
	return false, nil
}

// callStart gives the pending call's lease to ev's owner and, with Send,
// counts an attempt. The lease is free when it ran out, when nobody took
// it yet, or when the owner already holds it. The step is ignored, so
// the caller does not make the call, when it names another call or
// another owner holds the lease.
func (s *stepper) callStart() error {
	d, a := &s.d, s.ev.Answer
	c := d.Call
	free := !s.ev.Time.Before(c.Due) || c.Owner == a.Owner || c.Owner == "" && c.Attempts == 0
	switch {
	case a.Call != c.Seq:
		return s.ignore("not the call the dialog waits on")
	case !free:
		return s.ignore("another process holds the call")
	}
	lease := a.Lease
	if lease <= 0 {
		lease = c.Timeout + CallGrace
	}
	c.Owner, c.Due = a.Owner, s.ev.Time.Add(lease)
	if a.Send {
		c.Attempts++
	}
	return nil
}

// callAnswer takes a call's answer: save its fields and follow next, or
// on_error.
func (s *stepper) callAnswer() error {
	d, ev := &s.d, s.ev
	c := d.Call
	if ev.Answer == nil || ev.Answer.Call != c.Seq {
		return s.ignore("an answer to a call the dialog no longer waits on")
	}
	d.Call = nil
	st := s.sc.States[d.State]
	if st == nil || st.Call == nil {
		s.r.Reason = fmt.Sprintf("state %q has no call any more; the answer is dropped", d.State)
		return nil
	}
	fields, err := SaveAnswer(st.Call, *ev.Answer)
	if err != nil {
		s.r.Reason = fmt.Sprintf("call %s %s %s failed: %v", c.Endpoint, c.Method, c.Path, err)
		if err := s.fire(d.State, scenarios.EdgeCallError); err != nil {
			return err
		}
		if st.Call.OnError == "" {
			s.emit(Operator{})
			d.Status = HandedOff
			return nil
		}
		return s.enter(st.Call.OnError)
	}
	if len(fields) > 0 && d.Fields == nil {
		d.Fields = make(map[string]string, len(fields))
	}
	for k, v := range fields {
		d.Fields[k] = v
	}
	if err := s.fire(d.State, s.branch(st, scenarios.EdgeCall)); err != nil {
		return err
	}
	return s.enter(d.State)
}

// release applies the input held during a call, in order, once the call
// is answered (or gone), until the dialog waits on a call again. When the
// bot's part ended (a handoff, a finish) the rest is dropped: it was
// written in the run that ended, so it starts no new one.
func (s *stepper) release() {
	for s.d.Call == nil && len(s.d.Held) > 0 {
		if s.d.Status != Active {
			s.r.Reason = join(s.r.Reason, fmt.Sprintf("%d held messages dropped: the dialog is %s", len(s.d.Held), s.d.Status))
			s.d.Held = nil
			break
		}
		h := s.d.Held[0]
		s.d.Held = s.d.Held[1:]
		if len(s.d.Held) == 0 {
			s.d.Held = nil
		}
		outcome, reason := s.r.Outcome, s.r.Reason
		s.ev = Event{Type: h.Type, Text: h.Text, Button: h.Button, ID: h.ID, Time: h.Time, Line: s.d.Line}
		s.chain = 0
		err := s.dispatch()
		s.r.Outcome = outcome // a held input ignored leaves the answer applied
		if err != nil {
			s.r.Reason = join(reason, fmt.Sprintf("held %s %q dropped: %v", h.Type, h.Text, err))
		} else if s.r.Reason != reason {
			s.r.Reason = join(reason, s.r.Reason)
		}
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" || b == a {
		return a
	}
	return a + "; " + b
}

// CallEventID is the event id of a call's start or answer, for
// de-duplication: one per call and attempt.
func CallEventID(t EventType, call int64, attempt int) string {
	return string(t) + ":" + strconv.FormatInt(call, 10) + ":" + strconv.Itoa(attempt)
}
