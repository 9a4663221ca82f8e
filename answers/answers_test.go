package answers

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestKinds(t *testing.T) {
	want := []string{"text", "name", "email", "phone", "number", "yesno", "choice", "file", "rating"}
	got := Kinds()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Kinds()=%q, want %q", got, want)
	}
	got[0] = "changed"
	if Kinds()[0] != "text" {
		t.Fatal("Kinds() returned shared storage")
	}
	for _, k := range want {
		if !Known(k) {
			t.Errorf("Known(%q)=false, want true", k)
		}
	}
	for _, k := range []string{"", "Text", "date", "string", "int"} {
		if Known(k) {
			t.Errorf("Known(%q)=true, want false", k)
		}
	}
}

type parseCase struct {
	name  string
	in    string
	want  string
	valid bool
}

func runParse(t *testing.T, kind string, tests []parseCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Parse(kind, tc.in)
			if ok != tc.valid || got != tc.want {
				t.Fatalf("Parse(%q, %q)=(%q, %v), want (%q, %v)", kind, tc.in, got, ok, tc.want, tc.valid)
			}
		})
	}
}

func TestParseText(t *testing.T) {
	runParse(t, Text, []parseCase{
		{"plain", "hello", "hello", true},
		{"trimmed", "  hi there \n", "hi there", true},
		{"kept as typed", "Привет, МИР!", "Привет, МИР!", true},
		{"one rune", "x", "x", true},
		{"empty", "", "", false},
		{"spaces only", " \t\n", "", false},
		{"nbsp only", "\u00a0\u2009", "", false},
	})
}

func TestParseName(t *testing.T) {
	long := strings.Repeat("я", 64)
	runParse(t, Name, []parseCase{
		{"spec example", "анна-мария", "Анна-Мария", true},
		{"brief example", "john SMITH", "John Smith", true},
		{"single", "anna", "Anna", true},
		{"repeated spaces collapse", "  john   smith ", "John Smith", true},
		{"tab and nbsp collapse", "anna\t\u00a0maria", "Anna Maria", true},
		{"apostrophe is not a part break", "o'brien", "O'brien", true},
		{"typographic apostrophe", "O’NEIL", "O’neil", true},
		{"yo kept", "ЁЖИК", "Ёжик", true},
		{"hyphen parts", "jean-luc picard", "Jean-Luc Picard", true},
		{"latin diacritics", "józef ŁUKASZ", "Józef Łukasz", true},
		{"greek", "σοφία", "Σοφία", true},
		{"cjk has no case", "李小龙", "李小龙", true},
		{"combining mark", "jose\u0301", "Jose\u0301", true},
		{"title case digraph", "ǆemal", "ǅemal", true},
		{"one letter", "я", "Я", true},
		{"64 runes", long, "Я" + long[len("я"):], true},
		{"65 runes", long + "я", "", false},
		{"digits", "anna1", "", false},
		{"punctuation", "anna!", "", false},
		{"dot", "a. smith", "", false},
		{"email is not a name", "anna@example.com", "", false},
		{"emoji", "anna 😀", "", false},
		{"hyphen only", "-", "", false},
		{"apostrophe only", "'", "", false},
		{"empty", "", "", false},
		{"spaces", "   ", "", false},
	})
}

func TestParseEmail(t *testing.T) {
	runParse(t, Email, []parseCase{
		{"plain", "anna@example.com", "anna@example.com", true},
		{"domain lower-cased, local kept", "Anna.K@Example.COM", "Anna.K@example.com", true},
		{"trimmed", "  anna@example.com ", "anna@example.com", true},
		{"spec interruption example", "anna.operator@mail.ru", "anna.operator@mail.ru", true},
		{"cyrillic", "Анна@Почта.РФ", "Анна@почта.рф", true},
		{"plus address", "anna+b24@example.com", "anna+b24@example.com", true},
		{"no tld", "anna@example", "", false},
		{"not an email", "not an email", "", false},
		{"space inside", "an na@example.com", "", false},
		{"no local part", "@example.com", "", false},
		{"no domain", "anna@", "", false},
		{"two ats", "a@b@example.com", "", false},
		{"empty", "", "", false},
	})
}

