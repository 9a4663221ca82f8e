package postgres

import "strings"

// queries are the store's SQL with the schema filled in.
type queries struct {
	dialog, dialogs, commitNew, commitNext, commitMany, idle, scan     string
	claim, done, doneMany, retry, park, calls, depth, get, put, delete string
	release, reserve                                                   string
}

// callColumns are read by scanCall, in this order.
const callColumns = `id, dialog, seq, portal, method, params, created, attempts, next_at, error, parked`

// insertCalls is the tail of both commit statements: it inserts the calls
// only when the CAS in d matched (d has a row), numbering them from d.base.
// The ORDER BY makes the identity column hand out ids in call order.
const insertCalls = `,
ins AS (
	INSERT INTO {s}.outbox (dialog, seq, portal, method, params, created, attempts, next_at, error, parked)
	SELECT d.key, d.base + u.ord, u.portal, u.method, u.params, u.created, u.attempts, u.next_at, u.error, u.parked
	FROM d CROSS JOIN unnest($6::text[], $7::text[], $8::json[], $9::timestamptz[], $10::integer[], $11::timestamptz[], $12::text[], $13::boolean[])
		WITH ORDINALITY AS u(portal, method, params, created, attempts, next_at, error, parked, ord)
	ORDER BY u.ord
)
SELECT base FROM d`

