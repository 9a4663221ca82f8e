package pull

import (
	"sync"
	"time"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
)

// PageWake is the dialog processor's portal side in fetch mode: it holds
// the outbox's wake-ups while a page's steps commit and wakes it once
// after them, so that the replies of a page go out together — one batch
// request of the portal's budget (2 a second) instead of one per step,
// which would leave the later replies waiting for the budget.
type PageWake struct {
	Portal dialogs.Portal // the outbox

	mu               sync.Mutex
	holding, pending bool
}

var _ dialogs.Portal = (*PageWake)(nil)

// Calls implements dialogs.Portal.
func (w *PageWake) Calls(d engine.Dialog, actions []engine.Action, now time.Time) ([]engine.Call, error) {
	return w.Portal.Calls(d, actions, now)
}

// Wake implements dialogs.Portal: held while a page is applied.
func (w *PageWake) Wake() {
	w.mu.Lock()
	if w.holding {
		w.pending = true
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.Portal.Wake()
}

// Hold holds wake-ups until release, which wakes the outbox once if any
// came meanwhile. DialogSink.Hold takes it.
func (w *PageWake) Hold() (release func()) {
	w.mu.Lock()
	w.holding = true
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		wake := w.pending
		w.holding, w.pending = false, false
		w.mu.Unlock()
		if wake {
			w.Portal.Wake()
		}
	}
}
