package engine

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// chainYAML is a line of n passing states s1…sn, each saying its number; the
// last one also has the action last, e.g. "finish: true". A line is no cycle,
// so it loads however long it is.
func chainYAML(n int, settings, last string) string {
	var b strings.Builder
	b.WriteString("start: s1\n" + settings + "states:\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  s%d:\n    say: \"%d\"\n    next: s%d\n", i, i, i+1)
	}
	fmt.Fprintf(&b, "  s%d:\n    say: \"%d\"\n    %s\n", n, n, last)
	return b.String()
}

// chainWant is what entering s1…sn of a chain produces.
func chainWant(n int) ([]Action, string) {
	var as []Action
	moves := []string{"[*] -start-> s1"}
	for i := 1; i <= n; i++ {
		as = append(as, say(fmt.Sprint(i)))
		if i < n {
			moves = append(moves, fmt.Sprintf("s%d -next-> s%d", i, i+1))
		}
	}
	return as, strings.Join(moves, ", ")
}

func TestPassingChain(t *testing.T) {
	long := chainYAML(40, "", "finish: true")
	stopped, stoppedMoves := chainWant(MaxChain)
	stopped = append(stopped, Operator{})
	full, fullMoves := chainWant(MaxChain)
	full = append(full, Finish{})
	runCases(t, []stepCase{
		{
			name: "a step stops after 32 chained states", src: long,
			ev: start(),
			want: want{
				actions: stopped, state: fmt.Sprintf("s%d", MaxChain), status: HandedOff,
				moves: stoppedMoves, reason: "stopped after 32 chained states",
			},
		},
		{
			name: "a chain of exactly 32 states runs to its end", src: chainYAML(MaxChain, "", "finish: true"),
			ev:   start(),
			want: want{actions: full, state: fmt.Sprintf("s%d", MaxChain), status: Finished, moves: fullMoves},
		},
		{
			name: "a message to a dialog stopped by the chain limit is the operator's", src: long,
			setup: []Event{start()}, ev: msg("hello"),
			want: want{outcome: Ignored, reason: "an operator has the dialog", state: "s32", status: HandedOff},
		},
	})
}

