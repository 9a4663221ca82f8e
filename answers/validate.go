package answers

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"

	"github.com/olbot/olbot/typo"
)

// nameTag is the validator tag behind `type: name`. It is registered on the shared
// validator, so authors can also use it in `validate:` on a text answer.
const nameTag = "olbot_name"

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
