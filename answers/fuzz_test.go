package answers

import (
	"strconv"
	"testing"
	"unicode/utf8"
)

// To fuzz (FuzzParse and FuzzCheckTag are in answers_test.go):
//
//	go test -run='^$' -fuzz='^FuzzValidate$' -fuzztime=60s ./answers/

// validateTags are rules an author may write; each is used with the kinds
// CheckTag accepts it for.
var validateTags = []string{
	"min=2,max=40", "max=3", "gte=18,lte=120", "gt=0", "oneof=yes no", "oneof=Moscow Kazan",
	"email", "alpha", "alphaunicode", "numeric", "startswith=+7", "excludesall=[]{}",
	"min=2|eq=x", "olbot_name", "len=12", "e164", "lowercase", "ascii",
}

// FuzzValidate runs a client's answer through Parse and then every
// validate rule, as the engine does: no panic may escape the validator
// (Validate must not need its recover for a rule CheckTag accepted), the
// empty rule accepts everything, and the length and range rules mean what
// they say.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"Анна", "41", "17", "3,5", "1 000", "+7 999 123 45 67", "a@b.co", "да", "x", "", "\xff", "NaN", "1e400", "[]{}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, kind := range Kinds() {
			v, ok := Parse(kind, text)
			for _, tag := range validateTags {
				if CheckTag(kind, tag) != nil {
					continue
				}
				// the raw text too: Validate must cope with whatever it is given
				for _, value := range []string{v, text} {
					got := validateNoPanic(t, kind, tag, value)
					if again := Validate(kind, tag, value); again != got {
						t.Fatalf("Validate(%q, %q, %q) gave %v, then %v", kind, tag, value, got, again)
					}
				}
			}
			if !ok {
				continue
			}
			if !Validate(kind, "", v) {
				t.Fatalf("Validate(%q, \"\", %q) refused a value without a rule", kind, v)
			}
			if kind != Number && CheckTag(kind, "min=2,max=40") == nil {
				n := utf8.RuneCountInString(v)
				if got, want := Validate(kind, "min=2,max=40", v), n >= 2 && n <= 40; got != want {
					t.Fatalf("Validate(%q, min=2,max=40, %q) (%d runes) = %v, want %v", kind, v, n, got, want)
				}
			}
			if kind == Number {
				x, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("number %q does not parse: %v", v, err)
				}
				if got, want := Validate(kind, "gte=18,lte=120", v), x >= 18 && x <= 120; got != want {
					t.Fatalf("Validate(number, gte=18,lte=120, %q) = %v, want %v", v, got, want)
				}
			}
			if kind == YesNo && !Validate(kind, "oneof=yes no", v) {
				t.Fatalf("yes/no answer %q is not yes or no", v)
			}
		}
	})
}

// validateNoPanic is Validate without its safety net.
func validateNoPanic(t *testing.T, kind, tag, value string) bool {
	t.Helper()
	var v any = value
	if kind == Number {
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return false
		}
		v = f
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("validate %q on %s %q panicked: %v", tag, kind, value, r)
		}
	}()
	return validate.Var(v, tag) == nil
}
