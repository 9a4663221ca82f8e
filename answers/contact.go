package answers

import (
	"strings"
	"unicode"
)

// parseEmail uses the validator's email rule as the spec requires, then lower-cases
// the domain, which is case-insensitive; the local part may not be, so it is kept.
func parseEmail(s string) (string, bool) {
	if validate.Var(s, "email") != nil {
		return "", false
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 { // the email rule guarantees an "@"; this keeps a future change from panicking
		return "", false
	}
	domain := s[at+1:]
	if lower := strings.ToLower(domain); lower != domain {
		return s[:at+1] + lower, true
	}
	return s, true
}

// Phone numbers have 7 (short local numbers) to 15 (the E.164 maximum) digits.
const (
	minPhoneDigits = 7
	maxPhoneDigits = 15
)

// parsePhone drops the separators people type (spaces, hyphens and dashes,
// parentheses, dots), allows one leading "+", and saves "+" and the digits:
// "8 (999) 123-45-67" → "+89991234567". The digits are not reinterpreted: a
// Russian trunk "8" stays "8", because guessing the country would be wrong for
// other countries.
func parsePhone(s string) (string, bool) {
	var buf [1 + maxPhoneDigits]byte
	buf[0] = '+'
	n := 1
	plus := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			if n == len(buf) {
				return "", false
			}
			buf[n] = byte(r)
			n++
		case r == '+' && n == 1 && !plus:
			plus = true
		case r == '-' || r == '(' || r == ')' || r == '.' || unicode.IsSpace(r) || isDash(r):
		default:
			return "", false
		}
	}
	if n-1 < minPhoneDigits {
		return "", false
	}
	return string(buf[:n]), true
}

// isDash reports the Unicode dashes and minus that editors and phones substitute
// for "-".
func isDash(r rune) bool {
	return r >= '\u2010' && r <= '\u2015' || r == '\u2212'
}
