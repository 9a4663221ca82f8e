package bolt

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/olbot/olbot/engine"
)

// The commit log (on unless Options.NoLog). A group of commits is one append to the
// log file and one fdatasync, and each commit is answered after that: it
// is durable then. The B-tree gets the commits later, many groups in one
// bbolt transaction, from a goroutine of its own (apply): until then the
// dialog records are read from an in-memory index of the log's tail
// (Store.ov), and every other read (Claim, Calls, Idle, Ended, Cursor,
// ScanDialogs, Backup) first applies what is pending, so that it sees
// every commit that returned before it began. Done goes to the log too (a
// done record: the delivered calls' ids), in the same group as the commits
// (the outbox records a done per delivered call, and a group holding one
// used to be a whole bbolt transaction). Its call stays busy for Claim
// until the B-tree has the done, so that no claim leases it again from a
// snapshot taken before the apply. The other writes (Retry, Park, Put,
// Delete, Erase) go to bbolt as before, after the pending commits are
// applied, in the same goroutine that appends to the log: commits and
// those writes keep one order, and an erased dialog is never brought back
// by a commit applied after the erase.
//
// The B-tree's meta bucket holds the seq of the last applied record
// (keyLogApplied). On Open the records after it are applied (the process
// stopped before it applied them), then the log starts over. A checkpoint
// (the log passed Options.LogSize) applies everything and starts the log
// over from its first record: the file keeps its blocks, so that later
// appends overwrite them without changing the file's size, and the old
// records left behind the new end are told from new ones by their seq.

// Meta keys of the commit log.
var (
	keyLogApplied = []byte("log-applied") // seq of the last record applied (uint64)
	keyLogID      = []byte("log-id")      // id of the log file beside the store (8 bytes)
)

// DefaultLogSize is the default Options.LogSize.
const DefaultLogSize = 16 << 20

// maxPending bounds the commits waiting to be applied: past it a commit
// applies them first (a long read transaction, such as a backup, holds up
// the B-tree's growth and with it the apply).
const maxPending = 50_000

// logPath is the commit log's file beside the store file.
func logPath(path string) string { return path + "-log" }

// commitLog is the open log file. Only the writer goroutine (the batcher)
// appends to it, and it starts the log over only while it holds applyMu.
type commitLog struct {
	f    *os.File
	path string
	off  int64 // where the next record goes
	max  int64 // checkpoint once off passes it
	buf  []byte
	// filled is how far the file has blocks (records, old or new, or the
	// zeros of fill): an append that ends before it changes no metadata,
	// so its fdatasync writes the data blocks only, without a journal
	// commit for the file's size (BENCHMARKS.md: about half the latency
	// and the kernel CPU of an fdatasync that grows the file).
	filled int64
}

// fillChunk is how far ahead of the log's end fill writes zeros: a
// sixteenth of the log, between 4 KB and 1 MB, so that the file grows (and
// its size is synced) once per many groups and ends up about LogSize.
func (l *commitLog) fillChunk() int64 {
	return min(max(l.max/16, 4096), 1<<20)
}

// zeros is what fill writes from.
var zeros = make([]byte, 1<<20)

// fill makes the file hold blocks up to at least end: it writes zeros from
// filled up to end rounded up to a chunk (not past one chunk beyond
// the checkpoint size). Zeros read as the end of the log (a record length
// of 0), so the filled part is never taken for records. The caller's
// fdatasync makes the new size durable with the group it was grown for.
func (l *commitLog) fill(end int64) error {
	if end <= l.filled {
		return nil
	}
	chunk := l.fillChunk()
	to := max(end, min((end+chunk-1)/chunk*chunk, l.max+chunk))
	for at := l.filled; at < to; {
		n := min(to-at, int64(len(zeros)))
		if _, err := l.f.WriteAt(zeros[:n], at); err != nil {
			return err
		}
		at += n
	}
	l.filled = to
	return nil
}

