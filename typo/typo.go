// Package typo measures how far apart two words are, for "did you mean"
// hints in scenario checks and validation rules, and for forgiving matching
// of client messages (settings.fuzzy).
package typo

// short is the word length (in runes) up to which the distance is worked
// out on the stack: client words and scenario keys are almost always shorter.
const short = 32

// Distance is the edit distance between a and b in runes, counting a swap of
// two neighbouring runes as one edit ("mxa" is one edit from "max"), since
// that is the commonest typo (optimal string alignment distance).
func Distance(a, b string) int {
	var bufA, bufB [short]rune
	ra, rb := runes(a, bufA[:0]), runes(b, bufB[:0])
	return osa(ra, rb, max(len(ra), len(rb)), false)
}

// AtMost reports whether Distance(a, b) <= k. It only works out the band of
// the table within k of its diagonal and stops as soon as a row exceeds k,
// so for the k = 1 of forgiving matching it costs a few dozen steps and no
// allocation: matching runs it on every message when fuzzy matching is on.
func AtMost(a, b string, k int) bool {
	var bufA, bufB [short]rune
	ra, rb := runes(a, bufA[:0]), runes(b, bufB[:0])
	if d := len(ra) - len(rb); d > k || -d > k {
		return false
	}
	return osa(ra, rb, k, false) <= k
}

// StartAtMost reports whether some start of s is within k edits of stem
// (Distance(s[:i], stem) <= k for some i), as forgiving matching asks of an
// entry "stem*": one pass over the same band as AtMost.
func StartAtMost(s, stem string, k int) bool {
	var bufA, bufB [short]rune
	rs, rb := runes(stem, bufA[:0]), runes(s, bufB[:0])
	if len(rb) < len(rs)-k {
		return false
	}
	return osa(rs, rb, k, true) <= k
}

// osa is the optimal string alignment distance of a and b when it is at
// most k, and k+1 otherwise; with start, the least distance of a and a start
// of b. It keeps three rows of the table, and of each row only the cells
// within k of the diagonal; the others count as k+1.
func osa(a, b []rune, k int, start bool) int {
	n := len(b) + 1
	var rows [3 * (short + 1)]int
	var buf []int
	if 3*n <= len(rows) {
		buf = rows[:3*n]
	} else {
		buf = make([]int, 3*n)
	}
	far := k + 1
	prev2, prev, cur := buf[:n], buf[n:2*n], buf[2*n:]
	for j := range prev {
		prev[j] = min(j, far)
		prev2[j] = far
	}
	for i := 1; i <= len(a); i++ {
		lo, hi := max(1, i-k), min(n-1, i+k)
		// the cells this row reads outside its band count as far
		cur[lo-1] = far
		if lo == 1 {
			cur[0] = min(i, far)
		}
		best := cur[lo-1]
		for j := lo; j <= hi; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			c := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				c = min(c, prev2[j-2]+1)
			}
			cur[j] = min(c, far)
			best = min(best, cur[j])
		}
		if hi+1 < n {
			cur[hi+1] = far
		}
		if best >= far {
			return far
		}
		prev2, prev, cur = prev, cur, prev2
	}
	if start {
		best := far
		for j := max(0, len(a)-k); j <= min(n-1, len(a)+k); j++ {
			best = min(best, prev[j])
		}
		return best
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
