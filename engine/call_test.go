package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const callSrc = `
name: shop
start: ask_order
settings: {idle: 10m}
states:
  ask_order:
    ask: "Order number?"
    save: order
    next: lookup
    on_fail: person
  lookup:
    say: "Checking {{order}}"
    call: shop
    path: "/orders/{{order}}"
    save: {status: status, eta: delivery.eta}
    next:
      - if: status == "shipped"
        goto: shipped
      - goto: other
    on_error: sorry
  shipped:
    say: "Shipped, arrives in {{eta}}"
    menu:
      - {text: Thanks, goto: bye}
  other:
    say: "Status: {{status}}"
    finish: true
  sorry:
    say: "Cannot check now"
    operator: any
  bye:
    say: Bye
    finish: true
  person:
    operator: any
`

const callNoErr = `
name: shop
start: lookup
states:
  lookup:
    call: shop
    method: POST
    body: {q: "{{client}}", n: 1}
    next: done
  done:
    finish: true
`

func answer(call int64, status int, body string) Event {
	return Event{Type: CallAnswer, Answer: &Answer{Call: call, Status: status, Body: []byte(body)}}
}

func callStart(call int64) Event {
	return Event{Type: CallStart, Answer: &Answer{Call: call, Owner: "a", Send: true}}
}

