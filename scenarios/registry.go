package scenarios

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
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
	Error   string    `json:"error,omitempty"`
	ErrorAt time.Time `json:"error_at,omitempty"`
	// Problems are those errors, or the live version's warnings.
	Problems Problems `json:"-"`
	Warnings int      `json:"warnings,omitempty"`
}

// Registry holds the live scenarios of a folder and reloads them safely: a
// file that fails to load never replaces its last good version, and a file
// that conflicts with a live one (same name or line) is rejected while the
// live one keeps its lines. At start, when nothing is live yet, the file
// earlier in sorted order wins, exactly as `olbot check` decides.
type Registry struct {
	paths []string
	now   func() time.Time

	mu      sync.Mutex // serialises reloads
	current atomic.Pointer[Snapshot]
	files   map[string]*fileState
	order   []string // live files in the order they went live: they win conflicts
}

// fileState is what the registry knows of one file.
type fileState struct {
	hash     string    // content hash as last read; "" when it could not be read
	latest   *Scenario // the current content, when it loaded; nil when it failed
	problems Problems  // of the current content: errors, or the warnings of latest
	good     *Scenario // the live version; nil when the file serves nothing
	goodAt   time.Time
	errAt    time.Time // when the current errors were first seen
	errText  string    // the current errors as last reported
}

// NewRegistry returns a registry of the scenario files in dir (and its
// subfolders; see Discover). Call Reload to load them.
func NewRegistry(dir string, now func() time.Time) *Registry {
	return newRegistry([]string{dir}, now)
}

func newRegistry(paths []string, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	r := &Registry{paths: paths, now: now, files: map[string]*fileState{}}
	r.current.Store(&Snapshot{Set: emptySet()})
	return r
}

func emptySet() *Set { return &Set{ByName: map[string]*Scenario{}, ByLine: map[int]*Scenario{}} }

// Dir is the folder the registry watches.
func (r *Registry) Dir() string { return r.paths[0] }

// Current returns the live snapshot. It never returns nil.
func (r *Registry) Current() *Snapshot { return r.current.Load() }

// ReloadResult says what one reload did.
type ReloadResult struct {
	Changed  bool     // a new snapshot was swapped in
	Problems Problems // errors kept some files at their last good version (or out)
}

// LoadPaths loads every scenario under paths (files or folders) and checks
// them as one set: names unique, at most one default, no line served twice;
// on a conflict the file earlier in sorted order keeps its lines. It is a
// server's start-up load: the same code, the same answers. Files with
// errors are left out of the set; every problem, warnings included, is
// returned.
func LoadPaths(paths ...string) (*Set, Problems) {
	r := newRegistry(paths, nil)
	if _, err := r.Reload(); err != nil {
		return emptySet(), Problems{{File: firstOr(paths), Pos: Pos{1, 1}, Err: ErrMissing, Msg: readErr(err)}}
	}
	var all Problems
	for _, f := range r.Current().Files {
		fs := r.files[f.File]
		all = append(all, fs.problems...)
		if !fs.problems.HasErrors() && f.Error != "" {
			all = append(all, f.Problems...) // conflicts with other files
		}
	}
	all.Sort()
	return r.Current().Set, all
}

func firstOr(paths []string) string {
	if len(paths) > 0 {
		return paths[0]
	}
	return "."
}

// Reload re-reads the folder. Unchanged files are not parsed again; files
// with errors keep their last good version; the new snapshot is swapped in
// only after everything compiled. It returns the problems of the files that
// failed (warnings are in the file statuses).
func (r *Registry) Reload() (ReloadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	found, err := Discover(r.paths...)
	if err != nil {
		return ReloadResult{}, fmt.Errorf("reload %s: %w", strings.Join(r.paths, ", "), err)
	}
	dirty := r.read(found)
	if !dirty && r.Current().LoadedAt != (time.Time{}) {
		return ReloadResult{Problems: r.errors()}, nil
	}
	now := r.now()
	set, conflicts := r.assemble(r.files, now)
	snap := r.snapshot(set, conflicts, now)
	r.current.Store(snap)
	return ReloadResult{Changed: true, Problems: r.errorsOf(snap)}, nil
}

// read brings the file states up to date with the folder and reports
// whether anything changed.
func (r *Registry) read(found Found) (dirty bool) {
	present := make(map[string]bool, len(found.Scenarios))
	for _, f := range found.Scenarios {
		present[f] = true
		fs := r.files[f]
		if fs == nil {
			fs = &fileState{}
			r.files[f] = fs
		}
		if p := found.Problems[f]; p != nil {
			dirty = fs.setFailed("", Problems{p}) || dirty
			continue
		}
		src, err := ReadFile(f)
		if err != nil {
			dirty = fs.setFailed("", Problems{readProblem(f, err, "scenario")}) || dirty
			continue
		}
		h := Version(src)
		if fs.hash == h {
			continue // same content: nothing to do (and a failing file fails the same way)
		}
		dirty = true
		sc, ps := Parse(f, src)
		fs.hash, fs.latest, fs.problems = h, sc, ps
	}
	for f := range r.files {
		if !present[f] {
			delete(r.files, f)
			r.order = slices.DeleteFunc(r.order, func(x string) bool { return x == f })
			dirty = true
		}
	}
	return dirty
}