// ovEntry is a dialog's newest committed record that bbolt does not hold
// yet.
type ovEntry struct {
	seq  uint64
	meta recMeta
	rec  []byte
}

// pendEntry is a logged commit that waits to be applied to bbolt.
type pendEntry struct {
	seq     uint64
	key     string
	old, nw recMeta
	rec     []byte
	calls   []engine.Call
	cursor  *engine.Cursor
	done    []uint64 // a done record: the delivered calls' ids
}

// logDone is a Done on its way through the log.
type logDone struct {
	id  uint64
	res *callResult
	// logged: the done is in the log, and the call stays busy until the
	// B-tree has it (applied)
	logged bool
}

// logCommit is a Commit on its way through the log.
type logCommit struct {
	c   *engine.Commit
	rec []byte
	res *commitResult
}

// openLog opens (or creates) the log beside the store and applies the
// records that bbolt does not have yet. It returns the log, started over,
// and the seq its next record follows.
func (s *Store) openLog(size int64) (*commitLog, uint64, error) {
	path := logPath(s.path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open commit log %s: %w", path, err)
	}
	l := &commitLog{f: f, path: path, off: logHeaderSize, max: size}
	last, err := s.recover(l)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return l, last, nil
}

// recover applies the log's unapplied records to bbolt, gives the log a
// new id and starts it over.
func (s *Store) recover(l *commitLog) (uint64, error) {
	data, err := os.ReadFile(l.path)
	if err != nil {
		return 0, fmt.Errorf("read commit log %s: %w", l.path, err)
	}
	var applied uint64
	var dbID []byte
	if err := s.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyLogApplied); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		dbID = slices.Clone(meta.Get(keyLogID))
		return nil
	}); err != nil {
		return 0, err
	}
	var todo []logEntry
	last := applied
	switch {
	case len(data) == 0:
	case len(data) < logHeaderSize || string(data[:len(logMagic)]) != logMagic && string(data[:len(logMagic)]) != logMagicV1:
		return 0, fmt.Errorf("%w: %s is not an olbot commit log", ErrCorrupt, l.path)
	default:
		entries, _ := scanLog(data[logHeaderSize:])
		for _, e := range entries {
			if e.seq > applied {
				todo = append(todo, e)
			}
			last = max(last, e.seq)
		}
		if len(todo) > 0 && string(data[len(logMagic):logHeaderSize]) != string(dbID) {
			return 0, fmt.Errorf("%w: the commit log %s holds %d steps for another copy of the store (was a backup copied over the file? a restore must remove %s too)",
				ErrCorrupt, l.path, len(todo), l.path)
		}
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b := txBuckets(tx)
		kv := tx.Bucket(bucketKV)
		for _, e := range todo {
			if len(e.done) > 0 {
				if err := doneTx(b, e.done); err != nil {
					return fmt.Errorf("apply commit log record %d: %w", e.seq, err)
				}
				continue
			}
			c, err := e.commit()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			var res commitResult
			if err := commitTx(b, c, e.rec, &res); err != nil {
				return fmt.Errorf("apply commit log record %d: %w", e.seq, err)
			}
			if res.conflict {
				return fmt.Errorf("%w: commit log record %d (dialog %q from rev %d) does not follow the stored record", ErrCorrupt, e.seq, e.key, e.prevRev)
			}
			if c.Cursor != nil {
				if err := raiseCursor(kv, c.Cursor.Key, c.Cursor.Value); err != nil {
					return err
				}
			}
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyLogApplied, u64(last)); err != nil {
			return err
		}
		return meta.Put(keyLogID, id)
	})
	if err != nil {
		return 0, fmt.Errorf("apply the commit log %s: %w", l.path, err)
	}
	head := append([]byte(logMagic), id...)
	if _, err := l.f.WriteAt(head, 0); err != nil {
		return 0, fmt.Errorf("write commit log %s: %w", l.path, err)
	}
	if err := l.f.Sync(); err != nil {
		return 0, fmt.Errorf("sync commit log %s: %w", l.path, err)
	}
	l.filled = max(int64(len(data)), logHeaderSize)
	// the folder too: a log created by this Open must still be there after
	// a power loss, with the steps it will hold
	if d, err := os.Open(filepath.Dir(l.path)); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return 0, fmt.Errorf("sync the folder of commit log %s: %w", l.path, err)
		}
	}
	return last, nil
}

