package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/storetest"
)

// defaultDSN is the server the tests use unless OLBOT_TEST_POSTGRES names another.
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

var (
	probeOnce sync.Once
	probeErr  error
)

// testDSN returns the test server's URL. When the server cannot be reached
// the test fails under CI (CI set and not false) and is skipped elsewhere.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("OLBOT_TEST_POSTGRES")
	if dsn == "" {
		dsn = defaultDSN
	}
	probeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = c.Ping(ctx)
			c.Close(ctx)
		}
		probeErr = err
	})
	if probeErr != nil {
		where := "the URL in OLBOT_TEST_POSTGRES"
		if cfg, err := pgx.ParseConfig(dsn); err == nil {
			where = displayName(cfg)
		}
		msg := fmt.Sprintf("PostgreSQL test server %s unreachable (OLBOT_TEST_POSTGRES names it, default %s): %v", where, defaultDSN, probeErr)
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			tb.Fatal(msg + " — CI is set, so this fails instead of skipping")
		}
		tb.Skip(msg)
	}
	return dsn
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func dropSchema(dsn, schema string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	return err
}

// newSchema returns the name of a schema of the test's own, dropped when
// the test ends: packages test in parallel against one database.
func newSchema(tb testing.TB) string {
	tb.Helper()
	dsn := testDSN(tb)
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		if err := dropSchema(dsn, schema); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// mustOpen opens a store (a replica) on schema.
func mustOpen(tb testing.TB, schema string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), testDSN(tb), Options{Schema: schema, Logger: quiet})
	if err != nil {
		tb.Fatalf("Open(schema %s): %v", schema, err)
	}
	return s
}

// TestStore runs the conformance suite, each subtest on a fresh schema.
// Reopen closes the store and opens a new one on the same schema, as a
// restarted replica does; the suite expects no lease to matter across it
// (see TestReopenKeepsLeases for what PostgreSQL does).
func TestStore(t *testing.T) {
	testDSN(t)
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T) engine.Store { return mustOpen(t, newSchema(t)) },
		Reopen: func(t *testing.T, old engine.Store) engine.Store {
			s := old.(*Store)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return mustOpen(t, s.Schema())
		},
	})
}

// BenchmarkCommit: go test -run '^$' -bench Commit ./postgres/
func BenchmarkCommit(b *testing.B) {
	for _, p := range []int{1, 16} {
		b.Run(fmt.Sprintf("parallelism=%d", p), func(b *testing.B) {
			s := mustOpen(b, newSchema(b))
			b.Cleanup(func() { s.Close() })
			b.SetParallelism(p)
			storetest.BenchCommit(b, s)
		})
	}
}
