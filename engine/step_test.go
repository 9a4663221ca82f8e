package engine

import (
	"testing"
)

// supportYAML is the complete example of the scenario language spec.
const supportYAML = `
name: support
title: Support line — first contact
lines: [1, 3]
start: welcome
settings:
  retries: 2
  idle: 15m
  on_idle: bye
  on_missing_state: welcome

commands:
  - match: [operator, human, оператор, живой человек]
    goto: handoff

states:
  welcome:
    greet: "Hello, {{client}}! I am the support assistant."
    menu:
      - text: Leave a request
        goto: ask_name
      - text: Talk to a person
        goto: handoff

  ask_name:
    ask: "How may I call you?"
    save: name
    type: name
    retry: "Please type your name, e.g. Anna."
    next: ask_email

  ask_email:
    ask: "{{name}}, what is your email?"
    save: email
    type: email
    retry: "That does not look like an email. Example: anna@example.com"
    on_fail: handoff
    next: thanks

  thanks:
    say: "Thank you, {{name}}! We will write to {{email}}."
    crm: lead
    finish: true

  handoff:
    say: "Connecting you to an operator…"
    operator: any

  bye:
    say: "I'll close this chat for now. Write any time!"
    finish: true
`

// The support scenario's recurring messages.
var (
	welcomeMenu = menu("", "Leave a request", "Talk to a person")
	askName     = say("How may I call you?")
	handoffSay  = say("Connecting you to an operator…")
	greetAnon   = Greet{Text: "Hello! I am the support assistant."}
)

// toEmail brings a support dialog to ask_email with name Anna.
var toEmail = []Event{start(), msg("Leave a request"), msg("anna")}

func TestEnterOrder(t *testing.T) {
	const askAll = `
start: all
states:
  all:
    greet: "Hi, {{client}}!"
    say: "I can help."
    crm: lead
    ask: "Your name?"
    save: name
    type: name
    menu:
      - text: Skip
        goto: done
    on_fail: done
    next: thanks
  thanks:
    say: "Thanks, {{name}}."
    crm: lead
    finish: true
  done:
    say: "Bye."
    finish: true
`
	terminal := func(action string) string {
		return `
start: t
states:
  t:
    greet: true
    say: "Passing you on."
    crm: lead
    ` + action + `
`
	}
	runCases(t, []stepCase{
		{
			name: "greet, say, crm, then the ask carrying the menu", src: askAll, client: "Anna",
			ev: start(),
			want: want{
				actions: acts(
					Greet{Text: "Hi, Anna!"},
					say("I can help."),
					CRM{Entity: "lead", Fields: map[string]string{}},
					menu("Your name?", "Skip"),
				),
				state: "all", status: Active, moves: "[*] -start-> all",
			},
		},
		{
			name: "say, crm with the collected fields, then finish", src: askAll,
			setup: []Event{start()}, ev: msg("anna"),
			want: want{
				actions: acts(say("Thanks, Anna."), CRM{Entity: "lead", Fields: fields("name", "Anna")}, Finish{}),
				state:   "thanks", status: Finished, fields: fields("name", "Anna"),
				moves: "all -answer-> thanks",
			},
		},
		{
			name: "the lead id bound to the chat goes with crm", src: askAll,
			setup: []Event{start()}, ev: Event{Type: Message, Text: "anna", LeadID: 77},
			want: want{
				actions: acts(say("Thanks, Anna."), CRM{Entity: "lead", LeadID: 77, Fields: fields("name", "Anna")}, Finish{}),
				state:   "thanks", status: Finished, fields: fields("name", "Anna"),
				moves: "all -answer-> thanks",
			},
		},
		{
			name: "greet, say, crm, then operator", src: terminal("operator: any"),
			ev: start(),
			want: want{
				actions: acts(Greet{Welcome: true}, say("Passing you on."), CRM{Entity: "lead", Fields: map[string]string{}}, Operator{}),
				state:   "t", status: HandedOff, moves: "[*] -start-> t",
			},
		},
		{
			name: "greet, say, crm, then transfer to a line", src: terminal("transfer: {line: 5, leave: true}"),
			ev: start(),
			want: want{
				actions: acts(Greet{Welcome: true}, say("Passing you on."), CRM{Entity: "lead", Fields: map[string]string{}}, Transfer{Line: 5, Leave: true}),
				state:   "t", status: HandedOff, moves: "[*] -start-> t",
			},
		},
		{
			name: "greet, say, crm, then transfer to an operator", src: terminal("transfer: {user: 15}"),
			ev: start(),
			want: want{
				actions: acts(Greet{Welcome: true}, say("Passing you on."), CRM{Entity: "lead", Fields: map[string]string{}}, Transfer{User: 15}),
				state:   "t", status: HandedOff, moves: "[*] -start-> t",
			},
		},
		{
			name: "greet, say, crm, then finish", src: terminal("finish: true"),
			ev: start(),
			want: want{
				actions: acts(Greet{Welcome: true}, say("Passing you on."), CRM{Entity: "lead", Fields: map[string]string{}}, Finish{}),
				state:   "t", status: Finished, moves: "[*] -start-> t",
			},
		},
	})
}

