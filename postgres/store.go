// Package postgres is the engine.Store for several olbot replicas behind a
// load balancer: dialog records, the outbox and the KV space live in one
// PostgreSQL schema that every replica shares. It passes the conformance
// suite in package storetest.
//
// Replicas coordinate through the database only:
//
//   - Commit is one SQL statement: a compare-and-set on the dialog's rev
//     (UPDATE … WHERE rev = PrevRev, or INSERT … ON CONFLICT DO NOTHING for
//     a new dialog) and the insert of its calls, which happens only when the
//     compare-and-set matched. Of two commits from the same PrevRev, on any
//     replicas, exactly one wins; the other gets engine.ErrConflict and
//     writes nothing. Concurrent commits of one replica share a statement
//     (one transaction, one WAL flush), each with its own compare-and-set;
//     concurrent dialog reads share a query (see batcher).
//   - Claim locks the calls it leases with FOR UPDATE SKIP LOCKED, so
//     concurrent claims never hand one call to two owners, and it leases only
//     the head of each dialog (its lowest-seq unparked call). Leases are rows
//     (lease_owner, lease_until): they survive a restart, and the calls of a
//     replica that died are claimable again when its leases expire; a
//     replica that shuts down cleanly ends its leases at once (Release).
//   - Reserve keeps the portal rate limit in a row per portal, so replicas
//     share one limit instead of each spending the portal's whole budget.
//   - Migrations run on Open, each in its own transaction under a
//     transaction-scoped advisory lock, so replicas that start together
//     migrate once.
//
// Records are kept as json (not jsonb): the bytes round-trip exactly, psql
// can still read them (record->>'st'), and json accepts the \u0000 escape
// that jsonb rejects, so no client text can make a commit fail.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/olbot/olbot/engine"
)

var (
	_ engine.Store             = (*Store)(nil)
	_ engine.SharedRateLimiter = (*Store)(nil)
	_ engine.LeaseReleaser     = (*Store)(nil)
)

// DefaultSchema is the schema that holds olbot's tables unless
// Options.Schema names another.
const DefaultSchema = "olbot"

// DefaultConnectTimeout applies when the URL sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// Errors, for errors.Is.
var (
	// ErrConnect: the server could not be reached or refused the login.
	ErrConnect = errors.New("cannot connect")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store is closed")
	// ErrSchemaNewer: the schema was migrated by a newer olbot.
	ErrSchemaNewer = errors.New("schema is newer than this olbot")
)

// Options tune Open. The zero value gives the defaults.
type Options struct {
	// Schema holds every table; it is created when missing. Default "olbot".
	Schema string
	// MaxConns is the most connections the store opens. Zero: the URL's
	// pool_max_conns parameter, else DefaultMaxConns().
	MaxConns int
	// Logger gets a line per applied migration. Default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxConns is the pool size when neither Options.MaxConns nor the
// URL's pool_max_conns sets one: max(8, 4×GOMAXPROCS). Much of a
// statement's time is the network and, for a commit, the WAL flush, so more
// connections than cores keep the server busy; a quarter of them read
// dialogs and a quarter commit, in batches, the rest serve the outbox, the
// rate limit and the KV space.
func DefaultMaxConns() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// Store is the PostgreSQL engine.Store. It is safe for concurrent use, and
// any number of Stores (replicas) may share one schema.
type Store struct {
	name   string // redacted URL, for messages
	schema string
	pool   *pgxpool.Pool
	closed atomic.Bool
	q      queries
	log    *slog.Logger

	reads   *batcher[string, []byte]      // Dialog
	commits *batcher[commitReq, struct{}] // Commit
	dones   *batcher[int64, struct{}]     // Done
}

// Batches (see batcher): at most this many operations each.
const (
	maxReadBatch   = 128
	maxCommitBatch = 64
	maxDoneBatch   = 64
)

// Open connects to the server at url (postgres://user:password@host:port/db?…,
// or any form pgx accepts), creates or migrates the schema, and returns the
// store. It fails at once when the server cannot be reached: the error
// matches ErrConnect and reads "store postgres://user@host/db: cannot
// connect: …". No error or log line carries the password.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Schema == "" {
		opts.Schema = DefaultSchema
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, parseError(url, err)
	}
	name := displayName(cfg.ConnConfig)
	if err := checkSchemaName(opts.Schema); err != nil {
		return nil, fmt.Errorf("store %s: %w", name, err)
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = int32(min(opts.MaxConns, 1<<31-1))
	case !setsMaxConns(url):
		cfg.MaxConns = int32(DefaultMaxConns())
	}
	cfg.MinConns = min(cfg.MinConns, cfg.MaxConns)
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "olbot"
	}
	p, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), cfg)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", name, err)
	}
	s := &Store{
		name:   name,
		schema: opts.Schema,
		pool:   p,
		q:      newQueries(pgx.Identifier{opts.Schema}.Sanitize()),
		log:    opts.Logger,
	}
	// Up to a quarter of the connections read and as many commit, in
	// batches, and an eighth record delivered calls; the rest serve claims,
	// the rate limit and the KV space.
	workers := max(1, int(cfg.MaxConns)/4)
	s.reads = newBatcher(workers, maxReadBatch, nil, s.readDialogs)
	s.commits = newBatcher(workers, maxCommitBatch, commitKey, s.commitBatch)
	s.dones = newBatcher(max(1, workers/2), maxDoneBatch, doneKey, s.deleteCalls)
	// The pool connects lazily: take a connection now, so that an
	// unreachable server fails Open, and migrate on it.
	c, err := p.Acquire(ctx)
	if err != nil {
		s.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("store %s: %w", name, ctx.Err())
		}
		return nil, &connectError{name: name, err: err}
	}
	err = s.migrate(ctx, c.Conn(), migrations)
	c.Release()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("store %s: schema %s: %w", name, opts.Schema, err)
	}
	return s, nil
}

