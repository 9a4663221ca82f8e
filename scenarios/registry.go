package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Snapshot is one consistent view of the loaded scenarios. Snapshots are
// immutable: a reload builds a new one and swaps it in atomically, so an
// event is always handled by one whole, fully compiled set.
type Snapshot struct {
	Set      *Set
	Files    []FileStatus // by file name
	Version  string       // hash over every live scenario's version
	LoadedAt time.Time    // when this snapshot was built
}

// FileStatus is what a reload made of one file.
type FileStatus struct {
	File     string    `json:"file"`
	Name     string    `json:"name,omitempty"`
	Title    string    `json:"title,omitempty"`
	Lines    []int     `json:"lines,omitempty"`
	Default  bool      `json:"default,omitempty"`
	Version  string    `json:"version,omitempty"`   // live version; "" when the file never loaded
	LoadedAt time.Time `json:"loaded_at,omitempty"` // when the live version was loaded
	// Error holds the problems of the file's current content when they kept
	// it from replacing the live version (FILE:LINE:COL lines).
	Error    string    `json:"error,omitempty"`
	ErrorAt  time.Time `json:"error_at,omitempty"`
	Problems Problems  `json:"-"`
	Warnings int       `json:"warnings,omitempty"`
}

// Registry holds the live scenarios of a folder and reloads them safely: a
// file that fails to load never replaces its last good version, and a new
// file that conflicts with another (same name or line) is rejected while the
// older file keeps its lines.
type Registry struct {
	dir string
	now func() time.Time

	mu      sync.Mutex // serialises reloads
	current atomic.Pointer[Snapshot]
	good    map[string]*Scenario // last good version per file
	hashes  map[string]string    // content hash of each file as last read
	status  map[string]FileStatus
	order   []string // files in the order they first loaded: older files win conflicts
}

// NewRegistry returns a registry of the scenario files in dir. Call Reload to load them.
func NewRegistry(dir string, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	r := &Registry{dir: dir, now: now, good: map[string]*Scenario{}, hashes: map[string]string{}, status: map[string]FileStatus{}}
	r.current.Store(&Snapshot{Set: emptySet()})
	return r
}

func emptySet() *Set { return &Set{ByName: map[string]*Scenario{}, ByLine: map[int]*Scenario{}} }

// Dir is the folder the registry watches.
func (r *Registry) Dir() string { return r.dir }

// Current returns the live snapshot. It never returns nil.
func (r *Registry) Current() *Snapshot { return r.current.Load() }

// ReloadResult says what one reload did.
type ReloadResult struct {
	Changed  bool     // a new snapshot was swapped in
	Problems Problems // errors kept some files at their last good version (or out)
}