// logged runs a Commit through the writer goroutine: appended to the log
// (or, in a batch with other writes, straight into bbolt by fn).
func (s *Store) logged(fn func(tx *bbolt.Tx) error, lc *logCommit) error {
	s.closing.RLock()
	defer s.closing.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.batch.doLogged(fn, lc)
}

// loggedDone runs a Done through the writer goroutine: appended to the log
// (or, in a batch with other writes, straight into bbolt by fn).
func (s *Store) loggedDone(fn func(tx *bbolt.Tx) error, ld *logDone) error {
	s.closing.RLock()
	defer s.closing.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.batch.send(&request{fn: fn, ld: ld, done: make(chan error, 1)})
}

// runBatch is the writer goroutine's work with the log on: a batch of
// commits only goes to the log; a batch with other writes goes to bbolt,
// after the commits pending before it.
func (s *Store) runBatch(b *batcher, batch []*request) {
	commitsOnly := true
	for _, r := range batch {
		if r.lc == nil && r.ld == nil {
			commitsOnly = false
			break
		}
	}
	if commitsOnly {
		s.appendCommits(batch)
		return
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	pend := s.waiting()
	var first func(*bbolt.Tx) error
	if len(pend) > 0 {
		first = func(tx *bbolt.Tx) error { return applyTx(tx, pend) }
	}
	var newID []byte
	for _, r := range batch {
		if r.newLogID != nil {
			newID = r.newLogID
		}
	}
	committed := b.runAfter(batch, first) // (it reuses batch's array)
	if committed && len(pend) > 0 {
		s.applied(pend)
	}
	if committed && newID != nil {
		// bbolt names the new id and holds every logged step: start the
		// log over under it before anything more is appended
		if err := s.log.restart(newID); err != nil {
			err = fmt.Errorf("store %s: %w", s.path, err)
			s.logErr.Store(&err)
		}
	}
}

// restart starts the log over, empty, under a new id.
func (l *commitLog) restart(id []byte) error {
	if _, err := l.f.WriteAt(append([]byte(logMagic), id...), 0); err != nil {
		return fmt.Errorf("write commit log %s: %w", l.path, err)
	}
	if err := fdatasync(l.f); err != nil {
		return fmt.Errorf("sync commit log %s: %w", l.path, err)
	}
	l.off = logHeaderSize
	return nil
}

// renewLogID gives the log a new id, in bbolt and in the log's header,
// with every logged step applied. Backup calls it (holding closing) once
// its copy is written: the copy then names an id that the live log no
// longer has, so that the live log of a killed server is not applied to
// the copy restored over its file.
func (s *Store) renewLogID() error {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	r := &request{
		fn:       func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyLogID, id) },
		newLogID: id,
		done:     make(chan error, 1),
	}
	return s.batch.send(r)
}