// setsMaxConns reports whether url sets pool_max_conns (pgxpool parses it
// but does not say whether the value was its own default).
func setsMaxConns(url string) bool {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return false
	}
	_, ok := cfg.RuntimeParams["pool_max_conns"]
	return ok
}

// Name returns the server's URL without its password, for logs.
func (s *Store) Name() string { return s.name }

// Schema returns the schema that holds the store's tables.
func (s *Store) Schema() string { return s.schema }

// Close waits for the operations in flight, then closes every connection.
// Later operations return ErrClosed.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.reads.close()
	s.commits.close()
	s.dones.close()
	s.pool.Close() // waits for the connections in use; safe to repeat
	return nil
}

// with runs fn on a connection of the pool. A connection that fn leaves
// broken or inside a transaction is closed instead of reused (pgxpool
// checks on release), and one idle for over a second is pinged before use.
func (s *Store) with(ctx context.Context, fn func(c *pgx.Conn) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		switch {
		case s.closed.Load():
			return ErrClosed
		case ctx.Err() != nil:
			return ctx.Err()
		}
		return &connectError{name: s.name, err: err}
	}
	defer c.Release()
	return fn(c.Conn())
}

// connectError reads "store postgres://user@host/db: cannot connect: …".
type connectError struct {
	name string
	err  error
}

func (e *connectError) Error() string {
	inner := e.err
	var ce *pgconn.ConnectError
	if errors.As(inner, &ce) && ce.Unwrap() != nil {
		inner = ce.Unwrap() // drop pgconn's "failed to connect to `user=… database=…`:"
	}
	return fmt.Sprintf("store %s: %v: %v", e.name, ErrConnect, inner)
}

func (e *connectError) Unwrap() []error { return []error{ErrConnect, e.err} }

// displayName renders the parsed configuration as postgres://user@host/db,
// never with the password.
func displayName(cfg *pgx.ConnConfig) string {
	host := cfg.Host
	switch {
	case strings.HasPrefix(host, "/"): // a unix socket folder
		return fmt.Sprintf("postgres://%s@%s/%s", cfg.User, host, cfg.Database)
	case strings.Contains(host, ":"): // IPv6
		host = "[" + host + "]"
	}
	if cfg.Port != 0 && cfg.Port != 5432 {
		host += ":" + strconv.Itoa(int(cfg.Port))
	}
	return (&url.URL{Scheme: "postgres", User: url.User(cfg.User), Host: host, Path: "/" + cfg.Database}).String()
}

// parseError reports a URL that pgx cannot parse without repeating the URL:
// pgx masks passwords only on a best-effort basis for malformed input. The
// reason is shown only when the URL parses well enough to know its password
// and the reason does not contain it.
func parseError(raw string, err error) error {
	const hidden = "cannot parse it (details not shown: they could contain the password)"
	u, perr := url.Parse(raw)
	if perr != nil || u.Host == "" || strings.Contains(raw, "password=") {
		return fmt.Errorf("store postgres: invalid URL: %s", hidden)
	}
	name := (&url.URL{Scheme: u.Scheme, User: url.User(u.User.Username()), Host: u.Host, Path: u.Path}).String()
	reason := hidden
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		// "cannot parse `<redacted URL>`: <reason>": keep the reason only.
		msg := pe.Error()
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			reason = msg[i+3:]
		}
	}
	if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(reason, pw) {
		reason = hidden
	}
	return fmt.Errorf("store %s: invalid URL: %s", name, reason)
}

// checkSchemaName rejects names PostgreSQL would truncate or cannot hold.
func checkSchemaName(name string) error {
	switch {
	case len(name) > 63:
		return fmt.Errorf("schema name %q is longer than 63 bytes", name)
	case !validText(name):
		return fmt.Errorf("schema name %q is not valid UTF-8 text", name)
	case strings.HasPrefix(name, "pg_"):
		return fmt.Errorf("schema name %q: the pg_ prefix is reserved", name)
	}
	return nil
}
