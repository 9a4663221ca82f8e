package bolt

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/olbot/olbot/engine"
)

// TestJSONRecords: a file written before the binary record (dialogs as
// JSON) is read as it is, and a dialog committed on top of an old record
// is stored in the binary form.
func TestJSONRecords(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	old := engine.Dialog{Key: "api:old", Scenario: "support", State: "ask_email", Status: engine.Active,
		Fields: map[string]string{"name": "Anna"}, Started: at, Updated: at, Rev: 3, Recent: []string{"m1"}}
	path := filepath.Join(t.TempDir(), "olbot.db")
	s := mustOpen(t, path, Options{})
	js, err := old.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketDialogs).Put([]byte(old.Key), js) }); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = mustOpen(t, path, Options{})
	defer s.Close()
	got, err := s.Dialog(ctx, old.Key)
	if err != nil {
		t.Fatalf("Dialog of a JSON record: %v", err)
	}
	if !reflect.DeepEqual(got, old) {
		t.Fatalf("JSON record reads as\n%+v\nwant\n%+v", got, old)
	}
	next := got.Clone()
	next.State, next.Rev = "thanks", 4
	if err := s.Commit(ctx, engine.Commit{Dialog: next, PrevRev: 3}); err != nil {
		t.Fatalf("Commit on a JSON record: %v", err)
	}
	if err := s.catchUp(); err != nil { // into bbolt from the commit log
		t.Fatal(err)
	}
	var raw []byte
	_ = s.db.View(func(tx *bbolt.Tx) error {
		raw = append(raw, tx.Bucket(bucketDialogs).Get([]byte(old.Key))...)
		return nil
	})
	if len(raw) == 0 || raw[0] == '{' {
		t.Fatalf("the committed record is not binary: %q", raw)
	}
	if got, err := s.Dialog(ctx, old.Key); err != nil || got.State != "thanks" || got.Rev != 4 {
		t.Fatalf("after the commit: %+v, %v", got, err)
	}
}
