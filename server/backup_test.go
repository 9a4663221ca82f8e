package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/engine"
)

// TestBackupUnderLoad: a backup taken while events keep coming opens,
// passes bbolt's integrity check and holds every dialog whose event was
// answered before the backup began; events are answered while the backup
// is being read (its read transaction blocks no commit); and copying it
// back is the restore.
func TestBackupUnderLoad(t *testing.T) {
	e := startEnv(t, nil, func(e *env) { e.bolt = true; e.cfg.AdminToken = "adm" })
	// A file much bigger than the loopback socket buffers, so the server
	// is still inside its snapshot while the test reads slowly.
	big := strings.Repeat("x", 60<<10)
	for i := range 200 {
		d := engine.Dialog{Key: "api:big" + strconv.Itoa(i), Status: engine.Finished, Fields: map[string]string{"note": big}, Rev: 1}
		if err := e.store.Commit(context.Background(), engine.Commit{Dialog: d}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu        sync.Mutex
		committed []string
		n         atomic.Int64
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				status, body := e.api(http.MethodPost, "/v1/events", EventRequest{Dialog: id, Type: "start", Line: 1, Client: "Anna"})
				if status != http.StatusOK {
					t.Errorf("event %s: %d %s", id, status, body)
					return
				}
				mu.Lock()
				committed = append(committed, engine.KeyAPI+id)
				mu.Unlock()
				n.Add(1)
			}
		}()
	}
	waitFor(t, "some load", func() (bool, string) { return n.Load() >= 200, fmt.Sprint(n.Load()) })

	mu.Lock()
	before := append([]string(nil), committed...)
	mu.Unlock()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/v1/backup", nil)
	req.Header.Set("Authorization", "Bearer adm")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength <= 0 {
		t.Fatalf("GET /v1/backup: %s, length %d", resp.Status, resp.ContentLength)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Read a little, let more events commit while the snapshot is open,
	// then read the rest.
	if _, err := io.CopyN(f, resp.Body, 4096); err != nil {
		t.Fatal(err)
	}
	during := n.Load()
	waitFor(t, "events answered during the backup", func() (bool, string) { return n.Load() >= during+50, fmt.Sprint(n.Load() - during) })
	got, err := io.Copy(f, resp.Body)
	if err != nil || got+4096 != resp.ContentLength {
		t.Fatalf("backup body: %d bytes of %d, %v", got+4096, resp.ContentLength, err)
	}
	f.Close()
	close(stop)
	wg.Wait()

	if err := bolt.Verify(path); err != nil {
		t.Fatalf("the backup fails its integrity check: %v", err)
	}
	b, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range before {
		if _, err := b.Dialog(context.Background(), key); err != nil {
			t.Fatalf("dialog %s, answered before the backup began, is not in it: %v", key, err)
		}
	}
	b.Close()
	t.Logf("backup of %d bytes holds all %d dialogs answered before it; %d events answered while it was read", resp.ContentLength, len(before), n.Load()-during)

	// The load's client may hold a connection it dialed but never used
	// (state new): the server's Shutdown waits up to 5 s for such a one,
	// as long as the test's shutdown grace, so close them first.
	http.DefaultClient.CloseIdleConnections()

	// Restore: stop, copy the file back, start.
	e.restart(func() {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.db, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	if d := e.dialog(before[len(before)-1][len(engine.KeyAPI):]); d.State != "welcome" {
		t.Fatalf("restored dialog: %+v", d)
	}
}

// TestBackupRefused: the backup needs the admin token, and a store without
// an online backup says what to use instead.
func TestBackupRefused(t *testing.T) {
	e := startEnv(t, nil, func(e *env) { e.cfg.AdminToken = "adm" }) // memory store
	if status, _ := e.request(http.MethodGet, "/v1/backup", "", nil, ""); status != http.StatusUnauthorized {
		t.Fatalf("without the token: %d", status)
	}
	status, body := e.api(http.MethodGet, "/v1/backup", nil)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "memory store keeps nothing") || !strings.Contains(string(body), "pg_dump") {
		t.Fatalf("memory store: %d %s", status, body)
	}
}
