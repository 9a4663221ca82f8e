package engine

import (
	"regexp"
	"strings"
	"testing"

	"github.com/olbot/olbot/scenarios"
)

// branchScenario is support.yaml's first steps with a decision: the
// answer to "What is it about?" tries three conditions (over a number
// field, a text, the channel and the clock) before its otherwise-branch.
const branchScenario = `
start: welcome
settings:
  timezone: Europe/Moscow
hours:
  support:
    mon-fri: "09:00-18:00"
states:
  welcome:
    greet: "Hello, {{client}}!"
    menu:
      - text: Leave a request
        goto: route
      - text: Order
        goto: ask_total
    on_fail: done
  ask_total:
    ask: "Order total?"
    save: total
    type: number
    on_fail: done
    next: route
  route:
    ask: "What is it about?"
    save: topic
    on_fail: done
    next:
      - if: total >= 5000 and client == "Boris"
        goto: ask_name
      - if: set(name) or channel == "telegrambot"
        goto: ask_name
      - if: now.weekday in ["sat", "sun"] and open("support")
        goto: ask_name
      - goto: ask_email
  ask_name:
    ask: "Your name?"
    save: name
    on_fail: ask_email
    next: ask_email
  ask_email:
    ask: "Your email?"
    save: email
    type: email
    on_fail: done
    next: done
  done:
    say: bye
    finish: true
`

// BenchmarkStepBranches is a message step of the same shape as
// BenchmarkStepMessage (one transition, one state entered, one question
// asked), where the answer's next: tries three conditions that do not hold
// before its otherwise-branch.
func BenchmarkStepBranches(b *testing.B) {
	sc, ps := scenarios.Parse("branches.yaml", []byte(branchScenario))
	if sc == nil {
		b.Fatalf("branches.yaml: %v", ps)
	}
	d := Dialog{Key: "b24:4f1c2a9e8b7d:chat18342", Channel: Channel{Chat: 18342}}
	for i := range RecentIDs {
		d.Remember(string(rune('a' + i)))
	}
	d = play(b, sc, d, Event{Type: Start, Client: "Anna"}, Event{Type: Message, Text: "Leave a request", Client: "Anna"})
	benchStep(b, sc, d, Event{Type: Message, Text: "delivery", Client: "Anna"}, func(r Result) bool {
		return r.Dialog.State == "ask_email" && len(r.Actions) == 1 && len(r.Moves) == 1 && r.Moves[0].Event == "answer:4"
	})
}

// BenchmarkStepAnswerText is BenchmarkStepBranches' step with next: ask_email
// instead of the branches: what the conditions add, apart.
func BenchmarkStepAnswerText(b *testing.B) {
	src := strings.Replace(branchScenario, "    next:\n      - if: total", "    next: ask_email\n    x_next:\n      - if: total", 1)
	src = strings.Replace(src, "    x_next:", "    #", 1)
	src = regexp.MustCompile(`(?m)^      (- if:.*|  goto: ask_name|- goto: ask_email)\n`).ReplaceAllString(src, "")
	sc, ps := scenarios.Parse("plain.yaml", []byte(src))
	if sc == nil {
		b.Fatalf("plain.yaml: %v\n%s", ps, src)
	}
	d := Dialog{Key: "b24:4f1c2a9e8b7d:chat18342", Channel: Channel{Chat: 18342}}
	for i := range RecentIDs {
		d.Remember(string(rune('a' + i)))
	}
	d = play(b, sc, d, Event{Type: Start, Client: "Anna"}, Event{Type: Message, Text: "Leave a request", Client: "Anna"})
	benchStep(b, sc, d, Event{Type: Message, Text: "delivery", Client: "Anna"}, func(r Result) bool {
		return r.Dialog.State == "ask_email" && len(r.Actions) == 1 && len(r.Moves) == 1 && r.Moves[0].Event == "answer"
	})
}
