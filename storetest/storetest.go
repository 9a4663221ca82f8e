// Package storetest is the conformance suite that every engine.Store passes
// (the bolt, postgres and memory stores), in the style of litestream's
// RunWithReplicaClient: a store package calls Run from its own test with a
// way to open fresh stores.
//
// Besides the contract written in engine/store.go, the suite pins these
// choices, so that every store behaves the same:
//
//   - Commit rejects, writing nothing and without ErrConflict, a record whose
//     Rev is not PrevRev+1, a negative PrevRev, an empty key, and a call whose
//     Dialog names another dialog. The store sets Call.ID, Call.Seq and
//     Call.Dialog and keeps every other call field as given (a new call with
//     Parked set is stored parked).
//   - IDs increase in commit order; Seq increases per dialog across commits
//     and is never reused, even after the dialog's calls are all done.
//   - Claim returns the longest-due calls first: by NextAt (zero first), then
//     ID. A lease lasts while now < now₀+lease, so a call is claimable again
//     at exactly now₀+lease. A Claim by the owner that already holds a lease
//     returns that call again and renews the lease (the contract excludes
//     only calls leased by another owner). limit <= 0 claims nothing.
//   - Done, Retry and Park release the call's lease. Retry sets NextAt,
//     Error and Attempts+1. Park sets Parked and Error and leaves Attempts.
//     On a parked call Retry and Park update those fields and the call stays
//     parked; Done removes it. All three return ErrNotFound for an unknown id.
//   - Calls of an unknown dialog is empty, not ErrNotFound.
//   - Idle lists the dialogs whose idle event is due: IdleAt is set and not
//     after the time given (the engine fires idle when now >= IdleAt and
//     keeps IdleAt zero when no idle is due, so the store looks at nothing
//     else), earliest IdleAt first, then by key; limit <= 0 lists nothing.
//     engine/store.go still describes the older LastIn rule; the engine and
//     the server's sweeper use IdleAt.
//   - Times need only microsecond precision and come back in any location;
//     maps and slices may come back nil when they were empty.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// Opener tells Run how to get the stores it tests.
type Opener struct {
	// Open returns a new, empty store. Required. The suite closes every
	// store it gets and fails the test when Close fails.
	Open func(t *testing.T) engine.Store
	// Reopen closes s and returns a store over the same data, as after a
	// restart of the server. Leave it nil for a store that keeps nothing
	// across Close (memory): the durability subtests are then skipped.
	Reopen func(t *testing.T, s engine.Store) engine.Store
}

// Depther is implemented by stores that report their outbox depth, for the
// server's metrics. Run checks it on stores that implement it.
type Depther interface {
	// Depth returns how many calls wait for delivery and how many are parked.
	Depth(ctx context.Context) (pending, parked int, err error)
}

// KV is a small key-value space for records of other packages (portal
// installs). Run checks it on stores that implement it.
type KV interface {
	Get(ctx context.Context, ns, key string) ([]byte, error)
	Put(ctx context.Context, ns, key string, value []byte) error
	Delete(ctx context.Context, ns, key string) error
}

// Scanner walks every dialog record (the dry run of a scenario change).
// Run checks it on stores that implement it.
type Scanner interface {
	ScanDialogs(ctx context.Context, fn func(engine.Dialog) error) error
}

// Run runs the conformance suite, each subtest on a store of its own.
func Run(t *testing.T, o Opener) {
	t.Helper()
	if o.Open == nil {
		t.Fatal("storetest: Opener.Open is nil")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"DialogNotFound", testDialogNotFound},
		{"CommitNew", testCommitNew},
		{"CommitUpdate", testCommitUpdate},
		{"CommitRoundTrip", testCommitRoundTrip},
		{"CommitCopies", testCommitCopies},
		{"CommitConflict", testCommitConflict},
		{"CommitInvalid", testCommitInvalid},
		{"CommitRace", testCommitRace},
		{"CommitConcurrentDialogs", testCommitConcurrentDialogs},
		{"CallIDsAndSeq", testCallIDsAndSeq},
		{"CallRoundTrip", testCallRoundTrip},
		{"Calls", testCalls},
		{"ClaimHeadOfLine", testClaimHeadOfLine},
		{"ClaimDue", testClaimDue},
		{"ClaimLimitAndOrder", testClaimLimitAndOrder},
		{"ClaimLease", testClaimLease},
		{"ClaimSameOwner", testClaimSameOwner},
		{"ClaimConcurrent", testClaimConcurrent},
		{"ClaimDoneConcurrent", testClaimDoneConcurrent},
		{"Done", testDone},
		{"Retry", testRetry},
		{"Park", testPark},
		{"NotFound", testNotFound},
		{"Idle", testIdle},
		{"IdleUpdates", testIdleUpdates},
		{"Depth", testDepth},
		{"Model", testModel},
		{"KV", testKV},
		{"ScanDialogs", testScanDialogs},
		{"Reopen", testReopen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t, o)) })
	}
}

// t0 is the suite's clock origin; every time it uses has microsecond precision.
var t0 = time.Date(2030, time.March, 4, 5, 6, 7, 891011000, time.UTC)
