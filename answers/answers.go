// Package answers turns a client's reply to an `ask` into the value a scenario
// saves, per the answer types (`type:`) of the scenario language, and applies the
// author's extra `validate:` rules.
//
// Checks go through one shared go-playground validator, so a `validate:` tag
// behaves exactly as that library documents and the built-in types (the `email`
// tag, the olbot_name tag registered here) use the same machinery. The validator
// is safe for concurrent use and caches each tag after its first use; nothing else
// here keeps state.
//
// Parsing runs on every answer, so the hand-written types (name, phone, number,
// yesno) use plain loops instead of regular expressions.
package answers

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"

	"github.com/olbot/olbot/match"
	"github.com/olbot/olbot/typo"
)

// The answer kinds a scenario can name in `type:`.
const (
	Text   = "text"   // any non-empty text, saved as typed
	Name   = "name"   // a person's name, saved title-cased
	Email  = "email"  // an email address, saved with the domain lower-cased
	Phone  = "phone"  // 7–15 digits, saved as "+" and the digits
	Number = "number" // a number, saved in Go's shortest form ("3.5", "1000")
	YesNo  = "yesno"  // yes or no in English or Russian, saved as "yes" or "no"
	Choice = "choice" // one of the state's options; matched by the engine like a menu
)

// kinds is in the spec's order, which is also the order shown to authors.
var kinds = [...]string{Text, Name, Email, Phone, Number, YesNo, Choice}

// Known reports whether kind is an answer type the engine understands.
func Known(kind string) bool {
	switch kind {
	case Text, Name, Email, Phone, Number, YesNo, Choice:
		return true
	}
	return false
}

// Kinds lists the answer types, for "did you mean" hints and documentation.
// The caller may modify the returned slice.
func Kinds() []string {
	return append([]string(nil), kinds[:]...)
}

// nameTag is the validator tag behind `type: name`. It is registered on the shared
// validator, so authors can also use it in `validate:` on a text answer.
const nameTag = "olbot_name"

// maxNameRunes bounds a name; a longer answer is more likely a sentence.
const maxNameRunes = 64

// validate is the one validator for the process: building one per call would
// rebuild its maps and lose its tag cache.
var validate = newValidator()

func newValidator() *validator.Validate {
	v := validator.New()
	err := v.RegisterValidation(nameTag, func(fl validator.FieldLevel) bool {
		f := fl.Field()
		return f.Kind() == reflect.String && isName(f.String())
	})
	if err != nil {
		panic(err) // only a bad tag name can fail, and the name is a constant
	}
	return v
}

// Parse checks a client's answer against an answer type and returns the value to
// save. The answer is trimmed first. For an unknown kind, for "choice" (the engine
// matches options like menu items, because they are shown as buttons), and for an
// answer the type rejects, Parse returns "", false.
func Parse(kind, text string) (value string, ok bool) {
	s := strings.TrimSpace(text)
	if s == "" {
		return "", false
	}
	switch kind {
	case Text:
		return s, true
	case Name:
		return parseName(s)
	case Email:
		return parseEmail(s)
	case Phone:
		return parsePhone(s)
	case Number:
		return parseNumber(s)
	case YesNo:
		return parseYesNo(s)
	}
	return "", false
}

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

