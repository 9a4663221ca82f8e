package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/scenarios"
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

// `olbot check DIR` runs the server's start-up load, and `olbot check
// --server URL FILE` predicts exactly what a running server's reload does
// with FILE: a file added later that takes a live file's line is rejected,
// and the live file keeps it.
func TestCheckPredictsServer(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.yaml"), lineScenario("b", 1))
	write(t, filepath.Join(dir, "c.yaml"), lineScenario("c", 2))
	reg := scenarios.NewRegistry(dir, nil)
	srv, err := server.New(server.Config{Listen: "127.0.0.1:0"}, server.Options{Store: memstore.New(), Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	code, out, _ := runCmd(t, "", "check", dir)
	for _, sc := range reg.Current().Set.List {
		if !strings.Contains(out, fmt.Sprintf("ok %s: scenario %s", sc.File, sc.Name)) {
			t.Errorf("the server serves %s from %s; check says:\n%s", sc.Name, sc.File, out)
		}
	}
	if code != 0 || strings.Count(out, "ok ") != len(reg.Current().Set.List) {
		t.Errorf("check %s: exit %d, want 0 and the server's %d scenarios:\n%s", dir, code, len(reg.Current().Set.List), out)
	}

	// a.yaml sorts first, but comes later: the live b keeps line 1
	candidate := filepath.Join(t.TempDir(), "a.yaml")
	write(t, candidate, lineScenario("a", 1))
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"check", "--server", "http://" + srv.Addr(), candidate}, strings.NewReader(""), &stdout, &stderr); code != 1 {
		t.Fatalf("check --server: exit %d, want 1:\n%s%s", code, stdout.String(), stderr.String())
	}
	predicted := stdout.String()
	write(t, filepath.Join(dir, "a.yaml"), lineScenario("a", 1))
	res, err := srv.Reload(context.Background())
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	if len(res.Result.Problems) == 0 {
		t.Fatal("the reload took a.yaml")
	}
	for _, p := range res.Result.Problems {
		if !strings.Contains(predicted, p.Error()) {
			t.Errorf("the reload reports\n%s\nwhich the dry run did not predict:\n%s", p.Error(), predicted)
		}
	}
	if !strings.Contains(predicted, "would be rejected") {
		t.Errorf("dry run: %s", predicted)
	}
	if sc := reg.Current().Set.ByLine[1]; sc == nil || sc.Name != "b" {
		t.Errorf("line 1 is served by %v, want the live b", sc)
	}
}