func TestIdle(t *testing.T) {
	const nudge = `
start: ask
settings:
  idle: 10m
  on_idle: nudge
commands:
  - match: [operator]
    goto: human
states:
  ask:
    ask: "Name?"
    save: name
    on_fail: human
    next: done
  nudge:
    say: "Still there?"
    menu:
      - text: "Yes"
        goto: ask
    next: ask
  done:
    say: "Done."
    finish: true
  human:
    say: "Operator."
    operator: any
`
	off := strings.Replace(nudge, "settings:\n  idle: 10m\n  on_idle: nudge\n", "", 1)
	noOnIdle := strings.Replace(nudge, "  on_idle: nudge\n", "", 1)
	idleDone := func(want bool) func(*testing.T, Dialog, Result) {
		return func(t *testing.T, _ Dialog, r Result) {
			if r.Dialog.IdleDone != want {
				t.Errorf("IdleDone = %v, want %v", r.Dialog.IdleDone, want)
			}
		}
	}
	runCases(t, []stepCase{
		{
			name: "idle in a waiting state goes to on_idle", src: nudge,
			setup: []Event{start()}, ev: idle(),
			want:  want{actions: acts(menu("Still there?", "Yes")), state: "nudge", status: Active, moves: "ask -idle-> nudge"},
			extra: idleDone(true),
		},
		{
			name: "idle before settings.idle of silence is ignored", src: nudge,
			setup: []Event{start()}, ev: Event{Type: Idle, Time: t0.Add(9 * time.Minute)},
			want: want{outcome: Ignored, reason: "not idle yet", state: "ask", status: Active},
		},
		{
			name: "idle fires once per silence", src: nudge,
			setup: []Event{start(), idle()}, ev: idle(),
			want: want{outcome: Ignored, reason: "already fired", state: "nudge", status: Active},
		},
		{
			name: "a message starts a new silence", src: nudge,
			setup: []Event{start(), idle(), msg("yes")}, ev: idle(),
			want:  want{actions: acts(menu("Still there?", "Yes")), state: "nudge", status: Active, moves: "ask -idle-> nudge"},
			extra: idleDone(true),
		},
		{
			name: "a message clears the fired idle", src: nudge,
			setup: []Event{start(), idle()}, ev: msg("yes"),
			want:  want{actions: acts(say("Name?")), state: "ask", status: Active, moves: "nudge -menu:1-> ask"},
			extra: idleDone(false),
		},
		{
			name: "idle is off by default", src: off,
			setup: []Event{start()}, ev: idle(),
			want: want{outcome: Ignored, reason: "idle is off", state: "ask", status: Active},
		},
		{
			name: "without on_idle idle finishes the dialog", src: noOnIdle,
			setup: []Event{start()}, ev: idle(),
			want: want{actions: acts(Finish{}), state: "ask", status: Finished, moves: "ask -idle-> ask"},
		},
		{
			name: "idle on a handed-off dialog is ignored", src: nudge,
			setup: []Event{start(), msg("operator")}, ev: idle(),
			want: want{outcome: Ignored, reason: "not active", state: "human", status: HandedOff},
		},
		{
			name: "idle on a finished dialog is ignored", src: nudge,
			setup: []Event{start(), msg("Anna")}, ev: idle(),
			want: want{outcome: Ignored, reason: "not active", state: "done", status: Finished, fields: fields("name", "Anna")},
		},
		{
			name: "idle with no record is ignored", src: nudge,
			ev:   idle(),
			want: want{outcome: Ignored, reason: "not active"},
		},
		{
			name: "idle after the chain limit handed off is ignored", src: chainYAML(40, "settings:\n  idle: 1m\n", "finish: true"),
			setup: []Event{start()}, ev: idle(),
			want: want{outcome: Ignored, reason: "not active", state: "s32", status: HandedOff},
		},
	})
}

// unchanged checks that a step returned its input record as it was.
func unchanged(t *testing.T, before Dialog, r Result) {
	t.Helper()
	if !reflect.DeepEqual(r.Dialog, before) {
		t.Errorf("record changed:\n got %+v\nwant %+v", r.Dialog, before)
	}
}

