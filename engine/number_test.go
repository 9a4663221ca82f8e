package engine

import (
	"testing"
	"time"
)

// TestMenuNumbers: a message that is a number chooses item n only when
// 1 <= n <= the number of items; zero, a number beyond the last item and a
// negative number are unmatched input (issue 17), except that a number
// still chooses an item whose text it is.
func TestMenuNumbers(t *testing.T) {
	const src = `
start: m
states:
  m:
    say: "Choose."
    menu:
      - text: Tea
        goto: tea
      - text: Coffee
        goto: coffee
    retry: "Tea or coffee?"
    on_fail: nobody
  tea:
    say: "Tea."
    finish: true
  coffee:
    say: "Coffee."
    finish: true
  nobody:
    say: "Nothing, then."
    finish: true
`
	const choice = `
start: size
states:
  size:
    ask: "Cup size?"
    save: size
    type: choice
    options: ["100", "200", "300"]
    retry: "100, 200 or 300?"
    on_fail: nobody
    next: done
  done:
    say: "{{size}} ml."
    finish: true
  nobody:
    say: "Nothing, then."
    finish: true
`
	menuSC, choiceSC := mustParse(t, src), mustParse(t, choice)
	tests := []struct {
		choice bool // the choice scenario, else the menu
		text   string
		state  string // after the message
		field  string // the saved size, for the choice scenario
	}{
		{text: "1", state: "tea"},
		{text: "2", state: "coffee"},
		{text: "2.", state: "coffee"},
		{text: "#1", state: "tea"},
		{text: "+2", state: "coffee"},
		{text: "-1", state: "m"},
		{text: "−2", state: "m"},
		{text: "-2.", state: "m"},
		{text: "00", state: "m"},
		{text: "3", state: "m"},
		{text: "99", state: "m"},
		{text: "99999999999999999999", state: "m"},
		{choice: true, text: "2", state: "done", field: "200"},
		{choice: true, text: "300", state: "done", field: "300"}, // out of range: its text chooses
		{choice: true, text: "-1", state: "size"},
		{choice: true, text: "-100", state: "size"},
		{choice: true, text: "4", state: "size"},
	}
	for _, tc := range tests {
		sc := menuSC
		if tc.choice {
			sc = choiceSC
		}
		t.Run(sc.Start+" "+tc.text, func(t *testing.T) {
			d := play(t, sc, Dialog{Key: "api:n"}, start())
			res, err := Step(sc, d, Event{Type: Message, Text: tc.text, Time: t0.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Dialog.State; got != tc.state {
				t.Fatalf("state=%q, want %q", got, tc.state)
			}
			unmatched := tc.state == sc.Start
			if got := res.Invalid; (got == 1) != unmatched {
				t.Fatalf("invalid=%d, want %d", got, map[bool]int{true: 1}[unmatched])
			}
			if got := res.Dialog.Fields["size"]; got != tc.field {
				t.Fatalf("size=%q, want %q", got, tc.field)
			}
		})
	}
}
