package engine

import (
	"slices"
	"testing"
	"time"

	"github.com/olbot/olbot/scenarios"
)

// BenchmarkStepFAQFuzzy steps messages in the FAQ example's topics menu with
// settings.fuzzy off and on, in the same run: a button typed exactly, a
// keyword in a sentence, a sentence that matches nothing (the worst case
// for fuzzy: every entry is tried with typos) and a typo that fuzzy finds.
func BenchmarkStepFAQFuzzy(b *testing.B) {
	for _, tc := range []struct {
		name, text string
		off, on    string // the state each setting leads to
	}{
		{"button", "Delivery", "topics", "topics"},
		{"keyword", "Сколько идёт доставка до Казани?", "topics", "topics"},
		{"unmatched", "Здравствуйте, подскажите пожалуйста, у вас есть подарочные карты?", "topics", "topics"},
		{"typo", "опреатор", "topics", "handoff"},
	} {
		for _, fuzzy := range []bool{false, true} {
			name := tc.name + "/fuzzy=off"
			want := tc.off
			if fuzzy {
				name, want = tc.name+"/fuzzy=on", tc.on
			}
			b.Run(name, func(b *testing.B) {
				sc, ps := scenarios.LoadFile("../examples/faq.yaml")
				if sc == nil {
					b.Fatalf("faq.yaml: %v", ps)
				}
				sc.Settings.Fuzzy = fuzzy
				d := play(b, sc, Dialog{Key: "b24:bench:chat1"}, start())
				benchStep(b, sc, d, msg(tc.text), func(r Result) bool { return r.Dialog.State == want })
			})
		}
	}
}

// BenchmarkFuzzyRatio is the measure: the same message step in the
// FAQ example with settings.fuzzy off and on, interleaved step by step in
// one loop (the order swapped every iteration), so both see the same load
// on a shared machine. It reports each side's median time per step (a
// step the scheduler preempted does not move a median) and their ratio.
func BenchmarkFuzzyRatio(b *testing.B) {
	for _, tc := range []struct{ name, text string }{
		{"button", "Delivery"},
		{"keyword", "Сколько идёт доставка до Казани?"},
		{"unmatched", "Здравствуйте, подскажите пожалуйста, у вас есть подарочные карты?"},
		{"unmatched-en", "Hello there, could you please tell me whether gift cards are available"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var scs [2]*scenarios.Scenario
			var ds [2]Dialog
			for i := range scs {
				sc, ps := scenarios.LoadFile("../examples/faq.yaml")
				if sc == nil {
					b.Fatalf("faq.yaml: %v", ps)
				}
				sc.Settings.Fuzzy = i == 1
				scs[i], ds[i] = sc, play(b, sc, Dialog{Key: "b24:bench:chat1"}, start())
			}
			ev := msg(tc.text)
			ev.Time = t0.Add(24 * time.Hour)
			for i := range scs {
				if res, err := Step(scs[i], ds[i], ev); err != nil || res.Dialog.State != "topics" {
					b.Fatalf("fuzzy=%v: %v, state %q; want a re-ask in topics", i == 1, err, res.Dialog.State)
				}
			}
			var spent [2][]time.Duration
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for k := range 2 {
					i := (n + k) % 2
					t := time.Now()
					if _, err := Step(scs[i], ds[i], ev); err != nil {
						b.Fatal(err)
					}
					spent[i] = append(spent[i], time.Since(t))
				}
				n++
			}
			median := func(ds []time.Duration) float64 {
				slices.Sort(ds)
				return float64(ds[len(ds)/2].Nanoseconds())
			}
			off, on := median(spent[0]), median(spent[1])
			b.ReportMetric(off, "off-ns/step")
			b.ReportMetric(on, "on-ns/step")
			b.ReportMetric(on/off, "on/off")
		})
	}
}