func TestLifecycle(t *testing.T) {
	const askFirst = `
start: ask_name
commands:
  - match: [operator]
    goto: human
states:
  ask_name:
    ask: "Name?"
    save: name
    type: name
    on_fail: human
    next: done
  done:
    say: "Hi, {{name}}."
    finish: true
  human:
    say: "Operator."
    operator: any
`
	const withNext = `
start: topics
states:
  topics:
    say: "Topics."
    menu:
      - text: Delivery
        goto: sorry
    on:
      - match: [parcel*]
        goto: parcel
    next: sorry
  sorry:
    say: "Sorry?"
    finish: true
  parcel:
    say: "Parcels travel."
    finish: true
`
	finished := append(append([]Event{}, toEmail...), msg("anna@example.com"))
	handedOff := []Event{start(), msg("Talk to a person")}
	newRun := func(t *testing.T, before Dialog, r Result) {
		d := r.Dialog
		if d.Scenario != "support" || d.Version == "" {
			t.Errorf("scenario, version = %q, %q; want support and its version", d.Scenario, d.Version)
		}
		if !d.Started.Equal(d.Updated) || !d.LastIn.Equal(d.Updated) {
			t.Errorf("started, last in = %v, %v; want the event's time %v", d.Started, d.LastIn, d.Updated)
		}
		if d.Key != before.Key {
			t.Errorf("key = %q, want %q", d.Key, before.Key)
		}
	}
	runCases(t, []stepCase{
		{
			name: "a start begins a run with the channel's data", src: supportYAML,
			ev: Event{Type: Start, Client: "Anna", Line: 3},
			want: want{
				actions: acts(Greet{Text: "Hello, Anna! I am the support assistant."}, welcomeMenu),
				state:   "welcome", status: Active, moves: "[*] -start-> welcome",
			},
			extra: func(t *testing.T, before Dialog, r Result) {
				newRun(t, before, r)
				if r.Dialog.Client != "Anna" || r.Dialog.Line != 3 {
					t.Errorf("client, line = %q, %d; want Anna, 3", r.Dialog.Client, r.Dialog.Line)
				}
			},
		},
		{
			name: "a start on an active dialog is ignored", src: supportYAML,
			setup: toEmail, ev: start(),
			want: want{outcome: Ignored, reason: "already running", state: "ask_email", status: Active, fields: fields("name", "Anna")},
		},
		{
			name: "a start on a finished dialog begins a new run with the fields cleared", src: supportYAML,
			setup: finished, ev: start(),
			want:  want{actions: acts(greetAnon, welcomeMenu), state: "welcome", status: Active, moves: "[*] -start-> welcome"},
			extra: newRun,
		},
		{
			name: "a start on a handed-off dialog begins a new session", src: supportYAML,
			setup: handedOff, ev: start(),
			want:  want{actions: acts(greetAnon, welcomeMenu), state: "welcome", status: Active, moves: "[*] -start-> welcome"},
			extra: newRun,
		},
		{
			name: "a first message that chooses from the menu is handled", src: supportYAML,
			ev: msg("I want to talk to a person"),
			want: want{
				actions: acts(greetAnon, welcomeMenu, handoffSay, Operator{}), state: "handoff", status: HandedOff,
				moves: "[*] -start-> welcome, welcome -menu:2-> handoff",
			},
			extra: newRun,
		},
		{
			name: "a first message that is a command is handled", src: supportYAML,
			ev: msg("ОПЕРАТОР!"),
			want: want{
				actions: acts(greetAnon, welcomeMenu, handoffSay, Operator{}), state: "handoff", status: HandedOff,
				moves: "[*] -start-> welcome, welcome -command:1-> handoff",
			},
		},
		{
			name: "a first message that matches an on route is handled", src: withNext,
			ev: msg("where is my parcel"),
			want: want{
				actions: acts(menu("Topics.", "Delivery"), say("Parcels travel."), Finish{}), state: "parcel", status: Finished,
				moves: "[*] -start-> topics, topics -on:1-> parcel",
			},
		},
		{
			name: "a first message that would go to next only starts the run", src: withNext,
			ev:   msg("hello"),
			want: want{actions: acts(menu("Topics.", "Delivery")), state: "topics", status: Active, moves: "[*] -start-> topics"},
		},
		{
			name: "a first message that matches nothing only starts the run", src: supportYAML,
			ev:   msg("hello there"),
			want: want{actions: acts(greetAnon, welcomeMenu), state: "welcome", status: Active, moves: "[*] -start-> welcome"},
		},
		{
			name: "a first message is not taken as an answer", src: askFirst,
			ev:   msg("Anna"),
			want: want{actions: acts(say("Name?")), state: "ask_name", status: Active, moves: "[*] -start-> ask_name"},
		},
		{
			name: "a first message to an ask is still checked for commands", src: askFirst,
			ev: msg("operator"),
			want: want{
				actions: acts(say("Name?"), say("Operator."), Operator{}), state: "human", status: HandedOff,
				moves: "[*] -start-> ask_name, ask_name -command:1-> human",
			},
		},
		{
			name: "a message to a finished dialog starts a new run with the fields cleared", src: supportYAML,
			setup: finished, ev: msg("hi again"),
			want:  want{actions: acts(greetAnon, welcomeMenu), state: "welcome", status: Active, moves: "[*] -start-> welcome"},
			extra: newRun,
		},
		{
			name: "a message to a finished dialog that chooses from the menu is handled", src: supportYAML,
			setup: finished, ev: msg("1"),
			want: want{
				actions: acts(greetAnon, welcomeMenu, askName), state: "ask_name", status: Active,
				moves: "[*] -start-> welcome, welcome -menu:1-> ask_name",
			},
		},
		{
			name: "a message to a handed-off dialog is ignored", src: supportYAML,
			setup: handedOff, ev: msg("Leave a request"),
			want:  want{outcome: Ignored, reason: "an operator has", state: "handoff", status: HandedOff},
			extra: unchanged,
		},
		{
			name: "a command to a handed-off dialog is ignored", src: supportYAML,
			setup: handedOff, ev: msg("operator"),
			want:  want{outcome: Ignored, reason: "an operator has", state: "handoff", status: HandedOff},
			extra: unchanged,
		},
		{
			name: "a message to a handed-off dialog keeps only the chat's new lead id", src: supportYAML,
			setup: handedOff, ev: Event{Type: Message, Text: "hello", LeadID: 5},
			want: want{outcome: Ignored, reason: "an operator has", state: "handoff", status: HandedOff},
			extra: func(t *testing.T, _ Dialog, r Result) {
				if r.Dialog.LeadID != 5 {
					t.Errorf("lead id = %d, want 5", r.Dialog.LeadID)
				}
			},
		},
		{
			name: "close finishes without actions", src: supportYAML,
			setup: toEmail, ev: closeEv(),
			want: want{state: "ask_email", status: Finished, fields: fields("name", "Anna")},
		},
		{
			name: "close finishes a handed-off dialog", src: supportYAML,
			setup: handedOff, ev: closeEv(),
			want: want{state: "handoff", status: Finished},
		},
		{
			name: "close on a finished dialog is ignored", src: supportYAML,
			setup: finished, ev: closeEv(),
			want: want{outcome: Ignored, reason: "not running", state: "thanks", status: Finished, fields: fields("name", "Anna", "email", "anna@example.com")},
		},
		{
			name: "close with no record is ignored", src: supportYAML,
			ev:   closeEv(),
			want: want{outcome: Ignored, reason: "not running"},
		},
		{
			name: "0 marks the dialog handed off and calls nothing", src: supportYAML,
			setup: toEmail, ev: msg(" 0 "),
			want: want{reason: "typed 0", state: "ask_email", status: HandedOff, fields: fields("name", "Anna")},
		},
		{
			name: "0 as the first message of a chat hands off without a greeting", src: supportYAML,
			ev:   msg("0"),
			want: want{reason: "typed 0", state: "welcome", status: HandedOff},
		},
		{
			name: "0 after a finished session hands off without a new run", src: supportYAML,
			setup: append(append([]Event{}, toEmail...), msg("anna@example.com")), ev: msg("0"),
			want: want{reason: "typed 0", state: "welcome", status: HandedOff},
		},
		{
			name: "0 in a menu is not a button", src: supportYAML,
			setup: []Event{start()}, ev: msg("0"),
			want: want{reason: "typed 0", state: "welcome", status: HandedOff},
		},
		{
			name: "an empty message in a menu is a bad answer", src: supportYAML,
			setup: []Event{start()}, ev: msg(""),
			want: want{actions: acts(welcomeMenu), state: "welcome", status: Active, retries: 1, invalid: 1, moves: "welcome -retry-> welcome"},
		},
		{
			name: "an empty message to an ask is a bad answer", src: supportYAML,
			setup: []Event{start(), msg("1")}, ev: msg(""),
			want: want{actions: acts(say("Please type your name, e.g. Anna.")), state: "ask_name", status: Active, retries: 1, invalid: 1, moves: "ask_name -retry-> ask_name"},
		},
		{
			name: "an empty message in a state with next goes to next", src: withNext,
			setup: []Event{start()}, ev: msg(""),
			want: want{actions: acts(say("Sorry?"), Finish{}), state: "sorry", status: Finished, moves: "topics -unmatched-> sorry"},
		},
		{
			name: "an empty message to no record only starts the run", src: supportYAML,
			ev:   msg(""),
			want: want{actions: acts(greetAnon, welcomeMenu), state: "welcome", status: Active, moves: "[*] -start-> welcome"},
		},
	})
}

