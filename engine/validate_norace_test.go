//go:build !race

package engine

import "testing"

// The race detector makes sync.Pool drop items at random, so
// encoding/json's scanner pool allocates under -race: this test runs
// without it.

// TestCheckCommitAllocs: a valid commit is checked without allocating,
// since every commit of every store runs the check.
func TestCheckCommitAllocs(t *testing.T) {
	c := Commit{
		Dialog: Dialog{Key: "b24:a1b2c3:chat42", Rev: 2},
		Calls: []Call{
			{Method: "imbot.message.add", Portal: "a1b2c3", Params: []byte(`{"DIALOG_ID":"chat42","MESSAGE":"Hi"}`)},
			{Method: "imopenlines.bot.session.finish", Portal: "a1b2c3", Params: []byte(`{"CHAT_ID":42}`)},
		},
		PrevRev: 1,
	}
	if n := testing.AllocsPerRun(100, func() { _ = CheckCommit(c) }); n != 0 {
		t.Fatalf("CheckCommit allocates %v times per valid commit, want 0", n)
	}
}
