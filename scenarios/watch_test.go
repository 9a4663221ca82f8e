package scenarios

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scenarioSrc is a small valid scenario whose say: text marks its version.
func scenarioSrc(name string, line int, say string) string {
	return fmt.Sprintf("name: %s\nlines: [%d]\nstart: a\nstates:\n  a:\n    say: %q\n    finish: true\n", name, line, say)
}

func writeFile(t *testing.T, path, src string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// watching starts the real watcher (fsnotify) on dir and returns its registry.
func watching(t *testing.T, dir string) *Registry {
	t.Helper()
	r := NewRegistry(dir, nil)
	if _, err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, r, 20*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	// the watch is set up once a file written now is seen; until then
	// writes are not seen, so the probe is written again and again
	probe := filepath.Join(dir, "zz-probe.yaml")
	n := 0
	eventually(t, "watcher started", func() bool {
		if n++; n%10 == 1 {
			writeFile(t, probe, scenarioSrc("probe", 999, fmt.Sprint(n)))
		}
		return says(r, "probe") != ""
	})
	if err := os.Remove(probe); err != nil {
		t.Fatal(err)
	}
	eventually(t, "probe removed", func() bool { return says(r, "probe") == "" })
	return r
}

// says returns the say: text scenario name serves now, or "" when it is not live.
func says(r *Registry, name string) string {
	sc := r.Current().Set.ByName[name]
	if sc == nil {
		return ""
	}
	return sc.States["a"].Say.Raw
}

// eventually waits (up to 10 s, a bound for a slow machine, not a
// timing assertion) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The watcher watches every folder Discover walks: a scenario in a
// subfolder reloads on an edit, and so does one in a folder made later.
func TestWatchSubfolders(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sub", "a.yaml"), scenarioSrc("a", 1, "one"))
	r := watching(t, dir)
	if got := says(r, "a"); got != "one" {
		t.Fatalf("at start a says %q, want one", got)
	}
	writeFile(t, filepath.Join(dir, "sub", "a.yaml"), scenarioSrc("a", 1, "two"))
	eventually(t, "edit in a subfolder", func() bool { return says(r, "a") == "two" })

	writeFile(t, filepath.Join(dir, "new", "deeper", "b.yaml"), scenarioSrc("b", 2, "one"))
	eventually(t, "file in a new folder", func() bool { return says(r, "b") == "one" })
	writeFile(t, filepath.Join(dir, "new", "deeper", "b.yaml"), scenarioSrc("b", 2, "two"))
	eventually(t, "edit in the new folder", func() bool { return says(r, "b") == "two" })
}

// A scenario folder moved away and back (or replaced by another folder at
// the same path) is watched again: the watch follows a folder, not a path.
func TestWatchReplacedFolder(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "scenarios")
	writeFile(t, filepath.Join(dir, "a.yaml"), scenarioSrc("a", 1, "one"))
	r := watching(t, dir)

	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir+".old", "a.yaml"), scenarioSrc("a", 1, "two"))
	if err := os.Rename(dir+".old", dir); err != nil {
		t.Fatal(err)
	}
	eventually(t, "folder moved back", func() bool { return says(r, "a") == "two" })
	writeFile(t, filepath.Join(dir, "a.yaml"), scenarioSrc("a", 1, "three"))
	eventually(t, "edit after the move", func() bool { return says(r, "a") == "three" })

	// replaced by a copy: a new folder at the same path
	writeFile(t, filepath.Join(parent, "next", "a.yaml"), scenarioSrc("a", 1, "four"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(parent, "next"), dir); err != nil {
		t.Fatal(err)
	}
	eventually(t, "folder replaced", func() bool { return says(r, "a") == "four" })
	writeFile(t, filepath.Join(dir, "a.yaml"), scenarioSrc("a", 1, "five"))
	eventually(t, "edit in the replacing folder", func() bool { return says(r, "a") == "five" })
}

