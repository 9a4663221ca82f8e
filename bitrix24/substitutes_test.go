package bitrix24

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestSubstitutes(t *testing.T) {
	tests := []struct {
		params any
		want   bool
	}{
		{json.RawMessage(`{"MESSAGE":"Hello"}`), false},
		{json.RawMessage(`{"MESSAGE":"$result[c0]"}`), true},
		{json.RawMessage(`{"MESSAGE":"$RESULT[c0]"}`), true},
		{json.RawMessage(`{"MESSAGE":"$ReSuLt"}`), true},
		{json.RawMessage(`{"MESSAGE":"$$result"}`), true},
		{json.RawMessage(`{"MESSAGE":"$resul"}`), false},
		{json.RawMessage(`{"MESSAGE":"$re$result"}`), true},
		{json.RawMessage(`$result`), true},
		{json.RawMessage(`$resul`), false},
		{json.RawMessage(`{"MESSAGE":"$rEsuLT"}`), true},
		{json.RawMessage(`{"MESSAGE":"$res\u0075lt"}`), true}, // the portal reads the letter
		{json.RawMessage(`{"MESSAGE":"\u0024RESULT"}`), true},
		{json.RawMessage(`{"MESSAGE":"\u003cb\u003e $resul"}`), false},
		{map[string]any{"MESSAGE": "$result[c1]"}, true},
		{map[string]any{"MESSAGE": "result"}, false},
		{map[string]any{"bad": func() {}}, false}, // cannot be encoded: not a batch question
	}
	for _, tt := range tests {
		if got := substitutes(tt.params); got != tt.want {
			t.Errorf("substitutes(%v) = %v, want %v", tt.params, got, tt.want)
		}
	}
}

// FuzzContainsFoldASCII compares containsFoldASCII with the copy it saves.
func FuzzContainsFoldASCII(f *testing.F) {
	for _, s := range []string{"$result", "$RESULT", "x$resul", "$re$ReSuLt", "$resulT", "\u212a$result", "$reſult", "$RESULT\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := bytes.Contains(bytes.ToLower(b), []byte("$result"))
		if got := containsFoldASCII(b, "$result"); got != want {
			t.Fatalf("containsFoldASCII(%q) = %v, bytes.ToLower then Contains %v", b, got, want)
		}
	})
}