func TestReload(t *testing.T) {
	changed := strings.NewReplacer(
		`ask: "{{name}}, what is your email?"`, `ask: "{{name}}, your email, please?"`,
		`retry: "That does not look like an email. Example: anna@example.com"`, `retry: "Not an email, sorry."`,
	).Replace(supportYAML)
	lower := strings.Replace(supportYAML, "  retries: 2\n", "  retries: 1\n", 1)
	const gone = `
name: support
start: welcome
settings:
  on_missing_state: topics
states:
  welcome:
    greet: "Hello, {{client}}!"
    next: topics
  topics:
    say: "How can I help?"
    menu:
      - text: Talk to a person
        goto: handoff
  handoff:
    say: "Connecting…"
    operator: any
`
	goneToStart := strings.Replace(gone, "settings:\n  on_missing_state: topics\n", "", 1)
	stopsWaiting := strings.Replace(supportYAML, `  ask_email:
    ask: "{{name}}, what is your email?"
    save: email
    type: email
    retry: "That does not look like an email. Example: anna@example.com"
    on_fail: handoff
    next: thanks
`, `  ask_email:
    say: "We no longer ask for emails."
    next: bye
`, 1)
	stopsWaiting = strings.Replace(stopsWaiting, " We will write to {{email}}.", "", 1)
	newVersion := func(t *testing.T, before Dialog, r Result) {
		if r.Dialog.Version == before.Version {
			t.Errorf("version = %q, want the new version", r.Dialog.Version)
		}
	}
	runCases(t, []stepCase{
		{
			name: "a dialog of an older version continues at its state", older: supportYAML, src: changed,
			setup: toEmail, ev: msg("not an email"),
			want:  want{actions: acts(say("Not an email, sorry.")), state: "ask_email", status: Active, fields: fields("name", "Anna"), retries: 1, invalid: 1, moves: "ask_email -retry-> ask_email"},
			extra: newVersion,
		},
		{
			name: "bad answers counted before a reload count against the new limit", older: supportYAML, src: lower,
			setup: append(append([]Event{}, toEmail...), msg("bad")), ev: msg("bad"),
			want: want{actions: acts(handoffSay, Operator{}), state: "handoff", status: HandedOff, fields: fields("name", "Anna"), invalid: 1, moves: "ask_email -fail-> handoff"},
		},
		{
			// found by TestProperty: the record kept more bad answers than
			// the new version allows once the dialog was handed off
			name: "retries above a lowered limit are cut to it", older: supportYAML, src: lower,
			setup: append(append([]Event{}, toEmail...), msg("bad"), msg("bad")), ev: msg("0"),
			want: want{state: "ask_email", status: HandedOff, fields: fields("name", "Anna"), retries: 1, reason: "typed 0"},
		},
		{
			// found by TestProperty: a dialog waiting in a state that a
			// reload made passing ignored every message from then on
			name: "a dialog whose state no longer waits runs it again", older: supportYAML, src: stopsWaiting,
			setup: toEmail, ev: msg("anna@example.com"),
			want: want{
				actions: acts(say("We no longer ask for emails."), say("I'll close this chat for now. Write any time!"), Finish{}),
				state:   "bye", status: Finished, fields: fields("name", "Anna"), moves: "ask_email -next-> bye", reason: `state "ask_email" no longer waits`,
			},
			extra: newVersion,
		},
		{
			name: "a dialog whose state is gone moves to on_missing_state", older: supportYAML, src: gone,
			setup: toEmail, ev: msg("anna@example.com"),
			want: want{
				actions: acts(menu("How can I help?", "Talk to a person")), state: "topics", status: Active,
				fields: fields("name", "Anna"), moves: "[*] -missing-> topics", reason: `state "ask_email" is gone`,
			},
			extra: newVersion,
		},
		{
			name: "without on_missing_state it moves to start", older: supportYAML, src: goneToStart,
			setup: toEmail, ev: msg("anna@example.com"),
			want: want{
				actions: acts(Greet{Text: "Hello!"}, menu("How can I help?", "Talk to a person")), state: "topics", status: Active,
				fields: fields("name", "Anna"), moves: "[*] -missing-> welcome, welcome -next-> topics", reason: `state "ask_email" is gone`,
			},
		},
		{
			name: "idle also moves a dialog whose state is gone", older: supportYAML, src: gone,
			setup: toEmail, ev: idle(),
			want: want{
				actions: acts(menu("How can I help?", "Talk to a person")), state: "topics", status: Active,
				fields: fields("name", "Anna"), moves: "[*] -missing-> topics", reason: `state "ask_email" is gone`,
			},
		},
		{
			name: "close finishes a dialog whose state is gone without actions", older: supportYAML, src: gone,
			setup: toEmail, ev: closeEv(),
			want: want{state: "ask_email", status: Finished, fields: fields("name", "Anna")},
		},
		{
			name: "a handed-off dialog of an older version is left alone", older: supportYAML, src: gone,
			setup: []Event{start(), msg("operator")}, ev: msg("hello"),
			want: want{outcome: Ignored, reason: "an operator has", state: "handoff", status: HandedOff},
		},
	})
}

