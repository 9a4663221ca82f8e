package engine

import (
	"context"
	"errors"
	"time"
)

// Store errors. Implementations return these (possibly wrapped) so callers can use errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict: the record changed since it was read")
)

// Call is one portal call waiting in the outbox. Calls of one dialog are
// delivered in Seq order; a call is delivered only after every earlier call of
// its dialog is done or parked.
type Call struct {
	ID       uint64    `json:"id"`     // store-assigned, unique
	Dialog   string    `json:"dialog"` // dialog key
	Seq      int64     `json:"seq"`    // order within the dialog
	Portal   string    `json:"portal,omitempty"`
	Method   string    `json:"method"` // REST method, e.g. imbot.message.add
	Params   []byte    `json:"params"` // JSON body of the call
	Created  time.Time `json:"created"`
	Attempts int       `json:"attempts,omitempty"`
	NextAt   time.Time `json:"next_at,omitempty"` // not before this time
	Error    string    `json:"error,omitempty"`   // last error
	Parked   bool      `json:"parked,omitempty"`  // dead letter: will not be retried
}

// Commit is one step's result, written atomically: the new dialog record and
// the portal calls it produced (transactional outbox).
type Commit struct {
	Dialog  Dialog // the new record; Dialog.Rev must be PrevRev+1
	PrevRev int64  // the Rev that was read; 0 for a new dialog
	Calls   []Call // ID and Seq are assigned by the store
}

// Store keeps dialog records and the outbox. Implementations: bolt (embedded,
// default), postgres, memory (tests). Every implementation passes the
// conformance suite in package storetest.
type Store interface {
	// Dialog returns the record for key, or ErrNotFound.
	Dialog(ctx context.Context, key string) (Dialog, error)
	// Commit writes c atomically. It returns ErrConflict, writing nothing,
	// when the stored record's Rev is not c.PrevRev.
	Commit(ctx context.Context, c Commit) error
	// Claim leases up to limit deliverable calls to owner until now+lease:
	// for each dialog only its first unfinished, unparked call, when due
	// (NextAt <= now) and not leased by another owner.
	Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]Call, error)
	// Done removes a delivered call. ErrNotFound if it is gone.
	Done(ctx context.Context, id uint64) error
	// Retry records a failed attempt and makes the call due again at next.
	Retry(ctx context.Context, id uint64, next time.Time, errText string) error
	// Park marks a call as a dead letter with its error; later calls of the dialog proceed.
	Park(ctx context.Context, id uint64, errText string) error
	// Calls lists a dialog's pending and parked calls in Seq order.
	Calls(ctx context.Context, dialog string) ([]Call, error)
	// Idle lists up to limit keys of dialogs whose idle event is due: IdleAt is
	// set and not after before. Earliest IdleAt first, then by key.
	Idle(ctx context.Context, before time.Time, limit int) ([]string, error)
	// Close releases the store.
	Close() error
}