func TestWaitingAndPassing(t *testing.T) {
	const topics = `
start: welcome
states:
  welcome:
    greet: true
    next: intro
  intro:
    say: "Intro."
    next: topics
  topics:
    say: "Pick a topic."
    menu:
      - text: Delivery
        goto: delivery
    next: sorry
  delivery:
    say: "2-5 days."
    next: topics
  sorry:
    say: "Sorry?"
    next: topics
`
	const noNext = `
start: pick
states:
  pick:
    say: "Pick one."
    menu:
      - text: A
        goto: a
    on_fail: a
  a:
    say: "A!"
    finish: true
`
	const listen = `
start: listen
states:
  listen:
    say: "Say the word."
    on:
      - match: [magic]
        goto: done
    next: bye
  done:
    say: "Yes!"
    finish: true
  bye:
    say: "No."
    finish: true
`
	const ask = `
start: ask
states:
  ask:
    ask: "Name?"
    save: name
    on_fail: failed
    next: bye
  bye:
    say: "Bye, {{name}}."
    finish: true
  failed:
    say: "No name."
    finish: true
`
	runCases(t, []stepCase{
		{
			name: "passing states run their actions and move on in the same step", src: topics,
			ev: start(),
			want: want{
				actions: acts(Greet{Welcome: true}, say("Intro."), menu("Pick a topic.", "Delivery")),
				state:   "topics", status: Active,
				moves: "[*] -start-> welcome, welcome -next-> intro, intro -next-> topics",
			},
		},
		{
			name: "a menu choice leaves a waiting state", src: topics,
			setup: []Event{start()}, ev: msg("delivery"),
			want: want{
				actions: acts(say("2-5 days."), menu("Pick a topic.", "Delivery")),
				state:   "topics", status: Active,
				moves: "topics -menu:1-> delivery, delivery -next-> topics",
			},
		},
		{
			name: "unmatched input in a waiting state without ask goes to next and is not a bad answer", src: topics,
			setup: []Event{start()}, ev: msg("hello"),
			want: want{
				actions: acts(say("Sorry?"), menu("Pick a topic.", "Delivery")),
				state:   "topics", status: Active,
				moves: "topics -unmatched-> sorry, sorry -next-> topics",
			},
		},
		{
			name: "unmatched input in a waiting state without next re-prompts as a bad answer", src: noNext,
			setup: []Event{start()}, ev: msg("zzz"),
			want: want{
				actions: acts(menu("Pick one.", "A")),
				state:   "pick", status: Active, retries: 1, invalid: 1,
				moves: "pick -retry-> pick",
			},
		},
		{
			name: "a state with only on waits", src: listen,
			ev: start(),
			want: want{
				actions: acts(say("Say the word.")),
				state:   "listen", status: Active, moves: "[*] -start-> listen",
			},
		},
		{
			name: "an on route matches", src: listen,
			setup: []Event{start()}, ev: msg("the MAGIC word"),
			want: want{
				actions: acts(say("Yes!"), Finish{}),
				state:   "done", status: Finished, moves: "listen -on:1-> done",
			},
		},
		{
			name: "anything else in an on state goes to next", src: listen,
			setup: []Event{start()}, ev: msg("the word"),
			want: want{
				actions: acts(say("No."), Finish{}),
				state:   "bye", status: Finished, moves: "listen -unmatched-> bye",
			},
		},
		{
			name: "an ask waits", src: ask,
			ev:   start(),
			want: want{actions: acts(say("Name?")), state: "ask", status: Active, moves: "[*] -start-> ask"},
		},
		{
			name: "an ask follows next after a valid answer", src: ask,
			setup: []Event{start()}, ev: msg("  Anna Smith  "),
			want: want{
				actions: acts(say("Bye, Anna Smith."), Finish{}),
				state:   "bye", status: Finished, fields: fields("name", "Anna Smith"),
				moves: "ask -answer-> bye",
			},
		},
	})
}

