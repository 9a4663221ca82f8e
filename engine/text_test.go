package engine

import (
	"testing"
)

func TestTypes(t *testing.T) {
	// typed asks one question of type typ and says the saved value.
	typed := func(typ, extra string) string {
		return `
start: q
states:
  q:
    ask: "?"
    save: v
    type: ` + typ + `
` + extra + `
    retry: "Again."
    on_fail: failed
    next: done
  done:
    say: "Got {{v}}."
    finish: true
  failed:
    say: "Failed."
    finish: true
`
	}
	type tcase struct {
		typ, extra, in string
		saved          string // "" means rejected
	}
	cases := []tcase{
		{"text", "", "  hello there  ", "hello there"},
		{"text", "", "   ", ""},
		{"text", "    validate: min=5", "bad", ""},
		{"text", "    validate: min=5", "fine!", "fine!"},
		{"name", "", "анна-мария", "Анна-Мария"},
		{"name", "", "john  SMITH", "John Smith"},
		{"name", "", "R2D2", ""},
		{"email", "", "Anna@Example.COM", "Anna@example.com"},
		{"email", "", "anna@", ""},
		{"phone", "", "8 (999) 123-45-67", "+89991234567"},
		{"phone", "", "+7 999 123.45.67", "+79991234567"},
		{"phone", "", "12345", ""},
		{"phone", "", "call me", ""},
		{"number", "", "41", "41"},
		{"number", "", "-3", "-3"},
		{"number", "", "3,5", "3.5"},
		{"number", "", "1 000", "1000"},
		{"number", "", "forty", ""},
		{"number", "    validate: gte=18", "17", ""},
		{"number", "    validate: gte=18", "18", "18"},
		{"yesno", "", "Да!", "yes"},
		{"yesno", "", "ага", "yes"},
		{"yesno", "", "sure", "yes"},
		{"yesno", "", "неа", "no"},
		{"yesno", "", "nope", "no"},
		{"yesno", "", "maybe", ""},
		{"choice", "    options: [Moscow, Kazan]", "kazan", "Kazan"},
		{"choice", "    options: [Moscow, Kazan]", "2", "Kazan"},
		{"choice", "    options: [Moscow, Kazan]", "Paris", ""},
	}
	var table []stepCase
	for _, c := range cases {
		tc := stepCase{
			name: c.typ + " " + c.extra + " " + c.in, src: typed(c.typ, c.extra),
			setup: []Event{start()}, ev: msg(c.in),
		}
		if c.saved == "" {
			tc.name += " is rejected"
			tc.want = want{actions: acts(say("Again.")), state: "q", status: Active, retries: 1, invalid: 1, moves: "q -retry-> q"}
			if c.typ == "choice" {
				tc.want.actions = acts(menu("Again.", "Moscow", "Kazan"))
			}
		} else {
			tc.name += " is saved as " + c.saved
			tc.want = want{
				actions: acts(say("Got "+c.saved+"."), Finish{}), state: "done", status: Finished,
				fields: fields("v", c.saved), moves: "q -answer-> done",
			}
		}
		table = append(table, tc)
	}
	runCases(t, table)
}