func TestParsePhone(t *testing.T) {
	runParse(t, Phone, []parseCase{
		{"brief example 8", "8 (999) 123-45-67", "+89991234567", true},
		{"brief example +7", "+7 999 123 45 67", "+79991234567", true},
		{"spec saved form", "+79991234567", "+79991234567", true},
		{"dots", "+7.999.123.45.67", "+79991234567", true},
		{"unicode dashes and nbsp", "8\u00a0999\u00a0123–45‑67", "+89991234567", true},
		{"7 digits", "123-45-67", "+1234567", true},
		{"15 digits", "+123456789012345", "+123456789012345", true},
		{"6 digits", "12-34-56", "", false},
		{"16 digits", "1234567890123456", "", false},
		{"plus only", "+", "", false},
		{"two pluses", "++79991234567", "", false},
		{"plus inside", "7+9991234567", "", false},
		{"letters", "8 999 CALL-NOW", "", false},
		{"extension words", "+7 999 123 45 67 ext 5", "", false},
		{"slash", "8/999/1234567", "", false},
		{"empty", "", "", false},
	})
}

func TestParseNumber(t *testing.T) {
	runParse(t, Number, []parseCase{
		{"integer", "41", "41", true},
		{"negative", "-3", "-3", true},
		{"decimal comma", "3,5", "3.5", true},
		{"decimal dot", "3.5", "3.5", true},
		{"thousands space", "1 000", "1000", true},
		{"thousands nbsp", "1\u00a0000", "1000", true},
		{"thousands thin space", "1\u2009000", "1000", true},
		{"thousands narrow nbsp", "12\u202f345", "12345", true},
		{"millions", "1 000 000", "1000000", true},
		{"grouped with decimal comma", "1 000,5", "1000.5", true},
		{"long integer part with comma", "1000,500", "1000.5", true},
		{"leading zero comma", "0,125", "0.125", true},
		{"plus sign", "+5", "5", true},
		{"unicode minus", "−7", "-7", true},
		{"negative zero", "-0", "0", true},
		{"leading zeros", "007", "7", true},
		{"leading mark", ".5", "0.5", true},
		{"trailing mark", "5.", "5", true},
		{"trimmed", " 42 ", "42", true},
		{"large", "123456789012345678901234567890", "123456789012345680000000000000", true},
		{"ambiguous thousands comma", "1,000", "", false},
		{"ambiguous 12,500", "12,500", "", false},
		{"several commas", "1,000,000", "", false},
		{"several dots", "1.000.000", "", false},
		{"mixed marks", "1.000,5", "", false},
		{"mixed marks english", "1,000.5", "", false},
		{"bad group", "12 34", "", false},
		{"long first group", "1234 567", "", false},
		{"double space", "1  000", "", false},
		{"space after sign", "- 3", "", false},
		{"space in fraction", "3,141 59", "", false},
		{"short group before mark", "1 00,5", "", false},
		{"word", "forty", "", false},
		{"number and words", "41 years", "", false},
		{"russian words", "сорок два", "", false},
		{"exponent", "1e5", "", false},
		{"nan", "NaN", "", false},
		{"inf", "Inf", "", false},
		{"hex", "0x10", "", false},
		{"underscore", "1_000", "", false},
		{"mark only", ".", "", false},
		{"sign only", "-", "", false},
		{"two signs", "+-3", "", false},
		{"too long", strings.Repeat("9", 65), "", false},
		{"longest", "1" + strings.Repeat("0", 63), "1" + strings.Repeat("0", 63), true},
		{"too long with sign and mark", "-" + strings.Repeat("9", 63) + ".12", "", false},
		{"empty", "", "", false},
	})
}

func TestParseYesNo(t *testing.T) {
	runParse(t, YesNo, []parseCase{
		{"brief example", "Да!", "yes", true},
		{"yes", "yes", "yes", true},
		{"upper", "YES", "yes", true},
		{"y", "y", "yes", true},
		{"yeah", "Yeah.", "yes", true},
		{"yep", "yep", "yes", true},
		{"sure", "sure", "yes", true},
		{"ok", "OK", "yes", true},
		{"okay", "okay!", "yes", true},
		{"cyrillic ok", "ок", "yes", true},
		{"aga", "Ага", "yes", true},
		{"konechno", "конечно!", "yes", true},
		{"ugu", "угу", "yes", true},
		{"d", "Д", "yes", true},
		{"two yes words", "ok, sure", "yes", true},
		{"no", "no", "no", true},
		{"n", "N", "no", true},
		{"nope", "nope", "no", true},
		{"net", "Нет.", "no", true},
		{"nea", "неа", "no", true},
		{"ne", "не", "no", true},
		{"repeated no", "нет-нет", "no", true},
		{"mixed", "да нет", "", false},
		{"other word", "maybe", "", false},
		{"no with a command", "нет, позовите оператора", "", false},
		{"yes please", "yes please", "", false},
		{"punctuation only", "!!!", "", false},
		{"empty", "", "", false},
	})
}