func TestMenus(t *testing.T) {
	const order = `
start: q
commands:
  - match: [menu]
    goto: q
states:
  q:
    say: "Hello."
    ask: "Your order number?"
    save: order
    type: number
    menu:
      - text: Back
        goto: back
    on_fail: back
    next: done
  done:
    say: "Order {{order}}."
    finish: true
  back:
    say: "Back."
    finish: true
`
	const phone = `
start: q
states:
  q:
    ask: "Phone?"
    save: phone
    type: phone
    retry: "A phone, please."
    menu:
      - text: Skip
        goto: done
      - text: Later
        goto: done
    on_fail: done
    next: done
  done:
    say: "Done."
    finish: true
`
	const choice = `
start: q
states:
  q:
    ask: "Which store?"
    save: city
    type: choice
    options: [Moscow, Saint Petersburg, Kazan]
    retry: "Please choose a store."
    on_fail: failed
    next: done
  done:
    say: "{{city}}."
    finish: true
  failed:
    say: "No store."
    finish: true
`
	const sayMenu = `
start: m
states:
  m:
    greet: "Hi."
    say: "Choose."
    menu:
      - text: One
        goto: done
    next: done
  done:
    say: "Done."
    finish: true
`
	runCases(t, []stepCase{
		{
			name: "with neither say nor ask the buttons come on a message of their own", src: supportYAML,
			ev: start(),
			want: want{
				actions: acts(greetAnon, welcomeMenu),
				state:   "welcome", status: Active, moves: "[*] -start-> welcome",
			},
		},
		{
			name: "the buttons go on the say when there is no ask", src: sayMenu,
			ev: start(),
			want: want{
				actions: acts(Greet{Text: "Hi."}, menu("Choose.", "One")),
				state:   "m", status: Active, moves: "[*] -start-> m",
			},
		},
		{
			name: "the buttons go on the ask, not the say before it; a number ask is not numbered", src: order,
			ev: start(),
			want: want{
				actions: acts(say("Hello."), unnumbered("Your order number?", "Back")),
				state:   "q", status: Active, moves: "[*] -start-> q",
			},
		},
		{
			name: "the typed text chooses, whatever the case and punctuation", src: supportYAML,
			setup: []Event{start()}, ev: msg("  leave a REQUEST! "),
			want: want{
				actions: acts(askName), state: "ask_name", status: Active,
				moves: "welcome -menu:1-> ask_name",
			},
		},
		{
			name: "the typed number chooses", src: supportYAML,
			setup: []Event{start()}, ev: msg("2"),
			want: want{
				actions: acts(handoffSay, Operator{}), state: "handoff", status: HandedOff,
				moves: "welcome -menu:2-> handoff",
			},
		},
		{
			name: "a message containing the text as a phrase chooses", src: supportYAML,
			setup: []Event{start()}, ev: msg("I'd like to leave a request, please"),
			want: want{
				actions: acts(askName), state: "ask_name", status: Active,
				moves: "welcome -menu:1-> ask_name",
			},
		},
		{
			name: "a number beyond the menu is a bad answer; the re-prompt repeats the buttons", src: supportYAML,
			setup: []Event{start()}, ev: msg("3"),
			want: want{
				actions: acts(welcomeMenu), state: "welcome", status: Active, retries: 1, invalid: 1,
				moves: "welcome -retry-> welcome",
			},
		},
		{
			name: "the re-prompt of a say with a menu repeats the say and the buttons", src: `
start: m
states:
  m:
    say: "Choose."
    menu:
      - text: One
        goto: done
    on_fail: done
  done:
    say: "Done."
    finish: true
`,
			setup: []Event{start()}, ev: msg("two"),
			want: want{
				actions: acts(menu("Choose.", "One")), state: "m", status: Active, retries: 1, invalid: 1,
				moves: "m -retry-> m",
			},
		},
		{
			name: "in a number ask a typed 1 is the answer, not button 1", src: order,
			setup: []Event{start()}, ev: msg("1"),
			want: want{
				actions: acts(say("Order 1."), Finish{}), state: "done", status: Finished,
				fields: fields("order", "1"), moves: "q -answer-> done",
			},
		},
		{
			name: "in a number ask the button's text still chooses", src: order,
			setup: []Event{start()}, ev: msg("back"),
			want: want{
				actions: acts(say("Back."), Finish{}), state: "back", status: Finished,
				moves: "q -menu:1-> back",
			},
		},
		{
			name: "in a phone ask a typed 1 is a bad answer; the retry repeats the unnumbered buttons", src: phone,
			setup: []Event{start()}, ev: msg("1"),
			want: want{
				actions: acts(unnumbered("A phone, please.", "Skip", "Later")), state: "q", status: Active,
				retries: 1, invalid: 1, moves: "q -retry-> q",
			},
		},
		{
			name: "a choice shows its options as numbered buttons", src: choice,
			ev: start(),
			want: want{
				actions: acts(menu("Which store?", "Moscow", "Saint Petersburg", "Kazan")),
				state:   "q", status: Active, moves: "[*] -start-> q",
			},
		},
		{
			name: "a choice is chosen by its number", src: choice,
			setup: []Event{start()}, ev: msg("2"),
			want: want{
				actions: acts(say("Saint Petersburg."), Finish{}), state: "done", status: Finished,
				fields: fields("city", "Saint Petersburg"), moves: "q -answer-> done",
			},
		},
		{
			name: "a choice is chosen by a phrase in the message", src: choice,
			setup: []Event{start()}, ev: msg("the one in saint petersburg please"),
			want: want{
				actions: acts(say("Saint Petersburg."), Finish{}), state: "done", status: Finished,
				fields: fields("city", "Saint Petersburg"), moves: "q -answer-> done",
			},
		},
		{
			name: "a bad choice is re-asked with the options", src: choice,
			setup: []Event{start()}, ev: msg("Paris"),
			want: want{
				actions: acts(menu("Please choose a store.", "Moscow", "Saint Petersburg", "Kazan")),
				state:   "q", status: Active, retries: 1, invalid: 1, moves: "q -retry-> q",
			},
		},
	})
}