func TestButtons(t *testing.T) {
	const choice = `
start: q
states:
  q:
    ask: "Which store?"
    save: city
    type: choice
    options: [Moscow, Kazan]
    on_fail: failed
    next:
      Moscow: msk
      Kazan: kzn
  msk:
    say: "Moscow."
    next: yn
  kzn:
    say: "Kazan."
    next: yn
  yn:
    ask: "Anything else?"
    save: more
    type: yesno
    on_fail: failed
    next:
      yes: q
      no: failed
  failed:
    say: "Bye."
    finish: true
`
	const number = `
start: q
states:
  q:
    ask: "Order number?"
    save: order
    type: number
    menu:
      - text: Back
        goto: back
    on_fail: back
    next: back
  back:
    say: "Back."
    finish: true
`
	runCases(t, []stepCase{
		{
			name: "a button by number", src: supportYAML,
			setup: []Event{start()}, ev: btn(1),
			want: want{actions: acts(askName), state: "ask_name", status: Active, moves: "welcome -menu:1-> ask_name"},
		},
		{
			name: "a button by its text", src: supportYAML,
			setup: []Event{start()}, ev: btnText("talk to a person"),
			want: want{actions: acts(handoffSay, Operator{}), state: "handoff", status: HandedOff, moves: "welcome -menu:2-> handoff"},
		},
		{
			name: "a button clears the silence", src: supportYAML,
			setup: []Event{start()}, edit: func(d *Dialog) { d.IdleDone = true }, ev: btn(1),
			want: want{actions: acts(askName), state: "ask_name", status: Active, moves: "welcome -menu:1-> ask_name"},
			extra: func(t *testing.T, _ Dialog, r Result) {
				if r.Dialog.IdleDone || !r.Dialog.LastIn.Equal(r.Dialog.Updated) {
					t.Errorf("idle done, last in = %v, %v; want false, %v", r.Dialog.IdleDone, r.Dialog.LastIn, r.Dialog.Updated)
				}
			},
		},
		{name: "a number beyond the buttons is an error", src: supportYAML, setup: []Event{start()}, ev: btn(3), want: want{err: ErrNoButton}},
		{name: "an unknown button text is an error", src: supportYAML, setup: []Event{start()}, ev: btnText("Cancel"), want: want{err: ErrNoButton}},
		{name: "a button in a state without buttons is an error", src: supportYAML, setup: []Event{start(), btn(1)}, ev: btn(1), want: want{err: ErrNoButton}},
		{name: "a button with no record is an error", src: supportYAML, ev: btn(1), want: want{err: ErrNoButton}},
		{name: "a button to a handed-off dialog is an error", src: supportYAML, setup: []Event{start(), btn(2)}, ev: btn(1), want: want{err: ErrNoButton}},
		{name: "a button to a finished dialog is an error", src: supportYAML, setup: []Event{start(), closeEv()}, ev: btn(1), want: want{err: ErrNoButton}},
		{
			name: "a choice option as a button branches by option", src: choice,
			setup: []Event{start()}, ev: btn(2),
			want: want{
				actions: acts(say("Kazan."), say("Anything else?")), state: "yn", status: Active, fields: fields("city", "Kazan"),
				moves: "q -answer:Kazan-> kzn, kzn -next-> yn",
			},
		},
		{
			name: "a choice option button by its text", src: choice,
			setup: []Event{start()}, ev: btnText("MOSCOW"),
			want: want{
				actions: acts(say("Moscow."), say("Anything else?")), state: "yn", status: Active, fields: fields("city", "Moscow"),
				moves: "q -answer:Moscow-> msk, msk -next-> yn",
			},
		},
		{
			name: "a choice typed as a number branches by option", src: choice,
			setup: []Event{start()}, ev: msg("1"),
			want: want{
				actions: acts(say("Moscow."), say("Anything else?")), state: "yn", status: Active, fields: fields("city", "Moscow"),
				moves: "q -answer:Moscow-> msk, msk -next-> yn",
			},
		},
		{
			name: "a yesno answer branches by yes", src: choice,
			setup: []Event{start(), btn(1)}, ev: msg("Да!"),
			want: want{
				actions: acts(menu("Which store?", "Moscow", "Kazan")), state: "q", status: Active, fields: fields("city", "Moscow", "more", "yes"),
				moves: "yn -answer:yes-> q",
			},
		},
		{
			name: "a yesno answer branches by no", src: choice,
			setup: []Event{start(), btn(1)}, ev: msg("неа"),
			want: want{
				actions: acts(say("Bye."), Finish{}), state: "failed", status: Finished, fields: fields("city", "Moscow", "more", "no"),
				moves: "yn -answer:no-> failed",
			},
		},
		{
			name: "a button in a number ask chooses the menu item", src: number,
			setup: []Event{start()}, ev: btn(1),
			want: want{actions: acts(say("Back."), Finish{}), state: "back", status: Finished, moves: "q -menu:1-> back"},
		},
	})
}

