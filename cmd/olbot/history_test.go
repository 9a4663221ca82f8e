package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/scenarios"
)

// `olbot history` lists the versions that went live; `olbot rollback`
// shows the impact, asks, and puts an old one live again; `olbot check
// --server` names a file in a subfolder by its path in the server's folder.
func TestHistoryAndRollback(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sales")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	v1 := lineScenario("leads", 4)
	write(t, filepath.Join(sub, "leads.yaml"), v1)
	base := serveScenarios(t, dir)
	h1 := scenarios.Version([]byte(v1))

	v2 := strings.Replace(v1, "finish: true", "finish: true\n  extra:\n    say: more\n    finish: true", 1)
	h2 := scenarios.Version([]byte(v2))
	write(t, filepath.Join(sub, "leads.yaml"), v2)
	var out string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var code int
		code, out, _ = runCmd(t, "", "history", "sales/leads.yaml", "--server", base)
		if code == 0 && strings.Contains(out, "* "+h2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history never showed %s:\n%s", h2, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "* "+h2) || !strings.Contains(lines[1], "disk") || !strings.Contains(lines[2], h1) || !strings.Contains(lines[2], "start") {
		t.Fatalf("history:\n%s", out)
	}

	// the dry run of a file in a subfolder, named by a local path
	local := filepath.Join(t.TempDir(), "sales", "leads.yaml")
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, local, v1)
	code, dry, errOut := runCmd(t, "", "check", "--server", base, local)
	if code != 0 || !strings.Contains(dry, filepath.Join(dir, "sales", "leads.yaml")+": scenario leads "+h2+" → "+h1) {
		t.Fatalf("check --server: exit %d\n%s%s", code, dry, errOut)
	}

	// answered no: nothing changes
	code, said, _ := runCmd(t, "n\n", "rollback", "sales/leads.yaml", h1[:6], "--server", base)
	if code != 1 || !strings.Contains(said, "removed states: extra") || !strings.Contains(said, "nothing changed") {
		t.Fatalf("rollback answered no: exit %d\n%s", code, said)
	}
	if got, _ := os.ReadFile(filepath.Join(sub, "leads.yaml")); string(got) != v2 {
		t.Fatal("a declined rollback wrote the file")
	}
	code, said, errOut = runCmd(t, "", "rollback", "sales/leads.yaml", h1, "--server", base, "--yes")
	if code != 0 || !strings.Contains(said, "is version "+h1+" again: live") {
		t.Fatalf("rollback --yes: exit %d\n%s%s", code, said, errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(sub, "leads.yaml")); string(got) != v1 {
		t.Fatal("the rollback did not write the old version")
	}
	code, out, _ = runCmd(t, "", "history", "sales/leads.yaml", "--server", base)
	if code != 0 || !strings.Contains(out, "* "+h1) || !strings.Contains(out, "editor") || !strings.Contains(out, "rollback to "+h1) {
		t.Fatalf("history after the rollback:\n%s", out)
	}
	code, _, errOut = runCmd(t, "", "rollback", "sales/leads.yaml", "ffffff", "--server", base, "--yes")
	if code != 2 || !strings.Contains(errOut, "no kept version ffffff") {
		t.Fatalf("rollback to an unknown version: exit %d %s", code, errOut)
	}
	code, _, errOut = runCmd(t, "", "history", "nope.yaml", "--server", base)
	if code != 2 || !strings.Contains(errOut, "no scenario file nope.yaml") || !strings.Contains(errOut, "sales/leads.yaml") {
		t.Fatalf("history of an unknown file: exit %d %s", code, errOut)
	}
}
