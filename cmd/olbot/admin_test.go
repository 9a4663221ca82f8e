package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bolt"
)

// runServer runs the real `olbot serve` on a free port with args added
// and returns its base URL once it is ready; the server stops at cleanup.
func runServer(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	errb := &syncBuffer{}
	all := append([]string{"serve", "--listen", addr, "--scenarios", "../../examples"}, args...)
	go func() { done <- run(ctx, all, strings.NewReader(""), &bytes.Buffer{}, errb) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop within 15s")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", errb.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 10s: %v\n%s", err, errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func postEvent(t *testing.T, base, token, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/events: %s", resp.Status)
	}
}

// TestErase runs `olbot erase` against a running server: what it prints,
// and its refusals.
func TestErase(t *testing.T) {
	base := runServer(t, "--store", filepath.Join(t.TempDir(), "olbot.db"), "--admin-token", "tok")
	postEvent(t, base, "tok", `{"dialog":"t1","line":1,"type":"start","client":"Anna"}`)
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"dialog", []string{"--server", base, "--admin-token", "tok", "--dialog", "t1"}, 0, "dialog api:t1: erased the record and 0 pending or parked calls\n", ""},
		{"dialog again", []string{"--server", base, "--admin-token", "tok", "--dialog", "t1"}, 0, "dialog api:t1: nothing to erase (no record, no calls)\n", ""},
		{"portal", []string{"--server", base, "--admin-token", "tok", "--portal", "m42"}, 0, "portal m42: erased 0 dialogs, 0 pending or parked calls and no install record\n", ""},
		{"portal by host and port", []string{"--server", base, "--admin-token", "tok", "--portal", "127.0.0.1:8080"}, 0, "portal 127.0.0.1:8080: erased 0 dialogs, 0 pending or parked calls and no install record\n", ""},
		{"no token", []string{"--server", base, "--dialog", "t1"}, 1, "", "401 Unauthorized"},
		{"both", []string{"--server", base, "--dialog", "t1", "--portal", "m"}, 2, "", "exactly one of --dialog"},
		{"neither", []string{"--server", base}, 2, "", "exactly one of --dialog"},
		{"no server", []string{"--dialog", "t1"}, 1, "", "--server is required"},
		{"bad portal", []string{"--server", base, "--admin-token", "tok", "--portal", "a::b"}, 1, "", "empty part around ':'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, "", append([]string{"erase"}, tc.args...)...)
			if code != tc.code || out != tc.out || !strings.Contains(errOut, tc.err) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tc.code, tc.out, tc.err)
			}
		})
	}
}

func TestParsePeriod(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"0", 0, true},
		{"0d", 0, true},
		{"36h", 36 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"-1d", 0, false},
		{"-5m", 0, false},
		{"soon", 0, false},
		{"1.5d", 0, false},
	}
	for _, tc := range tests {
		got, err := parsePeriod(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parsePeriod(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// syncBuffer is a bytes.Buffer the server goroutine writes while the test
// may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBackup runs `olbot backup` against a running server: the file it
// saves opens as a store holding the dialog; a refused backup leaves an
// existing FILE as it was.
func TestBackup(t *testing.T) {
	base := runServer(t, "--store", filepath.Join(t.TempDir(), "olbot.db"), "--admin-token", "tok")
	postEvent(t, base, "tok", `{"dialog":"b1","line":1,"type":"start","client":"Anna"}`)
	file := filepath.Join(t.TempDir(), "backup.db")
	code, out, errOut := runCmd(t, "", "backup", "--server", base, "--admin-token", "tok", file)
	if code != 0 || !strings.HasPrefix(out, "backup "+file+": ") || !strings.Contains(out, "integrity check passed") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	s, err := bolt.Open(file, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := s.Dialog(context.Background(), "api:b1"); err != nil || d.State != "welcome" {
		t.Fatalf("dialog in the backup: %+v, %v", d, err)
	}
	s.Close()

	mem := runServer(t, "--store", "memory")
	old := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(old, []byte("previous backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCmd(t, "", "backup", "--server", mem, old)
	if code != 1 || !strings.Contains(errOut, "memory store keeps nothing") {
		t.Fatalf("memory store: exit %d, stderr %q", code, errOut)
	}
	if b, _ := os.ReadFile(old); string(b) != "previous backup" {
		t.Fatalf("a refused backup changed FILE: %q", b)
	}
	if entries, _ := os.ReadDir(filepath.Dir(old)); len(entries) != 1 {
		t.Fatalf("a refused backup left files behind: %v", entries)
	}
	if code, _, errOut := runCmd(t, "", "backup", "--server", mem); code != 2 || !strings.Contains(errOut, "one FILE") {
		t.Fatalf("no FILE: exit %d, %q", code, errOut)
	}
}
