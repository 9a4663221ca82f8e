package match

import (
	"strings"
	"unicode/utf8"

	"github.com/olbot/olbot/typo"
)

// MinFuzzy is the shortest entry word, in letters, that forgiving matching
// (settings.fuzzy) accepts with a typo: shorter words are too close to
// other words ("нет" and "нес") for one edit to still mean the same.
const MinFuzzy = 5

// Near reports whether the message word w is the entry word e with at most
// one typo — an insertion, deletion, substitution or swap of neighbours —
// when e has MinFuzzy letters or more. Both are clean words.
func Near(w, e string) bool {
	return w == e || near(w, e, utf8.RuneCountInString(e))
}

// near is Near for a word e of ne runes that is not w.
func near(w, e string, ne int) bool {
	if ne < MinFuzzy {
		return false
	}
	nw := utf8.RuneCountInString(w)
	if nw < ne-1 || nw > ne+1 || !sameEnds(w, e) {
		return false
	}
	return typo.AtMost(w, e, 1)
}

// sameEnds is a quick test that most word pairs fail: one edit leaves the
// first rune of one word among the first two of the other, and so for the
// last rune. It saves working out the distance of unrelated words.
func sameEnds(w, e string) bool {
	w0, w1 := firstTwo(w)
	e0, e1 := firstTwo(e)
	if w0 != e0 && w0 != e1 && w1 != e0 {
		return false
	}
	w0, w1 = lastTwo(w)
	e0, e1 = lastTwo(e)
	return w0 == e0 || w0 == e1 || w1 == e0
}

func firstTwo(s string) (rune, rune) {
	a, n := utf8.DecodeRuneInString(s)
	b, _ := utf8.DecodeRuneInString(s[n:])
	return a, b
}

func lastTwo(s string) (rune, rune) {
	a, n := utf8.DecodeLastRuneInString(s)
	b, _ := utf8.DecodeLastRuneInString(s[:len(s)-n])
	return a, b
}

// nearStem reports whether some start of w is the stem with at most one
// typo ("офрмить" for "оформ*"), when the stem has MinFuzzy letters or more
// (ns is its length in runes).
func nearStem(w, stem string, ns int) bool {
	if strings.HasPrefix(w, stem) {
		return true
	}
	if ns < MinFuzzy {
		return false
	}
	if w0, w1 := firstTwo(w); true {
		s0, s1 := firstTwo(stem)
		if w0 != s0 && w0 != s1 && w1 != s0 {
			return false
		}
	}
	// the starts of w one rune shorter, as long and one rune longer than the stem
	n := 0
	for i := range w {
		if n >= ns-1 && typo.AtMost(w[:i], stem, 1) {
			return true
		}
		n++
		if n > ns+1 {
			return false
		}
	}
	return n >= ns-1 && typo.AtMost(w, stem, 1)
}

func (t term) near(w string) bool {
	if t.prefix {
		return nearStem(w, t.word, t.runes)
	}
	return w == t.word || near(w, t.word, t.runes)
}

// forgiving reports whether any word of the pattern is long enough to be
// matched with a typo: the others can only match exactly.
func (p Pattern) forgiving() bool {
	for _, t := range p.terms {
		if t.runes >= MinFuzzy {
			return true
		}
	}
	return false
}

// MatchFuzzy is Match allowing one typo in each pattern word of MinFuzzy
// letters or more ("опреатор" for "оператор", "возрат" for "возврат").
// Shorter words still match only exactly.
func (p Pattern) MatchFuzzy(in Input) bool {
	n := len(p.terms)
	if n == 0 || !p.forgiving() {
		return p.Match(in)
	}
	for i := 0; i+n <= len(in.Words); i++ {
		if p.nearAt(in.Words[i : i+n]) {
			return true
		}
	}
	return false
}

// EqualFuzzy is Equal allowing the typos MatchFuzzy allows.
func (p Pattern) EqualFuzzy(in Input) bool {
	return len(p.terms) > 0 && len(in.Words) == len(p.terms) && p.nearAt(in.Words)
}

// nearAt compares the pattern's terms with words, which has exactly that many elements.
func (p Pattern) nearAt(words []string) bool {
	for j, w := range words {
		if !p.terms[j].near(w) {
			return false
		}
	}
	return true
}

// MatchFuzzy reports whether any pattern of the set matches the input with
// the typos Pattern.MatchFuzzy allows.
func (s Set) MatchFuzzy(in Input) bool {
	for _, p := range s {
		if p.MatchFuzzy(in) {
			return true
		}
	}
	return false
}
