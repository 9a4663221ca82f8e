package history_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/olbot/olbot/history"
	"github.com/olbot/olbot/memstore"
)

// The history keeps the last MaxVersions versions of a file, newest first,
// drops the content of versions that fall off (unless a kept entry has the
// same content), and records a version only once in a row.
func TestHistoryKeepsTheLastVersions(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	h := history.New(st)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	record := func(i int) bool {
		t.Helper()
		hash := fmt.Sprintf("v%03d", i)
		ok, err := h.Record(ctx, "sales/leads.yaml", history.Entry{Hash: hash, Time: at.Add(time.Duration(i) * time.Minute), Source: history.SourceDisk, Size: 3}, []byte(hash))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !record(0) || record(0) {
		t.Fatal("the first version was not recorded, or the same version twice in a row was")
	}
	for i := 1; i < history.MaxVersions+5; i++ {
		record(i)
	}
	list, err := h.List(ctx, "sales/leads.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != history.MaxVersions || list[0].Hash != "v104" || list[len(list)-1].Hash != "v005" {
		t.Fatalf("kept %d versions, %s … %s; want 100, v104 … v005", len(list), list[0].Hash, list[len(list)-1].Hash)
	}
	if b, err := h.Content(ctx, "sales/leads.yaml", "v050"); err != nil || string(b) != "v050" {
		t.Fatalf("content of a kept version: %q %v", b, err)
	}
	if _, err := h.Content(ctx, "sales/leads.yaml", "v004"); !errors.Is(err, history.ErrUnknown) {
		t.Fatalf("content of a dropped version: %v, want ErrUnknown", err)
	}
	if list, err := h.List(ctx, "other.yaml"); err != nil || len(list) != 0 {
		t.Fatalf("history of a file without one: %v %v", list, err)
	}
}
