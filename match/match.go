// Package match decides whether a client's message matches the words a scenario
// author wrote in `match:` lists, menu items and commands.
//
// Scenario authors are support managers, so matching forgives what people do when
// typing into a chat: case, punctuation, extra spaces, "ё" written as "е". Both sides
// are reduced by the same Clean function and compared word by word, never by
// substring, so "operator" does not fire inside "cooperator". A trailing "*" on a
// pattern word accepts any ending, which Russian needs for its cases
// ("врач*" matches "врача", "врачу").
//
// Everything here runs on every dialog step, so the code avoids regular expressions
// and keeps allocations to at most one string and one slice per message.
package match

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean reduces s to the form both patterns and messages are compared in:
// lower case (any script), "ё" folded to "е", every run of runes that are not letters
// or digits (punctuation, symbols, emoji, any whitespace including NBSP) replaced by
// one ASCII space, and no leading or trailing space.
//
// Invisible format characters (zero-width space, soft hyphen, joiners) are dropped
// without splitting the word, because the client does not see them either.
// Combining marks stay with the letter before them; the decomposed spellings of
// "й" and "ё" are composed first so they compare equal to the usual ones.
//
// A string that is already clean is returned as is, without allocating.
func Clean(s string) string {
	return clean(s, false)
}

// clean is Clean that optionally keeps '*' as a word character, which only pattern
// compilation needs: in a client's message "*" is just punctuation.
func clean(s string, keepStar bool) string {
	if isClean(s, keepStar) {
		return s
	}
	var w cleaner
	w.b.Grow(len(s)) // lower-casing rarely changes the byte length, so one allocation is typical
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			if lc, ok := asciiWordByte(c, keepStar); ok {
				w.writeByte(lc)
			} else {
				w.separate()
			}
			continue
		}
		// Russian letters are two bytes starting 0xD0/0xD1 and are most of the
		// traffic: lower-case and fold them on bytes, without decoding.
		if b1, b2, ok := russianPair(s, i); ok {
			i += 2
			w.writePair(b1, b2)
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch r, kind := foldRune(r, w.inWord); kind {
		case runeSkip:
		case runeSeparator:
			w.separate()
		default:
			r, n = compose(s[i:], r)
			i += n
			w.writeRune(r)
		}
	}
	return w.b.String()
}

// cleaner writes the cleaned string: word runes as they come, and one space
// for every run of separators between words.
type cleaner struct {
	b      strings.Builder
	sep    bool // a separator was seen since the last written rune
	inWord bool // the last rune read was written (combining marks may follow)
}

func (w *cleaner) separate() { w.sep, w.inWord = true, false }

// space writes the pending separator before a word rune.
func (w *cleaner) space() {
	if w.sep && w.b.Len() > 0 {
		w.b.WriteByte(' ')
	}
	w.sep, w.inWord = false, true
}

func (w *cleaner) writeByte(c byte) {
	w.space()
	w.b.WriteByte(c)
}

func (w *cleaner) writePair(b1, b2 byte) {
	w.space()
	w.b.WriteByte(b1)
	w.b.WriteByte(b2)
}

func (w *cleaner) writeRune(r rune) {
	w.space()
	w.b.WriteRune(r)
}

// asciiWordByte returns c lower-cased when it belongs to a word: a letter, a
// digit, or '*' when keepStar.
func asciiWordByte(c byte, keepStar bool) (byte, bool) {
	switch {
	case 'a' <= c && c <= 'z', '0' <= c && c <= '9', keepStar && c == '*':
		return c, true
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A', true
	}
	return 0, false
}

// russianPair lower-cases and folds the two-byte Russian letter at s[i] on
// bytes: А-Я to а-я, Ё and ё to е. ok is false for anything else, and for a
// letter a 0xCC byte follows (it may be a combining mark: the full path
// handles it).
func russianPair(s string, i int) (b1, b2 byte, ok bool) {
	c := s[i]
	if c != 0xD0 && c != 0xD1 || i+1 >= len(s) || i+2 < len(s) && s[i+2] == 0xCC {
		return 0, 0, false
	}
	b1, b2 = c, s[i+1]
	switch {
	case c == 0xD0 && b2 >= 0x90 && b2 <= 0x9F: // А-П → а-п
		b2 += 0x20
	case c == 0xD0 && b2 >= 0xA0 && b2 <= 0xAF: // Р-Я → р-я
		b1, b2 = 0xD1, b2-0x20
	case c == 0xD0 && b2 >= 0xB0 && b2 <= 0xBF, c == 0xD1 && b2 >= 0x80 && b2 <= 0x8F: // а-я
	case c == 0xD0 && b2 == 0x81, c == 0xD1 && b2 == 0x91: // Ё, ё → е
		b1, b2 = 0xD0, 0xB5
	default:
		return 0, 0, false
	}
	return b1, b2, true
}

