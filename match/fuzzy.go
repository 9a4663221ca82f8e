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

// shape is what the quick tests of forgiving matching need of a word: its
// length in runes, its first and last two runes, and which letters it has
// (a bit per rune, by its low six bits: the letters of one alphabet do not
// share one).
type shape struct {
	runes          int
	f0, f1, l0, l1 rune
	letters        uint64
}

func letter(r rune) uint64 { return 1 << uint(r&63) }

func shapeOf(w string) shape {
	// one pass: the first two runes, the last two, the letters and the length
	s := shape{f0: utf8.RuneError, f1: utf8.RuneError, l0: utf8.RuneError, l1: utf8.RuneError}
	for _, r := range w {
		switch s.runes {
		case 0:
			s.f0 = r
		case 1:
			s.f1 = r
		}
		s.l1, s.l0 = s.l0, r
		s.letters |= letter(r)
		s.runes++
	}
	return s
}

// oneOff reports whether at most one letter of a is missing from b — true
// of any two words one edit apart (a substitution changes one letter; an
// insertion, deletion or swap none of the shorter word's), so a pair that
// fails it needs no distance worked out.
func oneOff(a, b uint64) bool {
	d := a &^ b
	return d&(d-1) == 0
}

// lettersNear is the letter test of a word and an entry word.
func (w *shape) lettersNear(e *shape) bool {
	return oneOff(e.letters, w.letters) && oneOff(w.letters, e.letters)
}

// starts reports whether one edit can turn a word starting as w into one
// starting as e: the first runes are equal (an edit further on), or one
// word's first is the other's second (an insertion, deletion or swap at the
// start), or the second runes are equal (a substitution of the first).
func (w *shape) starts(e *shape) bool {
	return w.f0 == e.f0 || w.f0 == e.f1 || w.f1 == e.f0 || w.f1 == e.f1
}

// ends is starts for the ends of the words.
func (w *shape) ends(e *shape) bool {
	return w.l0 == e.l0 || w.l0 == e.l1 || w.l1 == e.l0 || w.l1 == e.l1
}

// Forgiving returns the input ready for the fuzzy matches, which need the
// shape of each word: worked out once here, not for every entry.
func (in Input) Forgiving() Input {
	if in.shape == nil && len(in.Words) > 0 {
		in.shape = make([]shape, len(in.Words))
		for i, w := range in.Words {
			in.shape[i] = shapeOf(w)
		}
	}
	return in
}

// Near reports whether the message word w is the entry word e with at most
// one typo — an insertion, deletion, substitution or swap of neighbours —
// when e has MinFuzzy letters or more. Both are clean words.
func Near(w, e string) bool {
	ws, es := shapeOf(w), shapeOf(e)
	return w == e || near(w, &ws, e, &es)
}

// near is Near for words of known shapes. The quick tests on lengths and
// ends, which most pairs of words fail, save working out the distance.
func near(w string, ws *shape, e string, es *shape) bool {
	if es.runes < MinFuzzy || ws.runes < es.runes-1 || ws.runes > es.runes+1 || !ws.starts(es) || !ws.ends(es) || !ws.lettersNear(es) {
		return false
	}
	return typo.AtMost(w, e, 1)
}

// nearStem reports whether some start of w is the stem with at most one
// typo ("офрмить" for "оформ*"), when the stem has MinFuzzy letters or more.
func nearStem(w string, ws *shape, stem string, ss *shape) bool {
	if strings.HasPrefix(w, stem) {
		return true
	}
	ns := ss.runes
	if ns < MinFuzzy || ws.runes < ns-1 || !ws.starts(ss) || !oneOff(ss.letters, ws.letters) || !stemEnds(w, ss) {
		return false
	}
	return typo.StartAtMost(w, stem, 1)
}

// stemEnds is the quick test of a stem's end and letters: when a start of
// w is one edit from the stem, w has the stem's last rune at one of the
// stem's last place, the one before or the one after (a substitution or
// swap, a deletion, an insertion before it), or the stem's second-to-last
// rune in its place (an edit of the last rune itself); and that start, at
// most one rune longer than the stem, lacks at most one of its letters.
func stemEnds(w string, ss *shape) bool {
	ns, i := ss.runes, 0
	var letters uint64
	end := false
	for _, r := range w {
		if i > ns {
			break
		}
		letters |= letter(r)
		if !end && (i >= ns-2 && r == ss.l0 || i == ns-2 && r == ss.l1) {
			end = true
		}
		i++
	}
	return end && oneOff(ss.letters, letters)
}

// may is the quick test of term.near: the length and the start of a word
// of shape ws allow it to be the term, exactly or with one typo.
func (t *term) may(ws *shape) bool {
	if t.prefix {
		return ws.runes >= t.shape.runes-1 && ws.starts(&t.shape) && oneOff(t.shape.letters, ws.letters)
	}
	d := ws.runes - t.shape.runes
	return d >= -1 && d <= 1 && ws.starts(&t.shape) && ws.lettersNear(&t.shape)
}

func (t *term) near(w string, ws *shape) bool {
	if t.prefix {
		return nearStem(w, ws, t.word, &t.shape)
	}
	return w == t.word || near(w, ws, t.word, &t.shape)
}

// forgiving reports whether any word of the pattern is long enough to be
// matched with a typo: the others can only match exactly.
func (p Pattern) forgiving() bool {
	for i := range p.terms {
		if p.terms[i].shape.runes >= MinFuzzy {
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
	in = in.Forgiving()
	first := &p.terms[0]
	for i := 0; i+n <= len(in.Words); i++ {
		if ws := &in.shape[i]; !first.may(ws) {
			continue // most words: not even the length or the start fits
		}
		if p.nearAt(in.Words[i:i+n], in.shape[i:i+n]) {
			return true
		}
	}
	return false
}

// EqualFuzzy is Equal allowing the typos MatchFuzzy allows.
func (p Pattern) EqualFuzzy(in Input) bool {
	if len(p.terms) == 0 || len(in.Words) != len(p.terms) {
		return false
	}
	in = in.Forgiving()
	return p.nearAt(in.Words, in.shape)
}

// nearAt compares the pattern's terms with words, which has exactly that many elements.
func (p Pattern) nearAt(words []string, shapes []shape) bool {
	for j, w := range words {
		if !p.terms[j].near(w, &shapes[j]) {
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