// appendCommits checks each commit's PrevRev against the newest record
// (pending or in bbolt), appends the others to the log in one write,
// syncs, and answers every commit.
func (s *Store) appendCommits(batch []*request) {
	fail := func(err error) {
		for _, r := range batch {
			r.done <- err
		}
	}
	l := s.log
	if l.off > l.max || s.pendingLen() > maxPending {
		if err := s.checkpoint(); err != nil {
			fail(err)
			return
		}
	}
	if err := s.applyFailure(); err != nil {
		fail(err) // the B-tree refuses writes: so does the store, until an apply succeeds
		return
	}
	if p := s.logErr.Load(); p != nil {
		fail(*p) // the log could not start over: nothing more goes into it
		return
	}

	// the newest record of each key: this batch's, then pending ones, then
	// bbolt's (read after the pending index, which keeps an entry until
	// bbolt has it)
	cur := make(map[string]recMeta, len(batch))
	var missing []string
	var dones []*request
	s.ovMu.RLock()
	for _, r := range batch {
		if r.ld != nil {
			*r.ld.res = callResult{}
			// a done of a call whose done is still pending: it is gone
			r.ld.res.notFound = s.doneIDs[r.ld.id]
			dones = append(dones, r)
			continue
		}
		key := r.lc.c.Dialog.Key
		if _, ok := cur[key]; ok {
			continue
		}
		if e, ok := s.ov[key]; ok {
			cur[key] = e.meta
		} else {
			cur[key] = recMeta{}
			missing = append(missing, key)
		}
	}
	s.ovMu.RUnlock()
	if len(missing) > 0 || len(dones) > 0 {
		err := s.db.View(func(tx *bbolt.Tx) error {
			dialogs := tx.Bucket(bucketDialogs)
			for _, key := range missing {
				if v := dialogs.Get([]byte(key)); v != nil {
					var d engine.Dialog
					if err := d.DecodeRecord(v); err != nil {
						return fmt.Errorf("dialog %q: %w", key, err)
					}
					cur[key] = metaOf(&d)
				}
			}
			// a call's id comes from bbolt (an apply gives it), so a call
			// to be done is there, unless a done or an erase took it
			b := txBuckets(tx)
			for _, r := range dones {
				if r.ld.res.notFound {
					continue
				}
				c, ok, err := getCall(b, r.ld.id)
				if err != nil {
					return err
				}
				switch {
				case !ok:
					r.ld.res.notFound = true
				case c.Parked:
					r.ld.res.parked = -1
				default:
					r.ld.res.pending = -1
				}
			}
			return nil
		})
		if err != nil {
			fail(err)
			return
		}
	}

	buf := l.buf[:0]
	seq := s.seq
	accepted := make([]*pendEntry, 0, len(batch))
	reqs := make([]*request, 0, len(batch))
	for _, r := range batch {
		if r.ld != nil {
			continue
		}
		c := r.lc.c
		key := c.Dialog.Key
		*r.lc.res = commitResult{}
		old := cur[key]
		if old.rev != c.PrevRev {
			r.lc.res.conflict = true
			r.done <- nil
			continue
		}
		calls, err := encodeCalls(c.Calls)
		if err != nil {
			r.done <- err
			continue
		}
		seq++
		nw := metaOf(&c.Dialog)
		e := &pendEntry{seq: seq, key: key, old: old, nw: nw, rec: r.lc.rec, calls: c.Calls, cursor: c.Cursor}
		buf = appendLogRecord(buf, &logEntry{seq: seq, key: key, prevRev: c.PrevRev, rec: r.lc.rec, cursor: c.Cursor, calls: calls})
		cur[key] = nw
		for _, call := range c.Calls {
			if call.Parked {
				r.lc.res.parked++
			} else {
				r.lc.res.pending++
			}
		}
		accepted = append(accepted, e)
		reqs = append(reqs, r)
	}
	// the batch's dones, one record (a done given twice in the batch: the
	// second finds the call gone)
	var doneIDs []uint64
	var doneReqs []*request
	var seen map[uint64]bool // only for a batch of dones (up to BatchSize)
	if len(dones) > 1 {
		seen = make(map[uint64]bool, len(dones))
	}
	for _, r := range dones {
		if r.ld.res.notFound || seen[r.ld.id] {
			r.ld.res.notFound = true
			r.done <- nil
			continue
		}
		if seen != nil {
			seen[r.ld.id] = true
		}
		doneIDs = append(doneIDs, r.ld.id)
		doneReqs = append(doneReqs, r)
	}
	if len(doneIDs) > 0 {
		seq++
		buf = appendLogRecord(buf, &logEntry{seq: seq, done: doneIDs})
		accepted = append(accepted, &pendEntry{seq: seq, done: doneIDs})
		reqs = append(reqs, doneReqs...)
	}
	if cap(buf) <= 1<<20 {
		l.buf = buf
	}
	if len(accepted) == 0 {
		return
	}
	// The seqs are used even when the write fails: a retry must not reuse
	// them, or a record of the failed write left behind a shorter one would
	// read as its successor.
	s.seq = seq
	start := time.Now()
	err := l.fill(l.off + int64(len(buf)))
	if err == nil {
		_, err = l.f.WriteAt(buf, l.off)
	}
	if err == nil {
		err = fdatasync(l.f)
	}
	if err == nil {
		s.batch.noteSync(time.Since(start))
	}
	if err != nil {
		err = fmt.Errorf("append to the commit log %s: %w", l.path, err)
		for _, r := range reqs {
			r.done <- err
		}
		return
	}
	l.off += int64(len(buf))
	s.appends++
	s.ovMu.Lock()
	for _, e := range accepted {
		if e.done == nil {
			s.ov[e.key] = &ovEntry{seq: e.seq, meta: e.nw, rec: e.rec}
		}
	}
	for _, id := range doneIDs {
		s.doneIDs[id] = true
	}
	s.pend = append(s.pend, accepted...)
	s.ovMu.Unlock()
	for _, r := range reqs {
		if r.ld != nil {
			r.ld.logged = true
		}
		r.done <- nil
	}
	select {
	case s.applyWake <- struct{}{}:
	default:
	}
}