// maxNumberBytes bounds the digits of a number answer; longer input is not a
// number anyone types, and the bound keeps parsing on the stack.
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
	var buf [maxNumberBytes + 2]byte
	b := buf[:0]
	i := 0
	switch {
	case strings.HasPrefix(s, "-"):
		b = append(b, '-')
		i = 1
	case strings.HasPrefix(s, "−"):
		b = append(b, '-')
		i = len("−")
	case strings.HasPrefix(s, "+"):
		i = 1
	}
	var (
		intDigits  int  // digits before the decimal mark
		group      int  // digits in the current space-separated group
		grouped    bool // the integer part uses spaces
		leadZero   bool // the integer part starts with "0"
		mark       byte // ',' or '.', 0 if none
		fracDigits int
	)
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r >= '0' && r <= '9':
			if len(b) == maxNumberBytes {
				return "", false
			}
			b = append(b, byte(r))
			if mark != 0 {
				fracDigits++
				continue
			}
			if intDigits == 0 && r == '0' {
				leadZero = true
			}
			intDigits++
			group++
		case mark == 0 && unicode.IsSpace(r):
			// A space ends a group: the first may have 1–3 digits, later ones 3.
			if group == 0 || group > 3 || grouped && group != 3 {
				return "", false
			}
			grouped = true
			group = 0
		case mark == 0 && (r == ',' || r == '.'):
			if grouped && group != 3 {
				return "", false
			}
			mark = byte(r)
			b = append(b, '.')
		default:
			return "", false
		}
	}
	if intDigits+fracDigits == 0 || grouped && group != 3 && mark == 0 {
		return "", false
	}
	if mark == ',' && fracDigits == 3 && !grouped && intDigits <= 3 && !leadZero {
		return "", false // "1,000": thousands or a decimal? See above.
	}
	num := s
	if string(b) != s { // compared without allocating; most answers need no rewriting
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

// parseYesNo accepts a message whose every word is a yes word, or every word a no
// word, after the same cleaning as matching ("Да!", "ok, sure", "нет-нет").
// A message mixing in other words ("нет, позовите оператора") is not an answer, so
// that the engine can still try the global commands on it.
func parseYesNo(s string) (string, bool) { return yesNo(s, false) }

// ParseYesNoFuzzy is the yesno answer allowing one typo in a yes or no
// word of match.MinFuzzy letters or more ("конечо"), for settings.fuzzy.
func ParseYesNoFuzzy(s string) (string, bool) { return yesNo(s, true) }

var (
	yesWords = []string{"yes", "y", "yeah", "yep", "sure", "ok", "okay", "да", "ага", "конечно", "угу", "д",
		"ок", "окей"} // "ok" typed without switching the keyboard to Latin
	noWords = []string{"no", "n", "nope", "нет", "неа", "не"}
)

// yesNoWord is "yes", "no" or "" for one clean word.
func yesNoWord(w string, fuzzy bool) string {
	near := func(words []string) bool {
		for _, x := range words {
			if w == x || fuzzy && match.Near(w, x) {
				return true
			}
		}
		return false
	}
	yes, no := near(yesWords), near(noWords)
	switch {
	case yes && !no:
		return "yes"
	case no && !yes:
		return "no"
	}
	return ""
}

func yesNo(s string, fuzzy bool) (string, bool) {
	c := match.Clean(s)
	if c == "" {
		return "", false
	}
	var answer string
	for c != "" {
		w, rest, _ := strings.Cut(c, " ")
		c = rest
		a := yesNoWord(w, fuzzy)
		if a == "" {
			return "", false
		}
		if answer != "" && a != answer {
			return "", false
		}
		answer = a
	}
	return answer, true
}

// Validate applies an author's `validate:` tag to a value that Parse returned for
// kind: as a float64 for "number" (so gte=18 compares the number), otherwise as a
// string (so min and max count characters). An empty tag accepts everything.
//
// Validate trusts the tag: run CheckTag on it when the scenario loads, which also
// refuses rules that would touch the server's files or network. Should a tag still
// make the validator panic, or a "number" value not parse, the answer is reported
// as not valid; Validate never panics.
func Validate(kind, tag, value string) (ok bool) {
	if tag == "" {
		return true
	}
	var v any = value
	if kind == Number {
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return false
		}
		v = f
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return validate.Var(v, tag) == nil
}

// CheckTag reports whether a `validate:` tag can be used with an answer kind, so
// that a bad tag is a load-time error instead of a panic inside the validator at
// run time. Each rule is tried on a sample value of the Go type Validate will use,
// and the error says which rule is wrong in words an author understands:
//
//	unknown validation rule "mni" (did you mean "min"?)
//
// Rules that compare with other struct fields, and rules that read the server's
// files or resolve network addresses, are refused: a client's answer must not make
// the server touch either. For "number" only numeric comparisons are allowed,
// because the validator's text rules would read a float64 as "<float64 Value>".
// The kind only selects the sample; an unknown kind is checked as text, since the
// caller reports unknown kinds itself.
func CheckTag(kind, tag string) error {
	if strings.TrimSpace(tag) == "" {
		return errors.New("validation rule is empty; write rules such as \"min=2,max=40\"")
	}
	for group := range strings.SplitSeq(tag, ",") {
		for rule := range strings.SplitSeq(group, "|") {
			if err := checkRule(kind, rule); err != nil {
				return err
			}
		}
	}
	// The rules were fine alone; the whole tag is tried too because rules can
	// interact (an alias, "dive"/"keys").
	return try(kind, tag, tag)
}

// checkRule checks one rule, "name" or "name=param", of a tag.
func checkRule(kind, rule string) error {
	name, _, _ := strings.Cut(rule, "=")
	switch {
	case rule == "":
		return errors.New(`validation rule is empty: remove the extra "," or "|"`)
	case name == "":
		return fmt.Errorf(`validation rule %q has no name before "="`, rule)
	case strings.TrimSpace(rule) != rule || strings.TrimSpace(name) != name:
		return fmt.Errorf(`validation rule %q has spaces around it; write rules without them, as in "min=2,max=40"`, rule)
	case comparesFields(name):
		return fmt.Errorf("validation rule %q compares with another field; olbot checks one answer at a time", name)
	case touchesServer(name):
		return fmt.Errorf("validation rule %q would make the server look at its files or the network, which is not allowed", name)
	case structural(name):
		return fmt.Errorf("validation rule %q is for lists and structs; an answer is a single value", name)
	case needsParam(name) && !strings.Contains(rule, "="):
		return fmt.Errorf(`validation rule %q needs a value after "=", as in %q`, name, name+"=…")
	}
	if kind == Number && !numberRules[name] {
		var unknown *unknownRuleError
		if err := try(kind, rule, name); errors.As(err, &unknown) {
			return err
		}
		return fmt.Errorf("validation rule %q works on text, not on numbers; for a number use %s", name, numberRuleList)
	}
	return try(kind, rule, name)
}

// unknownRuleError is a rule name the validator does not define.
type unknownRuleError struct{ name, hint string }

func (e *unknownRuleError) Error() string {
	return fmt.Sprintf("unknown validation rule %q (%s)", e.name, e.hint)
}

// try runs tag on a sample of the kind's Go type and turns a validator panic into
// an error about rule (the rule's name is name).
func try(kind, tag, name string) (err error) {
	var sample any = "sample"
	if kind == Number {
		sample = 1.5
	}
	defer func() {
		if r := recover(); r != nil {
			err = panicError(kind, tag, name, fmt.Sprint(r))
		}
	}()
	_ = validate.Var(sample, tag) // only panics matter: the sample need not pass
	return nil
}

// panicError explains a validator panic in an author's words.
func panicError(kind, tag, name, msg string) error {
	const undefined = "Undefined validation function '"
	if rest, ok := strings.CutPrefix(msg, undefined); ok {
		bad, _, _ := strings.Cut(rest, "'")
		if bad == "omitempty" || bad == "omitzero" {
			// The validator knows these only outside "|" and calls them undefined there.
			return fmt.Errorf(`validation rule %q cannot be one of the choices of "|"; put it first: "%s,..."`, bad, bad)
		}
		return &unknownRuleError{name: bad, hint: hint(kind, bad)}
	}
	if strings.HasPrefix(msg, "strconv.") {
		if !strings.Contains(tag, "=") {
			return fmt.Errorf(`validation rule %q needs a value, as in "%s=2"`, tag, name)
		}
		what := "a whole number"
		if kind == Number {
			what = "a number"
		}
		return fmt.Errorf(`validation rule %q needs %s after "="`, tag, what)
	}
	what := "text"
	if kind == Number {
		what = "numbers"
	}
	return fmt.Errorf("validation rule %q cannot be used on %s: %s", tag, what, msg)
}

// comparesFields reports the validator rules that need a surrounding struct.
func comparesFields(name string) bool {
	return strings.HasSuffix(name, "field") || strings.HasPrefix(name, "field") ||
		strings.HasPrefix(name, "required_") || strings.HasPrefix(name, "excluded_") ||
		name == "skip_unless"
}

// touchesServer reports the validator rules that stat or open files or resolve
// addresses: fed with a client's answer they would probe the server.
func touchesServer(name string) bool {
	switch name {
	case "file", "filepath", "dir", "dirpath", "image", "uds_exists",
		"tcp_addr", "tcp4_addr", "tcp6_addr", "udp_addr", "udp4_addr", "udp6_addr",
		"ip_addr", "ip4_addr", "ip6_addr", "unix_addr", "validateFn":
		return true
	}
	return false
}

// structural reports the validator rules about containers and struct traversal,
// which mean nothing, or panic, on one value.
func structural(name string) bool {
	switch name {
	case "dive", "keys", "endkeys", "structonly", "nostructlevel", "omitnil", "unique":
		return true
	}
	return false
}

// needsParam reports the rules that compare with their parameter as a string;
// without one they silently reject (or accept) every answer instead of panicking.
func needsParam(name string) bool {
	switch name {
	case "eq", "ne", "oneof", "oneofci", "noneof", "noneofci", "eq_ignore_case", "ne_ignore_case",
		"startswith", "endswith", "startsnotwith", "endsnotwith",
		"contains", "containsany", "containsrune", "excludes", "excludesall", "excludesrune", "datetime":
		return true
	}
	return false
}

// numberRules are the rules that compare a float64 meaningfully.
var numberRules = map[string]bool{
	"min": true, "max": true, "gt": true, "gte": true, "lt": true, "lte": true,
	"eq": true, "ne": true, "required": true, "omitempty": true,
}

const numberRuleList = "min, max, gt, gte, lt, lte, eq or ne"

// textRules are the validator rules most useful on one string; they are the
// candidates for "did you mean". A test checks that each one exists.
var textRules = []string{
	"min", "max", "len", "eq", "ne", "gt", "gte", "lt", "lte",
	"oneof", "oneofci", "noneof", "eq_ignore_case", "ne_ignore_case",
	"startswith", "endswith", "startsnotwith", "endsnotwith",
	"contains", "containsany", "containsrune", "excludes", "excludesall", "excludesrune",
	"alpha", "alphaspace", "alphanum", "alphanumspace", "alphaunicode", "alphanumunicode",
	"numeric", "number", "hexadecimal", "lowercase", "uppercase", "ascii", "printascii",
	"email", "url", "http_url", "https_url", "uri", "hostname", "fqdn", "ip", "ipv4", "ipv6",
	"e164", "uuid", "datetime", "json", "boolean", "semver", "credit_card", "luhn_checksum",
	"country_code", "iso4217", "iscolor", "required", "omitempty", nameTag,
}

// hint suggests the closest known rule, or shows what rules look like.
func hint(kind, bad string) string {
	cands := textRules
	if kind == Number {
		cands = []string{"min", "max", "gt", "gte", "lt", "lte", "eq", "ne"}
	}
	lower := strings.ToLower(bad)
	// More than two edits, or edits to half the word, is a different word, not a typo.
	best, bestDist := "", min(2, utf8.RuneCountInString(lower)/2)+1
	for _, c := range cands {
		if d := typo.Distance(lower, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if kind == Number {
		return `rules for a number look like "gte=18,lte=120"`
	}
	return `rules look like "min=2,max=40", "oneof=red green" or "startswith=+7"`
}