func TestCall(t *testing.T) {
	toLookup := []Event{start(), msg("12/3 4")}
	pending := func(t *testing.T, _ Dialog, r Result) {
		c := r.Dialog.Call
		if c == nil || c.Path != "/orders/12%2F3%204" || c.Method != "GET" || c.Endpoint != "shop" || c.Seq != 1 {
			t.Fatalf("pending call = %+v, want GET shop /orders/12%%2F3%%204 #1", c)
		}
		if !r.Dialog.IdleAt.Equal(c.Due) {
			t.Errorf("idle at %v, want the call's due time %v", r.Dialog.IdleAt, c.Due)
		}
	}
	cleared := func(t *testing.T, _ Dialog, r Result) {
		if r.Dialog.Call != nil || r.Dialog.Held != nil {
			t.Errorf("call %+v held %+v after the answer, want none", r.Dialog.Call, r.Dialog.Held)
		}
	}
	runCases(t, []stepCase{
		{name: "entering a call state emits the call and waits", src: callSrc, setup: toLookup[:1], ev: msg("12/3 4"),
			want: want{state: "lookup", status: Active, fields: fields("order", "12/3 4"),
				actions: acts(say("Checking 12/3 4"), Lookup{Endpoint: "shop", Method: "GET", Path: "/orders/12%2F3%204"}),
				moves:   "ask_order -answer-> lookup"}, extra: pending},
		{name: "an answer saves fields and follows the first true branch", src: callSrc, setup: toLookup,
			ev: answer(1, 200, `{"status":"shipped","delivery":{"eta":"2 days"}}`),
			want: want{state: "shipped", status: Active, fields: fields("order", "12/3 4", "status", "shipped", "eta", "2 days"),
				actions: acts(menu("Shipped, arrives in 2 days", "Thanks")), moves: "lookup -call:1-> shipped"}, extra: cleared},
		{name: "the otherwise branch", src: callSrc, setup: toLookup,
			ev: answer(1, 201, `{"status":"packed","delivery":{"eta":3}}`),
			want: want{state: "other", status: Finished, fields: fields("order", "12/3 4", "status", "packed", "eta", "3"),
				actions: acts(say("Status: packed"), Finish{}), moves: "lookup -call:2-> other"}},
		{name: "404 takes on_error", src: callSrc, setup: toLookup, ev: answer(1, 404, `{"status":"shipped","delivery":{"eta":1}}`),
			want: want{state: "sorry", status: HandedOff, fields: fields("order", "12/3 4"), reason: "status 404",
				actions: acts(say("Cannot check now"), Operator{}), moves: "lookup -call_error-> sorry"}},
		{name: "garbage takes on_error", src: callSrc, setup: toLookup, ev: answer(1, 200, `<html>`),
			want: want{state: "sorry", status: HandedOff, fields: fields("order", "12/3 4"), reason: "not JSON",
				actions: acts(say("Cannot check now"), Operator{}), moves: "lookup -call_error-> sorry"}},
		{name: "a missing save path takes on_error", src: callSrc, setup: toLookup, ev: answer(1, 200, `{"status":"shipped"}`),
			want: want{state: "sorry", status: HandedOff, fields: fields("order", "12/3 4"), reason: "no delivery.eta",
				actions: acts(say("Cannot check now"), Operator{}), moves: "lookup -call_error-> sorry"}},
		{name: "a failed call takes on_error with its reason", src: callSrc, setup: toLookup,
			ev: Event{Type: CallAnswer, Answer: &Answer{Call: 1, Error: "timeout after 5s"}},
			want: want{state: "sorry", status: HandedOff, fields: fields("order", "12/3 4"), reason: "timeout after 5s",
				actions: acts(say("Cannot check now"), Operator{}), moves: "lookup -call_error-> sorry"}},
		{name: "without on_error an operator takes the dialog", src: callNoErr, setup: []Event{start()},
			ev:   answer(1, 500, ``),
			want: want{state: "lookup", status: HandedOff, reason: "status 500", actions: acts(Operator{}), moves: "lookup -call_error-> lookup"}},
		{name: "a POST body is JSON with the fields as strings", src: callNoErr, setup: nil, ev: Event{Type: Start, Client: `Ann "x"`},
			want: want{state: "lookup", status: Active, actions: acts(Lookup{Endpoint: "shop", Method: "POST"}), moves: "[*] -start-> lookup"},
			extra: func(t *testing.T, _ Dialog, r Result) {
				if got := string(r.Dialog.Call.Body); got != `{"q":"Ann \"x\"","n":1}` {
					t.Errorf("body = %s", got)
				}
			}},
		{name: "an answer to another call is ignored", src: callSrc, setup: toLookup, ev: answer(7, 200, `{}`),
			want: want{outcome: Ignored, state: "lookup", status: Active, fields: fields("order", "12/3 4"), reason: "no longer waits"}},
		{name: "an answer without a call is ignored", src: callSrc, setup: toLookup[:1], ev: answer(1, 200, `{}`),
			want: want{outcome: Ignored, state: "ask_order", status: Active, reason: "waits on no call"}},
		{name: "idle waits during a call", src: callSrc, setup: toLookup, ev: idle(),
			want: want{outcome: Ignored, state: "lookup", status: Active, fields: fields("order", "12/3 4"), reason: "idle waits"}},
		{name: "a message during a call is held", src: callSrc, setup: toLookup, ev: msg("hello?"),
			want: want{state: "lookup", status: Active, fields: fields("order", "12/3 4"), reason: "held"},
			extra: func(t *testing.T, _ Dialog, r Result) {
				if len(r.Dialog.Held) != 1 || r.Dialog.Held[0].Text != "hello?" || r.Dialog.Call == nil {
					t.Errorf("held = %+v call = %+v", r.Dialog.Held, r.Dialog.Call)
				}
			}},
		{name: "held input is applied in order after the answer", src: callSrc, setup: append(toLookup[:2:2], msg("where is it"), btn(1)),
			ev: answer(1, 200, `{"status":"shipped","delivery":{"eta":"2 days"}}`),
			want: want{state: "bye", status: Finished, fields: fields("order", "12/3 4", "status", "shipped", "eta", "2 days"),
				actions: acts(menu("Shipped, arrives in 2 days", "Thanks"), menu("Shipped, arrives in 2 days", "Thanks"), say("Bye"), Finish{}),
				moves:   "lookup -call:1-> shipped, shipped -retry-> shipped, shipped -menu:1-> bye", invalid: 1}, extra: cleared},
		{name: "held input is dropped when the answer ends the run", src: callSrc, setup: append(toLookup[:2:2], msg("hello?")),
			ev: answer(1, 200, `{"status":"packed","delivery":{"eta":"1"}}`),
			want: want{state: "other", status: Finished, fields: fields("order", "12/3 4", "status", "packed", "eta", "1"),
				actions: acts(say("Status: packed"), Finish{}), moves: "lookup -call:2-> other", reason: "1 held messages dropped"}, extra: cleared},
		{name: "close ends the call and what is held", src: callSrc, setup: append(toLookup[:2:2], msg("x")), ev: closeEv(),
			want: want{state: "lookup", status: Finished, fields: fields("order", "12/3 4")}, extra: cleared},
		{name: "a start takes the lease", src: callSrc, setup: toLookup, ev: callStart(1),
			want: want{state: "lookup", status: Active, fields: fields("order", "12/3 4")},
			extra: func(t *testing.T, before Dialog, r Result) {
				c := r.Dialog.Call
				if c.Attempts != 1 || !c.Due.Equal(before.Updated.Add(time.Minute+5*time.Second+CallGrace)) || !r.Dialog.IdleAt.Equal(c.Due) {
					t.Errorf("after start: %+v idle %v", c, r.Dialog.IdleAt)
				}
			}},
		{name: "another owner's start within the lease is ignored", src: callSrc, setup: append(toLookup[:2:2], callStart(1)),
			ev:   Event{Type: CallStart, Answer: &Answer{Call: 1, Owner: "b", Send: true}, Time: t0.Add(2*time.Minute + 10*time.Second)},
			want: want{outcome: Ignored, state: "lookup", status: Active, fields: fields("order", "12/3 4"), reason: "another process"}},
		{name: "the owner renews its lease", src: callSrc, setup: append(toLookup[:2:2], callStart(1)),
			ev:   Event{Type: CallStart, Answer: &Answer{Call: 1, Owner: "a", Lease: time.Hour}, Time: t0.Add(2*time.Minute + 10*time.Second)},
			want: want{state: "lookup", status: Active, fields: fields("order", "12/3 4")},
			extra: func(t *testing.T, _ Dialog, r Result) {
				if c := r.Dialog.Call; c.Attempts != 1 || !c.Due.Equal(t0.Add(time.Hour+2*time.Minute+10*time.Second)) {
					t.Errorf("after a renewal: %+v", c)
				}
			}},
		{name: "a start after the lease ran out takes it again", src: callSrc, setup: append(toLookup[:2:2], callStart(1)),
			ev:   Event{Type: CallStart, Answer: &Answer{Call: 1, Owner: "b", Send: true}, Time: t0.Add(time.Hour)},
			want: want{state: "lookup", status: Active, fields: fields("order", "12/3 4")},
			extra: func(t *testing.T, _ Dialog, r Result) {
				if r.Dialog.Call.Attempts != 2 {
					t.Errorf("attempts = %d, want 2", r.Dialog.Call.Attempts)
				}
			}},
		{name: "a start event without its call is a bad event", src: callSrc, setup: toLookup, ev: Event{Type: CallStart},
			want: want{err: ErrBadEvent}},
	})
}

