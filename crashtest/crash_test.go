package crashtest

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// randomPause is how long a killed process stays down: up to 0.3 s, during
// which its events fail with connection refused.
func randomPause() time.Duration { return time.Duration(rand.Int64N(int64(300 * time.Millisecond))) }

// TestCrashBolt kills `olbot serve` on the embedded store with SIGKILL at
// random moments while chats run, restarting it on the same file each time.
// Every dialog ends as an uninterrupted replay of its acknowledged events
// says, and every call of those events reaches the portal, in order.
func TestCrashBolt(t *testing.T) {
	sz := runSizes(t)
	db := filepath.Join(t.TempDir(), "olbot.db")
	c := newCluster(t, "bolt", 1, []string{"--store", db})
	c.start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := c.drive(ctx, sz.chats, sz.rate)
	for range sz.kills {
		time.Sleep(randomUptime())
		c.kill(c.procs[0], randomPause())
	}
	time.Sleep(500 * time.Millisecond) // traffic after the last restart
	cancel()
	d.stop()
	rep := c.verify(d)
	if rep.Kills != sz.kills || rep.Events == 0 {
		t.Fatalf("%d kills and %d events, want %d kills under traffic", rep.Kills, rep.Events, sz.kills)
	}
}

// TestCrashPostgres runs two replicas on one PostgreSQL schema and kills one
// of them, at random, with SIGKILL again and again; the events go to either
// replica. The same promises hold; the calls a killed replica had claimed go
// out once their lease (--outbox-lease) ends.
func TestCrashPostgres(t *testing.T) {
	sz := runSizes(t)
	dsn := pgDSN(t)
	schema := newSchema(t, dsn)
	c := newCluster(t, "postgres", 2, []string{"--store", dsn, "--store-schema", schema, "--outbox-lease", "10s"})
	c.start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := c.drive(ctx, sz.chats, sz.rate)
	for range sz.kills {
		time.Sleep(randomUptime())
		c.kill(c.procs[rand.IntN(len(c.procs))], randomPause())
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	d.stop()
	rep := c.verify(d)
	if rep.Kills != sz.kills || rep.Events == 0 {
		t.Fatalf("%d kills and %d events, want %d kills under traffic", rep.Kills, rep.Events, sz.kills)
	}
}