func TestTemplates(t *testing.T) {
	const note = `
start: hi
states:
  hi:
    greet: "Hello, {{client}}!"
    ask: "Hi {{client}}, what is on your mind?"
    save: note
    type: text
    retry: "{{client}}, please write something."
    on_fail: bye
    next: echo
  echo:
    say: "You wrote: {{note}}. Thanks, {{client}}."
    finish: true
  bye:
    say: "Bye {{client}}."
    finish: true
`
	runCases(t, []stepCase{
		{
			name: "the client's name is inserted", src: note, client: "Anna",
			ev: start(),
			want: want{
				actions: acts(Greet{Text: "Hello, Anna!"}, say("Hi Anna, what is on your mind?")),
				state:   "hi", status: Active, moves: "[*] -start-> hi",
			},
		},
		{
			name: "an empty client name removes the comma or space before it", src: note,
			ev: start(),
			want: want{
				actions: acts(Greet{Text: "Hello!"}, say("Hi, what is on your mind?")),
				state:   "hi", status: Active, moves: "[*] -start-> hi",
			},
		},
		{
			name: "an empty client name at the start of a retry", src: note,
			setup: []Event{start()}, ev: msg("   "),
			want: want{
				actions: acts(say(", please write something.")),
				state:   "hi", status: Active, retries: 1, invalid: 1, moves: "hi -retry-> hi",
			},
		},
		{
			name: "a client name cannot add BB-codes", src: note, client: "[b]Anna[/b]",
			ev: start(),
			want: want{
				actions: acts(Greet{Text: "Hello, [\u200bb]Anna[\u200b/b]!"}, say("Hi [\u200bb]Anna[\u200b/b], what is on your mind?")),
				state:   "hi", status: Active, moves: "[*] -start-> hi",
			},
		},
		{
			name: "a client name is not parsed as a template", src: note, client: "{{note}}",
			ev: start(),
			want: want{
				actions: acts(Greet{Text: "Hello, {{note}}!"}, say("Hi {{note}}, what is on your mind?")),
				state:   "hi", status: Active, moves: "[*] -start-> hi",
			},
		},
		{
			name: "an answer can add neither BB-codes nor templates", src: note, client: "Anna",
			setup: []Event{start()}, ev: msg("{{client}} [url=http://x.example]click[/url]"),
			want: want{
				actions: acts(say("You wrote: {{client}} [\u200burl=http://x.example]click[\u200b/url]. Thanks, Anna."), Finish{}),
				state:   "echo", status: Finished,
				fields: fields("note", "{{client}} [url=http://x.example]click[/url]"), moves: "hi -answer-> echo",
			},
		},
		{
			name: "a field missing after a reload renders empty and is reported", src: supportYAML,
			setup: toEmail, edit: func(d *Dialog) { d.Fields = nil }, ev: msg("anna@example.com"),
			want: want{
				actions: acts(
					say("Thank you, ! We will write to anna@example.com."),
					CRM{Entity: "lead", Fields: fields("email", "anna@example.com")},
					Finish{},
				),
				state: "thanks", status: Finished, fields: fields("email", "anna@example.com"),
				moves: "ask_email -answer-> thanks", missing: []string{"name"},
			},
		},
	})
}

func TestMatching(t *testing.T) {
	const src = `
start: wait
commands:
  - match: [operator, оператор, живой человек, врач*, ещё раз]
    goto: hit
states:
  wait:
    say: "Waiting."
    on:
      - match: [zzzz]
        goto: hit
    next: miss
  miss:
    say: "Miss."
    next: wait
  hit:
    say: "Hit."
    finish: true
`
	hit := want{actions: acts(say("Hit."), Finish{}), state: "hit", status: Finished, moves: "wait -command:1-> hit"}
	miss := want{actions: acts(say("Miss."), say("Waiting.")), state: "wait", status: Active, moves: "wait -unmatched-> miss, miss -next-> wait"}
	cases := []struct {
		in  string
		hit bool
	}{
		{"operator", true},
		{"Оператор!", true},
		{"ОПЕРАТОР", true},
		{"I need an operator, please", true},
		{"cooperator", false},
		{"operators", false},
		{"оператору", false},
		{"Позовите врача", true},
		{"врач", true},
		{"Живой   человек!!!", true},
		{"живой, человек", true},
		{"человек живой", false},
		{"живой", false},
		{"еще раз", true},
		{"ЕЩЁ РАЗ", true},
		{"ещё", false},
	}
	var table []stepCase
	for _, c := range cases {
		tc := stepCase{name: c.in, src: src, setup: []Event{start()}, ev: msg(c.in), want: miss}
		if c.hit {
			tc.name += " matches"
			tc.want = hit
		} else {
			tc.name += " does not match"
		}
		table = append(table, tc)
	}
	runCases(t, table)
}
