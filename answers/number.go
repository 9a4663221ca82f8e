package answers

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNumberBytes bounds a number answer as parseNumber rewrites it (sign,
// digits, decimal mark); longer input is not a number anyone types, and the
// bound keeps parsing on the stack.
const maxNumberBytes = 64

// parseNumber accepts what people type for a number: an optional sign ("-", "+",
// "−"), digits with single spaces (any Unicode space, such as NBSP or a thin space)
// between groups of three ("1 000 000"), and one decimal mark, "," or "." ("3,5",
// "3.5", ".5", "5."). Everything else is rejected, including words, exponents,
// "NaN" and "Inf", several marks ("1,000,000", "1.000,5") and, as ambiguous,
// "1,000"-style input: a comma followed by exactly three digits after a short
// non-zero integer part is a decimal comma in Russian and a thousands separator in
// English, and saving the wrong one silently is worse than asking again.
// "1 000,5", "0,125" and "1000,500" are unambiguous and accepted.
func parseNumber(s string) (string, bool) {
	var n numberScan
	i := n.sign(s)
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if !n.add(r) {
			return "", false
		}
	}
	if !n.complete() {
		return "", false
	}
	num := s
	if b := n.buf[:n.len]; string(b) != s { // compared without allocating; most answers need no rewriting
		num = string(b)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", false
	}
	if f == 0 {
		f = 0 // "-0" is saved as "0"
	}
	return strconv.FormatFloat(f, 'f', -1, 64), true
}

// numberScan reads a number answer rune by rune into buf, in the form
// strconv.ParseFloat reads: the sign, the digits, "." as the decimal mark.
type numberScan struct {
	buf        [maxNumberBytes + 2]byte
	len        int  // bytes of buf written
	intDigits  int  // digits before the decimal mark
	group      int  // digits in the current space-separated group
	grouped    bool // the integer part uses spaces
	leadZero   bool // the integer part starts with "0"
	mark       byte // ',' or '.', 0 if none
	fracDigits int
}

// sign reads an optional "-", "−" or "+" and returns where the digits start.
func (n *numberScan) sign(s string) int {
	switch {
	case strings.HasPrefix(s, "-"):
		n.put('-')
		return 1
	case strings.HasPrefix(s, "−"):
		n.put('-')
		return len("−")
	case strings.HasPrefix(s, "+"):
		return 1
	}
	return 0
}

// add reads one rune after the sign; false rejects the answer.
func (n *numberScan) add(r rune) bool {
	switch {
	case r >= '0' && r <= '9':
		return n.digit(byte(r))
	case n.mark == 0 && unicode.IsSpace(r):
		// A space ends a group: the first may have 1–3 digits, later ones 3.
		if n.group == 0 || n.group > 3 || n.grouped && n.group != 3 {
			return false
		}
		n.grouped, n.group = true, 0
		return true
	case n.mark == 0 && (r == ',' || r == '.'):
		if n.grouped && n.group != 3 {
			return false
		}
		n.mark = byte(r)
		n.put('.')
		return true
	}
	return false
}

func (n *numberScan) put(c byte) {
	n.buf[n.len] = c
	n.len++
}

func (n *numberScan) digit(c byte) bool {
	if n.len >= maxNumberBytes {
		return false
	}
	n.put(c)
	if n.mark != 0 {
		n.fracDigits++
		return true
	}
	if n.intDigits == 0 && c == '0' {
		n.leadZero = true
	}
	n.intDigits++
	n.group++
	return true
}

// complete reports whether what was read is a whole, unambiguous number.
func (n *numberScan) complete() bool {
	if n.intDigits+n.fracDigits == 0 || n.grouped && n.group != 3 && n.mark == 0 {
		return false
	}
	// "1,000": thousands or a decimal? See parseNumber.
	return !(n.mark == ',' && n.fracDigits == 3 && !n.grouped && n.intDigits <= 3 && !n.leadZero)
}
