// Package typo measures how far apart two words are, for "did you mean"
// hints in scenario checks and validation rules, and for forgiving matching
// of client messages (settings.fuzzy).
package typo

// short is the word length (in runes) up to which Distance works on the
// stack: client words and scenario keys are almost always shorter.
const short = 32

// Distance is the edit distance between a and b in runes, counting a swap of
// two neighbouring runes as one edit ("mxa" is one edit from "max"), since
// that is the commonest typo (optimal string alignment distance).
//
// It keeps three rows of the table rather than the whole of it, and for
// words of up to 32 runes it does not allocate, because matching runs it on
// every message when fuzzy matching is on.
func Distance(a, b string) int {
	var bufA, bufB [short]rune
	ra, rb := runes(a, bufA[:0]), runes(b, bufB[:0])
	n := len(rb) + 1
	var rows [3 * (short + 1)]int
	var buf []int
	if 3*n <= len(rows) {
		buf = rows[:3*n]
	} else {
		buf = make([]int, 3*n)
	}
	prev2, prev, cur := buf[:n], buf[n:2*n], buf[2*n:]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j < n; j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[n-1]
}

// runes decodes s into buf, growing it when s is long.
func runes(s string, buf []rune) []rune {
	for _, r := range s {
		buf = append(buf, r)
	}
	return buf
}