func TestStepErrors(t *testing.T) {
	sc := mustParse(t, supportYAML)
	running := play(t, sc, Dialog{Key: "test:1", Channel: Channel{Chat: 42}}, toEmail...)
	other := running.Clone()
	other.Scenario = "faq"
	finishedOther := other.Clone()
	finishedOther.Status = Finished
	cases := []struct {
		name string
		sc   bool
		d    Dialog
		ev   Event
		want error
	}{
		{"no scenario", false, running, msg("hi"), ErrBadEvent},
		{"no event type", true, running, Event{Text: "hi"}, ErrBadEvent},
		{"unknown event type", true, running, Event{Type: "typing"}, ErrBadEvent},
		{"a negative button", true, running, Event{Type: Button, Button: -1}, ErrBadEvent},
		{"a button with neither number nor text", true, running, Event{Type: Button}, ErrBadEvent},
		{"an active dialog of another scenario", true, other, msg("anna@example.com"), ErrWrongScenario},
		{"a start on an active dialog of another scenario", true, other, start(), ErrWrongScenario},
		{"a button that does not exist", true, running, btn(1), ErrNoButton},
		{"a finished dialog of another scenario is not an error", true, finishedOther, msg("hi"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sc
			if !tc.sc {
				s = nil
			}
			before := tc.d.Clone()
			ev := tc.ev
			ev.Time = t0.Add(48 * time.Hour)
			res, err := Step(s, tc.d, ev)
			if !reflect.DeepEqual(tc.d, before) {
				t.Errorf("Step modified its input record")
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				if res.Dialog.Scenario != sc.Name || res.Dialog.Status != Active {
					t.Errorf("scenario, status = %q, %q; want a new run of %q", res.Dialog.Scenario, res.Dialog.Status, sc.Name)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, other := range []error{ErrBadEvent, ErrWrongScenario, ErrNoButton} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("err = %v is also %v", err, other)
				}
			}
			if !reflect.DeepEqual(res, Result{}) {
				t.Errorf("result = %+v, want it empty", res)
			}
		})
	}
}