// configMapWrite writes files the way the kubelet updates a mounted
// ConfigMap: a new hidden timestamped folder, a ..data_tmp symlink to it
// renamed over ..data in one step, the old folder removed. The visible
// names are symlinks into ..data, made once.
func configMapWrite(t *testing.T, dir, stamp string, files map[string]string) {
	t.Helper()
	ts := filepath.Join(dir, ".."+stamp)
	for name, src := range files {
		writeFile(t, filepath.Join(ts, name), src)
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := os.Symlink(".."+stamp, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWatchConfigMap(t *testing.T) {
	dir := t.TempDir()
	configMapWrite(t, dir, "2026_12_01_10_00_00.1", map[string]string{"a.yaml": scenarioSrc("a", 1, "one")})
	r := watching(t, dir)
	if got := says(r, "a"); got != "one" {
		t.Fatalf("at start a says %q, want one; files %+v", got, r.Current().Files)
	}
	if n := len(r.Current().Set.List); n != 1 {
		t.Fatalf("%d scenarios live, want 1 (the hidden ..data folder is not loaded twice)", n)
	}
	configMapWrite(t, dir, "2026_12_01_10_05_00.2", map[string]string{"a.yaml": scenarioSrc("a", 1, "two")})
	eventually(t, "ConfigMap swap", func() bool { return says(r, "a") == "two" })
	configMapWrite(t, dir, "2026_12_01_10_10_00.3", map[string]string{"a.yaml": scenarioSrc("a", 1, "three")})
	eventually(t, "second ConfigMap swap", func() bool { return says(r, "a") == "three" })
}

// status returns the status of file in the live snapshot.
func status(r *Registry, file string) (FileStatus, bool) {
	for _, f := range r.Current().Files {
		if f.File == file {
			return f, true
		}
	}
	return FileStatus{}, false
}

func mustReload(t *testing.T, r *Registry) ReloadResult {
	t.Helper()
	res, err := r.Reload()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Errors of files that are gone or fixed are cleared; an error that stays
// is listed once however many reloads happen.
func TestReloadErrorsCleared(t *testing.T) {
	dir := t.TempDir()
	bad, fixed, taken := filepath.Join(dir, "bad.yaml"), filepath.Join(dir, "fixed.yaml"), filepath.Join(dir, "z.yaml")
	writeFile(t, filepath.Join(dir, "a.yaml"), scenarioSrc("a", 1, "one"))
	writeFile(t, bad, "start: [")
	writeFile(t, fixed, "start: nowhere\nstates:\n  a:\n    finish: true\n")
	r := NewRegistry(dir, nil)
	mustReload(t, r)
	writeFile(t, taken, scenarioSrc("z", 1, "late")) // line 1 is a's
	for i := range 3 {
		writeFile(t, filepath.Join(dir, "other.yaml"), scenarioSrc("other", 9, fmt.Sprint(i)))
		mustReload(t, r)
	}
	for _, f := range []string{bad, fixed, taken} {
		st, ok := status(r, f)
		if !ok || st.Error == "" {
			t.Fatalf("%s: status %+v, want an error", f, st)
		}
		if n := strings.Count(st.Error, f+":"); n != 1 {
			t.Errorf("%s: %d errors listed, want 1:\n%s", f, n, st.Error)
		}
	}
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	writeFile(t, fixed, scenarioSrc("fixed", 3, "ok"))
	mustReload(t, r)
	if st, ok := status(r, bad); ok {
		t.Errorf("removed file still listed: %+v", st)
	}
	if st, _ := status(r, fixed); st.Error != "" || st.Version == "" {
		t.Errorf("fixed file: %+v, want live without an error", st)
	}
	if st, _ := status(r, taken); strings.Count(st.Error, taken+":") != 1 {
		t.Errorf("conflict: %q, want it once", st.Error)
	}
	if res := mustReload(t, r); len(res.Problems) != 1 || res.Problems[0].File != taken {
		t.Errorf("problems after the fixes: %v, want only the line conflict", res.Problems)
	}
}

// A file that could not be read and comes back unchanged is read again.
func TestReloadUnreadableFileCleared(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "a.yaml")
	writeFile(t, f, scenarioSrc("a", 1, "one"))
	r := NewRegistry(dir, nil)
	mustReload(t, r)
	if err := os.Chmod(f, 0); err != nil {
		t.Fatal(err)
	}
	mustReload(t, r)
	if st, _ := status(r, f); !strings.Contains(st.Error, "cannot read the file") || st.Version == "" {
		t.Fatalf("unreadable: %+v, want a read error and the live version kept", st)
	}
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	mustReload(t, r)
	if st, _ := status(r, f); st.Error != "" {
		t.Errorf("readable again: error %q stays", st.Error)
	}
}

// Entries that look like scenario files but cannot be one are reported:
// a folder named x.yaml, a symlink out of the folder (never followed, its
// target never shown), a file that is not a map or not a scenario (its
// content never quoted).
func TestDiscoverRefuses(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	const secret = "sk-live-0123456789"
	writeFile(t, filepath.Join(outside, "secret.yaml"), "token: "+secret+"\n")
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "evil.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "folder.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "folder.yaml", "inside.yaml"), scenarioSrc("inside", 4, "hidden"))
	writeFile(t, filepath.Join(dir, "env.yaml"), "OLBOT_ADMIN_TOKEN="+secret+"\nOTHER=1\n")
	writeFile(t, filepath.Join(dir, "keys.yaml"), "API_TOKEN: "+secret+"\nDB_PASSWORD: "+secret+"\n")
	writeFile(t, filepath.Join(dir, "list.yaml"), "- "+secret+"\n")
	writeFile(t, filepath.Join(dir, "ok.yaml"), scenarioSrc("ok", 1, "fine"))
	if err := os.Symlink("ok.yaml", filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		file string
		err  error
		msg  string
	}{
		{"env.yaml", ErrNotScenario, "this is not a scenario file: it holds a text, not a map of keys"},
		{"evil.yaml", ErrOutside, "this symlink leads out of the scenario folder"},
		{"folder.yaml", ErrRead, "this is a folder, not a scenario file"},
		{"keys.yaml", ErrNotScenario, "this is not a scenario file: none of its keys (API_TOKEN, DB_PASSWORD) is a key of a scenario"},
		{"list.yaml", ErrNotScenario, "it holds a list"},
		{"ok.yaml", ErrLineTaken, "line 1 is already served"}, // link.yaml is inside: followed, it loads (first) like ok.yaml
	}
	set, ps := LoadPaths(dir)
	r := NewRegistry(dir, nil)
	res := mustReload(t, r)
	if got, want := res.Problems.Error(), ps.Errors().Error(); got != want {
		t.Errorf("reload and check disagree:\n%s\n---\n%s", got, want)
	}
	if set.ByName["inside"] != nil {
		t.Errorf("a scenario inside a folder named folder.yaml loaded")
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			st, _ := status(r, path)
			if !strings.Contains(st.Error, tc.msg) {
				t.Errorf("error %q, want it to say %q", st.Error, tc.msg)
			}
			if !st.Problems.Is(tc.err) {
				t.Errorf("problems %v do not wrap %v", st.Problems, tc.err)
			}
		})
	}
	if text := res.Problems.Error(); strings.Contains(text, secret) {
		t.Errorf("a problem quotes the secret:\n%s", text)
	}
}
