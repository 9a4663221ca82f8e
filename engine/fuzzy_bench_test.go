package engine

import (
	"testing"

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
