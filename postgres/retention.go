package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/olbot/olbot/engine"
)

// retentionMigration adds what retention and erasure read: ended_at
// (engine.Dialog.EndedAt, with the same rules, computed by the database
// from the record, so
// that no commit statement changes and old rows get it when the column is
// added) and space (engine.KeySpace of the key), with the index the sweep
// walks. The functions are IMMUTABLE: the record's times are RFC 3339
// with their offset, so reading them does not depend on the session's
// time zone. A record may hold \u0000 (a field's text), which the json
// operators refuse to read; ended_at reads a copy with it replaced (the
// six characters for six others, so the JSON stays valid).
var retentionMigration = migration{4, "retention", `
CREATE FUNCTION {schema}.ended_at(record json) RETURNS timestamptz
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT CASE WHEN r->>'x' IN ('finished', 'handed_off') THEN coalesce(r->>'te', r->>'tu')::timestamptz
		WHEN r->>'x' = 'active' AND r->>'k' LIKE 'pg:%' THEN (r->>'tu')::timestamptz END
		FROM (SELECT replace(record::text, '\u0000', '\ufffd')::json AS r) AS t $$;
CREATE FUNCTION {schema}.key_space(key text) RETURNS text
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT CASE WHEN key LIKE 'b24:%' THEN 'b24:' WHEN key LIKE 'api:%' THEN 'api:'
		WHEN key LIKE 'pg:%' THEN 'pg:' ELSE '' END $$;
ALTER TABLE {schema}.dialogs
	ADD COLUMN ended_at timestamptz GENERATED ALWAYS AS ({schema}.ended_at(record)) STORED,
	ADD COLUMN space text COLLATE "C" GENERATED ALWAYS AS ({schema}.key_space(key)) STORED;
CREATE INDEX dialogs_ended ON {schema}.dialogs (space, ended_at, key) WHERE ended_at IS NOT NULL;
`}

// The retention and erasure statements; {s} is the quoted schema.
const (
	// $1 space, $2 before, $3 limit.
	endedSQL = `SELECT key FROM {s}.dialogs WHERE space = $1 AND ended_at <= $2 ORDER BY ended_at, key LIMIT $3`
	// $1 key, $2 ended before (NULL: whatever its status). The calls go
	// only when the record went, or when no condition was given.
	eraseSQL = `WITH d AS (
	DELETE FROM {s}.dialogs WHERE key = $1 AND ($2::timestamptz IS NULL OR ended_at <= $2) RETURNING key
), c AS (
	DELETE FROM {s}.outbox WHERE dialog = $1 AND ($2::timestamptz IS NULL OR EXISTS (SELECT 1 FROM d)) RETURNING id
)
SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM c)`
	// $1 space, $2 before, $3 limit. Rows another replica's sweep (or a
	// commit) holds are skipped, so replicas sweeping at once share the
	// work instead of waiting for each other.
	sweepSQL = `WITH d AS (
	DELETE FROM {s}.dialogs WHERE key IN (
		SELECT key FROM {s}.dialogs WHERE space = $1 AND ended_at <= $2
		ORDER BY ended_at, key LIMIT $3 FOR UPDATE SKIP LOCKED)
	RETURNING key
), c AS (
	DELETE FROM {s}.outbox WHERE dialog IN (SELECT key FROM d) RETURNING id
)
SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM c)`
)

func (s *Store) sql(q string) string {
	return strings.ReplaceAll(q, "{s}", pgx.Identifier{s.schema}.Sanitize())
}

// Ended lists up to limit keys of the dialogs of key space space that
// ended not after before, earliest first, then by key.
func (s *Store) Ended(ctx context.Context, space string, before time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	var keys []string
	err := s.with(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, s.sql(endedSQL), space, before, limit)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ended dialogs: %w", err)
	}
	return keys, nil
}

// Erase deletes the dialog's row and all its calls in one statement; with
// a non-zero endedBefore only while the dialog is still ended not after it.
func (s *Store) Erase(ctx context.Context, key string, endedBefore time.Time) (engine.Erased, error) {
	if engine.CheckKey(key) != nil || !validText(key) {
		return engine.Erased{}, nil // no commit could have stored it
	}
	var dialogs, calls int
	err := s.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, s.sql(eraseSQL), key, nullTime(endedBefore)).Scan(&dialogs, &calls)
	})
	if err != nil {
		return engine.Erased{}, fmt.Errorf("erase %q: %w", key, err)
	}
	return engine.Erased{Dialog: dialogs > 0, Calls: calls}, nil
}

// SweepEnded deletes up to limit dialogs of key space space that ended not
// after before, with their calls, in one statement, skipping rows that
// another replica's sweep holds (engine.EndedSweeper).
func (s *Store) SweepEnded(ctx context.Context, space string, before time.Time, limit int) (dialogs, calls int, err error) {
	if limit <= 0 {
		return 0, 0, nil
	}
	err = s.with(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, s.sql(sweepSQL), space, before, limit).Scan(&dialogs, &calls)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("sweep ended dialogs: %w", err)
	}
	return dialogs, calls, nil
}
