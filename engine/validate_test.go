package engine

import (
	"errors"
	"strings"
	"testing"
)

// TestInvalidError: the error names the field, says why, and is ErrInvalid
// only.
func TestInvalidError(t *testing.T) {
	err := CheckCommit(Commit{Dialog: Dialog{Key: "api:x", Rev: 1}, Calls: []Call{{Method: "m"}, {Method: strings.Repeat("m", MaxMethodLen+1)}}})
	want := "invalid Calls[1].Method: is 256 bytes, the limit is 255"
	if err == nil || err.Error() != want {
		t.Fatalf("err=%v, want %q", err, want)
	}
	if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) {
		t.Fatalf("errors.Is: invalid %v, conflict %v, not found %v; want only invalid", errors.Is(err, ErrInvalid), errors.Is(err, ErrConflict), errors.Is(err, ErrNotFound))
	}
	err = CheckKV("portal", "m\x00")
	if err == nil || err.Error() != "invalid key: holds a NUL byte" {
		t.Fatalf("CheckKV err=%v", err)
	}
}

// BenchmarkCheckCommit is the validation every store runs on every commit:
// a step's record with one message call.
func BenchmarkCheckCommit(b *testing.B) {
	c := Commit{
		Dialog:  Dialog{Key: "b24:a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4:chat42", Rev: 2},
		Calls:   []Call{{Method: "imbot.message.add", Portal: "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4", Params: []byte(`{"BOT_ID":7,"CLIENT_ID":"x","DIALOG_ID":"chat42","MESSAGE":"Your email, please?"}`)}},
		PrevRev: 1,
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckCommit(c); err != nil {
			b.Fatal(err)
		}
	}
}