func TestRetries(t *testing.T) {
	const email = `
start: ask_email
settings:
  retries: 2
commands:
  - match: [again]
    goto: ask_email
  - match: [help]
    goto: help
states:
  ask_email:
    ask: "Email?"
    save: email
    type: email
    retry: "Not an email."
    on_fail: failed
    next: done
  help:
    say: "Help text."
    next: ask_email
  failed:
    say: "Giving up."
    finish: true
  done:
    say: "Done."
    finish: true
`
	const perState = `
start: a
states:
  a:
    ask: "A?"
    save: a
    type: number
    retries: 0
    on_fail: b
    next: b
  b:
    ask: "B?"
    save: b
    type: number
    retries: 3
    on_fail: done
    next: done
  done:
    say: "Done."
    finish: true
`
	const noOnFail = `
start: ask
states:
  ask:
    ask: "Number?"
    save: n
    type: number
    next: done
  done:
    say: "Done."
    finish: true
`
	bad := msg("nope")
	runCases(t, []stepCase{
		{
			name: "the first bad answer is re-asked with retry", src: email,
			setup: []Event{start()}, ev: bad,
			want: want{actions: acts(say("Not an email.")), state: "ask_email", status: Active, retries: 1, invalid: 1, moves: "ask_email -retry-> ask_email"},
		},
		{
			name: "the N-th bad answer is still re-asked", src: email,
			setup: []Event{start(), bad}, ev: bad,
			want: want{actions: acts(say("Not an email.")), state: "ask_email", status: Active, retries: 2, invalid: 1, moves: "ask_email -retry-> ask_email"},
		},
		{
			name: "the N+1-th bad answer goes to on_fail without retry", src: email,
			setup: []Event{start(), bad, bad}, ev: bad,
			want: want{actions: acts(say("Giving up."), Finish{}), state: "failed", status: Finished, invalid: 1, moves: "ask_email -fail-> failed"},
		},
		{
			name: "a valid answer after bad ones is accepted", src: email,
			setup: []Event{start(), bad, bad}, ev: msg("anna@example.com"),
			want: want{actions: acts(say("Done."), Finish{}), state: "done", status: Finished, fields: fields("email", "anna@example.com"), moves: "ask_email -answer-> done"},
		},
		{
			name: "a command is not a bad answer and re-entering resets the counter", src: email,
			setup: []Event{start(), bad, bad}, ev: msg("help"),
			want: want{
				actions: acts(say("Help text."), say("Email?")), state: "ask_email", status: Active,
				moves: "ask_email -command:2-> help, help -next-> ask_email",
			},
		},
		{
			name: "a command back to the same state resets the counter", src: email,
			setup: []Event{start(), bad, bad}, ev: msg("again"),
			want: want{actions: acts(say("Email?")), state: "ask_email", status: Active, moves: "ask_email -command:1-> ask_email"},
		},
		{
			name: "after re-entering, bad answers are counted from zero", src: email,
			setup: []Event{start(), bad, bad, msg("help")}, ev: bad,
			want: want{actions: acts(say("Not an email.")), state: "ask_email", status: Active, retries: 1, invalid: 1, moves: "ask_email -retry-> ask_email"},
		},
		{
			name: "retries: 0 on a state sends the first bad answer to on_fail", src: perState,
			setup: []Event{start()}, ev: bad,
			want: want{actions: acts(say("B?")), state: "b", status: Active, invalid: 1, moves: "a -fail-> b"},
		},
		{
			name: "retries: 3 on a state re-asks a third time", src: perState,
			setup: []Event{start(), bad, bad, bad}, ev: bad,
			want: want{actions: acts(say("B?")), state: "b", status: Active, retries: 3, invalid: 1, moves: "b -retry-> b"},
		},
		{
			name: "retries: 3 on a state sends the fourth bad answer to on_fail", src: perState,
			setup: []Event{start(), bad, bad, bad, bad}, ev: bad,
			want: want{actions: acts(say("Done."), Finish{}), state: "done", status: Finished, invalid: 1, moves: "b -fail-> done"},
		},
		{
			name: "without retry the ask itself is repeated; the default is 2 retries", src: noOnFail,
			setup: []Event{start(), bad}, ev: bad,
			want: want{actions: acts(say("Number?")), state: "ask", status: Active, retries: 2, invalid: 1, moves: "ask -retry-> ask"},
		},
		{
			name: "without on_fail the used-up retries hand the dialog to any operator", src: noOnFail,
			setup: []Event{start(), bad, bad}, ev: bad,
			want: want{actions: acts(Operator{}), state: "ask", status: HandedOff, retries: 2, invalid: 1, moves: "ask -fail-> ask"},
		},
	})
}

