package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/olbot/olbot/engine"
)

// Dialog returns the record for key, or engine.ErrNotFound. Concurrent
// reads share one query (see batcher).
func (s *Store) Dialog(ctx context.Context, key string) (engine.Dialog, error) {
	if engine.CheckKey(key) != nil {
		return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, engine.ErrNotFound)
	}
	rec, err := s.reads.do(ctx, key)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, engine.ErrNotFound)
	case err != nil:
		return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, err)
	}
	var d engine.Dialog
	if err := d.UnmarshalBinary(rec); err != nil {
		return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, err)
	}
	return d, nil
}

// readDialogs runs a batch of Dialog reads: one query for all of them. A
// key without a record gets pgx.ErrNoRows.
func (s *Store) readDialogs(ctx context.Context, ops []*op[string, []byte]) {
	if len(ops) == 1 {
		o := ops[0]
		o.err = s.with(ctx, func(c *pgx.Conn) error { return c.QueryRow(ctx, s.q.dialog, o.in).Scan(&o.out) })
		return
	}
	keys := make([]string, len(ops))
	for i, o := range ops {
		keys[i] = o.in
	}
	found := make(map[string][]byte, len(ops))
	err := s.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, s.q.dialogs, keys)
		if err != nil {
			return err
		}
		var key string
		var rec []byte
		_, err = pgx.ForEachRow(rows, []any{&key, &rec}, func() error {
			found[key] = rec
			return nil
		})
		return err
	})
	for _, o := range ops {
		switch rec, ok := found[o.in]; {
		case err != nil:
			o.err = err
		case !ok:
			o.err = pgx.ErrNoRows
		default:
			o.out = rec
		}
	}
}

// Commit writes the record and its calls in one statement, so atomically.
// It returns engine.ErrInvalid for a commit engine.CheckCommit refuses and
// engine.ErrConflict when the stored Rev is not c.PrevRev (0: no record);
// either way it writes nothing. Calls get ids from an identity column: they increase within a
// commit and within a dialog (its commits are serialized by the row lock);
// across dialogs committing at the same moment they follow the order in
// which the commits reached the database, which may differ slightly from
// the order in which they became visible.
//
// Concurrent commits of different dialogs share one statement, so one
// transaction (see batcher and commitBatch); each still wins or loses its
// own compare-and-set. A commit with a Cursor runs alone, in a
// transaction that first moves the cursor in the pull table — only while
// Cursor.Fence is the live lease there, by the database's clock (else
// engine.ErrFenced) — and then writes the step (commitCursor).
func (s *Store) Commit(ctx context.Context, c engine.Commit) error {
	if err := engine.CheckCommit(c); err != nil {
		return err
	}
	rec, err := c.Dialog.MarshalBinary()
	if err != nil {
		return fmt.Errorf("commit %q: %w", c.Dialog.Key, err)
	}
	d := c.Dialog
	r := commitReq{key: d.Key, rev: d.Rev, prev: c.PrevRev, rec: rec, idle: nullTime(d.IdleAt), calls: c.Calls}
	if c.Cursor != nil {
		// a transaction of its own: the fence check, the cursor and the step
		err = s.commitCursor(ctx, r, *c.Cursor)
	} else {
		_, err = s.commits.do(ctx, r)
	}
	switch {
	case errors.Is(err, engine.ErrFenced):
		return fmt.Errorf("commit %q with cursor %s (fence %d): %w", d.Key, c.Cursor.Key, c.Cursor.Fence, err)
	case errors.Is(err, engine.ErrConflict):
		return fmt.Errorf("commit %q from rev %d: %w", d.Key, c.PrevRev, engine.ErrConflict)
	case err != nil:
		return fmt.Errorf("commit %q: %w", d.Key, err)
	}
	return nil
}

// commitReq is a validated commit with its record encoded.
type commitReq struct {
	key       string
	rev, prev int64
	rec       []byte
	idle      pgtype.Timestamptz
	calls     []engine.Call
}

func commitKey(r commitReq) string { return r.key }

// callArrays holds calls as the column arrays that the commit statements
// unnest: commit is the 1-based position of the call's commit in a batch,
// pos its 1-based position within its commit.
type callArrays struct {
	commit, pos            []int64
	portals, methods, errs []string
	params                 [][]byte
	created, next          []pgtype.Timestamptz
	attempts               []int32
	parked                 []bool
}

