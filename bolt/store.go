// Package bolt is the embedded engine.Store, the default: one bbolt file
// (./data/olbot.db) for one server process. It passes the conformance suite
// in package storetest.
//
// Writes (Commit, Done, Retry, Park) are durable when they return, and
// concurrent writes are grouped (group commit): a write to an idle store
// waits up to Options.BatchDelay for others to join it (a step, up to as
// long as the log's recent appends took), and writes that
// arrive while a group is being written go together into the next one. A
// group of commits is one append and one fdatasync of the commit log
// beside the file (PATH-log, see log.go), written into the B-tree in the
// background; other writes share one bbolt transaction and fsync. Claim leases live in memory, so a reopened
// store has none: whatever was in flight is claimable again at once, which
// is what a restarted server wants.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/olbot/olbot/engine"
)

var _ engine.Store = (*Store)(nil)

// DefaultPath is where the server keeps the store unless told otherwise.
const DefaultPath = "./data/olbot.db"

// Errors, for errors.Is.
var (
	// ErrLocked: another process (or another Open in this one) has the file.
	ErrLocked = errors.New("store is locked by another process")
	// ErrCorrupt: the file is damaged or is not an olbot store.
	ErrCorrupt = errors.New("store file is corrupt or not an olbot store")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store is closed")
)

// Options tune Open. The zero value gives the defaults.
type Options struct {
	// LockTimeout is how long Open waits for the file lock that another
	// process holds before it gives up with ErrLocked. Default 1s.
	LockTimeout time.Duration
	// BatchDelay is how long a write to an idle store waits for concurrent
	// writes to join its transaction (group commit). Writes that arrive
	// while a transaction is being written share the next one without
	// waiting. A step bound for the commit log waits less: as long as the
	// log's recent appends took, at least 50µs (batch.go, groupWait).
	// Default 1ms; negative: do not wait.
	BatchDelay time.Duration
	// BatchSize is the most writes one transaction takes. Default 1000.
	BatchSize int
	// NoLog turns the commit log off (see log.go): every write is a bbolt
	// transaction of its own group. With the log (the default) a group of
	// commits is one append and one fdatasync of the file beside the store
	// (PATH-log), applied to the B-tree in the background.
	NoLog bool
	// LogSize is how long the commit log grows before a checkpoint starts
	// it over. Default DefaultLogSize.
	LogSize int64
	// ApplyDelay is how long the background apply waits after a commit
	// for more to gather into its bbolt transaction. Default 50ms; negative:
	// do not wait.
	ApplyDelay time.Duration
}

// Defaults of Options.
const (
	DefaultLockTimeout = time.Second
	DefaultBatchDelay  = time.Millisecond
	DefaultBatchSize   = 1000
	DefaultApplyDelay  = 50 * time.Millisecond
)

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	switch {
	case o.BatchDelay == 0:
		o.BatchDelay = DefaultBatchDelay
	case o.BatchDelay < 0:
		o.BatchDelay = 0
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.LogSize <= 0 {
		o.LogSize = DefaultLogSize
	}
	switch {
	case o.ApplyDelay == 0:
		o.ApplyDelay = DefaultApplyDelay
	case o.ApplyDelay < 0:
		o.ApplyDelay = 0
	}
	return o
}

// Store is the bbolt-backed engine.Store. It is safe for concurrent use.
type Store struct {
	db    *bbolt.DB
	path  string
	batch *batcher

	// closing lets Close wait for the writes in flight; closed is set under it.
	closing sync.RWMutex
	closed  bool

	// mu guards the leases and the ids that a write is changing right now.
	// Claim holds it while it reads, so that it never leases a call on the
	// strength of a snapshot that a finished Done/Retry/Park has outdated.
	mu     sync.Mutex
	leases map[uint64]lease
	busy   map[uint64]int

	pending, parked atomic.Int64 // outbox depth

	// The commit log (nil with Options.NoLog). seq is the last seq
	// given to a record (the writer goroutine's). ov holds the newest
	// record of each dialog committed but not yet applied to bbolt, pend
	// the commits to apply, in log order; both under ovMu. applyMu is held
	// by whoever applies them.
	log       *commitLog
	seq       uint64
	ovMu      sync.RWMutex
	ov        map[string]*ovEntry
	pend      []*pendEntry
	doneIDs   map[uint64]bool // the calls of the pending done records
	applyMu   sync.Mutex
	applyErr  atomic.Pointer[error]
	logErr    atomic.Pointer[error] // the log could not start over (renewLogID)
	applyWake chan struct{}
	applyStop chan struct{}
	applyDone chan struct{}
	appends   int // appends to the log so far (tests)
}

type lease struct {
	owner string
	until time.Time
}

type lockedError struct{ path string }

func (e *lockedError) Error() string {
	return fmt.Sprintf("store %s is locked by another olbot process", e.path)
}

func (e *lockedError) Is(target error) bool { return target == ErrLocked }

