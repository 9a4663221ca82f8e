package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// liveFiles maps each live scenario name to its file.
func liveFiles(set *Set) map[string]string {
	out := map[string]string{}
	for _, sc := range set.List {
		out[sc.Name] = sc.File
	}
	return out
}

// `olbot check DIR` (LoadPaths) and a server's start-up load (the first
// Reload of a registry) are one function: on every folder they serve the
// same scenarios from the same files and report the same errors.
func TestCheckAgreesWithStartup(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "sets", "*"))
	if err != nil {
		t.Fatal(err)
	}
	dirs = slices.DeleteFunc(dirs, func(d string) bool { info, err := os.Stat(d); return err != nil || !info.IsDir() })
	nested := t.TempDir() // subfolders, a conflict across them, a broken file
	writeFile(t, filepath.Join(nested, "a", "sales.yaml"), scenarioSrc("sales", 1, "a"))
	writeFile(t, filepath.Join(nested, "b", "sales.yaml"), scenarioSrc("sales", 2, "b"))
	writeFile(t, filepath.Join(nested, "b", "support.yaml"), scenarioSrc("support", 1, "b"))
	writeFile(t, filepath.Join(nested, "broken.yaml"), "start: [")
	dirs = append(dirs, "../examples", nested)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			set, ps := LoadPaths(dir)
			r := NewRegistry(dir, nil)
			res := mustReload(t, r)
			live := r.Current().Set
			if got, want := liveFiles(live), liveFiles(set); !mapsEqual(got, want) {
				t.Errorf("start-up serves %v, check %v", got, want)
			}
			for l, sc := range set.ByLine {
				if live.ByLine[l] == nil || live.ByLine[l].File != sc.File {
					t.Errorf("line %d: check gives it to %s, start-up to %v", l, sc.File, live.ByLine[l])
				}
			}
			if got, want := res.Problems.Error(), ps.Errors().Error(); got != want {
				t.Errorf("start-up errors:\n%s\ncheck errors:\n%s", got, want)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Files present together: the one earlier in sorted order keeps its lines.
// A file added later to a running registry is rejected while the live one
// keeps its lines, even when it sorts first, and the dry run of that file
// predicts exactly the reload's problems; a changed file that now takes a
// live file's line is rejected too and keeps serving its previous version.
func TestLaterFileRejected(t *testing.T) {
	dir := t.TempDir()
	b, a := filepath.Join(dir, "b.yaml"), filepath.Join(dir, "a.yaml")
	writeFile(t, b, scenarioSrc("b", 1, "b"))
	writeFile(t, filepath.Join(dir, "c.yaml"), scenarioSrc("c", 2, "c"))
	r := NewRegistry(dir, nil)
	mustReload(t, r)

	late := scenarioSrc("a", 1, "late")
	sc, predicted := r.DryRun(a, []byte(late))
	if sc != nil || !predicted.Is(ErrLineTaken) {
		t.Fatalf("dry run: scenario %v, problems %v; want a rejection for line 1", sc, predicted)
	}
	writeFile(t, a, late)
	res := mustReload(t, r)
	if got, want := res.Problems.Error(), predicted.Errors().Error(); got != want {
		t.Errorf("reload problems:\n%s\ndry run predicted:\n%s", got, want)
	}
	if got := r.Current().Set.ByLine[1]; got == nil || got.Name != "b" {
		t.Errorf("line 1 is served by %v, want the live b", got)
	}
	// the same folder at start: sorted order decides, a.yaml keeps line 1
	set, ps := LoadPaths(dir)
	if got := set.ByLine[1]; got == nil || got.Name != "a" {
		t.Errorf("check DIR: line 1 is served by %v, want a (first in sorted order)", got)
	}
	if errs := ps.Errors(); len(errs) != 1 || errs[0].File != b || !errors.Is(errs[0], ErrLineTaken) {
		t.Errorf("check DIR problems %v, want b.yaml's line conflict", errs)
	}

	// c changes to take line 1 as well: rejected, its previous version serves
	changed := scenarioSrc("c", 1, "c2")
	_, predicted = r.DryRun(filepath.Join(dir, "c.yaml"), []byte(changed))
	writeFile(t, filepath.Join(dir, "c.yaml"), changed)
	res = mustReload(t, r)
	for _, p := range predicted.Errors() {
		if !slices.ContainsFunc(res.Problems, func(q *Problem) bool { return q.Error() == p.Error() }) {
			t.Errorf("predicted %v, not among the reload's problems:\n%v", p, res.Problems)
		}
	}
	if got := r.Current().Set.ByName["c"]; got == nil || got.States["a"].Say.Raw != "c" || got.Lines[0] != 2 {
		t.Errorf("c serves %+v, want its previous version on line 2", got)
	}
	if got := r.Current().Set.ByLine[1]; got == nil || got.Name != "b" {
		t.Errorf("line 1 is served by %v, want b", got)
	}
	// once b gives line 1 up, the waiting files are tried again
	writeFile(t, b, scenarioSrc("b", 5, "b"))
	mustReload(t, r)
	if got := r.Current().Set.ByLine[1]; got == nil || got.Name != "a" {
		t.Errorf("after b left line 1, it is served by %v, want a (c's change sorts after a)", got)
	}
}
