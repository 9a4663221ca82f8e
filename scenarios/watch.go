package scenarios

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the watcher waits after the last change before
// reloading: editors write a file in several steps (truncate, write, rename).
const DefaultDebounce = 250 * time.Millisecond

// Watch reloads the registry whenever a scenario file in its folder changes,
// debounced, until ctx ends. The folder itself is watched, not the files, so
// editors that save by rename-and-replace or delete-and-create are seen.
// Each reload's outcome goes to onReload. Requests on the manual channel
// (SIGHUP, the reload route) run a reload at once and get its result.
func Watch(ctx context.Context, r *Registry, debounce time.Duration, log *slog.Logger, manual <-chan chan<- ReloadOutcome, onReload func(ReloadOutcome)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", r.dir, err)
	}
	defer w.Close()
	if err := w.Add(r.dir); err != nil {
		return fmt.Errorf("watch %s: %w", r.dir, err)
	}
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	pending := false
	reload := func(trigger string) ReloadOutcome {
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
			if !relevant(ev.Name) {
				continue
			}
			log.Debug("scenario folder changed", "file", ev.Name, "op", ev.Op.String())
			pending = true
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("scenario watcher error", "dir", r.dir, "err", err)
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

func relevant(name string) bool {
	base := name[strings.LastIndexAny(name, `/\`)+1:]
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") {
		return false
	}
	return strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml")
}
