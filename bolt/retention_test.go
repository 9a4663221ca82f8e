package bolt

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/olbot/olbot/engine"
)

// TestEndedIndexOfOlderFile: a file written before the ended index existed
// gets it built on open, so retention sees the dialogs that ended before
// the upgrade.
func TestEndedIndexOfOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "olbot.db")
	s := mustOpen(t, path, Options{})
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, d := range []engine.Dialog{
		{Key: "b24:m:1", Status: engine.Finished, Updated: t0, Rev: 1},
		{Key: "b24:m:2", Status: engine.HandedOff, Ended: t0.Add(-time.Hour), Updated: t0, Rev: 1},
		{Key: "b24:m:3", Status: engine.Active, Updated: t0, Rev: 1},
	} {
		if err := s.Commit(t.Context(), engine.Commit{Dialog: d}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket(bucketEnded) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = mustOpen(t, path, Options{})
	defer s.Close()
	got, err := s.Ended(t.Context(), engine.KeyPortal, t0, 10)
	if want := []string{"b24:m:2", "b24:m:1"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("Ended after the upgrade = %q, %v; want %q", got, err, want)
	}
}