// setFailed records that a file cannot be read at all; it reports whether
// that is news.
func (fs *fileState) setFailed(hash string, ps Problems) bool {
	same := fs.hash == hash && fs.latest == nil && fs.problems.Error() == ps.Error()
	fs.hash, fs.latest, fs.problems = hash, nil, ps
	return !same
}

// assemble decides the live set: every live file whose content did not
// change, in the order the files went live, then the files with new valid
// content in sorted order. A new version that conflicts with a file before
// it is rejected and its previous version (if any) stays. It updates each
// state's good version and returns the conflicts by file.
func (r *Registry) assemble(files map[string]*fileState, now time.Time) (*Set, map[string]Problems) {
	kept := map[string]bool{} // live files that stay as they are
	for _, f := range r.order {
		if fs := files[f]; fs != nil && fs.good != nil && (fs.latest == nil || fs.latest == fs.good) {
			kept[f] = true
		}
	}
	var fresh []string // files with a new version to try
	for f, fs := range files {
		if fs.latest != nil && fs.latest != fs.good {
			fresh = append(fresh, f)
		}
	}
	sort.Strings(fresh)
	for {
		var list []*Scenario
		for _, f := range r.order {
			if kept[f] {
				list = append(list, files[f].good)
			}
		}
		for _, f := range fresh {
			list = append(list, files[f].latest)
		}
		set, ps := NewSet(list)
		conflicts := map[string]Problems{}
		for _, p := range ps {
			conflicts[p.File] = append(conflicts[p.File], p)
		}
		// a rejected new version whose file was live goes back to its
		// previous version, which must then be fitted in again
		restored := false
		for _, f := range fresh {
			if _, bad := conflicts[f]; bad && files[f].good != nil {
				kept[f] = true
				restored = true
			}
		}
		if restored {
			fresh = slices.DeleteFunc(fresh, func(f string) bool { return kept[f] })
			continue
		}
		for _, f := range fresh {
			if _, bad := conflicts[f]; !bad {
				files[f].good, files[f].goodAt = files[f].latest, now
				if !slices.Contains(r.order, f) {
					r.order = append(r.order, f)
				}
			}
		}
		// a file kept back by a conflict keeps its new version in latest:
		// every reload tries it again and reports the conflict afresh, once
		return set, conflicts
	}
}

// snapshot builds the snapshot of set with every file's status.
func (r *Registry) snapshot(set *Set, conflicts map[string]Problems, now time.Time) *Snapshot {
	snap := &Snapshot{Set: set, LoadedAt: now}
	names := make([]string, 0, len(r.files))
	for f := range r.files {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		fs := r.files[f]
		st := FileStatus{File: f}
		if sc := fs.good; sc != nil {
			st.Name, st.Title, st.Lines, st.Default, st.Version, st.LoadedAt = sc.Name, sc.Title, sc.Lines, sc.Default(), sc.Version, fs.goodAt
		}
		errs := fs.problems.Errors()
		if len(errs) == 0 {
			errs = conflicts[f]
		}
		if len(errs) > 0 {
			text := errs.Error()
			if text != fs.errText {
				fs.errText, fs.errAt = text, now
			}
			st.Error, st.ErrorAt, st.Problems = text, fs.errAt, errs
		} else {
			fs.errText, fs.errAt = "", time.Time{}
			if fs.good != nil {
				st.Problems = fs.good.Warnings
				st.Warnings = len(fs.good.Warnings)
			}
		}
		if st.Name == "" && fs.latest != nil {
			st.Name = fs.latest.Name
		}
		snap.Files = append(snap.Files, st)
	}
	versions := make([]string, 0, len(set.List))
	for _, sc := range set.List {
		versions = append(versions, sc.Name+"="+sc.Version)
	}
	sort.Strings(versions)
	sum := sha256.Sum256([]byte(strings.Join(versions, ",")))
	snap.Version = hex.EncodeToString(sum[:6])
	return snap
}

// errors are the current errors of every file in the live snapshot.
func (r *Registry) errors() Problems { return r.errorsOf(r.Current()) }

func (r *Registry) errorsOf(snap *Snapshot) Problems {
	var out Problems
	for _, f := range snap.Files {
		if f.Error != "" {
			out = append(out, f.Problems...)
		}
	}
	out.Sort()
	return out
}

// DryRun checks what saving src as file would do, without changing anything:
// it parses and checks src and decides the set exactly as a reload would
// (the file's new version comes after every live file, so a conflict
// rejects it), and reports the problems and the scenario it would produce.
func (r *Registry) DryRun(file string, src []byte) (*Scenario, Problems) {
	sc, ps := Parse(file, src)
	if sc == nil {
		return nil, ps
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	file = filepath.Clean(file)
	files := make(map[string]*fileState, len(r.files)+1)
	for f, fs := range r.files {
		c := *fs
		files[f] = &c
	}
	old := files[file]
	if old == nil {
		old = &fileState{}
	}
	files[file] = &fileState{latest: sc, problems: ps, good: old.good}
	order := r.order
	r.order = slices.Clone(order)
	_, conflicts := r.assemble(files, r.now())
	r.order = order
	ps = append(ps, conflicts[file]...)
	ps.Sort()
	if ps.HasErrors() {
		return nil, ps
	}
	return sc, ps
}
