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
	"strings"

	"github.com/olbot/olbot/match"
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
	File   = "file"   // a message with a file; the engine saves its name, id and link
	Rating = "rating" // 1–5 as digits, stars, "5/5" or words, saved as the digit
)

// kinds is in the spec's order, which is also the order shown to authors.
var kinds = [...]string{Text, Name, Email, Phone, Number, YesNo, Choice, File, Rating}

// Known reports whether kind is an answer type the engine understands.
func Known(kind string) bool {
	switch kind {
	case Text, Name, Email, Phone, Number, YesNo, Choice, File, Rating:
		return true
	}
	return false
}

// Kinds lists the answer types, for "did you mean" hints and documentation.
// The caller may modify the returned slice.
func Kinds() []string {
	return append([]string(nil), kinds[:]...)
}

// Parse checks a client's answer against an answer type and returns the value to
// save. The answer is trimmed first. For an unknown kind, for "choice" (the engine
// matches options like menu items, because they are shown as buttons), for "file"
// (a text is never a file: the engine takes the file of a file message), and for an
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
	case Rating:
		return parseRating(s)
	}
	return "", false
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