func encodeCalls(calls []engine.Call) ([][]byte, error) {
	var out [][]byte
	for i, call := range calls {
		raw, err := encodeCall(&call)
		if err != nil {
			return nil, fmt.Errorf("encode call %d: %w", i, err)
		}
		out = append(out, raw)
	}
	return out, nil
}

// fdatasync makes f's data durable (its size too when it grew).
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func (s *Store) pendingLen() int {
	s.ovMu.RLock()
	defer s.ovMu.RUnlock()
	return len(s.pend)
}

// checkpoint applies every pending commit and starts the log over. The
// writer goroutine calls it, so that nothing is appended meanwhile.
func (s *Store) checkpoint() error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if err := s.applyLocked(); err != nil {
		return err
	}
	if s.log.off > s.log.max {
		s.log.off = logHeaderSize
	}
	return nil
}

// catchUp applies the commits pending now, so that a read of bbolt sees
// every commit that returned before it. A no-op without the log.
func (s *Store) catchUp() error {
	if s.log == nil {
		return nil
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.applyLocked()
}

// waiting returns the commits waiting to be applied, in log order.
func (s *Store) waiting() []*pendEntry {
	s.ovMu.RLock()
	defer s.ovMu.RUnlock()
	return s.pend
}

// applyLocked writes the pending commits into bbolt in one transaction.
// The caller holds applyMu.
func (s *Store) applyLocked() error {
	batch := s.waiting()
	if len(batch) == 0 {
		return nil
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return applyTx(tx, batch) }); err != nil {
		err = fmt.Errorf("store %s: apply the commit log: %w", s.path, err)
		s.applyErr.Store(&err)
		return err
	}
	s.applied(batch)
	return nil
}

