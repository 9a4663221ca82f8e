package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/server"
)

func lineScenario(name string, line int) string {
	return fmt.Sprintf("name: %s\nlines: [%d]\nstart: a\nstates:\n  a:\n    say: Hi\n    finish: true\n", name, line)
}

func write(t *testing.T, path, src string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// serveScenarios runs the real `olbot serve` on dir and returns its base
// URL once it answers /v1/scenarios; the server stops with the test.
func serveScenarios(t *testing.T, dir string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--listen", addr, "--scenarios", dir, "--store", filepath.Join(t.TempDir(), "olbot.db")}, strings.NewReader(""), &bytes.Buffer{}, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	base := "http://" + addr
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if _, err := scenariosOf(base); err == nil {
			return base
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("olbot serve not answering after 10s:\n%s", logs.String())
		}
	}
}

func scenariosOf(base string) (server.ScenariosResponse, error) {
	var out server.ScenariosResponse
	resp, err := http.Get(base + "/v1/scenarios")
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("GET /v1/scenarios: %s", resp.Status)
	}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// `olbot check DIR` runs the server's start-up load, and `olbot check
// --server URL FILE` predicts exactly what a running server's reload does
// with FILE: a file added later that takes a live file's line is rejected,
// and the live file keeps it.
func TestCheckPredictsServer(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.yaml"), lineScenario("b", 1))
	write(t, filepath.Join(dir, "c.yaml"), lineScenario("c", 2))
	base := serveScenarios(t, dir)
	live, err := scenariosOf(base)
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, "", "check", dir)
	for _, sc := range live.Scenarios {
		if !strings.Contains(out, fmt.Sprintf("ok %s: scenario %s", sc.File, sc.Name)) {
			t.Errorf("the server serves %s from %s; check says:\n%s", sc.Name, sc.File, out)
		}
	}
	if code != 0 || strings.Count(out, "ok ") != len(live.Scenarios) || len(live.Scenarios) != 2 {
		t.Errorf("check %s: exit %d, want 0 and the server's scenarios %+v:\n%s", dir, code, live.Scenarios, out)
	}

	// a.yaml sorts first, but comes later: the live b keeps line 1
	candidate := filepath.Join(t.TempDir(), "a.yaml")
	write(t, candidate, lineScenario("a", 1))
	code, predicted, errOut := runCmd(t, "", "check", "--server", base, candidate)
	if code != 1 || !strings.Contains(predicted, "would be rejected") {
		t.Fatalf("check --server: exit %d, want 1 and a rejection:\n%s%s", code, predicted, errOut)
	}
	write(t, filepath.Join(dir, "a.yaml"), lineScenario("a", 1))
	resp, err := http.Post(base+"/v1/scenarios/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var reload struct{ Errors []string }
	err = json.NewDecoder(resp.Body).Decode(&reload)
	resp.Body.Close()
	if err != nil || len(reload.Errors) == 0 {
		t.Fatalf("reload: %s, errors %v (%v); want a.yaml rejected", resp.Status, reload.Errors, err)
	}
	for _, line := range reload.Errors {
		if !strings.Contains(predicted, line) {
			t.Errorf("the reload reports %q, which the dry run did not predict:\n%s", line, predicted)
		}
	}
	after, err := scenariosOf(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range after.Scenarios {
		if sc.Name == "a" || sc.Name == "b" && (len(sc.Lines) != 1 || sc.Lines[0] != 1) {
			t.Errorf("after the reload the server serves %+v; want b on line 1 and no a", after.Scenarios)
		}
	}
}
