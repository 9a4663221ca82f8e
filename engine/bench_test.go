package engine

import (
	"testing"
	"time"

	"github.com/olbot/olbot/scenarios"
)

// benchSetup loads examples/support.yaml and plays setup from an empty
// record. Every iteration then steps from that same prepared record, so
// nothing accumulates between iterations.
func benchSetup(b *testing.B, setup ...Event) (*scenarios.Scenario, Dialog) {
	b.Helper()
	sc, ps := scenarios.LoadFile("../examples/support.yaml")
	if sc == nil {
		b.Fatalf("support.yaml: %v", ps)
	}
	d := Dialog{Key: "b24:4f1c2a9e8b7d:chat18342", Channel: Channel{Chat: 18342}}
	for i := range RecentIDs {
		d.Remember(string(rune('a' + i)))
	}
	return sc, play(b, sc, d, setup...)
}

// benchStep steps ev from d b.N times and checks the first result with ok.
func benchStep(b *testing.B, sc *scenarios.Scenario, d Dialog, ev Event, ok func(Result) bool) {
	b.Helper()
	ev.Time = t0.Add(24 * time.Hour)
	res, err := Step(sc, d, ev)
	if err != nil || !ok(res) {
		b.Fatalf("the benchmarked step does not do what it should: %v\n%+v", err, res)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Step(sc, d, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStepMessage is a menu choice: welcome → ask_name.
func BenchmarkStepMessage(b *testing.B) {
	sc, d := benchSetup(b, Event{Type: Start, Client: "Anna"})
	benchStep(b, sc, d, Event{Type: Message, Text: "Leave a request", Client: "Anna"}, func(r Result) bool {
		return r.Dialog.State == "ask_name" && len(r.Actions) == 1
	})
}

// BenchmarkStepAnswerValid is a valid email: ask_email → thanks, with crm and finish.
func BenchmarkStepAnswerValid(b *testing.B) {
	sc, d := benchSetup(b, start(), msg("Leave a request"), msg("anna"))
	benchStep(b, sc, d, msg("anna@example.com"), func(r Result) bool {
		return r.Dialog.State == "thanks" && r.Dialog.Status == Finished && len(r.Actions) == 3
	})
}

// BenchmarkStepAnswerInvalid is a bad email, asked again.
func BenchmarkStepAnswerInvalid(b *testing.B) {
	sc, d := benchSetup(b, start(), msg("Leave a request"), msg("anna"))
	benchStep(b, sc, d, msg("not an email"), func(r Result) bool {
		return r.Dialog.State == "ask_email" && r.Dialog.Retries == 1 && r.Invalid == 1
	})
}

// BenchmarkStepStart is a new chat: the greeting and the menu.
func BenchmarkStepStart(b *testing.B) {
	sc, d := benchSetup(b)
	benchStep(b, sc, d, Event{Type: Start, Client: "Anna", Line: 1}, func(r Result) bool {
		return r.Dialog.State == "welcome" && len(r.Actions) == 2
	})
}
