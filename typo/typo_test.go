package typo

import "testing"

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"max", "max", 0},
		{"mxa", "max", 1},   // a swap is one edit
		{"nxet", "next", 1}, // a swap inside a word
		{"thnaks", "thanks", 1},
		{"sav", "save", 1},
		{"emial", "email", 1},
		{"", "abc", 3},
		{"оператор", "опреатор", 1}, // runes, not bytes
		{"kitten", "sitting", 3},
		{"mni", "min", 1}, {"mxa", "min", 2}, {"gtee", "gte", 1}, {"numberic", "numeric", 1},
		{"мин", "min", 3}, {"ab", "ba", 1}, {"abc", "ca", 3},
	}
	for _, tc := range tests {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}

// AtMost and StartAtMost agree with Distance on every pair of short words over a small
// alphabet, where swaps, repeats and near misses are dense.
func TestAtMostAgreesWithDistance(t *testing.T) {
	alphabet := []rune("abё")
	var words []string
	var gen func(prefix []rune, n int)
	gen = func(prefix []rune, n int) {
		words = append(words, string(prefix))
		if n == 0 {
			return
		}
		for _, r := range alphabet {
			gen(append(prefix, r), n-1)
		}
	}
	gen(nil, 4)
	for _, a := range words {
		for _, b := range words {
			d := Distance(a, b)
			for k := 0; k <= 3; k++ {
				if got := AtMost(a, b, k); got != (d <= k) {
					t.Fatalf("AtMost(%q, %q, %d) = %v, but Distance = %d", a, b, k, got, d)
				}
				want := false
				for i := range len([]rune(a)) + 1 {
					if Distance(string([]rune(a)[:i]), b) <= k {
						want = true
					}
				}
				if got := StartAtMost(a, b, k); got != want {
					t.Fatalf("StartAtMost(%q, %q, %d) = %v, want %v", a, b, k, got, want)
				}
			}
		}
	}
}

func TestDistanceLong(t *testing.T) {
	a := "абвгдеёжзийклмнопрстуфхцчшщъыьэюя0123456789" // longer than the stack buffers
	if got := Distance(a, a[2:]); got != 1 {
		t.Fatalf("Distance = %d, want 1", got)
	}
	if !AtMost(a, a+"x", 1) || AtMost(a, a+"xy", 1) {
		t.Fatal("AtMost on long words")
	}
}