func (a *callArrays) add(commit int64, calls []engine.Call) {
	for i, call := range calls {
		a.commit = append(a.commit, commit)
		a.pos = append(a.pos, int64(i+1))
		a.portals = append(a.portals, call.Portal)
		a.methods = append(a.methods, call.Method)
		a.errs = append(a.errs, cleanText(call.Error))
		var params []byte
		if len(call.Params) > 0 {
			params = call.Params
		}
		a.params = append(a.params, params)
		a.created = append(a.created, nullTime(call.Created))
		a.next = append(a.next, dueTime(call.NextAt))
		a.attempts = append(a.attempts, int32(min(max(call.Attempts, 0), 1<<31-1)))
		a.parked = append(a.parked, call.Parked)
	}
}

// commitOne runs one commit as its own statement; an error wrapping
// engine.ErrConflict means the compare-and-set failed.
func (s *Store) commitOne(ctx context.Context, r commitReq) error {
	return s.with(ctx, func(conn *pgx.Conn) error { return s.commitStmt(ctx, conn, r) })
}

// querier is a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// commitCursor writes cur and the commit in one transaction. The pull
// row is updated first: its row lock makes a replica taking the lease
// over (Acquire) wait for this transaction and then read the offset it
// wrote; a lapsed or replaced fence updates no row, and nothing is
// written (engine.ErrFenced). A lost compare-and-set rolls the cursor
// back too (engine.ErrConflict).
func (s *Store) commitCursor(ctx context.Context, r commitReq, cur engine.Cursor) error {
	return s.with(ctx, func(conn *pgx.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if err := s.raiseCursor(ctx, tx, cur); err != nil {
				return err
			}
			return s.commitStmt(ctx, tx, r)
		})
	})
}

// raiseCursor sets the cursor to max(stored, Value): under its live lease
// when Fence > 0 (engine.ErrFenced otherwise), else unconditionally.
func (s *Store) raiseCursor(ctx context.Context, q querier, cur engine.Cursor) error {
	key := cleanText(cur.Key)
	if cur.Fence == 0 {
		_, err := q.Exec(ctx, s.pullSQL(`
INSERT INTO {s}.pull AS p (key, holder, fence, lease_until, next_offset) VALUES ($1, '', 0, '-infinity', $2)
ON CONFLICT (key) DO UPDATE SET next_offset = GREATEST(p.next_offset, EXCLUDED.next_offset)`), key, cur.Value)
		return err
	}
	tag, err := q.Exec(ctx, s.pullSQL(`
UPDATE {s}.pull SET next_offset = GREATEST(next_offset, $3)
WHERE key = $1 AND fence = $2 AND lease_until > clock_timestamp()`), key, cur.Fence, cur.Value)
	switch {
	case err != nil:
		return err
	case tag.RowsAffected() == 0:
		return engine.ErrFenced
	}
	return nil
}

// Cursor implements engine.DialogStore: the offset in the pull table, the
// same that Pull.Offset reads.
func (s *Store) Cursor(ctx context.Context, key string) (int64, error) {
	return s.Pull().Offset(ctx, key)
}

// commitStmt runs one commit's statement on q.
func (s *Store) commitStmt(ctx context.Context, q querier, r commitReq) error {
	var a callArrays
	a.add(1, r.calls)
	args := []any{r.key, r.rev, int64(len(r.calls)), r.rec, r.idle, a.portals, a.methods, a.params, a.created, a.attempts, a.next, a.errs, a.parked}
	query := s.q.commitNew
	if r.prev > 0 {
		query = s.q.commitNext
		args = append(args, r.prev)
	}
	var base int64
	err := q.QueryRow(ctx, query, args...).Scan(&base)
	if errors.Is(err, pgx.ErrNoRows) {
		return engine.ErrConflict
	}
	return err
}

