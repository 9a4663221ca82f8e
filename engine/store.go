package engine

import (
	"context"
	"errors"
	"time"
)

// Store errors. Implementations return these (possibly wrapped) so callers
// can use errors.Is. Any other error of a store method is a store failure
// (the file or the database cannot be read or written, the store is
// closed) or, when ctx ended, ctx's error: the server answers it as
// "unavailable, try again", and a failed write makes it not ready until
// the store takes writes again.
var (
	// ErrNotFound: the record or call asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: Commit's compare-and-set lost; the caller reads the
	// record again and retries its step.
	ErrConflict = errors.New("conflict: the record changed since it was read")
	// ErrInvalid: the input can never be stored (see CheckCommit and
	// CheckKV); *InvalidError names the field. It says nothing about the
	// store's health: retrying the same input fails the same way.
	ErrInvalid = errors.New("invalid input")
	// ErrFenced: a commit's Cursor carries a fencing number that no
	// longer holds the cursor's lease (it lapsed or another replica took
	// it); nothing was written.
	ErrFenced = errors.New("fenced: the lease of the commit's cursor is no longer held")
)

// NSCursor is the key-value namespace in which a store without a lease
// table (bolt, memory) keeps the cursors commits write, one decimal value
// per cursor key (so KV.Get reads them too).
const NSCursor = "pull"

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

// Commit is one step's result, written atomically: the new dialog record,
// the portal calls it produced (transactional outbox) and, for a step
// caused by a polled event, the stream position past that event.
type Commit struct {
	Dialog  Dialog  // the new record; Dialog.Rev must be PrevRev+1
	PrevRev int64   // the Rev that was read; 0 for a new dialog
	Calls   []Call  // ID and Seq are assigned by the store
	Cursor  *Cursor // nil: no stream position moves with the step
}

// Cursor is a position in an event stream that a commit's step consumed:
// the offset of an imbot.v2 bot's events in fetch mode (package pull),
// written in the same transaction as the step, so that the step and the
// position that confirms its event are stored together or not at all.
type Cursor struct {
	// Key names the stream, e.g. b24:<portal>:v2bot:<id>; the rules of a
	// KV key (CheckKV).
	Key string
	// Value is the position after the step's event. The stored value only
	// grows: a smaller Value leaves the stored one (a replayed event).
	Value int64
	// Fence is the fencing number of the lease under which the writer
	// polls Key; 0: no lease. A store with a lease table (postgres: every
	// replica sees it) refuses, with ErrFenced and writing nothing, a
	// Fence that is not Key's live lease at the moment of the commit. A
	// store of one process (bolt, memory) has no lease table and ignores
	// Fence: the process's own lease (pull.Memory) guards the commit.
	Fence int64
}

// Store is everything the server needs from a store to start: dialog
// records, the outbox and the key-value space. Implementations: bolt
// (embedded, default), postgres (several replicas), memstore (tests,
// `--store memory`); each declares `var _ engine.Store = (*Store)(nil)` and
// passes the conformance suite in package storetest, which tests exactly
// this contract. A store may also have the optional capabilities
// SharedRateLimiter, LeaseReleaser and EndedSweeper.
type Store interface {
	DialogStore
	Outbox
	KV
	// Close releases the store. Every later call fails with a store failure.
	Close() error
}

// DialogStore keeps one record per dialog, written by compare-and-set.
type DialogStore interface {
	// Dialog returns the record for key. ErrNotFound when there is none,
	// also for a key that no Commit could store (empty, too long, not
	// UTF-8): such a record cannot exist.
	Dialog(ctx context.Context, key string) (Dialog, error)
	// Commit writes c atomically, or nothing. It first checks c with
	// CheckCommit: ErrInvalid (an *InvalidError naming the field) for a
	// commit that can never be stored. ErrConflict when the stored
	// record's Rev is not c.PrevRev (0: no record). The store sets each
	// call's ID, Seq and Dialog and keeps its other fields. With
	// c.Cursor, the cursor's value becomes max(stored, Value) in the same
	// transaction; ErrFenced (nothing written) for a Fence the store's
	// lease table refuses (see Cursor).
	Commit(ctx context.Context, c Commit) error
	// Cursor returns the value last written for a cursor key by Commit, 0
	// when none was (also for a key CheckKV refuses). Only store failures.
	Cursor(ctx context.Context, key string) (int64, error)
	// Idle lists up to limit keys of dialogs whose idle event is due:
	// IdleAt is set and not after before. Earliest IdleAt first, then by
	// key; limit <= 0 lists nothing. Only store failures.
	Idle(ctx context.Context, before time.Time, limit int) ([]string, error)
	// ScanDialogs calls fn for every dialog record, in key order (bytes),
	// until fn returns an error, which ScanDialogs returns as is. Records
	// committed while it runs may or may not be seen. fn must not call the
	// store: the embedded store holds a read transaction while it runs.
	ScanDialogs(ctx context.Context, fn func(Dialog) error) error
	// Ended lists up to limit keys of dialogs in key space space (KeySpace
	// of the key: KeyPortal, KeyAPI, KeyPlayground or "") that ended
	// (Dialog.EndedAt is set) not after before: earliest EndedAt first,
	// then by key; limit <= 0 lists nothing. The retention sweep reads it.
	// Only store failures.
	Ended(ctx context.Context, space string, before time.Time, limit int) ([]string, error)
	// Erase deletes the dialog's record and every call of it — pending,
	// leased or parked — in one transaction, and says what it deleted
	// (nothing for a dialog that does not exist: not an error). With a
	// non-zero endedBefore it deletes only a dialog that is still ended not
	// after that time (Dialog.EndedAt), so that the retention sweep never
	// deletes a dialog that an event restarted since it was listed; such a
	// dialog is left as is and Erased is zero. Afterwards the key is new: a
	// later Commit starts from PrevRev 0, and its calls' Seq may start
	// again (no call of the erased dialog is left to order them against).
	// Only store failures.
	Erase(ctx context.Context, key string, endedBefore time.Time) (Erased, error)
}