// applyTx writes logged commits into bbolt.
func applyTx(tx *bbolt.Tx, batch []*pendEntry) error {
	b := txBuckets(tx)
	// One apply inserts many records at once, and a page that a
	// transaction fills splits at FillPercent: bbolt's 0.5 left the
	// dialogs' pages half full (691 bytes per idle dialog against 590 with
	// a transaction per group; 0.75: 552; BENCHMARKS.md).
	b.dialogs.FillPercent = 0.75
	kv := tx.Bucket(bucketKV)
	// A dialog stepped more than once in the batch (its events come a few
	// milliseconds apart, an apply every ApplyDelay) goes into the B-tree
	// once, with its last record: its index entries move from the first
	// step's old times straight to the last step's new ones (each step's
	// old is the step before's new, appendCommits). Every step's calls and
	// cursor still go in, in the log's order.
	last := make(map[string]int, len(batch))
	for i, e := range batch {
		if e.done == nil {
			last[e.key] = i
		}
	}
	var first map[string]recMeta // the old times of a dialog's first step, while later ones wait
	for i, e := range batch {
		if e.done != nil {
			if err := doneTx(b, e.done); err != nil {
				return fmt.Errorf("apply delivered calls: %w", err)
			}
			continue
		}
		old, waited := first[e.key]
		if !waited {
			old = e.old
		}
		if last[e.key] != i {
			if !waited {
				if first == nil {
					first = make(map[string]recMeta)
				}
				first[e.key] = e.old
			}
		} else if err := writeRecord(b, e.key, old, e.nw, e.rec); err != nil {
			return fmt.Errorf("apply commit of %q: %w", e.key, err)
		}
		var res commitResult
		if err := writeCalls(b, e.key, e.calls, &res); err != nil {
			return fmt.Errorf("apply commit of %q: %w", e.key, err)
		}
		if e.cursor != nil {
			if err := raiseCursor(kv, e.cursor.Key, e.cursor.Value); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bucketMeta).Put(keyLogApplied, u64(batch[len(batch)-1].seq))
}

// applied drops the commits that bbolt now holds from the pending list and
// the index of the log's tail. The caller holds applyMu.
func (s *Store) applied(batch []*pendEntry) {
	s.applyErr.Store(nil)
	var done []uint64
	s.ovMu.Lock()
	s.pend = slices.Clone(s.pend[len(batch):])
	for _, e := range batch {
		if e.done != nil {
			for _, id := range e.done {
				delete(s.doneIDs, id)
			}
			done = append(done, e.done...)
			continue
		}
		if o := s.ov[e.key]; o != nil && o.seq == e.seq {
			delete(s.ov, e.key)
		}
	}
	s.ovMu.Unlock()
	if len(done) == 0 {
		return
	}
	// bbolt has the dones: Claim may look at the ids again (they are gone)
	s.mu.Lock()
	for _, id := range done {
		if s.busy[id]--; s.busy[id] <= 0 {
			delete(s.busy, id)
		}
	}
	s.mu.Unlock()
}

// applyFailure is the error of the last apply when it failed.
func (s *Store) applyFailure() error {
	if p := s.applyErr.Load(); p != nil {
		return *p
	}
	return nil
}

// applyLoop applies pending commits in the background: after a commit
// wakes it, it waits delay for more to gather, then applies them all. A
// failed apply is tried again after retryApply.
func (s *Store) applyLoop(delay time.Duration) {
	defer close(s.applyDone)
	const retryApply = 100 * time.Millisecond
	for {
		select {
		case <-s.applyWake:
		case <-s.applyStop:
			return
		}
		for wait := delay; ; wait = max(delay, retryApply) {
			if wait > 0 {
				select {
				case <-time.After(wait):
				case <-s.applyStop:
					return
				}
			}
			if s.catchUp() == nil {
				break
			}
		}
	}
}

// closeLog applies the pending commits and closes the log. The writer
// goroutine has stopped.
func (s *Store) closeLog() error {
	close(s.applyStop)
	<-s.applyDone
	err := s.catchUp()
	if err == nil { // every step is in bbolt: the log is empty, and a backup may be copied over the file
		// the empty log in the older format: an olbot from before done
		// records opens the store after a clean stop (one that finds an
		// OLBOTLG2 header refuses the store instead of misreading the log)
		if err = s.log.f.Truncate(logHeaderSize); err == nil {
			_, err = s.log.f.WriteAt([]byte(logMagicV1), 0)
		}
		if err == nil {
			err = fdatasync(s.log.f)
		}
		if err != nil {
			err = fmt.Errorf("empty commit log %s: %w", s.log.path, err)
		}
	}
	if cerr := s.log.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close commit log %s: %w", s.log.path, cerr)
	}
	return err
}
