package match

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"already clean", "i need an operator", "i need an operator"},
		{"cyrillic with punctuation", "Оператор!", "оператор"},
		{"spec upper case command", "ОПЕРАТОР!", "оператор"},
		{"brief example", "  I need an OPERATOR, please. ", "i need an operator please"},
		{"yo folds to ye", "Ёлка, ещё", "елка еще"},
		{"decomposed yo", "ещ\u0435\u0308", "еще"},
		{"decomposed short i", "\u0418\u0306од", "йод"},
		{"nbsp and tabs", "живой\u00a0\t\nчеловек", "живой человек"},
		{"only punctuation", "!!! ... ???", ""},
		{"emoji is a separator", "hi👋there", "hi there"},
		{"star is punctuation in messages", "врач*", "врач"},
		{"digits kept", "Call 8-800-555", "call 8 800 555"},
		{"email splits into words", "anna.operator@mail.ru", "anna operator mail ru"},
		{"zero-width space does not split", "опе\u200bратор", "оператор"},
		{"soft hyphen does not split", "опе\u00adратор", "оператор"},
		{"other scripts", "Straße ÉCOLE Ωμέγα", "straße école ωμέγα"},
		{"leading mark is a separator", "\u0301abc", "abc"},
		{"mark stays with its letter", "cafe\u0301", "cafe\u0301"},
		{"double space", "a  b", "a b"},
		{"leading space", " a", "a"},
		{"ukrainian letters", "Їжак Ґанок", "їжак ґанок"},
		{"cyrillic edges", "АПРЯапря", "апряапря"},
		{"capital yo", "ЁЖИК", "ежик"},
		{"invalid utf8 is a separator", "a\xffb\xd0", "a b"},
		{"mixed scripts in one word", "Wi-Fiшка", "wi fiшка"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Clean(tc.in); got != tc.want {
				t.Fatalf("Clean(%q)=%q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCleanAllocs(t *testing.T) {
	tests := []struct {
		in   string
		want float64
	}{
		{"operator", 0},
		{"i need an operator please", 0},
		{"Позовите, пожалуйста, оператора!", 1},
		{"  I need an OPERATOR, please. ", 1},
	}
	for _, tc := range tests {
		if got := testing.AllocsPerRun(100, func() { _ = Clean(tc.in) }); got > tc.want {
			t.Errorf("Clean(%q) allocs=%v, want ≤%v", tc.in, got, tc.want)
		}
	}
}

func TestNewInput(t *testing.T) {
	tests := []struct {
		in        string
		wantClean string
		wantWords []string
	}{
		{"", "", nil},
		{"?!", "", nil},
		{"Оператор!", "оператор", []string{"оператор"}},
		{"Позовите врача, пожалуйста", "позовите врача пожалуйста", []string{"позовите", "врача", "пожалуйста"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			in := NewInput(tc.in)
			if in.Raw != tc.in {
				t.Fatalf("Raw=%q, want %q", in.Raw, tc.in)
			}
			if in.Clean != tc.wantClean {
				t.Fatalf("Clean=%q, want %q", in.Clean, tc.wantClean)
			}
			if !reflect.DeepEqual(in.Words, tc.wantWords) {
				t.Fatalf("Words=%q, want %q", in.Words, tc.wantWords)
			}
		})
	}
	if got := testing.AllocsPerRun(100, func() { _ = NewInput("Позовите врача, пожалуйста!") }); got > 2 {
		t.Errorf("NewInput allocs=%v, want ≤2", got)
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		isNo bool // not a number
	}{
		{in: "3", n: 3},
		{in: " 3 ", n: 3},
		{in: "03", n: 3},
		{in: "3.", n: 3},
		{in: "#3", n: 3},
		{in: "(3)", n: 3},
		{in: "+3", n: 3},
		{in: "0", n: 0},
		{in: "99", n: 99},
		{in: "-1", n: -1},
		{in: " -1", n: -1},
		{in: "−1", n: -1}, // U+2212 minus sign
		{in: "--2", n: -2},
		{in: "-0", n: 0},
		{in: "99999999999999999999", n: math.MaxInt},
		{in: "-99999999999999999999", n: -math.MaxInt},
		{in: "", isNo: true},
		{in: "three", isNo: true},
		{in: "1 2", isNo: true},
		{in: "1-2", isNo: true},
		{in: "3a", isNo: true},
		{in: "٣", isNo: true}, // digits of other scripts are words here
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			n, ok := NewInput(tc.in).Number()
			if ok == tc.isNo || n != tc.n {
				t.Fatalf("Number(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.n, !tc.isNo)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		entry   string
		wantErr error
		wantMsg string
	}{
		{"", ErrEmpty, `match entry "": no letters or digits to match`},
		{"  ", ErrEmpty, `match entry "  ": no letters or digits to match`},
		{"!!!", ErrEmpty, `match entry "!!!": no letters or digits to match`},
		{"*", ErrEmpty, `match entry "*": no letters or digits to match`},
		{"** !", ErrEmpty, `match entry "** !": no letters or digits to match`},
		{"👍", ErrEmpty, `match entry "👍": no letters or digits to match`},
		{"*врач", ErrStar, `match entry "*врач": "*" works only at the end of a word, as in "врач*"`},
		{"вр*ч", ErrStar, `match entry "вр*ч": "*" works only at the end of a word, as in "врач*"`},
		{"живой * человек", ErrStar, `match entry "живой * человек": "*" works only at the end of a word, as in "врач*"`},
	}
	for _, tc := range tests {
		t.Run(tc.entry, func(t *testing.T) {
			p, err := Compile(tc.entry)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err=%v, want %v", err, tc.wantErr)
			}
			if err.Error() != tc.wantMsg {
				t.Fatalf("message=%q, want %q", err.Error(), tc.wantMsg)
			}
			if p.Match(NewInput(tc.entry)) || p.Match(NewInput("anything at all")) {
				t.Fatalf("failed pattern matched")
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		entry, msg string
		want       bool
	}{
		// Examples from the spec's Matching section.
		{"оператор", "Оператор!", true},
		{"оператор", "ОПЕРАТОР!", true},
		{"operator", "I need an operator please", true},
		{"operator", "cooperator", false},
		{"operator", "I need a cooperator", false},
		{"врач*", "Позовите врача", true},
		{"ёлка", "Елка", true},
		{"елка", "Ёлка!", true},
		{"живой человек", "дайте живой человек", true},
		{"живой человек", "человек живой", false}, // a phrase matches its words in order
		{"живой человек", "живой, человек!", true},
		{"живой человек", "живой добрый человек", false}, // ... and consecutively
		// The brief: a phrase does not decline; stars do.
		{"живой человек", "позовите живого человека", false},
		{"живо* человек*", "позовите живого человека", true},
		// The spec's command list.
		{"human", "Human, please", true},
		{"human", "humans", false},
		{"оператор", "где оператор?", true},
		{"оператор", "операторы", false},
		// Star edge cases.
		{"врач*", "врач", true}, // any ending includes none
		{"врач*", "позовите вра", false},
		{"врач*", "неврач", false},
		{"Врач**", "ВРАЧУ", true},
		// Punctuation in the entry is ignored like in the message.
		{"Talk to a person!", "talk to a person", true},
		{"e-mail", "my e mail", true},
		{"e-mail", "email", false},
		// Words, not substrings, even across punctuation: this is why the spec
		// puts "a message that validates is the answer" before commands.
		{"operator", "anna.operator@mail.ru", true},
		{"operator", "", false},
		{"a b c", "a b", false},
		{"1", "option 1", true},
	}
	for _, tc := range tests {
		t.Run(tc.entry+"/"+tc.msg, func(t *testing.T) {
			p, err := Compile(tc.entry)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match(NewInput(tc.msg)); got != tc.want {
				t.Fatalf("%q.Match(%q)=%v, want %v", tc.entry, tc.msg, got, tc.want)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		entry, msg string
		want       bool
	}{
		{"Leave a request", "leave a request", true},
		{"Leave a request", "Leave a request!", true},
		{"Leave a request", "I want to leave a request", false},
		{"Leave a request", "leave a", false},
		{"Talk to a person", "talk  to a PERSON", true},
		{"Оставить заявку", "оставить заявку.", true},
		{"врач*", "врачу", true},
		{"врач*", "врачу срочно", false},
	}
	for _, tc := range tests {
		t.Run(tc.entry+"/"+tc.msg, func(t *testing.T) {
			if got := MustCompile(tc.entry).Equal(NewInput(tc.msg)); got != tc.want {
				t.Fatalf("%q.Equal(%q)=%v, want %v", tc.entry, tc.msg, got, tc.want)
			}
		})
	}
	if (Pattern{}).Equal(NewInput("")) {
		t.Fatal("zero Pattern equals empty input")
	}
}

func TestPatternString(t *testing.T) {
	const entry = "  Живо* человек*! "
	if got := MustCompile(entry).String(); got != entry {
		t.Fatalf("String()=%q, want %q", got, entry)
	}
}

func TestCompileAll(t *testing.T) {
	set, errs := CompileAll([]string{"operator", "!!!", "human", "оператор", "*", "живой человек", "вр*ч"})
	if len(set) != 4 {
		t.Fatalf("len(set)=%d, want 4", len(set))
	}
	var got []int
	for _, err := range errs {
		var ee *EntryError
		if !errors.As(err, &ee) {
			t.Fatalf("error %v is %T, want *EntryError", err, err)
		}
		got = append(got, ee.Index)
	}
	if want := []int{1, 4, 6}; !reflect.DeepEqual(got, want) {
		t.Fatalf("error indexes=%v, want %v", got, want)
	}

	tests := []struct {
		msg  string
		want bool
	}{
		{"ОПЕРАТОР!", true},
		{"I need a human", true},
		{"позовите живой человек", true},
		{"hello", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.msg, func(t *testing.T) {
			if got := set.Match(NewInput(tc.msg)); got != tc.want {
				t.Fatalf("Set.Match(%q)=%v, want %v", tc.msg, got, tc.want)
			}
		})
	}
	if Set(nil).Match(NewInput("operator")) {
		t.Fatal("empty set matched")
	}
}

func TestMatchAllocs(t *testing.T) {
	set, _ := CompileAll([]string{"operator", "human", "оператор", "живой человек", "врач*"})
	in := NewInput("Позовите, пожалуйста, живого врача")
	if got := testing.AllocsPerRun(100, func() { _ = set.Match(in) }); got != 0 {
		t.Fatalf("Set.Match allocs=%v, want 0", got)
	}
}

func BenchmarkClean(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"clean-ascii", "i need an operator please"},
		{"ascii", "  I need an OPERATOR, please. "},
		{"cyrillic", "Позовите, пожалуйста, живого человека! Ёлки-палки."},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Clean(bc.in)
			}
		})
	}
}

func BenchmarkNewInput(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewInput("Позовите, пожалуйста, живого человека!")
	}
}

func BenchmarkPatternMatch(b *testing.B) {
	in := NewInput("Здравствуйте! Позовите, пожалуйста, живого человека, мне нужен врач")
	for _, entry := range []string{"оператор", "живо* человек*", "врач*"} {
		p := MustCompile(entry)
		b.Run(entry, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Match(in)
			}
		})
	}
}

// BenchmarkStep approximates the matching part of one dialog step: one message
// against a typical command list plus a menu.
func BenchmarkStep(b *testing.B) {
	commands, _ := CompileAll([]string{"operator", "human", "оператор", "живой человек", "живо* человек*", "врач*"})
	menu, _ := CompileAll([]string{"Leave a request", "Talk to a person", "Оставить заявку"})
	b.ReportAllocs()
	for b.Loop() {
		in := NewInput("Здравствуйте! Хочу оставить заявку, пожалуйста")
		for _, p := range menu {
			if p.Equal(in) || p.Match(in) {
				break
			}
		}
		_ = commands.Match(in)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"Оператор!", "  I need an OPERATOR, please. ", "ещ\u0435\u0308", "a\xffb", "живо* человек*", "**", "опе\u200bратор"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Clean(s)
		if strings.HasPrefix(c, " ") || strings.HasSuffix(c, " ") || strings.Contains(c, "  ") {
			t.Fatalf("Clean(%q)=%q has stray spaces", s, c)
		}
		if strings.ContainsAny(c, "*ёЁ") || strings.ToLower(c) != c && !hasMark(c) {
			t.Fatalf("Clean(%q)=%q is not folded", s, c)
		}
		// Combining marks may compose differently on a second pass; real input
		// is cleaned once, so idempotence is only required without them.
		if !hasMark(s) && Clean(c) != c {
			t.Fatalf("Clean(Clean(%q))=%q, want %q", s, Clean(c), c)
		}
		in := NewInput(s)
		if strings.Join(in.Words, " ") != c {
			t.Fatalf("NewInput(%q).Words=%q do not rebuild %q", s, in.Words, c)
		}
		if p, err := Compile(s); err == nil {
			if !p.Match(NewInput(strings.ReplaceAll(s, "*", ""))) {
				t.Fatalf("pattern %q does not match its own text", s)
			}
		}
	})
}

func hasMark(s string) bool {
	for _, r := range s {
		if unicode.IsMark(r) || unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}
