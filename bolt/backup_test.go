package bolt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/olbot/olbot/engine"
)

// TestBackupAndVerify: Backup's copy is a store that passes Verify and
// holds what was committed; Verify refuses a truncated copy and a bbolt
// file of another program.
func TestBackupAndVerify(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, filepath.Join(dir, "olbot.db"), Options{})
	defer s.Close()
	if err := s.Commit(context.Background(), engine.Commit{Dialog: engine.Dialog{Key: "api:1", Status: engine.Active, Rev: 1}}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var announced int64
	n, err := s.Backup(context.Background(), &buf, func(size int64) { announced = size })
	if err != nil || n != int64(buf.Len()) || n != announced {
		t.Fatalf("Backup = %d, %v; wrote %d, announced %d", n, err, buf.Len(), announced)
	}
	good := filepath.Join(dir, "good.db")
	if err := os.WriteFile(good, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Verify(good); err != nil {
		t.Fatalf("Verify(backup): %v", err)
	}
	c := mustOpen(t, good, Options{})
	if _, err := c.Dialog(context.Background(), "api:1"); err != nil {
		t.Fatalf("dialog in the backup: %v", err)
	}
	c.Close()

	short := filepath.Join(dir, "short.db")
	if err := os.WriteFile(short, buf.Bytes()[:buf.Len()/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Verify(short); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify(truncated) = %v, want ErrCorrupt", err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err })
	db.Close()
	if err := Verify(foreign); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Verify(foreign) = %v, want ErrCorrupt", err)
	}
	s.Close()
	if _, err := s.Backup(context.Background(), &buf, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Backup of a closed store: %v", err)
	}
}
