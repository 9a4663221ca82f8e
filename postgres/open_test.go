package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/olbot/olbot/engine"
)

// appliedVersions lists schema_migrations.
func appliedVersions(t *testing.T, schema string) []int {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT version FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()+` ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantVersions(t *testing.T, schema string, n int) {
	t.Helper()
	got := appliedVersions(t, schema)
	if len(got) != n {
		t.Fatalf("schema_migrations=%v, want versions 1..%d once each", got, n)
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("schema_migrations=%v, want versions 1..%d once each", got, n)
		}
	}
}

// TestMigrateConcurrent starts several replicas at once on a schema that
// does not exist yet: all open, and each migration ran once.
func TestMigrateConcurrent(t *testing.T) {
	schema := newSchema(t)
	for round := range 2 { // a fresh schema, then an up-to-date one
		const replicas = 8
		stores := make([]*Store, replicas)
		errs := make([]error, replicas)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				stores[i], errs[i] = Open(context.Background(), testDSN(t), Options{Schema: schema, MaxConns: 2, Logger: quiet})
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: replica %d: Open: %v", round, i, err)
			}
		}
		wantVersions(t, schema, len(migrations))
		// Every replica works on the shared tables.
		for i, s := range stores {
			d := engine.Dialog{Key: "api:m", Rev: int64(round*replicas + i + 1)}
			if err := s.Commit(context.Background(), engine.Commit{Dialog: d, PrevRev: d.Rev - 1}); err != nil {
				t.Fatalf("round %d: replica %d: Commit: %v", round, i, err)
			}
			s.Close()
		}
	}
}

// TestMigrateUpgrade applies a later migration from several replicas at
// once, then checks that an older olbot refuses the newer schema.
func TestMigrateUpgrade(t *testing.T) {
	schema := newSchema(t)
	s := mustOpen(t, schema)
	mustCommit(t, s, engine.Dialog{Key: "api:kept"}, 0, call("c1"))
	next := append(append([]migration(nil), migrations...), migration{len(migrations) + 1, "test column", `ALTER TABLE {schema}.dialogs ADD COLUMN note text`})

	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.with(ctx, func(c *pgx.Conn) error { return s.migrate(ctx, c, next) })
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate %d: %v", i, err)
		}
	}
	wantVersions(t, schema, len(next))
	if _, err := s.Dialog(ctx, "api:kept"); err != nil {
		t.Fatalf("Dialog after the upgrade: %v", err)
	}
	s.Close()

	_, err := Open(ctx, testDSN(t), Options{Schema: schema, Logger: quiet})
	if !errors.Is(err, ErrSchemaNewer) {
		t.Fatalf("Open of a newer schema: err=%v, want ErrSchemaNewer", err)
	}
	t.Log(err)

	bad := []migration{{2, "misnumbered", ""}}
	s = mustOpen(t, newSchema(t))
	defer s.Close()
	if err := s.with(ctx, func(c *pgx.Conn) error { return s.migrate(ctx, c, bad) }); err == nil || !strings.Contains(err.Error(), "want 1") {
		t.Fatalf("misnumbered migrations: err=%v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	const secret = "s3cr3t-pw"
	tests := []struct {
		name   string
		url    string
		opts   Options
		is     error
		prefix string // the message starts with it
	}{
		{"refused", "postgres://olbot:" + secret + "@127.0.0.1:1/olbot?sslmode=disable&connect_timeout=5", Options{},
			ErrConnect, "store postgres://olbot@127.0.0.1:1/olbot: cannot connect: "},
		{"refused, key=value", "host=127.0.0.1 port=1 user=olbot password=" + secret + " dbname=olbot sslmode=disable", Options{},
			ErrConnect, "store postgres://olbot@127.0.0.1:1/olbot: cannot connect: "},
		{"bad port", "postgres://olbot:" + secret + "@db:99999999/olbot", Options{}, nil, "store postgres://olbot@db:99999999/olbot: invalid URL: "},
		{"no @", "postgres://olbot:" + secret + "/olbot", Options{}, nil, "store postgres: invalid URL: "},
		{"bad sslmode", "postgres://olbot:" + secret + "@db/olbot?sslmode=" + secret, Options{}, nil, "store postgres://olbot@db/olbot: invalid URL: "},
		{"bad keyword", "password=" + secret + " bogus", Options{}, nil, "store postgres: invalid URL: "},
		{"long schema", defaultDSN, Options{Schema: strings.Repeat("s", 64)}, nil, "store postgres://postgres@127.0.0.1/test: schema name "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tc.opts.Logger = quiet
			s, err := Open(ctx, tc.url, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, secret) {
				t.Fatalf("the error shows the password: %s", msg)
			}
			if !strings.HasPrefix(msg, tc.prefix) {
				t.Fatalf("err=%q, want it to start with %q", msg, tc.prefix)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err=%v, want %v", err, tc.is)
			}
		})
	}
}

// TestText covers what PostgreSQL's types refuse and the store must handle.
func TestText(t *testing.T) {
	s := mustOpen(t, newSchema(t))
	defer s.Close()
	ctx := context.Background()

	// Dialog text with \u0000 round-trips (jsonb would refuse it).
	d := engine.Dialog{Key: "api:nul", Status: engine.Active, Fields: map[string]string{"answer": "a\x00b"}}
	c := call("c1")
	c.Params = []byte(`{"MESSAGE":"a\u0000b",  "n": 1}`)
	mustCommit(t, s, d, 0, c)
	got, err := s.Dialog(ctx, d.Key)
	if err != nil || got.Fields["answer"] != "a\x00b" {
		t.Fatalf("Dialog=%+v, %v; want the NUL kept", got, err)
	}
	calls, err := s.Calls(ctx, d.Key)
	if err != nil || len(calls) != 1 || string(calls[0].Params) != string(c.Params) {
		t.Fatalf("Calls=%+v, %v; want params byte for byte", calls, err)
	}

	// Error texts from the network may hold anything.
	if err := s.Retry(ctx, calls[0].ID, t0, "bad \xff\x00 bytes"); err != nil {
		t.Fatalf("Retry with a binary error text: %v", err)
	}
	if err := s.Park(ctx, calls[0].ID, "\x00"); err != nil {
		t.Fatalf("Park with a NUL error text: %v", err)
	}

	// Keys the text type cannot hold are never stored.
	for _, key := range []string{"api:a\x00b", "api:\xff", strings.Repeat("k", engine.MaxKeyLen+1)} {
		if _, err := s.Dialog(ctx, key); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("Dialog(%q): err=%v, want ErrNotFound", key, err)
		}
		if cs, err := s.Calls(ctx, key); err != nil || len(cs) != 0 {
			t.Fatalf("Calls(%q)=%v, %v; want none", key, cs, err)
		}
		err := s.Commit(ctx, engine.Commit{Dialog: engine.Dialog{Key: key, Rev: 1}})
		if err == nil || errors.Is(err, engine.ErrConflict) {
			t.Fatalf("Commit(%q): err=%v, want a validation error", key, err)
		}
	}

	// Params must be JSON; the commit is refused whole.
	bad := call("bad")
	bad.Params = []byte("not json")
	err = s.Commit(ctx, engine.Commit{Dialog: engine.Dialog{Key: "api:nul", Rev: 2}, PrevRev: 1, Calls: []engine.Call{call("ok"), bad}})
	if err == nil || errors.Is(err, engine.ErrConflict) || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("Commit with non-JSON params: err=%v", err)
	}
	if got, _ := s.Dialog(ctx, "api:nul"); got.Rev != 1 {
		t.Fatalf("Rev=%d after a refused commit, want 1", got.Rev)
	}

	// KV values are bytes.
	if err := s.Put(ctx, "ns", "k", []byte{0, 0xff, 1}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "ns", "k"); err != nil || string(v) != "\x00\xff\x01" {
		t.Fatalf("Get=%q, %v", v, err)
	}
	if err := s.Put(ctx, "ns", "empty", nil); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "ns", "empty"); err != nil || v == nil || len(v) != 0 {
		t.Fatalf("Get(empty)=%q (nil %v), %v; want a present empty value", v, v == nil, err)
	}
	if _, err := s.Get(ctx, "ns", "a\x00"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Get with NUL key: %v", err)
	}
}

func TestClosed(t *testing.T) {
	s := mustOpen(t, newSchema(t))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := engine.Dialog{Key: "api:1", Rev: 1}
	tests := []struct {
		name string
		err  error
	}{
		{"Dialog", func() error { _, err := s.Dialog(ctx, "api:1"); return err }()},
		{"Commit", s.Commit(ctx, engine.Commit{Dialog: d})},
		{"Claim", func() error { _, err := s.Claim(ctx, "w", 1, t0, 0); return err }()},
		{"Done", s.Done(ctx, 1)},
		{"Retry", s.Retry(ctx, 1, t0, "x")},
		{"Park", s.Park(ctx, 1, "x")},
		{"Calls", func() error { _, err := s.Calls(ctx, "api:1"); return err }()},
		{"Idle", func() error { _, err := s.Idle(ctx, t0, 1); return err }()},
		{"Depth", func() error { _, _, err := s.Depth(ctx); return err }()},
		{"Put", s.Put(ctx, "a", "b", nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, ErrClosed) {
				t.Fatalf("err=%v, want ErrClosed", tc.err)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestCancel: a cancelled operation fails with the context's error and
// leaves the store working (its connection is not reused half-way).
func TestCancel(t *testing.T) {
	s := mustOpen(t, newSchema(t))
	defer s.Close()
	mustCommit(t, s, engine.Dialog{Key: "api:1"}, 0, call("c1"))
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Claim(ctx, "w", 10, t0, time.Minute); !errors.Is(err, context.Canceled) {
			t.Fatalf("Claim with a cancelled context: err=%v", err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), time.Microsecond)
		_, _ = s.Calls(ctx, "api:1") // may or may not finish in time
		cancel()
	}
	if got := claimed(t, s, "w", 10, t0, time.Minute); len(got) != 1 {
		t.Fatalf("Claim after cancellations=%q, want [c1]", got)
	}
}

// TestPoolSize: the pool holds DefaultMaxConns connections unless the URL's
// pool_max_conns or Options.MaxConns says otherwise, and a bad
// pool_max_conns is an invalid URL that does not show the password.
func TestPoolSize(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	tests := []struct {
		name string
		url  string
		opts Options
		want int32
	}{
		{"default", dsn, Options{}, int32(DefaultMaxConns())},
		{"URL", dsn + sep + "pool_max_conns=3", Options{}, 3},
		{"Options over URL", dsn + sep + "pool_max_conns=3", Options{MaxConns: 5}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Schema, tc.opts.Logger = schema, quiet
			s, err := Open(context.Background(), tc.url, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.pool.Config().MaxConns; got != tc.want {
				t.Fatalf("MaxConns=%d, want %d", got, tc.want)
			}
			mustCommit(t, s, engine.Dialog{Key: "api:" + tc.name}, 0)
		})
	}
	const secret = "s3cr3t-pw"
	_, err := Open(context.Background(), "postgres://olbot:"+secret+"@db/olbot?pool_max_conns=lots", Options{Logger: quiet})
	if err == nil || strings.Contains(err.Error(), secret) || !strings.HasPrefix(err.Error(), "store postgres://olbot@db/olbot: invalid URL: ") {
		t.Fatalf("bad pool_max_conns: err=%v", err)
	}
	t.Log(err)
}