func TestParseChoiceAndUnknown(t *testing.T) {
	for _, tc := range []struct{ kind, in string }{
		{Choice, "Leave a request"},
		{Choice, "1"},
		{"date", "2024-01-01"},
		{"", "text"},
	} {
		if got, ok := Parse(tc.kind, tc.in); ok || got != "" {
			t.Errorf("Parse(%q, %q)=(%q, %v), want (\"\", false)", tc.kind, tc.in, got, ok)
		}
	}
}

func TestCheckTag(t *testing.T) {
	tests := []struct {
		name, kind, tag string
		wantErr         string // "" means no error
	}{
		{"length range", Text, "min=2,max=40", ""},
		{"oneof", Text, "oneof=a b", ""},
		{"startswith", Phone, "startswith=+7", ""},
		{"or", Text, "alpha|numeric", ""},
		{"required first", Name, "required,min=2", ""},
		{"custom name tag", Text, "olbot_name", ""},
		{"email", Text, "email", ""},
		{"alias", Text, "iscolor", ""},
		{"number gte", Number, "gte=18", ""},
		{"number fraction", Number, "min=1.5,max=10", ""},
		{"number range", Number, "gt=0,lte=120", ""},

		{"empty", Text, "", "validation rule is empty; write rules such as \"min=2,max=40\""},
		{"blank", Number, "  ", "validation rule is empty; write rules such as \"min=2,max=40\""},
		{"typo with hint", Text, "mni=2", `unknown validation rule "mni" (did you mean "min"?)`},
		{"typo in second rule", Text, "min=2,mxa=5", `unknown validation rule "mxa" (did you mean "max"?)`},
		{"typo in or", Text, "alpha|numberic", `unknown validation rule "numberic" (did you mean "numeric"?)`},
		{"typo for a number", Number, "gtee=18", `unknown validation rule "gtee" (did you mean "gte"?)`},
		{"unknown far", Text, "banana", `unknown validation rule "banana" (rules look like "min=2,max=40", "oneof=red green" or "startswith=+7")`},
		{"unknown far number", Number, "banana", `unknown validation rule "banana" (rules for a number look like "gte=18,lte=120")`},
		{"not a number param", Number, "min=abc", `validation rule "min=abc" needs a number after "="`},
		{"not a whole number", Text, "min=1.5", `validation rule "min=1.5" needs a whole number after "="`},
		{"missing param", Text, "max", `validation rule "max" needs a value, as in "max=2"`},
		{"missing string param", Text, "oneof", `validation rule "oneof" needs a value after "=", as in "oneof=…"`},
		{"spaces", Text, "min=2, max=40", `validation rule " max=40" has spaces around it; write rules without them, as in "min=2,max=40"`},
		{"double comma", Text, "min=1,,max=2", `validation rule is empty: remove the extra "," or "|"`},
		{"no name", Text, "=5", `validation rule "=5" has no name before "="`},
		{"cross field", Text, "eqfield=Email", `validation rule "eqfield" compares with another field; olbot checks one answer at a time`},
		{"required_if", Text, "required_if=A b", `validation rule "required_if" compares with another field; olbot checks one answer at a time`},
		{"file system", Text, "file", `validation rule "file" would make the server look at its files or the network, which is not allowed`},
		{"network", Text, "tcp_addr", `validation rule "tcp_addr" would make the server look at its files or the network, which is not allowed`},
		{"dive panics in validator", Text, "dive", `validation rule "dive" is for lists and structs; an answer is a single value`},
		{"keys panics in validator", Text, "keys", `validation rule "keys" is for lists and structs; an answer is a single value`},
		{"unique panics in validator", Text, "unique", `validation rule "unique" is for lists and structs; an answer is a single value`},
		{"omitempty inside or", Text, "omitempty|min=2", `validation rule "omitempty" cannot be one of the choices of "|"; put it first: "omitempty,..."`},
		{"text rule on a number", Number, "startswith=+7", `validation rule "startswith" works on text, not on numbers; for a number use min, max, gt, gte, lt, lte, eq or ne`},
		{"oneof panics on float64", Number, "oneof=1 2", `validation rule "oneof" works on text, not on numbers; for a number use min, max, gt, gte, lt, lte, eq or ne`},
		{"bad field type panic", Text, "boolean|datetime=2006", ""},
		{"endkeys alone", Text, "endkeys", `validation rule "endkeys" is for lists and structs; an answer is a single value`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTag(tc.kind, tc.tag)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Fatalf("CheckTag(%q, %q)=%q, want %q", tc.kind, tc.tag, got, tc.wantErr)
			}
		})
	}
}