func TestCallHeldLimit(t *testing.T) {
	sc := mustParse(t, callSrc)
	evs := []Event{start(), msg("1")}
	for i := 0; i < MaxHeld; i++ {
		evs = append(evs, msg("m"))
	}
	d := play(t, sc, Dialog{Key: "t"}, evs...)
	res, err := Step(sc, d, Event{Type: Message, Text: "one too many", Time: d.Updated.Add(time.Minute)})
	if err != nil || res.Outcome != Ignored || !strings.Contains(res.Reason, "dropped") || len(res.Dialog.Held) != MaxHeld {
		t.Fatalf("outcome %s (%s) err %v held %d", res.Outcome, res.Reason, err, len(res.Dialog.Held))
	}
}

func TestDecodeAnswer(t *testing.T) {
	for _, tc := range []struct {
		in  string
		err bool
	}{{`{"a":1}`, false}, {`[1,2]`, false}, {`"x"`, false}, {`{"a":1} {"b":2}`, true}, {`{`, true}, {``, true}, {`nul`, true}} {
		_, err := DecodeAnswer([]byte(tc.in))
		if (err != nil) != tc.err || err != nil && !errors.Is(err, ErrNotJSON) {
			t.Errorf("DecodeAnswer(%q) err = %v, want error %v", tc.in, err, tc.err)
		}
	}
}