// What foldRune says to do with a rune.
const (
	runeWrite     = iota // a word rune: write it
	runeSkip             // an invisible format character: drop it, without splitting the word
	runeSeparator        // punctuation, symbols, spaces: end the word
)

// foldRune lower-cases and folds a decoded rune and says what to do with it.
func foldRune(r rune, inWord bool) (rune, int) {
	switch {
	case r >= 'А' && r <= 'я': // the Cyrillic alphabet, checked first because it is most of the traffic
		if r <= 'Я' {
			r += 'а' - 'А'
		}
	case r == 'ё' || r == 'Ё':
		r = 'е'
	case unicode.IsLetter(r) || unicode.IsDigit(r):
		r = unicode.ToLower(r)
		if r == 'ё' {
			r = 'е'
		}
	case unicode.Is(unicode.Cf, r):
		return r, runeSkip
	case inWord && unicode.Is(unicode.Mn, r):
		// A combining mark belongs to the letter before it.
	default:
		return r, runeSeparator
	}
	return r, runeWrite
}

// compose joins the decomposed "й" (и + U+0306) and "ё" (е + U+0308), which
// arrive from some keyboards, into the usual spelling; rest is what follows
// r. It returns the rune to write and how many bytes of rest it took.
func compose(rest string, r rune) (rune, int) {
	switch {
	case r == 'и' && strings.HasPrefix(rest, "\u0306"):
		return 'й', len("\u0306")
	case r == 'е' && strings.HasPrefix(rest, "\u0308"):
		return 'е', len("\u0308")
	}
	return r, 0
}

// isClean reports whether clean would return s unchanged. Only ASCII is checked:
// that covers commands, numbers and already-cleaned text, and anything else takes
// the full path.
func isClean(s string, keepStar bool) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	prevSpace := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', keepStar && c == '*':
			prevSpace = false
		case c == ' ' && !prevSpace:
			prevSpace = true
		default:
			return false
		}
	}
	return true
}

// Input is a client's message prepared once per step for matching against many
// patterns. Build it with NewInput; Words must be the words of Clean.
type Input struct {
	Raw   string   // the message as received
	Clean string   // Clean(Raw)
	Words []string // Clean split at its spaces; substrings of Clean, nil when Clean is empty
	shape []shape  // the shape of each word, for fuzzy matching; set by Forgiving
}

// NewInput cleans s and splits it into words. It allocates at most the cleaned
// string and the word slice, so it can run on every message.
func NewInput(s string) Input {
	c := Clean(s)
	in := Input{Raw: s, Clean: c}
	if c == "" {
		return in
	}
	in.Words = make([]string, 0, strings.Count(c, " ")+1)
	for {
		w, rest, found := strings.Cut(c, " ")
		in.Words = append(in.Words, w)
		if !found {
			break
		}
		c = rest
	}
	return in
}