// commitBatch runs a batch of commits of distinct dialogs as one statement
// (queries.commitMany), so in one transaction: each commit's
// compare-and-set is checked on its own row, and the calls of the commits
// that won are inserted. When the statement fails in the database (so
// wrote nothing) — a deadlock with another replica's batch, or one commit
// that the database refuses — every commit runs again alone, so each gets
// its own answer. When the connection fails, every commit gets its error:
// as for a single statement, the batch may or may not have been written.
func (s *Store) commitBatch(ctx context.Context, ops []*op[commitReq, struct{}]) {
	if len(ops) == 1 {
		ops[0].err = s.commitOne(ctx, ops[0].in)
		return
	}
	// Rows are locked in key order, as every replica's batches lock them:
	// two batches that share dialogs then wait for each other instead of
	// deadlocking.
	slices.SortFunc(ops, func(a, b *op[commitReq, struct{}]) int { return strings.Compare(a.in.key, b.in.key) })
	n := len(ops)
	var (
		keys        = make([]string, n)
		revs, prevs = make([]int64, n), make([]int64, n)
		ncalls      = make([]int64, n)
		recs        = make([][]byte, n)
		idle        = make([]pgtype.Timestamptz, n)
		a           callArrays
	)
	for i, o := range ops {
		r := o.in
		keys[i], revs[i], prevs[i], ncalls[i], recs[i], idle[i] = r.key, r.rev, r.prev, int64(len(r.calls)), r.rec, r.idle
		a.add(int64(i+1), r.calls)
	}
	won := make([]bool, n)
	err := s.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, s.q.commitMany, keys, revs, prevs, ncalls, recs, idle,
			a.commit, a.pos, a.portals, a.methods, a.params, a.created, a.attempts, a.next, a.errs, a.parked)
		if err != nil {
			return err
		}
		var i int64
		_, err = pgx.ForEachRow(rows, []any{&i}, func() error {
			if i >= 1 && i <= int64(n) {
				won[i-1] = true
			}
			return nil
		})
		return err
	})
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		for _, o := range ops {
			o.err = s.commitOne(o.ctx, o.in)
		}
	case err != nil:
		for _, o := range ops {
			o.err = err
		}
	default:
		for i, o := range ops {
			if !won[i] {
				o.err = engine.ErrConflict
			}
		}
	}
}

// Idle lists up to limit keys of dialogs whose idle event is due: IdleAt
// is set and not after before. Earliest IdleAt first, then by key (bytes).
func (s *Store) Idle(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	var keys []string
	err := s.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, s.q.idle, before, limit)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("idle dialogs: %w", err)
	}
	return keys, nil
}

// scanPage is how many records ScanDialogs reads per query. It reads page
// by page, holding no connection while fn runs, so fn may use the store.
const scanPage = 256

// ScanDialogs calls fn for every dialog record, in key order (bytes), until
// fn returns an error, which ScanDialogs returns. Records committed while
// it runs may or may not be seen.
func (s *Store) ScanDialogs(ctx context.Context, fn func(engine.Dialog) error) error {
	after := ""
	for {
		var page []engine.Dialog
		err := s.with(ctx, func(c *pgx.Conn) error {
			rows, err := c.Query(ctx, s.q.scan, after, scanPage)
			if err != nil {
				return err
			}
			page, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (engine.Dialog, error) {
				var key string
				var rec []byte
				if err := row.Scan(&key, &rec); err != nil {
					return engine.Dialog{}, err
				}
				var d engine.Dialog
				if err := d.UnmarshalBinary(rec); err != nil {
					return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, err)
				}
				d.Key = key
				return d, nil
			})
			return err
		})
		if err != nil {
			return fmt.Errorf("scan dialogs: %w", err)
		}
		for _, d := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(d); err != nil {
				return err
			}
		}
		if len(page) < scanPage {
			return nil
		}
		after = page[len(page)-1].Key
	}
}

// validText reports whether PostgreSQL's text type can hold s.
func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// cleanText makes s storable as text: error messages come from the network
// and may hold anything, and a Retry must not fail on them.
func cleanText(s string) string {
	if validText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// dueTime stores a zero NextAt as -infinity, which sorts before any time.
func dueTime(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	}
	return pgtype.Timestamptz{Time: t, Valid: true}
}

// fromTime reads what nullTime and dueTime stored.
func fromTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid || t.InfinityModifier != pgtype.Finite {
		return time.Time{}
	}
	return t.Time.UTC()
}
