package postgres

import (
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/pull/pulltest"
)

// TestPull runs the lease and offset suite on two replicas of one schema,
// with the database's clock.
func TestPull(t *testing.T) {
	testDSN(t)
	const ttl = time.Second // long enough for the steps a case takes before its lapse, on a loaded machine
	var last *Store
	pulltest.Run(t, pulltest.Opener{
		Open: func(t *testing.T) (a, b pulltest.Leases) {
			schema := newSchema(t)
			sa, sb := mustOpen(t, schema), mustOpen(t, schema)
			t.Cleanup(func() { _ = sa.Close(); _ = sb.Close() })
			last = sa
			return sa.Pull(), sb.Pull()
		},
		// replica a's commits: the fence is checked in their transaction
		Store: func() engine.DialogStore { return last },
		// only makes a lease lapse; nothing is timed
		Lapse: func(*testing.T) { time.Sleep(ttl + 100*time.Millisecond) },
		TTL:   ttl,
	})
}
