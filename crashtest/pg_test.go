package crashtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// defaultDSN is the PostgreSQL server the tests use unless
// OLBOT_TEST_POSTGRES names another (as in package postgres).
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// pgDSN returns the test server's URL. When it cannot be reached the test
// fails under CI (CI set and not false) and is skipped elsewhere.
func pgDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("OLBOT_TEST_POSTGRES")
	if dsn == "" {
		dsn = defaultDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		msg := "PostgreSQL test server unreachable (OLBOT_TEST_POSTGRES names it, default " + defaultDSN + "): " + err.Error()
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			tb.Fatal(msg + " — CI is set, so this fails instead of skipping")
		}
		tb.Skip(msg)
	}
	return dsn
}

// newSchema names a schema of the test's own, dropped when the test ends
// (after the olbot processes stopped: cleanups run last-registered first).
func newSchema(tb testing.TB, dsn string) string {
	tb.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "olbot_crash_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}
