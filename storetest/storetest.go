// Package storetest is the conformance suite that every engine.Store passes
// (the bolt, postgres and memory stores), in the style of litestream's
// RunWithReplicaClient: a store package calls Run from its own test with a
// way to open fresh stores. It tests the contract written in
// engine/store.go — every method of DialogStore, Outbox and KV, the
// validation of engine.CheckCommit and engine.CheckKV with their limits —
// and the optional capabilities (SharedRateLimiter, LeaseReleaser,
// EndedSweeper) on the
// stores that have them.
//
// Besides that contract, the suite pins these choices, so that every store
// behaves the same:
//
//   - The store sets Call.ID, Call.Seq and Call.Dialog and keeps every other
//     call field as given (a new call with Parked set is stored parked).
//   - IDs increase in commit order; Seq increases per dialog across commits
//     and is never reused, even after the dialog's calls are all done.
//   - A lease lasts while now < now₀+lease, so a call is claimable again
//     at exactly now₀+lease.
//   - Done, Retry and Park release the call's lease. Retry sets NextAt,
//     Error and Attempts+1. Park sets Parked and Error and leaves Attempts.
//     On a parked call Retry and Park update those fields and the call stays
//     parked; Done removes it.
//   - Idle looks at IdleAt only (the engine fires idle when now >= IdleAt
//     and keeps IdleAt zero when no idle is due).
//   - A commit's Cursor is written in its transaction, as max(stored,
//     Value), and not at all when the commit is refused (invalid, a lost
//     compare-and-set); Cursor reads 0 for a cursor never written.
//   - Times need only microsecond precision and come back in any location;
//     maps and slices may come back nil when they were empty.
package storetest

import (
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
		{"CommitLimits", testCommitLimits},
		{"CommitRace", testCommitRace},
		{"CommitConcurrentDialogs", testCommitConcurrentDialogs},
		{"Cursor", testCursor},
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
		{"ClaimOwner", testClaimOwner},
		{"KV", testKV},
		{"KVInvalid", testKVInvalid},
		{"ScanDialogs", testScanDialogs},
		{"Ended", testEnded},
		{"Erase", testErase},
		{"EraseEnded", testEraseEnded},
		{"Reopen", testReopen},
		{"SharedRateLimiter", testSharedRateLimiter},
		{"LeaseReleaser", testLeaseReleaser},
		{"EndedSweeper", testEndedSweeper},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t, o)) })
	}
}

// t0 is the suite's clock origin; every time it uses has microsecond precision.
var t0 = time.Date(2030, time.March, 4, 5, 6, 7, 891011000, time.UTC)