func TestInterruptions(t *testing.T) {
	const order = `
start: q
commands:
  - match: [operator, nope]
    goto: human
states:
  q:
    ask: "Yes or no?"
    save: ok
    type: yesno
    menu:
      - text: Yes please
        goto: by_menu
    on:
      - match: [yes please maybe, ага]
        goto: by_on
    retry: "Yes or no, please."
    on_fail: human
    next:
      yes: said_yes
      no: said_no
  by_menu:
    say: "menu"
    finish: true
  by_on:
    say: "on"
    finish: true
  said_yes:
    say: "yes"
    finish: true
  said_no:
    say: "no"
    finish: true
  human:
    say: "operator"
    operator: any
`
	// typed asks a question of type typ with commands that match the
	// answers the cases type.
	typed := func(typ, extra string) string {
		return `
start: q
commands:
  - match: [anna, hello, "42", "999", "no", moscow, operator, оператор]
    goto: human
states:
  q:
    ask: "?"
    save: v
    type: ` + typ + `
` + extra + `
    on_fail: human
    next: done
  done:
    say: "Got {{v}}."
    finish: true
  human:
    say: "Operator."
    operator: any
`
	}
	toHuman := want{actions: acts(say("Operator."), Operator{}), state: "human", status: HandedOff, moves: "q -command:1-> human"}
	answered := func(v string) want {
		return want{actions: acts(say("Got "+v+"."), Finish{}), state: "done", status: Finished, fields: fields("v", v), moves: "q -answer-> done"}
	}
	runCases(t, []stepCase{
		{
			name: "the menu comes before on", src: order,
			setup: []Event{start()}, ev: msg("yes please maybe"),
			want: want{actions: acts(say("menu"), Finish{}), state: "by_menu", status: Finished, moves: "q -menu:1-> by_menu"},
		},
		{
			name: "on comes before a valid yesno answer", src: order,
			setup: []Event{start()}, ev: msg("ага"),
			want: want{actions: acts(say("on"), Finish{}), state: "by_on", status: Finished, moves: "q -on:1-> by_on"},
		},
		{
			name: "a valid yesno answer comes before the commands", src: order,
			setup: []Event{start()}, ev: msg("Nope!"),
			want: want{actions: acts(say("no"), Finish{}), state: "said_no", status: Finished, fields: fields("ok", "no"), moves: "q -answer:no-> said_no"},
		},
		{
			name: "a message that is no answer goes to the commands", src: order,
			setup: []Event{start()}, ev: msg("no, an operator please"),
			want: want{actions: acts(say("operator"), Operator{}), state: "human", status: HandedOff, moves: "q -command:1-> human"},
		},
		{
			name: "what matches nothing is a bad answer", src: order,
			setup: []Event{start()}, ev: msg("maybe"),
			want: want{actions: acts(menu("Yes or no, please.", "Yes please")), state: "q", status: Active, retries: 1, invalid: 1, moves: "q -retry-> q"},
		},
		{
			name: "typing оператор as a name hands off", src: supportYAML,
			setup: []Event{start(), msg("Leave a request")}, ev: msg("оператор"),
			want: want{actions: acts(handoffSay, Operator{}), state: "handoff", status: HandedOff, moves: "ask_name -command:1-> handoff"},
		},
		{
			name: "anna.operator@mail.ru as an email is an email", src: supportYAML,
			setup: toEmail, ev: msg("anna.operator@mail.ru"),
			want: want{
				actions: acts(
					say("Thank you, Anna! We will write to anna.operator@mail.ru."),
					CRM{Entity: "lead", Fields: fields("name", "Anna", "email", "anna.operator@mail.ru")},
					Finish{},
				),
				state: "thanks", status: Finished, fields: fields("name", "Anna", "email", "anna.operator@mail.ru"),
				moves: "ask_email -answer-> thanks",
			},
		},
		{
			name: "a bad email with a command word hands off", src: supportYAML,
			setup: toEmail, ev: msg("operator please"),
			want: want{actions: acts(handoffSay, Operator{}), state: "handoff", status: HandedOff, fields: fields("name", "Anna"), moves: "ask_email -command:1-> handoff"},
		},
		{name: "name: a command wins", src: typed("name", ""), setup: []Event{start()}, ev: msg("Anna"), want: toHuman},
		{name: "text: a command wins", src: typed("text", ""), setup: []Event{start()}, ev: msg("hello"), want: toHuman},
		{name: "email: a valid answer wins", src: typed("email", ""), setup: []Event{start()}, ev: msg("operator@example.com"), want: answered("operator@example.com")},
		{name: "phone: a valid answer wins", src: typed("phone", ""), setup: []Event{start()}, ev: msg("+7 999 123 45 67"), want: answered("+79991234567")},
		{name: "number: a valid answer wins", src: typed("number", ""), setup: []Event{start()}, ev: msg("42"), want: answered("42")},
		{name: "yesno: a valid answer wins", src: typed("yesno", ""), setup: []Event{start()}, ev: msg("no"), want: answered("no")},
		{name: "choice: a valid answer wins", src: typed("choice", "    options: [Moscow, Kazan]"), setup: []Event{start()}, ev: msg("moscow"), want: answered("Moscow")},
		{name: "number: a bad answer goes to the commands", src: typed("number", ""), setup: []Event{start()}, ev: msg("operator"), want: toHuman},
		{
			name: "commands: false makes оператор a name", src: typed("name", "    commands: false"),
			setup: []Event{start()}, ev: msg("оператор"), want: answered("Оператор"),
		},
		{
			name: "commands: false makes a command word a bad answer", src: typed("number", "    commands: false"),
			setup: []Event{start()}, ev: msg("operator"),
			want: want{actions: acts(say("?")), state: "q", status: Active, retries: 1, invalid: 1, moves: "q -retry-> q"},
		},
	})
}
