package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/olbot/olbot/pull"
)

// pullMigration creates the table of the imbot.v2 fetch-mode pollers: per
// bot key, the lease (holder, fence, lease_until) that lets one replica
// poll, and the offset it last wrote.
var pullMigration = migration{3, "pull", `
CREATE TABLE {schema}.pull (
	key         text COLLATE "C" PRIMARY KEY,
	holder      text NOT NULL,
	fence       bigint NOT NULL,
	lease_until timestamptz NOT NULL,
	next_offset bigint NOT NULL DEFAULT 0
);
`}

// Pull is the store's side of the fetch-mode poller (package pull): a
// lease per bot with a fencing number, and the offset, shared by every
// replica on the schema. Lease times are the database server's clock, the
// same for every replica.
type Pull struct{ s *Store }

var (
	_ pull.Lease   = (*Pull)(nil)
	_ pull.Cursors = (*Pull)(nil)
)

// Pull returns the store's poller leases and offsets.
func (s *Store) Pull() *Pull { return &Pull{s: s} }

func (p *Pull) sql(q string) string { return p.s.pullSQL(q) }

func (s *Store) pullSQL(q string) string {
	return strings.ReplaceAll(q, "{s}", pgx.Identifier{s.schema}.Sanitize())
}

// Acquire implements pull.Lease in one statement: the row is taken when it
// is new, lapsed, or holder's own; a new holder or a lapse bumps the fence.
func (p *Pull) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (pull.Fence, error) {
	f := pull.Fence{Key: key, Holder: holder}
	err := p.s.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, p.sql(`
INSERT INTO {s}.pull AS p (key, holder, fence, lease_until)
VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 microsecond')
ON CONFLICT (key) DO UPDATE SET
	fence = CASE WHEN p.holder = EXCLUDED.holder AND p.lease_until > clock_timestamp() THEN p.fence ELSE p.fence + 1 END,
	holder = EXCLUDED.holder,
	lease_until = EXCLUDED.lease_until
WHERE p.lease_until <= clock_timestamp() OR p.holder = EXCLUDED.holder
RETURNING fence, lease_until`), cleanText(key), cleanText(holder), ttl.Microseconds()).Scan(&f.Number, &f.Until)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return pull.Fence{}, pull.ErrLeaseHeld
	case err != nil:
		return pull.Fence{}, fmt.Errorf("acquire pull lease %s: %w", key, err)
	}
	return f, nil
}

// Renew implements pull.Lease.
func (p *Pull) Renew(ctx context.Context, f pull.Fence, ttl time.Duration) (pull.Fence, error) {
	err := p.s.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, p.sql(`
UPDATE {s}.pull SET lease_until = clock_timestamp() + $4 * interval '1 microsecond'
WHERE key = $1 AND holder = $2 AND fence = $3 AND lease_until > clock_timestamp()
RETURNING lease_until`), cleanText(f.Key), cleanText(f.Holder), f.Number, ttl.Microseconds()).Scan(&f.Until)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return pull.Fence{}, pull.ErrLeaseLost
	case err != nil:
		return pull.Fence{}, fmt.Errorf("renew pull lease %s: %w", f.Key, err)
	}
	return f, nil
}

// Release implements pull.Lease: the lease ends now if f still holds it.
func (p *Pull) Release(ctx context.Context, f pull.Fence) error {
	err := p.s.with(ctx, func(c *pgx.Conn) error {
		_, err := c.Exec(ctx, p.sql(`UPDATE {s}.pull SET lease_until = '-infinity' WHERE key = $1 AND holder = $2 AND fence = $3`),
			cleanText(f.Key), cleanText(f.Holder), f.Number)
		return err
	})
	if err != nil {
		return fmt.Errorf("release pull lease %s: %w", f.Key, err)
	}
	return nil
}

// Offset implements pull.Cursors: 0 when none was written.
func (p *Pull) Offset(ctx context.Context, key string) (int64, error) {
	var off int64
	err := p.s.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, p.sql(`SELECT next_offset FROM {s}.pull WHERE key = $1`), cleanText(key)).Scan(&off)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("read pull offset %s: %w", key, err)
	}
	return off, nil
}

// Advance implements pull.Cursors: the offset is written in the same
// statement that checks f still holds a live lease, so a replica whose
// lease lapsed or was taken over writes nothing (pull.ErrFenced).
func (p *Pull) Advance(ctx context.Context, f pull.Fence, next int64) error {
	var n int64
	err := p.s.with(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, p.sql(`
UPDATE {s}.pull SET next_offset = $4
WHERE key = $1 AND holder = $2 AND fence = $3 AND lease_until > clock_timestamp()`),
			cleanText(f.Key), cleanText(f.Holder), f.Number, next)
		n = tag.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("write pull offset %s: %w", f.Key, err)
	case n == 0:
		return pull.ErrFenced
	}
	return nil
}

// Guard implements pull.Cursors: each commit checks the fence in its own
// transaction (engine.Commit.Cursor), so there is nothing to hold here.
func (p *Pull) Guard(_ context.Context, _ pull.Fence, commit func() error) error { return commit() }
