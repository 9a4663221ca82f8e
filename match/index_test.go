package match

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestIndexKeepsEveryMatch: the index is a filter only — every entry with
// a pattern that matches a message with typos (MatchFuzzy or EqualFuzzy) is
// among its candidates, over generated entries and messages with typos,
// stems (short and longer than the index's letters test bothers with) and
// phrases; and it leaves out most entries that do not match.
func TestIndexKeepsEveryMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 15))
	alphabet := []rune("абвгдеор")
	word := func(n int) string {
		r := make([]rune, n)
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(r)
	}
	typo := func(w string) string {
		r := []rune(w)
		i := rng.IntN(len(r))
		switch rng.IntN(4) {
		case 0: // substitution
			r[i] = alphabet[rng.IntN(len(alphabet))]
		case 1: // deletion
			r = append(r[:i], r[i+1:]...)
		case 2: // insertion
			r = append(r[:i], append([]rune{alphabet[rng.IntN(len(alphabet))]}, r[i:]...)...)
		default: // swap
			if i+1 < len(r) {
				r[i], r[i+1] = r[i+1], r[i]
			}
		}
		return string(r)
	}
	var entries []string
	for range 70 { // more than 64: the large marks too
		var ws []string
		for range 1 + rng.IntN(2) {
			w := word(3 + rng.IntN(15))
			if rng.IntN(3) == 0 {
				w += "*"
			}
			ws = append(ws, w)
		}
		entries = append(entries, strings.Join(ws, " "))
	}
	x := NewIndex(len(entries))
	pats := make([]Pattern, len(entries))
	for i, e := range entries {
		pats[i] = MustCompile(e)
		x.Add(i, pats[i])
	}
	matched, left := 0, 0
	for range 20000 {
		var ws []string
		if rng.IntN(2) == 0 {
			// an entry's words with a typo or an ending, among others
			e := strings.Fields(strings.ReplaceAll(entries[rng.IntN(len(entries))], "*", word(rng.IntN(3))))
			for i := range e {
				if rng.IntN(2) == 0 && len([]rune(e[i])) > 1 {
					e[i] = typo(e[i])
				}
			}
			if rng.IntN(2) == 0 {
				ws = append(ws, word(2+rng.IntN(8)))
			}
			ws = append(ws, e...)
		} else {
			for range 1 + rng.IntN(4) {
				ws = append(ws, word(2+rng.IntN(12)))
			}
		}
		in := NewInput(strings.Join(ws, " ")).Forgiving()
		m := x.Candidates(in)
		for i, p := range pats {
			if p.MatchFuzzy(in) || p.EqualFuzzy(in) {
				matched++
				if !m.Has(i) {
					t.Fatalf("entry %d %q matches %q but is not a candidate", i, entries[i], in.Clean)
				}
			} else if !m.Has(i) {
				left++
			}
		}
	}
	if matched == 0 || left < 20000*len(entries)/2 {
		t.Fatalf("%d matches, %d entries left out: the test or the filter does nothing", matched, left)
	}
}