// TestStepKeepsInput checks, for every kind of event on a record with every
// field set, that Step neither changes its input nor returns a record that
// shares memory with it.
func TestStepKeepsInput(t *testing.T) {
	sc := mustParse(t, supportYAML)
	base := play(t, sc, Dialog{Key: "b24:portal:42", Channel: Channel{Chat: 42}}, toEmail...)
	for i := range RecentIDs {
		base.Remember(fmt.Sprintf("m%d", i))
	}
	events := []Event{start(), msg("anna@example.com"), msg("bad"), msg("operator"), msg("0"), btn(1), idle(), closeEv()}
	for _, ev := range events {
		t.Run(fmt.Sprintf("%s %q", ev.Type, ev.Text), func(t *testing.T) {
			d := base.Clone()
			before := d.Clone()
			ev.Time = t0.Add(48 * time.Hour)
			res, err := Step(sc, d, ev)
			if !reflect.DeepEqual(d, before) {
				t.Fatalf("Step modified its input:\n got %+v\nwant %+v", d, before)
			}
			if err != nil {
				return
			}
			out := res.Dialog
			if out.Fields != nil {
				out.Fields["name"] = "changed"
			}
			out.Channel.Chat = -1
			if len(out.Recent) > 0 {
				out.Recent[0] = "changed"
			}
			if !reflect.DeepEqual(d, before) {
				t.Errorf("the result shares memory with the input: %+v", d)
			}
		})
	}
}

