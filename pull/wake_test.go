package pull_test

import (
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/pull"
)

// wakes counts the outbox's wake-ups.
type wakes struct{ n int }

func (w *wakes) Calls(engine.Dialog, []engine.Action, time.Time) ([]engine.Call, error) {
	return nil, nil
}
func (w *wakes) Wake() { w.n++ }

// TestPageWake: wake-ups during a page are held and become one after it;
// outside a page they pass at once; a page that woke nothing wakes nothing.
func TestPageWake(t *testing.T) {
	w := &wakes{}
	pw := &pull.PageWake{Portal: w}
	pw.Wake()
	if w.n != 1 {
		t.Fatalf("%d wakes outside a page, want 1", w.n)
	}
	release := pw.Hold()
	pw.Wake()
	pw.Wake()
	pw.Wake()
	if w.n != 1 {
		t.Fatalf("%d wakes while the page is held, want still 1", w.n)
	}
	release()
	if w.n != 2 {
		t.Fatalf("%d wakes after the page, want one more", w.n)
	}
	pw.Hold()()
	if w.n != 2 {
		t.Fatalf("a page without steps woke the outbox (%d)", w.n)
	}
	pw.Wake()
	if w.n != 3 {
		t.Fatalf("%d wakes after the pages, want them passing again", w.n)
	}
}
