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
//     writes nothing.
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
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/olbot/olbot/engine"
)

var _ engine.Store = (*Store)(nil)

// DefaultSchema is the schema that holds olbot's tables unless
// Options.Schema names another.
const DefaultSchema = "olbot"

// DefaultConnectTimeout applies when the URL sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// MaxKeyLen is the longest dialog key the store accepts, in bytes (as in
// package bolt).
const MaxKeyLen = 1024

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
	// MaxConns is the most connections the store opens. Default
	// max(4, GOMAXPROCS), like pgxpool.
	MaxConns int
	// Logger gets a line per applied migration. Default slog.Default().
	Logger *slog.Logger
}

// Store is the PostgreSQL engine.Store. It is safe for concurrent use, and
// any number of Stores (replicas) may share one schema.
type Store struct {
	name   string // redacted URL, for messages
	schema string
	pool   *pool
	q      queries
	log    *slog.Logger
}

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
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, parseError(url, err)
	}
	name := displayName(cfg)
	if err := checkSchemaName(opts.Schema); err != nil {
		return nil, fmt.Errorf("store %s: %w", name, err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "olbot"
	}
	s := &Store{
		name:   name,
		schema: opts.Schema,
		pool:   newPool(cfg, opts.MaxConns),
		q:      newQueries(pgx.Identifier{opts.Schema}.Sanitize()),
		log:    opts.Logger,
	}
	c, err := s.pool.acquire(ctx)
	if err != nil {
		s.pool.close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("store %s: %w", name, ctx.Err())
		}
		return nil, &connectError{name: name, err: err}
	}
	err = s.migrate(ctx, c, migrations)
	s.pool.release(c)
	if err != nil {
		s.pool.close()
		return nil, fmt.Errorf("store %s: schema %s: %w", name, opts.Schema, err)
	}
	return s, nil
}

// Name returns the server's URL without its password, for logs.
func (s *Store) Name() string { return s.name }

// Schema returns the schema that holds the store's tables.
func (s *Store) Schema() string { return s.schema }

// Close waits for the operations in flight, then closes every connection.
// Later operations return ErrClosed.
func (s *Store) Close() error {
	s.pool.close()
	return nil
}

// with runs fn on a connection of the pool.
func (s *Store) with(ctx context.Context, fn func(c *pgx.Conn) error) error {
	c, err := s.pool.acquire(ctx)
	if err != nil {
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return err
		}
		return &connectError{name: s.name, err: err}
	}
	defer s.pool.release(c)
	return fn(c)
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
