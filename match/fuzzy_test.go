package match

import (
	"testing"
	"unicode/utf8"

	"github.com/olbot/olbot/typo"
)

// Real typos from support chats: a letter swapped, missing, doubled or wrong.
func TestMatchFuzzy(t *testing.T) {
	tests := []struct {
		name, entry, msg string
		exact, fuzzy     bool
	}{
		{"swap in Russian", "оператор", "опреатор", false, true},
		{"missing letter in a phrase", "оформить возврат", "Оформить возрат", false, true},
		{"swap in English", "operator", "opreator", false, true},
		{"wrong letter", "delivery", "delivary", false, true},
		{"doubled letter", "payment", "paymment", false, true},
		{"inside a sentence", "возврат", "хочу сделать возрат товара", false, true},
		{"two typos are too many", "оператор", "опретаор", false, false},
		{"short words only exactly", "меню", "мену", false, false},
		{"four letters only exactly", "help", "halp", false, false},
		{"five letters forgive one", "human", "humen", false, true},
		{"stem with a typo", "оформ*", "офрмить", false, true},
		{"stem exact", "доставк*", "доставку", true, true},
		{"stem typo in the stem", "доставк*", "дотсавку", false, true},
		{"short stem only exactly", "врач*", "рвача", false, false},
		{"exact stays exact", "оператор", "Оператор!", true, true},
		{"ё is е", "ещё раз", "еще раз", true, true},
		{"a phrase needs every word", "оформить возврат", "оформить", false, false},
		{"a word is not a part of a longer one", "order", "reorders", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := MustCompile(tc.entry)
			in := NewInput(tc.msg)
			if got := p.Match(in); got != tc.exact {
				t.Errorf("Match(%q, %q) = %v, want %v", tc.entry, tc.msg, got, tc.exact)
			}
			if got := p.MatchFuzzy(in); got != tc.fuzzy {
				t.Errorf("MatchFuzzy(%q, %q) = %v, want %v", tc.entry, tc.msg, got, tc.fuzzy)
			}
			if tc.exact && !p.MatchFuzzy(in) {
				t.Errorf("an exact match must also match fuzzily")
			}
		})
	}
}

func TestNear(t *testing.T) {
	tests := []struct {
		w, e string
		want bool
	}{
		{"опреатор", "оператор", true},
		{"оператр", "оператор", true},
		{"оператоор", "оператор", true},
		{"конечо", "конечно", true},
		{"нте", "нет", false}, // three letters: exact only
		{"операторы", "оператор", true},
		{"оператороо", "оператор", false},
	}
	for _, tc := range tests {
		if got := Near(tc.w, tc.e); got != tc.want {
			t.Errorf("Near(%q, %q) = %v, want %v", tc.w, tc.e, got, tc.want)
		}
	}
}

// Near is exactly "one edit, for words of MinFuzzy letters or more": its
// quick tests never turn away a pair that typo.AtMost accepts.
func TestNearAgreesWithDistance(t *testing.T) {
	var words []string
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		if n <= 2 {
			words = append(words, prefix)
		}
		if n == 0 {
			return
		}
		for _, r := range []string{"а", "б", "в"} {
			gen(prefix+r, n-1)
		}
	}
	gen("", 6) // words of 4 to 6 letters, around MinFuzzy
	for _, w := range words {
		for _, e := range words {
			if n := utf8.RuneCountInString(e); n != MinFuzzy-1 && n != MinFuzzy {
				continue
			}
			want := utf8.RuneCountInString(e) >= MinFuzzy && typo.AtMost(w, e, 1)
			if got := Near(w, e); got != want && w != e {
				t.Fatalf("Near(%q, %q) = %v, want %v", w, e, got, want)
			}
		}
	}
}

// nearStem agrees with typo.StartAtMost: its quick tests turn away no
// word whose start is one edit from the stem.
func TestNearStemAgreesWithDistance(t *testing.T) {
	var words []string
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		words = append(words, prefix)
		if n == 0 {
			return
		}
		for _, r := range []string{"а", "б", "в"} {
			gen(prefix+r, n-1)
		}
	}
	gen("", 6)
	for _, stem := range words {
		if utf8.RuneCountInString(stem) != MinFuzzy {
			continue
		}
		for _, w := range words {
			if w == "" {
				continue
			}
			want := typo.StartAtMost(w, stem, 1)
			ws, ss := shapeOf(w), shapeOf(stem)
			if got := nearStem(w, &ws, stem, &ss); got != want {
				t.Fatalf("nearStem(%q, %q) = %v, want %v", w, stem, got, want)
			}
		}
	}
}

func TestEqualFuzzy(t *testing.T) {
	p := MustCompile("Оформить возврат")
	for msg, want := range map[string]bool{
		"оформить возрат":            true,
		"Офромить возврат":           true,
		"оформить возрат пожалуйста": false, // whole message only
		"оформит возрат":             true,  // one typo in each word
	} {
		if got := p.EqualFuzzy(NewInput(msg)); got != want {
			t.Errorf("EqualFuzzy(%q) = %v, want %v", msg, got, want)
		}
	}
}

func BenchmarkMatchFuzzy(b *testing.B) {
	p := MustCompile("оформить возврат")
	in := NewInput("здравствуйте, хочу оформить возрат заказа пожалуйста")
	b.ReportAllocs()
	for b.Loop() {
		p.MatchFuzzy(in)
	}
}
