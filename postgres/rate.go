package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/olbot/olbot/engine"
)

// Reserve takes a slot for one call to portal under a rate limit that every
// replica on the schema shares: a leaky bucket of burst calls draining one
// call per every, kept as a generic cell rate algorithm (GCRA) row per portal.
// It returns 0 when the call may go now (the slot is taken), or how long
// until a slot is free, taking nothing. It never blocks on the limit; the
// caller sleeps and asks again.
//
// now is the time of the reservation. The zero time means the database
// server's clock, which is the same for every replica however their own
// clocks drift; tests pass explicit times. A reservation is one statement.
func (s *Store) Reserve(ctx context.Context, portal string, now time.Time, every time.Duration, burst int) (time.Duration, error) {
	every = every.Truncate(time.Microsecond)
	if every <= 0 {
		return 0, ctx.Err() // no limit
	}
	burst = max(burst, 1)
	at := pgtype.Timestamptz{}
	if !now.IsZero() {
		at = pgtype.Timestamptz{Time: now, Valid: true}
	}
	micros := every.Microseconds()
	var wait int64
	err := s.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, s.q.reserve, cleanText(portal), at, micros, micros*int64(burst)).Scan(&wait)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Refused, and the portal's row came after the statement's snapshot
		// (another replica's first call): ask again after one interval.
		return every, nil
	case err != nil:
		return 0, fmt.Errorf("rate limit of %s: %w", portal, err)
	}
	return time.Duration(wait) * time.Microsecond, nil
}

// Release ends every lease that owner holds, so that the calls it claimed
// but did not finish are claimable by other replicas at once instead of
// when their leases run out. A replica calls it as the last thing on
// shutdown, when nothing of its own is in flight. It returns how many
// calls it released.
func (s *Store) Release(ctx context.Context, owner string) (int, error) {
	if engine.CheckOwner(owner) != nil {
		return 0, ctx.Err() // no Claim could have given it a lease
	}
	var n int64
	err := s.with(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, s.q.release, owner)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release the leases of %s: %w", owner, err)
	}
	return int(n), nil
}
