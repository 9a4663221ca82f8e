package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/olbot/olbot/engine"
)

// Claim leases up to limit deliverable calls to owner until now+lease: the
// head call of each dialog (its lowest-Seq unparked call) when it is due
// (NextAt <= now) and not leased by another owner (a lease holds while
// now < its end), longest-due first. A head already leased by owner is
// returned again with its lease renewed. Leases are stored, so they hold
// across replicas and restarts: give every process an owner of its own,
// and the calls of one that died go out again when their leases end.
//
// The head of a dialog whose head another claim is leasing at this moment
// is skipped, not waited for, so a Claim may return fewer than limit calls
// while more are due.
func (s *Store) Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]engine.Call, error) {
	if err := engine.CheckOwner(owner); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	if limit <= 0 {
		return nil, ctx.Err()
	}
	var out []engine.Call
	err := s.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, s.q.claim, now, owner, limit, now.Add(lease))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanCall)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	slices.SortFunc(out, func(a, b engine.Call) int {
		if c := a.NextAt.Compare(b.NextAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Done removes a delivered (or parked) call, or returns engine.ErrNotFound.
// The dialog's next call becomes claimable. Concurrent Dones (the calls of
// one portal batch, recorded by several senders) share one statement.
func (s *Store) Done(ctx context.Context, id uint64) error {
	if id == 0 || id > math.MaxInt64 {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("done call %d: %w", id, engine.ErrNotFound)
	}
	_, err := s.dones.do(ctx, int64(id))
	if err != nil {
		return fmt.Errorf("done call %d: %w", id, err)
	}
	return nil
}

func doneKey(id int64) string { return strconv.FormatInt(id, 10) }

// deleteCalls runs a batch of Dones: one DELETE for all of them. A call
// that was not there gets engine.ErrNotFound.
func (s *Store) deleteCalls(ctx context.Context, ops []*op[int64, struct{}]) {
	if len(ops) == 1 {
		o := ops[0]
		o.err = s.with(ctx, func(c *pgx.Conn) error {
			tag, err := c.Exec(ctx, s.q.done, o.in)
			if err == nil && tag.RowsAffected() == 0 {
				err = engine.ErrNotFound
			}
			return err
		})
		return
	}
	ids := make([]int64, len(ops))
	for i, o := range ops {
		ids[i] = o.in
	}
	gone := make(map[int64]bool, len(ops))
	err := s.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, s.q.doneMany, ids)
		if err != nil {
			return err
		}
		var id int64
		_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
			gone[id] = true
			return nil
		})
		return err
	})
	for _, o := range ops {
		switch {
		case err != nil:
			o.err = err
		case !gone[o.in]:
			o.err = engine.ErrNotFound
		}
	}
}

// Retry records a failed attempt (Attempts+1, Error) and makes the call due
// at next, releasing its lease. A parked call stays parked.
func (s *Store) Retry(ctx context.Context, id uint64, next time.Time, errText string) error {
	return s.update(ctx, "retry", id, s.q.retry, dueTime(next), cleanText(errText))
}

// Park makes the call a dead letter with errText, releasing its lease; the
// dialog's later calls proceed. Parking a parked call updates its Error.
func (s *Store) Park(ctx context.Context, id uint64, errText string) error {
	return s.update(ctx, "park", id, s.q.park, cleanText(errText))
}

// update runs a one-row statement on call id ($1).
func (s *Store) update(ctx context.Context, op string, id uint64, query string, args ...any) error {
	if id == 0 || id > math.MaxInt64 {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%s call %d: %w", op, id, engine.ErrNotFound)
	}
	var n int64
	err := s.with(ctx, func(c *pgx.Conn) error {
		tag, err := c.Exec(ctx, query, append([]any{int64(id)}, args...)...)
		n = tag.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("%s call %d: %w", op, id, err)
	case n == 0:
		return fmt.Errorf("%s call %d: %w", op, id, engine.ErrNotFound)
	}
	return nil
}

// Calls lists a dialog's pending and parked calls in Seq order.
func (s *Store) Calls(ctx context.Context, dialog string) ([]engine.Call, error) {
	if engine.CheckKey(dialog) != nil {
		return nil, ctx.Err()
	}
	var out []engine.Call
	err := s.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, s.q.calls, dialog)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanCall)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("calls of %q: %w", dialog, err)
	}
	return out, nil
}

// Depth returns how many calls wait for delivery and how many are parked,
// in all replicas. It counts rows, so it costs a scan of the outbox: call it
// for metrics every few seconds, not per request.
func (s *Store) Depth(ctx context.Context) (pending, parked int, err error) {
	var p, k int64
	err = s.with(ctx, func(c *pgx.Conn) error { return c.QueryRow(ctx, s.q.depth).Scan(&p, &k) })
	if err != nil {
		return 0, 0, fmt.Errorf("outbox depth: %w", err)
	}
	return int(p), int(k), nil
}

// scanCall reads the callColumns of a row.
func scanCall(row pgx.CollectableRow) (engine.Call, error) {
	var (
		c             engine.Call
		id            int64
		attempts      int32
		created, next pgtype.Timestamptz
	)
	err := row.Scan(&id, &c.Dialog, &c.Seq, &c.Portal, &c.Method, &c.Params, &created, &attempts, &next, &c.Error, &c.Parked)
	if err != nil {
		return engine.Call{}, err
	}
	c.ID, c.Attempts = uint64(id), int(attempts)
	c.Created, c.NextAt = fromTime(created), fromTime(next)
	return c, nil
}