// TestCheckTagValidatorPanics feeds tags that make the validator panic when used
// directly and checks that CheckTag turns each into an error instead.
func TestCheckTagValidatorPanics(t *testing.T) {
	for _, tc := range []struct{ kind, tag string }{
		{Text, "mni"},
		{Text, "min=x"},
		{Number, "max=ten"},
		{Text, "dive,min=1"},
		{Text, "keys,endkeys"},
		{Text, "omitempty|min=2"},
		{Number, "oneof=1 2"},
		{Text, "min=1|"},
		{Text, "|"},
		{Text, "="},
		{Text, "len=1e3"},
	} {
		t.Run(tc.kind+"/"+tc.tag, func(t *testing.T) {
			if err := CheckTag(tc.kind, tc.tag); err == nil {
				t.Fatalf("CheckTag(%q, %q)=nil, want an error", tc.kind, tc.tag)
			}
			if Validate(tc.kind, tc.tag, "1") {
				t.Fatalf("Validate with bad tag %q accepted a value", tc.tag)
			}
		})
	}
}

// TestTextRulesExist keeps the "did you mean" candidates honest: each must be a
// rule the validator knows.
func TestTextRulesExist(t *testing.T) {
	for _, name := range append(append([]string(nil), textRules...), "min", "max", "gt", "gte", "lt", "lte", "eq", "ne") {
		err := try(Text, name, name)
		if _, unknown := err.(*unknownRuleError); unknown {
			t.Errorf("rule %q is not defined in the validator", name)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name             string
		kind, tag, value string
		want             bool
	}{
		{"no tag", Text, "", "anything", true},
		{"min counts runes", Name, "min=2,max=4", "Анна", true}, // 8 bytes, 4 runes
		{"max counts runes", Name, "max=4", "Аннабелла", false},
		{"min too short", Text, "min=2", "я", false},
		{"oneof hit", Text, "oneof=red green", "green", true},
		{"oneof miss", Text, "oneof=red green", "blue", false},
		{"phone prefix", Phone, "startswith=+7", "+79991234567", true},
		{"phone prefix miss", Phone, "startswith=+7", "+89991234567", false},
		{"name tag on text", Text, "olbot_name", "Анна-Мария", true},
		{"name tag rejects digits", Text, "olbot_name", "R2D2", false},
		{"number gte", Number, "gte=18", "18", true},
		{"number gte fraction", Number, "gte=18", "17.5", false},
		{"number range", Number, "gt=0,lte=120", "120", true},
		{"number range high", Number, "gt=0,lte=120", "121", false},
		{"number negative", Number, "min=0", "-3", false},
		{"number fraction bound", Number, "max=1.5", "1.5", true},
		{"number not parsed", Number, "gte=1", "abc", false},
		{"unknown tag does not panic", Text, "mni=2", "ab", false},
		{"panicking rule does not panic", Number, "oneof=1 2", "1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Validate(tc.kind, tc.tag, tc.value); got != tc.want {
				t.Fatalf("Validate(%q, %q, %q)=%v, want %v", tc.kind, tc.tag, tc.value, got, tc.want)
			}
		})
	}
}