// Open opens the store at path, creating the file and its folder when they
// do not exist. A file locked by another process gives ErrLocked after
// opts.LockTimeout; a damaged or foreign file gives ErrCorrupt.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create the folder of store %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bbolt.FreelistMapType,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, &lockedError{path: path}
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("store %s: %w: %v", path, ErrCorrupt, err)
	case err != nil:
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, path: path, leases: map[uint64]lease{}, busy: map[uint64]int{}}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if !opts.NoLog {
		l, last, err := s.openLog(opts.LogSize)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("store %s: %w", path, err)
		}
		s.log, s.seq, s.ov, s.doneIDs = l, last, map[string]*ovEntry{}, map[uint64]bool{}
		s.applyWake, s.applyStop, s.applyDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go s.applyLoop(opts.ApplyDelay)
	}
	if err := s.count(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	s.batch = newBatcher(db, opts.BatchDelay, opts.BatchSize)
	if s.log != nil {
		s.batch.runner = s.runBatch
	}
	return s, nil
}

// init creates the buckets of a new file, checks those of an old one, and
// counts the outbox. A damaged file can make bbolt panic; that is reported
// as ErrCorrupt.
func (s *Store) init() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	return s.db.Update(func(tx *bbolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			if v := string(meta.Get(keySchema)); v != schemaVersion {
				return fmt.Errorf("%w: schema version %q, this olbot reads %q", ErrCorrupt, v, schemaVersion)
			}
		} else {
			foreign := false
			_ = tx.ForEach(func([]byte, *bbolt.Bucket) error { foreign = true; return nil })
			if foreign {
				return fmt.Errorf("%w: it holds another program's data", ErrCorrupt)
			}
		}
		oldFile := tx.Bucket(bucketDialogs) != nil && tx.Bucket(bucketEnded) == nil
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if oldFile {
			// written before the ended index (retention) existed
			if err := indexEnded(tx); err != nil {
				return fmt.Errorf("index the ended dialogs: %w", err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte(schemaVersion))
	})
}

// count counts the outbox.
func (s *Store) count() error {
	return s.db.View(func(tx *bbolt.Tx) error {
		s.pending.Store(int64(tx.Bucket(bucketQueue).Stats().KeyN))
		s.parked.Store(int64(tx.Bucket(bucketParked).Stats().KeyN))
		return nil
	})
}

// closeFiles closes the log (its pending commits applied) and the file.
func (s *Store) closeFiles() error {
	var err error
	if s.log != nil {
		err = s.closeLog()
	}
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close store %s: %w", s.path, cerr)
	}
	return err
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Close waits for the writes in flight, then closes the file. Later
// writes return ErrClosed.
func (s *Store) Close() error {
	s.closing.Lock()
	defer s.closing.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.batch.close()
	return s.closeFiles()
}

// Depth returns how many calls wait for delivery and how many are parked.
func (s *Store) Depth(ctx context.Context) (pending, parked int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	return int(s.pending.Load()), int(s.parked.Load()), nil
}

// Dialog returns the record for key, or engine.ErrNotFound.
func (s *Store) Dialog(ctx context.Context, key string) (engine.Dialog, error) {
	if err := ctx.Err(); err != nil {
		return engine.Dialog{}, err
	}
	if engine.CheckKey(key) != nil {
		return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, engine.ErrNotFound)
	}
	var d engine.Dialog
	if s.log != nil {
		s.ovMu.RLock()
		e := s.ov[key]
		s.ovMu.RUnlock()
		if e != nil { // committed, not yet applied
			if err := d.DecodeRecord(e.rec); err != nil {
				return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, err)
			}
			return d, nil
		}
	}
	found := false
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketDialogs).Get([]byte(key))
		if v == nil {
			return nil
		}
		found = true
		return d.DecodeRecord(v)
	})
	switch {
	case err != nil:
		return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, err)
	case !found:
		return engine.Dialog{}, fmt.Errorf("dialog %q: %w", key, engine.ErrNotFound)
	}
	return d, nil
}

// Idle lists up to limit keys of dialogs whose idle event is due: IdleAt
// is set and not after before. Earliest IdleAt first, then by key.
func (s *Store) Idle(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	if err := s.catchUp(); err != nil {
		return nil, fmt.Errorf("idle dialogs: %w", err)
	}
	end := string(timeKey(before))
	var keys []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketIdle).Cursor()
		for k, _ := c.First(); k != nil && string(k[:8]) <= end && len(keys) < limit; k, _ = c.Next() {
			keys = append(keys, string(k[8:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("idle dialogs: %w", err)
	}
	return keys, nil
}

// write runs fn in a batched write transaction and returns once it is on
// disk. fn may run more than once (the batch runs again when another of its
// functions fails), each time in a fresh transaction, so it must set its
// results from scratch on every run; they are final once write returns nil.
// fn reports outcomes such as a conflict through its results, not its
// error, so that one caller's conflict does not roll back the others' work.
func (s *Store) write(fn func(tx *bbolt.Tx) error) error {
	s.closing.RLock()
	defer s.closing.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.batch.do(fn)
}

// idles reports whether the idle sweep should see d.
func idles(d *engine.Dialog) bool { return !d.IdleAt.IsZero() }