// Erased is what Erase deleted.
type Erased struct {
	Dialog bool `json:"dialog"` // the record was deleted
	Calls  int  `json:"calls"`  // pending and parked calls deleted
}

// Outbox is the queue of portal calls that commits wrote (transactional
// outbox). Calls of one dialog go out in Seq order: only a dialog's first
// pending (unparked) call, its head, is ever claimable.
type Outbox interface {
	// Claim leases up to limit deliverable calls to owner until now+lease:
	// for each dialog only its head, when due (NextAt <= now) and not
	// leased by another owner, longest-due first (NextAt, then ID). A head
	// already leased by owner comes back with its lease renewed. limit <= 0
	// claims nothing. ErrInvalid for an owner CheckOwner refuses.
	Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]Call, error)
	// Done removes a delivered (or parked) call and releases its lease; the
	// dialog's next call becomes its head. ErrNotFound if the call is gone.
	Done(ctx context.Context, id uint64) error
	// Retry records a failed attempt (Attempts+1, Error) and makes the call
	// due again at next, releasing its lease; a parked call stays parked.
	// ErrNotFound if the call is gone.
	Retry(ctx context.Context, id uint64, next time.Time, errText string) error
	// Park makes the call a dead letter with its error, releasing its
	// lease; later calls of the dialog proceed. Parking a parked call
	// updates its Error. ErrNotFound if the call is gone.
	Park(ctx context.Context, id uint64, errText string) error
	// Calls lists a dialog's pending and parked calls in Seq order; empty,
	// not ErrNotFound, for a dialog without calls. Only store failures.
	Calls(ctx context.Context, dialog string) ([]Call, error)
	// Depth returns how many calls wait for delivery and how many are
	// parked (the server's outbox metrics). Only store failures.
	Depth(ctx context.Context) (pending, parked int, err error)
}

// KV is a small namespaced key-value space for records of other packages:
// portal installs, funnel counts, the server's write probe. Values are
// bytes, kept exactly (an empty value is present, not missing).
type KV interface {
	// Get returns the value under ns/key. ErrNotFound when there is none,
	// also for a namespace or key that CheckKV refuses.
	Get(ctx context.Context, ns, key string) ([]byte, error)
	// Put stores value under ns/key, durably. ErrInvalid (an *InvalidError
	// naming the field) for a namespace or key that CheckKV refuses;
	// nothing is written then.
	Put(ctx context.Context, ns, key string, value []byte) error
	// Delete removes ns/key. Deleting a missing key, or one that CheckKV
	// refuses (it cannot exist), is not an error. Only store failures.
	Delete(ctx context.Context, ns, key string) error
}

// SharedRateLimiter is an optional capability: a store that keeps the
// per-portal rate limit for every replica on it (PostgreSQL). The server
// finds it by type assertion; without it (bolt, memory: one process) the
// server limits each portal with an in-process bitrix24.Limiter.
type SharedRateLimiter interface {
	// Reserve takes a slot for one call to portal under a leaky bucket of
	// burst calls draining one per every, returning 0, or returns how long
	// until a slot is free, taking nothing. A zero now means the store's
	// own clock, the same for every replica. Only store failures.
	Reserve(ctx context.Context, portal string, now time.Time, every time.Duration, burst int) (wait time.Duration, err error)
}

// LeaseReleaser is an optional capability: a store whose outbox leases
// outlive the process (PostgreSQL). On shutdown the server ends its own
// leases, so that other replicas send those calls at once instead of when
// the leases run out. Without it (bolt, memory: leases live in memory and
// end with the process) the server does nothing.
type LeaseReleaser interface {
	// Release ends every lease owner holds and returns how many it ended.
	// Only store failures.
	Release(ctx context.Context, owner string) (int, error)
}

// EndedSweeper is an optional capability: a store that erases a batch of
// ended dialogs in one statement, skipping the rows another replica's sweep
// holds, so that several replicas sweep at once without deleting twice or
// waiting for each other (PostgreSQL). Without it the retention sweep lists
// with Ended and erases each dialog with Erase.
type EndedSweeper interface {
	// SweepEnded erases up to limit dialogs of key space space that ended
	// not after before, with all their calls, and returns how many dialogs
	// and calls it deleted. Only store failures.
	SweepEnded(ctx context.Context, space string, before time.Time, limit int) (dialogs, calls int, err error)
}
