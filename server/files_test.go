package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/history"
	"github.com/olbot/olbot/scenarios"
)

// save posts content to /v1/files/save and returns the status and body.
func (e *env) save(file, base, content string) (int, []byte) {
	e.t.Helper()
	q := "/v1/files/save?file=" + file + "&base=" + base
	return e.request(http.MethodPost, q, "application/yaml", strings.NewReader(content), e.cfg.AdminToken)
}

func (e *env) history(file string) HistoryResponse {
	e.t.Helper()
	status, body := e.api(http.MethodGet, "/v1/files/history?file="+file, nil)
	if status != http.StatusOK {
		e.t.Fatalf("history %s: %d %s", file, status, body)
	}
	var h HistoryResponse
	mustJSON(e.t, body, &h)
	return h
}

// waitHistory waits (without a timing assertion) until the newest version
// of file is hash.
func (e *env) waitHistory(file, hash string) HistoryResponse {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h := e.history(file)
		if len(h.Versions) > 0 && h.Versions[0].Hash == hash {
			return h
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("history of %s never reached %s: %+v", file, hash, h)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readDisk(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The editor's save: a checked, atomic write that goes live at once and
// into the history; a stale base is refused with a diff, a failing file
// with its problems, and neither writes anything.
func TestEditorSave(t *testing.T) {
	e := startEnv(t, nil, nil)
	supportPath := filepath.Join(e.dir, "support.yaml")
	original := readDisk(t, supportPath)
	h0 := scenarios.Version([]byte(original))

	status, body := e.api(http.MethodGet, "/v1/files", nil)
	var files FilesResponse
	mustJSON(t, body, &files)
	if status != http.StatusOK || !files.Edit.Allowed || len(files.Files) != 4 || files.Files[3].File != "support.yaml" || files.Files[3].Hash != h0 || files.Files[3].Live != h0 {
		t.Fatalf("files: %d %s", status, body)
	}
	status, body = e.api(http.MethodGet, "/v1/files/content?file=support.yaml", nil)
	var fc FileContent
	mustJSON(t, body, &fc)
	if status != http.StatusOK || fc.Hash != h0 || fc.Content != original {
		t.Fatalf("content: %d %+v", status, fc)
	}
	if h := e.history("support.yaml"); len(h.Versions) != 1 || h.Versions[0].Hash != h0 || h.Versions[0].Source != history.SourceStart || h.Live != h0 {
		t.Fatalf("history at start: %+v", h)
	}

	// a new state, saved from the editor
	edited := strings.Replace(original, "next: thanks", "next: confirm", 1)
	edited = strings.Replace(edited, "\n  thanks:\n", "\n  confirm:\n    say: \"Got it.\"\n    next: thanks\n\n  thanks:\n", 1)
	h1 := scenarios.Version([]byte(edited))
	status, body = e.save("support.yaml", h0, edited)
	var saved SaveResponse
	mustJSON(t, body, &saved)
	if status != http.StatusOK || !saved.Live || saved.Hash != h1 || !saved.DryRun.OK || saved.DryRun.Live != h0 {
		t.Fatalf("save: %d %s", status, body)
	}
	if got := readDisk(t, supportPath); got != edited {
		t.Fatalf("on disk after the save:\n%s", got)
	}
	if sc := e.srv.registry.Current().Set.ByName["support"]; sc == nil || sc.Version != h1 || sc.States["confirm"] == nil {
		t.Fatalf("the live support after the save: %+v", sc)
	}
	entries, _ := os.ReadDir(e.dir)
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".") {
			t.Errorf("a temporary file is left behind: %s", en.Name())
		}
	}
	h := e.waitHistory("support.yaml", h1)
	if h.Versions[0].Source != history.SourceEditor || h.Versions[0].Scenario != "support" || h.Versions[0].Size != len(edited) || len(h.Versions) != 2 {
		t.Fatalf("history after the save: %+v", h)
	}

	// the same base again: someone else saved meanwhile
	status, body = e.save("support.yaml", h0, original+"\n# mine\n")
	var conflict SaveConflict
	mustJSON(t, body, &conflict)
	if status != http.StatusConflict || conflict.Current != h1 || !strings.Contains(conflict.Message, "changed since you opened it") ||
		!strings.Contains(conflict.Diff, "-  confirm:") || !strings.Contains(conflict.Diff, "+# mine") {
		t.Fatalf("stale save: %d %s", status, body)
	}
	if got := readDisk(t, supportPath); got != edited {
		t.Fatal("a refused save wrote the file")
	}

	// a file that fails the check: the problems, nothing written
	broken := strings.Replace(edited, "next: confirm", "next: confrim", 1)
	status, body = e.save("support.yaml", h1, broken)
	var dry DryRunResponse
	mustJSON(t, body, &dry)
	line, col := lineOf(broken, "confrim")
	var typo ProblemView
	for _, p := range dry.Problems {
		if !p.Warning {
			typo = p
		}
	}
	if status != http.StatusUnprocessableEntity || dry.OK || typo.Line != line || typo.Col != col || !strings.Contains(typo.Hint, `did you mean "confirm"`) {
		t.Fatalf("broken save: %d %s", status, body)
	}
	if got := readDisk(t, supportPath); got != edited {
		t.Fatal("a failing save wrote the file")
	}

	// a change on disk goes into the history too
	onDisk := edited + "\n# edited on disk\n"
	h2 := scenarios.Version([]byte(onDisk))
	if err := os.WriteFile(supportPath, []byte(onDisk), 0o644); err != nil {
		t.Fatal(err)
	}
	h = e.waitHistory("support.yaml", h2)
	if h.Versions[0].Source != history.SourceDisk {
		t.Fatalf("history after a disk change: %+v", h.Versions)
	}

	// diff between two kept versions
	status, body = e.api(http.MethodGet, "/v1/files/diff?file=support.yaml&from="+h0+"&to="+h1, nil)
	var diff DiffResponse
	mustJSON(t, body, &diff)
	if status != http.StatusOK || !strings.Contains(diff.Diff, "+  confirm:") || !strings.Contains(diff.Diff, "+    next: confirm") || !strings.Contains(diff.Diff, "@@ -35,6 +35,10 @@") {
		t.Fatalf("diff: %d %s", status, body)
	}

	// roll back to the first version: a save like any other
	status, body = e.api(http.MethodGet, "/v1/files/version?file=support.yaml&hash="+h0, nil)
	mustJSON(t, body, &fc)
	if status != http.StatusOK || fc.Content != original {
		t.Fatalf("version %s: %d %s", h0, status, body)
	}
	status, body = e.request(http.MethodPost, "/v1/files/save?file=support.yaml&base="+h2+"&rollback="+h0, "application/yaml", strings.NewReader(fc.Content), "")
	if status != http.StatusOK {
		t.Fatalf("rollback: %d %s", status, body)
	}
	h = e.waitHistory("support.yaml", h0)
	if h.Versions[0].Source != history.SourceEditor || h.Versions[0].Note != "rollback to "+h0 || len(h.Versions) != 4 {
		t.Fatalf("history after the rollback: %+v", h.Versions)
	}

	// a new file, in a subfolder; and a new file may not overwrite one
	if err := os.Mkdir(filepath.Join(e.dir, "sales"), 0o755); err != nil {
		t.Fatal(err)
	}
	lead := "name: leads\nlines: [9]\nstart: hi\nstates:\n  hi:\n    say: Hello\n    finish: true\n"
	status, body = e.request(http.MethodPost, "/v1/scenarios/check?file=sales/leads.yaml", "application/yaml", strings.NewReader(lead), "")
	mustJSON(t, body, &dry)
	if status != http.StatusOK || !dry.OK || dry.Scenario != "leads" || dry.File != filepath.Join(e.dir, "sales", "leads.yaml") {
		t.Fatalf("dry run in a subfolder: %d %s", status, body)
	}
	status, body = e.save("sales/leads.yaml", "", lead)
	if status != http.StatusOK || e.srv.registry.Current().Set.ByName["leads"] == nil {
		t.Fatalf("new file: %d %s", status, body)
	}
	status, body = e.save("sales/leads.yaml", "", lead)
	if status != http.StatusConflict || !strings.Contains(string(body), "already exists") {
		t.Fatalf("a second new file of the same name: %d %s", status, body)
	}
}

// chunked hides a body's length, so the server cannot refuse it by its
// Content-Length and must stop reading at the limit.
func chunked(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }

func lineOf(text, needle string) (int, int) {
	for i, l := range strings.Split(text, "\n") {
		if j := strings.Index(l, needle); j >= 0 {
			return i + 1, j + 1
		}
	}
	return 0, 0
}

// Every way out of the scenario folder, and every body that must not be
// written, is refused with a clear message; the folder stays as it was.
func TestEditorRefusals(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, outside, "x.yaml", "name: x\nstart: a\nstates:\n  a:\n    say: hi\n    finish: true\n")
	e := startEnv(t, nil, func(e *env) {
		e.dir = defaultScenarios(t)
		if err := os.Symlink(filepath.Join(outside, "x.yaml"), filepath.Join(e.dir, "out.yaml")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(e.dir, "elsewhere")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(e.dir, "faq.yaml"), filepath.Join(e.dir, "faq-link.yaml")); err != nil {
			t.Fatal(err)
		}
	})
	h0 := scenarios.Version([]byte(readDisk(t, filepath.Join(e.dir, "support.yaml"))))
	good := readDisk(t, filepath.Join(e.dir, "support.yaml")) + "\n# more\n"
	tests := []struct {
		name, file, ctype string
		body              io.Reader
		status            int
		want              string
	}{
		{"parent folder", "../support.yaml", "application/yaml", strings.NewReader(good), 400, "leaves the scenario folder"},
		{"dot dot inside", "sales/../support.yaml", "application/yaml", strings.NewReader(good), 400, "leaves the scenario folder"},
		{"absolute", "/etc/olbot.yaml", "application/yaml", strings.NewReader(good), 400, "absolute path"},
		{"symlink out", "out.yaml", "application/yaml", strings.NewReader(good), 400, "leads out of the scenario folder"},
		{"folder symlinked out", "elsewhere/x.yaml", "application/yaml", strings.NewReader(good), 400, "leads out of the scenario folder through a symlink"},
		{"symlink inside", "faq-link.yaml", "application/yaml", strings.NewReader(good), 400, "is a symlink"},
		{"hidden", ".x.yaml", "application/yaml", strings.NewReader(good), 400, "hidden"},
		{"not yaml", "support.txt", "application/yaml", strings.NewReader(good), 400, "not a scenario file name"},
		{"a test file", "support.test.yaml", "application/yaml", strings.NewReader(good), 400, "not a scenario file name"},
		{"JSON body", "support.yaml", "application/json", strings.NewReader(good), 415, "application/yaml"},
		{"form body", "support.yaml", "application/x-www-form-urlencoded", strings.NewReader(good), 415, "application/yaml"},
		{"over 1 MiB, chunked", "support.yaml", "application/yaml", chunked(strings.Repeat("#", scenarios.MaxFileSize+1)), 413, "1 MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.request(http.MethodPost, "/v1/files/save?file="+tc.file+"&base="+h0, tc.ctype, tc.body, "")
			if status != tc.status || !strings.Contains(string(body), tc.want) {
				t.Fatalf("%s: %d %s, want %d with %q", tc.file, status, body, tc.status, tc.want)
			}
		})
	}
	if got := readDisk(t, filepath.Join(e.dir, "support.yaml")); got == good {
		t.Fatal("a refused save wrote support.yaml")
	}
	if got := readDisk(t, filepath.Join(outside, "x.yaml")); !strings.HasPrefix(got, "name: x\n") {
		t.Fatal("a save wrote outside the scenario folder")
	}
	// reading through a symlink out is refused as well
	status, body := e.api(http.MethodGet, "/v1/files/content?file=out.yaml", nil)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "leads out") {
		t.Fatalf("content through a symlink out: %d %s", status, body)
	}

	// a read-only folder: editing is off, and says why
	if err := os.Chmod(e.dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(e.dir, 0o755) })
	status, body = e.save("support.yaml", h0, good)
	if status != http.StatusForbidden || !strings.Contains(string(body), "read-only") {
		t.Fatalf("save into a read-only folder: %d %s", status, body)
	}
	var files FilesResponse
	_, body = e.api(http.MethodGet, "/v1/files", nil)
	mustJSON(t, body, &files)
	if files.Edit.Allowed || !strings.Contains(files.Edit.Reason, "read-only") {
		t.Fatalf("files in a read-only folder: %+v", files.Edit)
	}
}