// Number reports whether the message is a number as a menu reads it: its
// cleaned form is one run of ASCII digits ("3", "3.", "#3", "(3)"). A minus
// sign ("-" or "−") written right before the digits makes it negative
// ("-3", "−3"), so that it can never be taken for the choice "3". Values
// beyond the int range are clamped to it.
func (in Input) Number() (n int, ok bool) {
	c := in.Clean
	if c == "" {
		return 0, false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(c)
	if err != nil {
		n = math.MaxInt // digits only, so the error is a range error
	}
	before := in.Raw[:strings.IndexAny(in.Raw, "0123456789")]
	if strings.HasSuffix(before, "-") || strings.HasSuffix(before, "−") {
		n = -n
	}
	return n, true
}

// Errors returned by Compile, wrapped in an *EntryError; test with errors.Is.
var (
	// ErrEmpty means the entry has nothing to match once punctuation is removed
	// (for example "!!!", an emoji or a lone "*").
	ErrEmpty = errors.New("no letters or digits to match")
	// ErrStar means a "*" is somewhere other than at the end of a word.
	ErrStar = errors.New(`"*" works only at the end of a word, as in "врач*"`)
)

// EntryError explains why one match entry cannot be compiled.
// Its message names the entry but not its index: the caller knows where the entry
// sits in the file and adds the position itself.
type EntryError struct {
	Index int    // position of the entry in the list given to CompileAll; 0 from Compile
	Entry string // the entry as written
	Err   error  // ErrEmpty or ErrStar
}

// Error reads like `match entry "!!!": no letters or digits to match`.
func (e *EntryError) Error() string {
	return "match entry " + strconv.Quote(e.Entry) + ": " + e.Err.Error()
}

// Unwrap returns the sentinel error, so errors.Is(err, ErrEmpty) works.
func (e *EntryError) Unwrap() error { return e.Err }

// term is one word of a pattern.
type term struct {
	word   string
	prefix bool // the entry wrote "word*": any ending, including none
	shape       // of word, for forgiving matching
}

func (t term) matches(w string) bool {
	if t.prefix {
		return strings.HasPrefix(w, t.word)
	}
	return w == t.word
}

// Pattern is one compiled match entry: one word or a phrase of consecutive words.
// The zero Pattern matches nothing.
type Pattern struct {
	entry string
	terms []term
}

// Compile prepares one match entry. The entry is cleaned like a message, except
// that a "*" at the end of a word is kept and means "any ending". It fails, with a
// plain-language *EntryError, when nothing is left to match or when a "*" is not at
// the end of a word ("*", "вр*ч", "*врач", "живой * человек").
func Compile(entry string) (Pattern, error) {
	c := clean(entry, true)
	if strings.Trim(c, "* ") == "" {
		return Pattern{}, &EntryError{Entry: entry, Err: ErrEmpty}
	}
	p := Pattern{entry: entry, terms: make([]term, 0, strings.Count(c, " ")+1)}
	for c != "" {
		w, rest, _ := strings.Cut(c, " ")
		c = rest
		t := term{word: strings.TrimRight(w, "*")}
		t.prefix = len(t.word) < len(w)
		t.shape = shapeOf(t.word)
		if t.word == "" || strings.Contains(t.word, "*") {
			return Pattern{}, &EntryError{Entry: entry, Err: ErrStar}
		}
		p.terms = append(p.terms, t)
	}
	return p, nil
}

// MustCompile is Compile for entries known to be valid, such as literals in tests.
// It panics on error.
func MustCompile(entry string) Pattern {
	p, err := Compile(entry)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the entry as it was written.
func (p Pattern) String() string { return p.entry }

// Match reports whether the pattern's words occur in the input as whole,
// consecutive words, anywhere in the message: "operator" matches
// "I need an operator, please" but not "cooperator".
func (p Pattern) Match(in Input) bool {
	n := len(p.terms)
	if n == 0 {
		return false
	}
	first := p.terms[0]
	for i := 0; i+n <= len(in.Words); i++ {
		if first.matches(in.Words[i]) && p.matchAt(in.Words[i+1:i+n]) {
			return true
		}
	}
	return false
}

// Equal reports whether the whole message is the pattern, as for a menu item whose
// text the client typed. A trailing "*" still accepts any ending.
func (p Pattern) Equal(in Input) bool {
	return len(p.terms) > 0 && len(in.Words) == len(p.terms) && p.terms[0].matches(in.Words[0]) &&
		p.matchAt(in.Words[1:])
}

// matchAt compares the pattern's terms after the first with words, which has
// exactly that many elements.
func (p Pattern) matchAt(words []string) bool {
	for j, w := range words {
		if !p.terms[j+1].matches(w) {
			return false
		}
	}
	return true
}

// Set is the compiled form of one `match:` list; it matches when any of its
// patterns does.
type Set []Pattern

// Match reports whether any pattern of the set matches the input.
func (s Set) Match(in Input) bool {
	for _, p := range s {
		if p.Match(in) {
			return true
		}
	}
	return false
}

// CompileAll compiles every entry of a `match:` list and reports every bad entry,
// not only the first, as an *EntryError carrying the entry's index. The Set holds
// only the entries that compiled, so one typo does not disable the whole list.
func CompileAll(entries []string) (Set, []error) {
	set := make(Set, 0, len(entries))
	var errs []error
	for i, e := range entries {
		p, err := Compile(e)
		if err != nil {
			ee := err.(*EntryError)
			ee.Index = i
			errs = append(errs, ee)
			continue
		}
		set = append(set, p)
	}
	return set, errs
}