// TestConcurrent runs the shared validator from many goroutines; with -race it
// proves nothing here keeps unsynchronised state.
func TestConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if v, ok := Parse(Name, "анна-мария"); !ok || v != "Анна-Мария" {
					t.Errorf("Parse name=(%q, %v)", v, ok)
					return
				}
				if _, ok := Parse(Email, "anna@example.com"); !ok {
					t.Error("Parse email failed")
					return
				}
				// Distinct tags make goroutines race on the validator's tag cache.
				tag := "min=" + string(rune('0'+(g+i)%10))
				_ = Validate(Text, tag, "abc")
				_ = CheckTag(Number, "gte=18")
			}
		})
	}
	wg.Wait()
}

func TestParseAllocs(t *testing.T) {
	for _, tc := range []struct {
		kind, in string
		max      float64
	}{
		{Text, "hello", 0},
		{Phone, "+7 999 123 45 67", 1},
		{Number, "41", 1},
		{Number, "1 000,5", 2},
		{YesNo, "yes", 0},
		{YesNo, "Да!", 1},
		{Name, "анна-мария", 3},
	} {
		if got := testing.AllocsPerRun(100, func() { _, _ = Parse(tc.kind, tc.in) }); got > tc.max {
			t.Errorf("Parse(%q, %q) allocs=%v, want ≤%v", tc.kind, tc.in, got, tc.max)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"41", "3,5", "1 000", "анна-мария", "+7 999 123 45 67", "Да!", "a@b.co", "\xff", "", "★★★☆", "4/5", "4 из 5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range Kinds() {
			v, ok := Parse(k, s)
			if ok && v == "" {
				t.Fatalf("Parse(%q, %q) ok with empty value", k, s)
			}
			if !ok && v != "" {
				t.Fatalf("Parse(%q, %q) not ok with value %q", k, s, v)
			}
			if ok && k == Name && utf8.RuneCountInString(v) > maxNameRunes {
				t.Fatalf("name %q longer than %d runes", v, maxNameRunes)
			}
			if ok && k == Rating && (len(v) != 1 || v[0] < '1' || v[0] > '5') {
				t.Fatalf("rating %q of %q is not a digit from 1 to 5", v, s)
			}
			if ok && k == Number {
				if again, ok2 := Parse(Number, v); !ok2 || again != v {
					t.Fatalf("number %q does not parse back to itself: (%q, %v)", v, again, ok2)
				}
			}
		}
	})
}

func FuzzCheckTag(f *testing.F) {
	for _, s := range []string{"min=2,max=40", "mni", "dive", "keys", "oneof", "min=x", "|", ",", "omitempty|", "required_if=A 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		for _, k := range []string{Text, Number} {
			if CheckTag(k, tag) == nil {
				// A tag CheckTag accepts must be usable: Validate must not need its recover.
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("CheckTag(%q, %q) accepted a tag that panics: %v", k, tag, r)
						}
					}()
					var v any = "1"
					if k == Number {
						v = 1.0
					}
					_ = validate.Var(v, tag)
				}()
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ kind, in string }{
		{Text, "Добрый день, хочу узнать про тариф"},
		{Name, "анна-мария"},
		{Email, "Anna.K@Example.COM"},
		{Phone, "8 (999) 123-45-67"},
		{Number, "41"},
		{Number, "1 000,5"},
		{YesNo, "Да!"},
	} {
		b.Run(bc.kind+"/"+bc.in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Parse(bc.kind, bc.in)
			}
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	for _, bc := range []struct{ kind, tag, value string }{
		{Text, "min=2,max=40", "Анна"},
		{Number, "gte=18,lte=120", "41"},
	} {
		b.Run(bc.kind, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Validate(bc.kind, bc.tag, bc.value)
			}
		})
	}
}

// TestFastCaseMatchesUnicode guards the hand-written fast paths against the
// unicode package over the Latin, Greek and Cyrillic blocks.
func TestFastCaseMatchesUnicode(t *testing.T) {
	for r := rune(0); r < 0x530; r++ {
		if got, want := isLetter(r), unicode.IsLetter(r); got != want {
			t.Errorf("isLetter(%q)=%v, want %v", r, got, want)
		}
		if got, want := toLower(r), unicode.ToLower(r); got != want {
			t.Errorf("toLower(%q)=%q, want %q", r, got, want)
		}
		if got, want := toTitle(r), unicode.ToTitle(r); got != want {
			t.Errorf("toTitle(%q)=%q, want %q", r, got, want)
		}
	}
}