// Reload re-reads the folder. Unchanged files are not parsed again; files
// with errors keep their last good version; the new snapshot is swapped in
// only after everything compiled. It returns the problems of the files that
// failed (warnings are in the file statuses).
func (r *Registry) Reload() (ReloadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	files, _, err := Files(r.dir)
	if err != nil {
		return ReloadResult{}, fmt.Errorf("reload %s: %w", r.dir, err)
	}
	now := r.now()
	present := map[string]bool{}
	replaced := map[string]*Scenario{} // previous good version of files changed in this reload
	changed := false
	var problems Problems
	for _, f := range files {
		present[f] = true
		src, err := ReadFile(f)
		if err != nil {
			p := readProblem(f, err, "scenario")
			problems = append(problems, p)
			r.fail(f, Problems{p}, now)
			continue
		}
		h := Version(src)
		if r.hashes[f] == h {
			if st := r.status[f]; st.Error != "" {
				problems = append(problems, st.Problems...)
			}
			continue // same content: nothing to do (and a failing file fails the same way)
		}
		r.hashes[f] = h
		sc, ps := Parse(f, src)
		if sc == nil {
			problems = append(problems, ps.Errors()...)
			r.fail(f, ps, now)
			continue
		}
		if !contains(r.order, f) {
			r.order = append(r.order, f)
		}
		if old, ok := r.good[f]; ok {
			replaced[f] = old
		}
		r.good[f] = sc
		r.status[f] = FileStatus{File: f, Name: sc.Name, Title: sc.Title, Lines: sc.Lines, Default: sc.Default(), Version: sc.Version, LoadedAt: now, Warnings: len(ps), Problems: ps}
		changed = true
	}
	for f := range r.hashes {
		if !present[f] {
			delete(r.hashes, f)
			delete(r.good, f)
			delete(r.status, f)
			r.order = remove(r.order, f)
			changed = true
		}
	}
	if !changed && r.Current().LoadedAt != (time.Time{}) {
		return ReloadResult{Problems: problems}, nil
	}

	// Older files first, so a new file that takes another's name or line is
	// the one rejected; a changed file that now conflicts goes back to its
	// previous version.
	var set *Set
	var conflicts, all Problems
	for {
		var list []*Scenario
		for _, f := range r.order {
			if sc := r.good[f]; sc != nil {
				list = append(list, sc)
			}
		}
		set, conflicts = NewSet(list)
		all = append(all, conflicts...)
		restored := false
		for _, p := range conflicts {
			if old, ok := replaced[p.File]; ok {
				r.good[p.File] = old
				delete(replaced, p.File)
				st := r.status[p.File]
				st.Name, st.Title, st.Lines, st.Default, st.Version = old.Name, old.Title, old.Lines, old.Default(), old.Version
				r.status[p.File] = st
				restored = true
			}
		}
		if !restored {
			break
		}
	}
	seen := map[string]bool{}
	for _, p := range all {
		if seen[p.Error()] {
			continue
		}
		seen[p.Error()] = true
		problems = append(problems, p)
		st := r.status[p.File]
		st.Error, st.ErrorAt, st.Problems = joinErr(st.Error, p.Error()), now, append(st.Problems, p)
		r.status[p.File] = st
	}
	snap := &Snapshot{Set: set, LoadedAt: now}
	var versions []string
	for _, f := range sortedFiles(r.status) {
		snap.Files = append(snap.Files, r.status[f])
	}
	for _, sc := range set.List {
		versions = append(versions, sc.Name+"="+sc.Version)
	}
	sort.Strings(versions)
	sum := sha256.Sum256([]byte(strings.Join(versions, ",")))
	snap.Version = hex.EncodeToString(sum[:6])
	r.current.Store(snap)
	problems.Sort()
	return ReloadResult{Changed: true, Problems: problems}, nil
}

func (r *Registry) fail(f string, ps Problems, now time.Time) {
	st := r.status[f]
	st.File = f
	st.Error, st.ErrorAt, st.Problems = ps.Errors().Error(), now, ps
	r.status[f] = st
	// refresh the snapshot's copy of the status without touching the live set
	cur := r.Current()
	next := *cur
	next.Files = nil
	for _, name := range sortedFiles(r.status) {
		next.Files = append(next.Files, r.status[name])
	}
	r.current.Store(&next)
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}

func sortedFiles(m map[string]FileStatus) []string {
	out := make([]string, 0, len(m))
	for f := range m {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// DryRun checks what saving src as file would do, without changing anything:
// it parses and checks src exactly as a reload would, and reports the problems
// and the scenario it would produce, including conflicts with the other live
// scenarios.
func (r *Registry) DryRun(file string, src []byte) (*Scenario, Problems) {
	sc, ps := Parse(file, src)
	if sc == nil {
		return nil, ps
	}
	var list []*Scenario
	for _, other := range r.Current().Set.List {
		if other.File != file && filepath.Clean(other.File) != filepath.Clean(file) {
			list = append(list, other)
		}
	}
	_, conflicts := NewSet(append(list, sc))
	ps = append(ps, conflicts...)
	ps.Sort()
	if ps.HasErrors() {
		return nil, ps
	}
	return sc, ps
}
