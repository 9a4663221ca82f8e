package scenarios

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the watcher waits after the last change before
// reloading: editors write a file in several steps (truncate, write, rename).
const DefaultDebounce = 250 * time.Millisecond

// Watch reloads the registry whenever something changes in a folder it
// loads from, debounced, until ctx ends. It watches every folder Discover
// walks, subfolders included (new ones as they appear), not the files, so
// editors that save by rename-and-replace or delete-and-create are seen, and
// so is a Kubernetes ConfigMap's atomic swap of its hidden ..data folder.
// The parent of each folder is watched too: a folder moved away and back
// (or replaced by another) is watched again as soon as it returns.
// Each reload's outcome goes to onReload. Requests on the manual channel
// (SIGHUP, the reload route) run a reload at once and get its result.
func Watch(ctx context.Context, r *Registry, debounce time.Duration, log *slog.Logger, manual <-chan chan<- ReloadOutcome, onReload func(ReloadOutcome)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", r.Dir(), err)
	}
	defer w.Close()
	ws := &watchSet{w: w, log: log, watched: map[string]os.FileInfo{}, roots: map[string]bool{}}
	for _, p := range r.paths {
		if abs, err := filepath.Abs(p); err == nil {
			ws.roots[abs] = true
		}
	}
	if err := ws.sync(r.paths); err != nil {
		return fmt.Errorf("watch %s: %w", r.Dir(), err)
	}
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	pending := false
	reload := func(trigger string) ReloadOutcome {
		// watch first, then read: a file written into a new folder after
		// the read is seen by the watch, one written before by the read
		if err := ws.sync(r.paths); err != nil {
			log.Warn("scenario watcher cannot watch every folder", "dir", r.Dir(), "err", err)
		}
		res, err := r.Reload()
		out := ReloadOutcome{Trigger: trigger, Result: res, Err: err}
		if onReload != nil {
			onReload(out)
		}
		return out
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !ws.relevant(ev.Name) {
				continue
			}
			log.Debug("scenario folder changed", "file", ev.Name, "op", ev.Op.String())
			pending = true
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("scenario watcher error", "dir", r.Dir(), "err", err)
		case <-timer.C:
			if pending {
				pending = false
				reload("file change")
			}
		case reply := <-manual:
			out := reload("request")
			if reply != nil {
				reply <- out
			}
		}
	}
}

// ReloadOutcome is one reload and what triggered it.
type ReloadOutcome struct {
	Trigger string
	Result  ReloadResult
	Err     error
}

// watchSet is the folders under watch. A folder is identified by path and
// by the folder found there: one replaced by another at the same path is
// watched anew, since a watch follows the folder, not the path.
type watchSet struct {
	w       *fsnotify.Watcher
	log     *slog.Logger
	watched map[string]os.FileInfo // absolute path -> the folder watched there
	roots   map[string]bool        // absolute paths of the registry's folders
	parents map[string]bool        // their parents, watched for the roots' own moves
}

// sync watches exactly the folders Discover walks under paths, plus the
// parent of each root.
func (ws *watchSet) sync(paths []string) error {
	want := map[string]bool{}
	ws.parents = map[string]bool{}
	for root := range ws.roots {
		parent := filepath.Dir(root)
		want[parent], ws.parents[parent] = true, true
	}
	found, err := Discover(paths...)
	if err == nil {
		for _, d := range found.Dirs {
			if abs, err := filepath.Abs(d); err == nil {
				want[abs] = true
			}
		}
	}
	// fsnotify drops the watch of a folder that moved away by itself
	live := map[string]bool{}
	for _, d := range ws.w.WatchList() {
		live[d] = true
	}
	var first error
	for d := range want {
		info, err := os.Stat(d)
		if err != nil || !info.IsDir() {
			continue // gone again: its parent's watch sees it come back
		}
		if old, ok := ws.watched[d]; ok && live[d] && os.SameFile(old, info) {
			continue
		}
		_ = ws.w.Remove(d) // the folder that was here, if any
		if err := ws.w.Add(d); err != nil {
			// a parent may be out of reach (a read-only mount's root): the
			// folders themselves are what must be watched
			if first == nil && !ws.parents[d] {
				first = fmt.Errorf("watch %s: %w", d, err)
			}
			continue
		}
		ws.watched[d] = info
	}
	for d := range ws.watched {
		if !want[d] {
			_ = ws.w.Remove(d)
			delete(ws.watched, d)
		}
	}
	return first
}

// relevant reports whether an event may change what loads: anything in a
// watched scenario folder (a ConfigMap swap renames hidden ..data entries),
// except editor swap and backup files; in a root's parent, only the root.
func (ws *watchSet) relevant(name string) bool {
	abs, err := filepath.Abs(name)
	if err != nil {
		return true
	}
	if ws.roots[abs] {
		return true
	}
	if dir := filepath.Dir(abs); ws.parents[dir] && !ws.roots[dir] && !ws.inside(dir) {
		return false
	}
	base := filepath.Base(abs)
	return !strings.HasSuffix(base, "~") && !strings.HasSuffix(base, ".swp") && !strings.HasSuffix(base, ".swx") && base != "4913"
}

// inside reports whether dir is a scenario folder or inside one.
func (ws *watchSet) inside(dir string) bool {
	for root := range ws.roots {
		if rel, err := filepath.Rel(root, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
