package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/olbot/olbot/engine"
)

// Dialog returns the record for key, or engine.ErrNotFound.
func (s *Store) Dialog(ctx context.Context, key string) (engine.Dialog, error) {
	if !validKey(key) {
		return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, engine.ErrNotFound)
	}
	var rec []byte
	err := s.with(ctx, func(c *pgx.Conn) error { return c.QueryRow(ctx, s.q.dialog, key).Scan(&rec) })
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

// Commit writes the record and its calls in one statement, so atomically.
// It returns engine.ErrConflict when the stored Rev is not c.PrevRev (0: no
// record), and another error for a malformed commit; either way it writes
// nothing. Calls get ids from an identity column: they increase within a
// commit and within a dialog (its commits are serialized by the row lock);
// across dialogs committing at the same moment they follow the order in
// which the commits reached the database, which may differ slightly from
// the order in which they became visible.
func (s *Store) Commit(ctx context.Context, c engine.Commit) error {
	if err := validate(c); err != nil {
		return err
	}
	rec, err := c.Dialog.MarshalBinary()
	if err != nil {
		return fmt.Errorf("commit %q: %w", c.Dialog.Key, err)
	}
	n := len(c.Calls)
	var (
		portals, methods, errs = make([]string, n), make([]string, n), make([]string, n)
		params                 = make([][]byte, n)
		created, next          = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		attempts               = make([]int32, n)
		parked                 = make([]bool, n)
	)
	for i, call := range c.Calls {
		portals[i], methods[i], errs[i] = call.Portal, call.Method, cleanText(call.Error)
		if len(call.Params) > 0 {
			params[i] = call.Params
		}
		created[i] = nullTime(call.Created)
		next[i] = dueTime(call.NextAt)
		attempts[i] = int32(min(max(call.Attempts, 0), 1<<31-1))
		parked[i] = call.Parked
	}
	d := c.Dialog
	args := []any{d.Key, d.Rev, int64(n), rec, nullTime(d.IdleAt), portals, methods, params, created, attempts, next, errs, parked}
	query := s.q.commitNew
	if c.PrevRev > 0 {
		query = s.q.commitNext
		args = append(args, c.PrevRev)
	}
	var base int64
	err = s.with(ctx, func(conn *pgx.Conn) error { return conn.QueryRow(ctx, query, args...).Scan(&base) })
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("commit %q from rev %d: %w", d.Key, c.PrevRev, engine.ErrConflict)
	case err != nil:
		return fmt.Errorf("commit %q: %w", d.Key, err)
	}
	return nil
}

// validate rejects a malformed commit before it reaches the database.
func validate(c engine.Commit) error {
	key := c.Dialog.Key
	switch {
	case key == "":
		return errors.New("commit: the dialog key is empty")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("commit: dialog key of %d bytes is longer than %d", len(key), MaxKeyLen)
	case !validText(key):
		return fmt.Errorf("commit %q: the dialog key is not valid UTF-8 text (or holds a NUL byte)", key)
	case c.PrevRev < 0:
		return fmt.Errorf("commit %q: negative PrevRev %d", key, c.PrevRev)
	case c.Dialog.Rev != c.PrevRev+1:
		return fmt.Errorf("commit %q: Dialog.Rev is %d, want PrevRev+1 = %d", key, c.Dialog.Rev, c.PrevRev+1)
	}
	for i, call := range c.Calls {
		switch {
		case call.Dialog != "" && call.Dialog != key:
			return fmt.Errorf("commit %q: call %d (%s) belongs to dialog %q", key, i, call.Method, call.Dialog)
		case !validText(call.Method) || !validText(call.Portal):
			return fmt.Errorf("commit %q: call %d (%q): method or portal is not valid UTF-8 text", key, i, call.Method)
		case len(call.Params) > 0 && !json.Valid(call.Params):
			return fmt.Errorf("commit %q: call %d (%s): params are not JSON", key, i, call.Method)
		}
	}
	return nil
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

// validKey reports whether key can be a stored dialog key.
func validKey(key string) bool { return key != "" && len(key) <= MaxKeyLen && validText(key) }

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