func TestStepTimes(t *testing.T) {
	sc := mustParse(t, supportYAML)
	at := t0.Add(time.Hour)
	d := play(t, sc, Dialog{Key: "k"}, start())
	res, err := Step(sc, d, Event{Type: Message, Text: "1", Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Dialog; !got.LastIn.Equal(at) || !got.Updated.Equal(at) || !got.Started.Equal(t0) {
		t.Errorf("started, last in, updated = %v, %v, %v; want %v, %v, %v", got.Started, got.LastIn, got.Updated, t0, at, at)
	}
	// an ignored event leaves the times alone
	res, err = Step(sc, res.Dialog, Event{Type: Start, Time: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Dialog; res.Outcome != Ignored || !got.Updated.Equal(at) || !got.LastIn.Equal(at) {
		t.Errorf("outcome %s, last in %v, updated %v; want ignored, %v, %v", res.Outcome, got.LastIn, got.Updated, at, at)
	}
}

// TestSilentReask: a bad answer in a state that has only on: routes has
// no text to ask again; it counts, but sends no empty message (found by
// TestProperty: the portal refuses an empty imbot.message.add).
func TestSilentReask(t *testing.T) {
	const onOnly = `
start: a
states:
  a:
    on:
      - match: [yes]
        goto: done
    on_fail: done
  done:
    finish: true
`
	runCases(t, []stepCase{
		{
			name: "unmatched input in an on-only state", src: onOnly, setup: []Event{start()}, ev: msg("hmm"),
			want: want{state: "a", status: Active, retries: 1, invalid: 1, moves: "a -retry-> a"},
		},
	})
}
