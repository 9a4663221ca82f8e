package engine

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

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

// branchesSetup is BenchmarkStepBranches' scenario and dialog.
func branchesSetup(b *testing.B, src string) (*scenarios.Scenario, Dialog) {
	b.Helper()
	sc, ps := scenarios.Parse("branches.yaml", []byte(src))
	if sc == nil {
		b.Fatalf("branches.yaml: %v\n%s", ps, src)
	}
	d := Dialog{Key: "b24:4f1c2a9e8b7d:chat18342", Channel: Channel{Chat: 18342}}
	for i := range RecentIDs {
		d.Remember(string(rune('a' + i)))
	}
	return sc, play(b, sc, d, Event{Type: Start, Client: "Anna"}, Event{Type: Message, Text: "Leave a request", Client: "Anna"})
}

// plainScenario is branchScenario with next: ask_email instead of the
// branches.
func plainScenario() string {
	src := strings.Replace(branchScenario, "    next:\n      - if: total", "    next: ask_email\n    x_next:\n      - if: total", 1)
	src = strings.Replace(src, "    x_next:", "    #", 1)
	return regexp.MustCompile(`(?m)^      (- if:.*|  goto: ask_name|- goto: ask_email)\n`).ReplaceAllString(src, "")
}

// BenchmarkBranchesRatio is the measure taken so that a shared
// machine does not decide it: BenchmarkStepMessage's step, BenchmarkStepAnswerText's
// and BenchmarkStepBranches' interleaved step by step in one loop (the
// order rotated every iteration), so all three see the same load. It
// reports each one's median time per step (a step the scheduler preempted
// does not move a median) and the ratios to the message step.
func BenchmarkBranchesRatio(b *testing.B) {
	type side struct {
		sc *scenarios.Scenario
		d  Dialog
		ev Event
	}
	msgSc, msgD := benchSetup(b, Event{Type: Start, Client: "Anna"})
	plainSc, plainD := branchesSetup(b, plainScenario())
	brSc, brD := branchesSetup(b, branchScenario)
	answer := Event{Type: Message, Text: "delivery", Client: "Anna"}
	sides := []side{
		{msgSc, msgD, Event{Type: Message, Text: "Leave a request", Client: "Anna"}},
		{plainSc, plainD, answer},
		{brSc, brD, answer},
	}
	want := []string{"ask_name", "ask_email", "ask_email"}
	for i := range sides {
		sides[i].ev.Time = t0.Add(24 * time.Hour)
		if res, err := Step(sides[i].sc, sides[i].d, sides[i].ev); err != nil || res.Dialog.State != want[i] {
			b.Fatalf("side %d: %v, state %q; want %s", i, err, res.Dialog.State, want[i])
		}
	}
	spent := make([][]time.Duration, len(sides))
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for k := range sides {
			s := &sides[(n+k)%len(sides)]
			t := time.Now()
			if _, err := Step(s.sc, s.d, s.ev); err != nil {
				b.Fatal(err)
			}
			spent[(n+k)%len(sides)] = append(spent[(n+k)%len(sides)], time.Since(t))
		}
		n++
	}
	median := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Nanoseconds())
	}
	m, a, br := median(spent[0]), median(spent[1]), median(spent[2])
	b.ReportMetric(m, "message-ns/step")
	b.ReportMetric(a, "answer-ns/step")
	b.ReportMetric(br, "branches-ns/step")
	b.ReportMetric(a/m, "answer/message")
	b.ReportMetric(br/m, "branches/message")
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