func newQueries(schema string) queries {
	q := queries{
		dialog: `SELECT record FROM {s}.dialogs WHERE key = $1`,
		// A batch of reads: $1 the keys.
		dialogs: `SELECT key, record FROM {s}.dialogs WHERE key = ANY($1::text[])`,

		// $1 key, $2 rev, $3 number of calls, $4 record, $5 idle_at, $6–$13 the calls.
		commitNew: `WITH d AS (
	INSERT INTO {s}.dialogs (key, rev, seq, record, idle_at) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (key) DO NOTHING
	RETURNING key, 0::bigint AS base
)` + insertCalls,
		// The same, and $14 the previous rev.
		commitNext: `WITH d AS (
	UPDATE {s}.dialogs SET rev = $2, seq = seq + $3, record = $4, idle_at = $5, updated_at = now()
	WHERE key = $1 AND rev = $14
	RETURNING key, seq - $3 AS base
)` + insertCalls,

		// A batch of commits of distinct dialogs (see commitBatch), sorted
		// by key. $1–$6 one element per commit: key, rev, prev rev (0: a
		// new dialog), number of calls, record, idle_at. $7–$16 one element
		// per call: its commit's position (c.i), its position within that
		// commit, then the columns as in insertCalls. Returns c.i of each
		// commit whose compare-and-set matched. The statement is one
		// transaction; each commit's CAS is checked on its own row exactly
		// as in commitNew and commitNext (under READ COMMITTED, an UPDATE
		// that waited for another transaction re-checks rev = prev on the
		// row's newest version).
		commitMany: `WITH c AS (
	SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::json[], $6::timestamptz[])
		WITH ORDINALITY AS c(key, rev, prev, n, record, idle_at, i)
), upd AS (
	UPDATE {s}.dialogs AS d SET rev = c.rev, seq = d.seq + c.n, record = c.record, idle_at = c.idle_at, updated_at = now()
	FROM c WHERE c.prev > 0 AND d.key = c.key AND d.rev = c.prev
	RETURNING c.i, d.seq - c.n AS base
), new AS (
	INSERT INTO {s}.dialogs (key, rev, seq, record, idle_at)
	SELECT key, rev, n, record, idle_at FROM c WHERE prev = 0 ORDER BY key
	ON CONFLICT (key) DO NOTHING
	RETURNING key
), won AS (
	SELECT i, base FROM upd
	UNION ALL
	SELECT c.i, 0::bigint FROM new JOIN c ON c.key = new.key AND c.prev = 0
), ins AS (
	INSERT INTO {s}.outbox (dialog, seq, portal, method, params, created, attempts, next_at, error, parked)
	SELECT c.key, won.base + u.pos, u.portal, u.method, u.params, u.created, u.attempts, u.next_at, u.error, u.parked
	FROM unnest($7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::json[], $12::timestamptz[], $13::integer[], $14::timestamptz[], $15::text[], $16::boolean[])
		WITH ORDINALITY AS u(ci, pos, portal, method, params, created, attempts, next_at, error, parked, ord)
	JOIN won ON won.i = u.ci JOIN c ON c.i = u.ci
	ORDER BY u.ord
)
SELECT i FROM won`,

		idle: `SELECT key FROM {s}.dialogs WHERE idle_at <= $1 ORDER BY idle_at, key LIMIT $2`,
		scan: `SELECT key, record FROM {s}.dialogs WHERE key > $1 ORDER BY key LIMIT $2`,

		// $1 now, $2 owner, $3 limit, $4 lease end. A call is a dialog's
		// head when no unparked call of the dialog has a lower seq. Rows
		// that another claim has locked are skipped; a row that another
		// claim leased and committed meanwhile is re-read under the lock and
		// fails the lease condition (READ COMMITTED re-checks the WHERE
		// clause on the newest row version).
		claim: `WITH c AS (
	SELECT o.id FROM {s}.outbox o
	WHERE NOT o.parked AND o.next_at <= $1
		AND (o.lease_until IS NULL OR o.lease_until <= $1 OR o.lease_owner = $2)
		AND NOT EXISTS (SELECT 1 FROM {s}.outbox p WHERE p.dialog = o.dialog AND p.seq < o.seq AND NOT p.parked)
	ORDER BY o.next_at, o.id
	LIMIT $3
	FOR UPDATE OF o SKIP LOCKED
)
UPDATE {s}.outbox o SET lease_owner = $2, lease_until = $4
FROM c WHERE o.id = c.id
RETURNING ` + prefixed("o.", callColumns),

		done: `DELETE FROM {s}.outbox WHERE id = $1`,
		// A batch of Dones: $1 the ids (distinct).
		doneMany: `DELETE FROM {s}.outbox WHERE id = ANY($1::bigint[]) RETURNING id`,
		retry:    `UPDATE {s}.outbox SET attempts = attempts + 1, next_at = $2, error = $3, lease_owner = NULL, lease_until = NULL WHERE id = $1`,
		park:     `UPDATE {s}.outbox SET parked = true, error = $2, lease_owner = NULL, lease_until = NULL WHERE id = $1`,
		calls:    `SELECT ` + callColumns + ` FROM {s}.outbox WHERE dialog = $1 ORDER BY seq`,
		depth:    `SELECT count(*) FILTER (WHERE NOT parked), count(*) FILTER (WHERE parked) FROM {s}.outbox`,

		get: `SELECT value FROM {s}.kv WHERE ns = $1 AND key = $2`,
		put: `INSERT INTO {s}.kv (ns, key, value) VALUES ($1, $2, $3)
	ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, updated_at = now()`,
		delete: `DELETE FROM {s}.kv WHERE ns = $1 AND key = $2`,

		// $1 owner.
		release: `UPDATE {s}.outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1`,

		// GCRA, one statement per reservation. $1 portal, $2 now (NULL: the
		// database's clock), $3 the emission interval and $4 the window
		// (burst × interval), both in microseconds. tat is the portal's
		// theoretical arrival time: a call is allowed when max(tat, now) +
		// interval <= now + window; then tat moves to max(tat, now) +
		// interval. The first branch returns 0 for an allowed call; the
		// second, when the update's WHERE refused it, how long until one
		// would be allowed (read from the statement's snapshot, so possibly
		// a little early: the caller just asks again).
		reserve: `WITH t AS (
	SELECT coalesce($2::timestamptz, statement_timestamp()) AS t_now,
		$3::bigint * interval '1 microsecond' AS t_every,
		$4::bigint * interval '1 microsecond' AS t_win
), up AS (
	INSERT INTO {s}.rate AS r (portal, tat) SELECT $1, t_now + t_every FROM t
	ON CONFLICT (portal) DO UPDATE SET tat = greatest(r.tat, (SELECT t_now FROM t)) + (SELECT t_every FROM t)
	WHERE greatest(r.tat, (SELECT t_now FROM t)) + (SELECT t_every FROM t) <= (SELECT t_now + t_win FROM t)
	RETURNING 0::bigint AS wait
)
SELECT wait FROM up
UNION ALL
SELECT greatest(1, ceil(extract(epoch FROM greatest(r.tat, t_now) + t_every - (t_now + t_win)) * 1000000))::bigint
FROM {s}.rate r CROSS JOIN t
WHERE r.portal = $1 AND NOT EXISTS (SELECT 1 FROM up)`,
	}
	for _, p := range []*string{&q.dialog, &q.dialogs, &q.commitNew, &q.commitNext, &q.commitMany, &q.idle, &q.scan, &q.claim,
		&q.done, &q.doneMany, &q.retry, &q.park, &q.calls, &q.depth, &q.get, &q.put, &q.delete, &q.release, &q.reserve} {
		*p = strings.ReplaceAll(*p, "{s}", schema)
	}
	return q
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = prefix + c
	}
	return strings.Join(cols, ", ")
}
