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