// Beyond loopback the editor saves only with --edit (Config.Edit).
func TestEditorOffBeyondLoopback(t *testing.T) {
	for _, edit := range []bool{false, true} {
		t.Run(fmt.Sprint("edit=", edit), func(t *testing.T) {
			e := startEnv(t, nil, func(e *env) {
				e.cfg.Listen, e.cfg.AdminToken, e.cfg.Edit = "0.0.0.0:0", "secret", edit
			})
			cur := readDisk(t, filepath.Join(e.dir, "support.yaml"))
			status, body := e.save("support.yaml", scenarios.Version([]byte(cur)), cur+"\n# more\n")
			if edit && status != http.StatusOK || !edit && (status != http.StatusForbidden || !strings.Contains(string(body), "--edit")) {
				t.Fatalf("save with edit=%v: %d %s", edit, status, body)
			}
			status, _ = e.request(http.MethodPost, "/v1/files/save?file=support.yaml", "application/yaml", strings.NewReader(cur), "")
			if status != http.StatusUnauthorized {
				t.Fatalf("save without the token: %d, want 401", status)
			}
			var files FilesResponse
			_, body = e.api(http.MethodGet, "/v1/files", nil)
			if err := json.Unmarshal(body, &files); err != nil || files.Edit.Allowed != edit {
				t.Fatalf("files: %s", body)
			}
		})
	}
}
