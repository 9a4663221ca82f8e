// Package history keeps every version of a scenario file that went live —
// saved in the playground's editor, changed on disk, loaded at start — in
// the store's key-value space, so the page and `olbot history` can list
// them, diff any two and roll back to one. The last MaxVersions per file
// are kept.
//
// Layout in the KV (namespace "history"): "index/FILE" holds the file's
// entries as JSON, newest first; "content/FILE/HASH" holds one version's
// text. FILE is the path inside the scenario folder, so replicas that mount
// the folder at different places share one history.
package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/olbot/olbot/engine"
)

// MaxVersions is how many versions of one file are kept.
const MaxVersions = 100

// Namespace is the KV namespace of the history.
const Namespace = "history"

// Sources of a version.
const (
	SourceStart  = "start"  // loaded when the server started
	SourceDisk   = "disk"   // the file changed on disk (an editor, git, a ConfigMap)
	SourceReload = "reload" // a reload asked for (SIGHUP, POST /v1/scenarios/reload)
	SourceEditor = "editor" // saved in the playground's editor (a rollback too)
)

// Entry is one version of a file that went live.
type Entry struct {
	Hash     string    `json:"hash"` // content hash, the scenario's version
	Time     time.Time `json:"time"`
	Source   string    `json:"source"`
	Scenario string    `json:"scenario,omitempty"`
	Size     int       `json:"size"`
	Note     string    `json:"note,omitempty"` // e.g. "rollback to 1a2b3c…"
}

// Log is the history of every file, in a KV.
type Log struct {
	kv  engine.KV
	max int
	mu  sync.Mutex // one writer per process; replicas' writes of the same version are deduplicated
}

// New returns the history kept in kv.
func New(kv engine.KV) *Log { return &Log{kv: kv, max: MaxVersions} }

func indexKey(file string) string         { return "index/" + file }
func contentKey(file, hash string) string { return "content/" + file + "/" + hash }

// Record adds a version that went live, unless it is already the newest
// one (another replica, or the same version reloaded, recorded it). It
// reports whether it added it.
func (l *Log) Record(ctx context.Context, file string, e Entry, content []byte) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	list, err := l.list(ctx, file)
	if err != nil {
		return false, err
	}
	if len(list) > 0 && list[0].Hash == e.Hash {
		return false, nil
	}
	// the content first: an index entry never points at nothing
	if err := l.kv.Put(ctx, Namespace, contentKey(file, e.Hash), content); err != nil {
		return false, fmt.Errorf("history of %s: store version %s: %w", file, e.Hash, err)
	}
	list = append([]Entry{e}, list...)
	var dropped []Entry
	if len(list) > l.max {
		list, dropped = list[:l.max], list[l.max:]
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return false, fmt.Errorf("history of %s: %w", file, err)
	}
	if err := l.kv.Put(ctx, Namespace, indexKey(file), raw); err != nil {
		return false, fmt.Errorf("history of %s: store the index: %w", file, err)
	}
	kept := map[string]bool{}
	for _, x := range list {
		kept[x.Hash] = true
	}
	for _, x := range dropped {
		if !kept[x.Hash] {
			if err := l.kv.Delete(ctx, Namespace, contentKey(file, x.Hash)); err != nil {
				return true, fmt.Errorf("history of %s: drop version %s: %w", file, x.Hash, err)
			}
		}
	}
	return true, nil
}

// List returns a file's versions, newest first; empty for a file without
// history.
func (l *Log) List(ctx context.Context, file string) ([]Entry, error) {
	return l.list(ctx, file)
}

func (l *Log) list(ctx context.Context, file string) ([]Entry, error) {
	raw, err := l.kv.Get(ctx, Namespace, indexKey(file))
	if errors.Is(err, engine.ErrNotFound) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", file, err)
	}
	var list []Entry
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("history of %s: the index is damaged: %w", file, err)
	}
	return list, nil
}

// ErrUnknown: the file has no kept version with that hash.
var ErrUnknown = errors.New("no such version in the history")

// Content returns one kept version's text.
func (l *Log) Content(ctx context.Context, file, hash string) ([]byte, error) {
	b, err := l.kv.Get(ctx, Namespace, contentKey(file, hash))
	if errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("%s version %s: %w", file, hash, ErrUnknown)
	}
	if err != nil {
		return nil, fmt.Errorf("history of %s: read version %s: %w", file, hash, err)
	}
	return b, nil
}
