package answers

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/olbot/olbot/match"
)

// ratingWords are the words that are a rating on their own, cleaned as
// matching cleans a message (lower case, no punctuation). The spec names
// "отлично"/"great" for 5 and "ужасно"/"terrible" for 1; the grades between
// follow the school marks a Russian speaker gives (хорошо 4, нормально 3,
// плохо 2).
var ratingWords = map[string]int{
	"отлично": 5, "великолепно": 5, "превосходно": 5, "супер": 5, "прекрасно": 5,
	"great": 5, "excellent": 5, "perfect": 5, "awesome": 5, "amazing": 5,
	"хорошо": 4, "good": 4,
	"нормально": 3, "средне": 3, "так себе": 3, "average": 3, "okay": 3, "so so": 3,
	"плохо": 2, "bad": 2, "poor": 2,
	"ужасно": 1, "отвратительно": 1, "кошмар": 1, "terrible": 1, "awful": 1, "horrible": 1,
}

// ratingUnits are the words that may follow a digit: "4 stars", "5 из 5".
var ratingUnits = map[string]bool{
	"star": true, "stars": true, "звезда": true, "звезды": true, "звезд": true, "звёзды": true, "звёзд": true,
	"балл": true, "балла": true, "баллов": true, "points": true, "point": true,
}

// parseRating reads a rating from 1 to 5: a digit ("4", "4!"), a digit out
// of five ("4/5", "4 из 5", "4 of 5", "4 out of 5", "4 stars"), stars
// ("★★★★", "⭐⭐⭐⭐", "****", empty stars ☆ not counted) or a word
// ("отлично", "great" for 5, "ужасно", "terrible" for 1). It is saved as
// the digit. "0" is not a rating: Bitrix24 itself reads it as "call an
// operator" before olbot sees it (see the engine).
func parseRating(s string) (string, bool) {
	if n, ok := ratingStars(s); ok {
		return strconv.Itoa(n), true
	}
	if fraction(s) {
		return "", false // "4.5", "-3": cleaning would read them as "4 5", "3"
	}
	c := match.Clean(s)
	if n, ok := ratingWords[c]; ok {
		return strconv.Itoa(n), true
	}
	// "4/5" cleans to "4 5"; "4 из 5", "4 of 5", "4 out of 5", "4 stars"
	words := strings.Fields(c)
	if len(words) == 0 {
		return "", false
	}
	n, err := strconv.Atoi(words[0])
	if err != nil || n < 1 || n > 5 || len(words[0]) != 1 {
		return "", false
	}
	rest := words[1:]
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == "5" || ratingUnits[rest[0]]):
	case len(rest) == 2 && (rest[0] == "из" || rest[0] == "of") && rest[1] == "5":
	case len(rest) == 3 && rest[0] == "out" && rest[1] == "of" && rest[2] == "5":
	default:
		return "", false
	}
	return strconv.Itoa(n), true
}

// ratingStars counts the filled stars of a message made only of stars
// and spaces: ★ (U+2605), ⭐ (U+2B50, with or without its variation
// selector) or *; ☆ (U+2606) counts as an empty star.
func ratingStars(s string) (int, bool) {
	n, any := 0, false
	for _, r := range s {
		switch {
		case r == '★' || r == '⭐' || r == '*':
			n++
			any = true
		case r == '☆':
			any = true
		case r == '\uFE0F' || unicode.IsSpace(r):
		default:
			return 0, false
		}
	}
	return n, any && n >= 1 && n <= 5
}

// fraction reports a number with a sign or a decimal part: "-3", "4.5", "4,5".
func fraction(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		digitNext := s[i+1] >= '0' && s[i+1] <= '9'
		switch {
		case s[i] == '-' && digitNext:
			return true
		case (s[i] == '.' || s[i] == ',') && digitNext && i > 0 && s[i-1] >= '0' && s[i-1] <= '9':
			return true
		}
	}
	return false
}
