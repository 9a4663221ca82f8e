package answers

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameRunes bounds a name; a longer answer is more likely a sentence.
const maxNameRunes = 64

// parseName accepts letters of any script, spaces, hyphens and apostrophes and
// title-cases each part: "анна-мария" → "Анна-Мария", "john  SMITH" → "John Smith".
func parseName(s string) (string, bool) {
	s = collapseSpaces(s)
	if validate.Var(s, nameTag) != nil {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(s))
	start := true // the next letter begins a part
	for _, r := range s {
		switch {
		case r == ' ' || r == '-':
			start = true
		case isLetter(r) && start:
			r = toTitle(r)
			start = false
		case isLetter(r):
			r = toLower(r)
		}
		b.WriteRune(r)
	}
	return b.String(), true
}

// isName reports whether s is a plausible name: 1–64 runes, at least one letter,
// nothing but letters (with their combining marks, which some scripts need),
// spaces, hyphens and apostrophes. The typographic apostrophe counts because
// phones substitute it for "'" as people type "O'Brien".
func isName(s string) bool {
	n, letters := 0, 0
	for _, r := range s {
		n++
		switch {
		case isLetter(r):
			letters++
		case r == ' ' || r == '-' || r == '\'' || r == '’' || unicode.IsMark(r):
		default:
			return false
		}
	}
	return letters > 0 && n <= maxNameRunes
}

// isLetter is unicode.IsLetter with the Latin and Russian alphabets answered
// first: the general tables are a binary search, and these are most names.
func isLetter(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		return 'a' <= r|0x20 && r|0x20 <= 'z'
	case 'А' <= r && r <= 'я', r == 'ё', r == 'Ё':
		return true
	}
	return unicode.IsLetter(r)
}

// toLower is unicode.ToLower with a fast path for the Russian alphabet.
func toLower(r rune) rune {
	switch {
	case 'А' <= r && r <= 'Я':
		return r + 'а' - 'А'
	case r == 'Ё':
		return 'ё'
	case 'а' <= r && r <= 'я', r == 'ё':
		return r
	}
	return unicode.ToLower(r)
}

// toTitle is unicode.ToTitle with a fast path for the Russian alphabet. Title
// case, not upper case, because digraphs such as "ǆ" have a distinct title form.
func toTitle(r rune) rune {
	switch {
	case 'а' <= r && r <= 'я':
		return r - ('а' - 'А')
	case r == 'ё':
		return 'Ё'
	case 'А' <= r && r <= 'Я', r == 'Ё':
		return r
	}
	return unicode.ToTitle(r)
}

// collapseSpaces turns every run of white space (including NBSP, tabs and line
// breaks) into one ASCII space. It returns s itself when there is nothing to do.
func collapseSpaces(s string) string {
	clean := true
	prev := false
	for _, r := range s {
		sp := unicode.IsSpace(r)
		if sp && (prev || r != ' ') {
			clean = false
			break
		}
		prev = sp
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prev = false
	for _, r := range s {
		if unicode.IsSpace(r) {
			if !prev {
				b.WriteByte(' ')
			}
			prev = true
			continue
		}
		prev = false
		b.WriteRune(r)
	}
	return b.String()
}
