package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/olbot/olbot/engine"
)

// unapplied keeps commits in the log: the background apply waits an hour,
// so only a read that needs bbolt (or Close) applies them.
var unapplied = Options{ApplyDelay: time.Hour}

// crashImage copies the store's files as a process killed at this moment
// leaves them (everything written is in the page cache) into a new folder
// and returns the copy's store path. No write may be in flight.
func crashImage(t *testing.T, s *Store) string {
	t.Helper()
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	dir := t.TempDir()
	for _, p := range []string{s.path, logPath(s.path)} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, filepath.Base(s.path))
}

// inBBolt reports whether bbolt itself (not the log) holds dialog key.
func inBBolt(t *testing.T, s *Store, key string) bool {
	t.Helper()
	var found bool
	if err := s.db.View(func(tx *bbolt.Tx) error {
		found = tx.Bucket(bucketDialogs).Get([]byte(key)) != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

var t0 = time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)

// step commits the next revision of dialog key (rev from 1) with the
// given calls.
func step(t *testing.T, s *Store, key string, rev int64, state string, calls ...string) {
	t.Helper()
	d := engine.Dialog{Key: key, Scenario: "support", State: state, Status: engine.Active, Started: t0, Updated: t0, Rev: rev,
		IdleAt: t0.Add(time.Duration(rev) * time.Minute)}
	if state == "done" {
		d.Status, d.Ended, d.IdleAt = engine.Finished, t0.Add(time.Duration(rev)*time.Minute), time.Time{}
	}
	var cs []engine.Call
	for _, m := range calls {
		cs = append(cs, engine.Call{Method: m, Params: []byte(`{}`), Created: t0})
	}
	if err := s.Commit(t.Context(), engine.Commit{Dialog: d, PrevRev: rev - 1, Calls: cs}); err != nil {
		t.Fatalf("Commit(%s rev %d): %v", key, rev, err)
	}
}

// want checks dialog key's state, rev and call methods.
func want(t *testing.T, s *Store, key string, rev int64, state string, calls ...string) {
	t.Helper()
	d, err := s.Dialog(t.Context(), key)
	if err != nil || d.Rev != rev || d.State != state {
		t.Fatalf("Dialog(%s) = rev %d state %q, %v; want rev %d state %q", key, d.Rev, d.State, err, rev, state)
	}
	cs, err := s.Calls(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.Method)
	}
	if !slices.Equal(got, calls) {
		t.Fatalf("Calls(%s) = %q, want %q", key, got, calls)
	}
}

// TestLogReadsUnapplied: a commit is read back (and conflicts are found)
// from the log's tail before bbolt has it; reads of the other indexes
// apply the tail first.
func TestLogReadsUnapplied(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
	defer s.Close()
	ctx := t.Context()
	step(t, s, "api:a", 1, "ask_name", "m1")
	step(t, s, "api:a", 2, "ask_email")
	if inBBolt(t, s, "api:a") {
		t.Fatal("bbolt has the dialog at once: the commits did not wait in the log")
	}
	if d, err := s.Dialog(ctx, "api:a"); err != nil || d.Rev != 2 || d.State != "ask_email" {
		t.Fatalf("Dialog from the log = %+v, %v", d, err)
	}
	stale := engine.Dialog{Key: "api:a", Rev: 2}
	if err := s.Commit(ctx, engine.Commit{Dialog: stale, PrevRev: 1}); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("commit from a rev the log has passed: %v, want ErrConflict", err)
	}
	if p, _, _ := s.Depth(ctx); p != 1 {
		t.Fatalf("Depth pending = %d, want 1", p)
	}
	idle, err := s.Idle(ctx, t0.Add(time.Hour), 10)
	if err != nil || !slices.Equal(idle, []string{"api:a"}) {
		t.Fatalf("Idle = %q, %v", idle, err)
	}
	if !inBBolt(t, s, "api:a") {
		t.Fatal("Idle did not apply the log first")
	}
	want(t, s, "api:a", 2, "ask_email", "m1")
}

// TestLogCrashBeforeApply: commits answered but not yet applied when the
// process dies are applied on the next Open, with their calls, cursor and
// indexes, exactly once.
func TestLogCrashBeforeApply(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
	ctx := t.Context()
	step(t, s, "api:a", 1, "ask_name", "a1")
	step(t, s, "api:a", 2, "ask_email", "a2")
	step(t, s, "b24:p:1", 1, "done", "b1")
	cur := engine.Cursor{Key: "b24:p:v2bot:1", Value: 7}
	if err := s.Commit(ctx, engine.Commit{Dialog: engine.Dialog{Key: "b24:p:2", Rev: 1, Status: engine.Active}, Cursor: &cur}); err != nil {
		t.Fatal(err)
	}
	if inBBolt(t, s, "api:a") {
		t.Fatal("applied already")
	}
	img := crashImage(t, s)
	s.Close()

	for round := range 2 { // and again: a second open applies nothing twice
		r := mustOpen(t, img, Options{})
		want(t, r, "api:a", 2, "ask_email", "a1", "a2")
		want(t, r, "b24:p:1", 1, "done", "b1")
		if n, err := r.Cursor(ctx, cur.Key); err != nil || n != 7 {
			t.Fatalf("round %d: Cursor = %d, %v; want 7", round, n, err)
		}
		if p, _, _ := r.Depth(ctx); p != 3 {
			t.Fatalf("round %d: Depth pending = %d, want 3", round, p)
		}
		if ended, err := r.Ended(ctx, engine.KeyPortal, t0.Add(time.Hour), 10); err != nil || !slices.Equal(ended, []string{"b24:p:1"}) {
			t.Fatalf("round %d: Ended = %q, %v", round, ended, err)
		}
		if idle, err := r.Idle(ctx, t0.Add(time.Hour), 10); err != nil || !slices.Equal(idle, []string{"api:a"}) {
			t.Fatalf("round %d: Idle = %q, %v", round, idle, err)
		}
		img = crashImage(t, r) // killed again right after the open
		r.Close()
	}
}

// TestLogTornRecord: a record cut off or damaged by a crash in the middle
// of its append was never answered; the log ends before it, the records
// before it are applied, and the store goes on.
func TestLogTornRecord(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
	step(t, s, "api:a", 1, "one")
	step(t, s, "api:b", 1, "one")
	before := s.log.off
	step(t, s, "api:c", 1, "one") // the record to tear
	end := s.log.off
	img := crashImage(t, s)
	s.Close()
	whole, err := os.ReadFile(logPath(img))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		log  func() []byte
	}{
		{"cut in the frame", func() []byte { return whole[:before+3] }},
		{"cut after the frame", func() []byte { return whole[:before+logFrameSize] }},
		{"cut in the payload", func() []byte { return whole[:end-5] }},
		{"one byte short", func() []byte { return whole[:end-1] }},
		{"a byte changed", func() []byte {
			b := slices.Clone(whole)
			b[end-3] ^= 0x40
			return b
		}},
		{"length says more", func() []byte {
			b := slices.Clone(whole[:end])
			b[before] += 10
			return b
		}},
		{"zeros behind it", func() []byte { return append(slices.Clone(whole[:before]), make([]byte, 4096)...) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "olbot.db")
			copyFile(t, img, db)
			if err := os.WriteFile(logPath(db), tc.log(), 0o600); err != nil {
				t.Fatal(err)
			}
			r := mustOpen(t, db, Options{})
			want(t, r, "api:a", 1, "one")
			want(t, r, "api:b", 1, "one")
			if _, err := r.Dialog(t.Context(), "api:c"); !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("the torn record was applied: %v", err)
			}
			step(t, r, "api:c", 1, "again")
			step(t, r, "api:a", 2, "two")
			img2 := crashImage(t, r)
			r.Close()
			r = mustOpen(t, img2, Options{})
			defer r.Close()
			want(t, r, "api:c", 1, "again")
			want(t, r, "api:a", 2, "two")
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLogCheckpoint: a log longer than LogSize is applied and started over
// from its first record; the file stays that size, the records left behind
// the new end are old and never applied again, and a crash right after the
// checkpoint's apply (before the log started over) applies nothing twice.
func TestLogCheckpoint(t *testing.T) {
	const dialogs, rounds = 8, 40
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), Options{LogSize: 4096, ApplyDelay: time.Hour})
	restarts := 0
	prev := s.log.off
	for r := 1; r <= rounds; r++ {
		for d := range dialogs {
			step(t, s, fmt.Sprintf("api:%d", d), int64(r), fmt.Sprint("s", r), fmt.Sprint("c", r))
		}
		if s.log.off < prev {
			restarts++
		}
		prev = s.log.off
	}
	if restarts < 3 {
		t.Fatalf("the log started over %d times, want several (LogSize 4096)", restarts)
	}
	st, err := os.Stat(logPath(s.path))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 4096+4096 {
		t.Fatalf("log file %d bytes, want about LogSize", st.Size())
	}
	calls := func(r int) []string {
		var out []string
		for i := 1; i <= r; i++ {
			out = append(out, fmt.Sprint("c", i))
		}
		return out
	}

	// a crash now: the tail since the last checkpoint is unapplied, the
	// records behind it are older ones
	img := crashImage(t, s)
	if err := s.catchUp(); err != nil {
		t.Fatal(err)
	}
	// a crash during a checkpoint, after its apply and before the log
	// started over: every record in the log is applied already
	imgApplied := crashImage(t, s)
	s.Close()
	for _, p := range []string{img, imgApplied} {
		r := mustOpen(t, p, Options{})
		for d := range dialogs {
			want(t, r, fmt.Sprintf("api:%d", d), rounds, fmt.Sprint("s", rounds), calls(rounds)...)
		}
		r.Close()
	}
}

// TestLogEraseStaysErased: a dialog erased after its commits went through
// the log is not brought back by the log on the next Open (the erase
// applies the log first, and the records stay behind as applied).
func TestLogEraseStaysErased(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
	ctx := t.Context()
	step(t, s, "b24:p:1", 1, "ask", "m1")
	step(t, s, "b24:p:1", 2, "done", "m2")
	step(t, s, "api:keep", 1, "one")
	got, err := s.Erase(ctx, "b24:p:1", time.Time{})
	if err != nil || !got.Dialog || got.Calls != 2 {
		t.Fatalf("Erase = %+v, %v; want the dialog and 2 calls", got, err)
	}
	step(t, s, "api:keep", 2, "two") // logged after the erase
	img := crashImage(t, s)
	s.Close()
	r := mustOpen(t, img, Options{})
	defer r.Close()
	if d, err := r.Dialog(ctx, "b24:p:1"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("erased dialog is back after a crash: %+v, %v", d, err)
	}
	if cs, err := r.Calls(ctx, "b24:p:1"); err != nil || len(cs) != 0 {
		t.Fatalf("erased calls are back: %+v, %v", cs, err)
	}
	if ended, err := r.Ended(ctx, engine.KeyPortal, t0.Add(time.Hour), 10); err != nil || len(ended) != 0 {
		t.Fatalf("Ended = %q, %v; want none", ended, err)
	}
	want(t, r, "api:keep", 2, "two")
}

// TestLogOfAnotherCopy: a log with unapplied steps beside a store file
// that is not the one it was written for (a backup copied over the file of
// a server that was killed) is refused with a message that says what to
// do; without unapplied steps it is simply started over.
func TestLogOfAnotherCopy(t *testing.T) {
	a := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
	step(t, a, "api:a", 1, "one")
	step(t, a, "api:a", 2, "two") // seq 2: past what b's file applied
	img := crashImage(t, a)
	a.Close()
	b := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), Options{})
	step(t, b, "api:b", 1, "one")
	b.Close()
	copyFile(t, b.path, img) // "restore" b's file beside a's log

	_, err := Open(img, Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "remove "+logPath(img)) {
		t.Fatalf("Open = %v, want ErrCorrupt naming the log to remove", err)
	}
	if err := os.Remove(logPath(img)); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, img, Options{})
	defer r.Close()
	want(t, r, "api:b", 1, "one")
	if _, err := r.Dialog(t.Context(), "api:a"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a's step reached b's file: %v", err)
	}
}

// TestLogFailedAppend: a commit whose append fails gets the error, is not
// read back, and is not applied after a restart; the next commits work.
func TestLogFailedAppend(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
	ctx := t.Context()
	step(t, s, "api:a", 1, "one")
	good := s.log.f
	ro, err := os.Open(s.log.path) // read-only: the append fails
	if err != nil {
		t.Fatal(err)
	}
	s.log.f = ro
	err = s.Commit(ctx, engine.Commit{Dialog: engine.Dialog{Key: "api:a", Rev: 2, State: "failed"}, PrevRev: 1})
	if err == nil || !strings.Contains(err.Error(), "commit log") {
		t.Fatalf("Commit with a failing log = %v, want the append's error", err)
	}
	s.log.f = good
	ro.Close()
	want(t, s, "api:a", 1, "one")
	step(t, s, "api:a", 2, "two")
	img := crashImage(t, s)
	s.Close()
	r := mustOpen(t, img, Options{})
	defer r.Close()
	want(t, r, "api:a", 2, "two")
}

// TestScanLog builds logs byte by byte: the scan ends at a torn or damaged
// record, and at old records behind the end (seq not above the last).
func TestScanLog(t *testing.T) {
	rec := func(seqs ...uint64) []byte {
		var b []byte
		for _, s := range seqs {
			b = appendLogRecord(b, &logEntry{seq: s, key: "api:k", rec: []byte{1, 2, 3}})
		}
		return b
	}
	one := len(rec(1))
	tests := []struct {
		name string
		body []byte
		seqs []uint64
	}{
		{"empty", nil, nil},
		{"three", rec(1, 2, 3), []uint64{1, 2, 3}},
		{"gap after a failed append", rec(1, 2, 5, 6), []uint64{1, 2, 5, 6}},
		{"old records behind a new start", rec(11, 12, 3, 4, 5), []uint64{11, 12}},
		{"a failed longer append behind a shorter one", append(rec(1, 5), rec(4)...), []uint64{1, 5}},
		{"the same seq again", rec(1, 2, 2), []uint64{1, 2}},
		{"torn last", rec(1, 2, 3)[:3*one-1], []uint64{1, 2}},
		{"zeros", append(rec(1), make([]byte, 100)...), []uint64{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, n := scanLog(tc.body)
			var got []uint64
			for _, e := range entries {
				got = append(got, e.seq)
			}
			if !slices.Equal(got, tc.seqs) || n != len(tc.seqs)*one {
				t.Fatalf("scanLog = %v (%d bytes), want %v (%d bytes)", got, n, tc.seqs, len(tc.seqs)*one)
			}
		})
	}
}

// FuzzLogRecord: any bytes as a log body: no panic, no allocation beyond
// the input, the scan stops within the input, and the records it accepts
// encode back to exactly the bytes it read, with seqs that only grow.
func FuzzLogRecord(f *testing.F) {
	cur := &engine.Cursor{Key: "b24:p:v2bot:1", Value: 42}
	d := engine.Dialog{Key: "api:1", Scenario: "support", State: "ask", Status: engine.Active, Rev: 3, Fields: map[string]string{"name": "Анна"}}
	f.Add(appendLogRecord(nil, &logEntry{seq: 1, key: "api:1", prevRev: 2, rec: d.AppendRecord(nil)}))
	f.Add(appendLogRecord(appendLogRecord(nil, &logEntry{seq: 7, key: "api:1", rec: d.AppendRecord(nil), cursor: cur, calls: [][]byte{[]byte(`{"method":"imbot.message.add"}`)}}),
		&logEntry{seq: 9, key: "b24:p:1", prevRev: -1, calls: [][]byte{nil, []byte("x")}}))
	f.Add(appendLogRecord(appendLogRecord(nil, &logEntry{seq: 3, done: []uint64{1, 300, 1 << 40}}),
		&logEntry{seq: 4, key: "api:1", prevRev: 3, rec: d.AppendRecord(nil)}))
	f.Add([]byte{})
	f.Add(make([]byte, 12))
	f.Add([]byte{5, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, body []byte) {
		entries, n := scanLog(body)
		if n < 0 || n > len(body) {
			t.Fatalf("scan read %d of %d bytes", n, len(body))
		}
		var again []byte
		for i, e := range entries {
			if i > 0 && e.seq <= entries[i-1].seq {
				t.Fatalf("seq %d after %d", e.seq, entries[i-1].seq)
			}
			again = appendLogRecord(again, &e)
		}
		if !bytes.Equal(again, body[:n]) {
			t.Fatalf("records encode to\n%x\nwant\n%x", again, body[:n])
		}
		if e, size, ok := readLogRecord(body); ok {
			if size > len(body) || !bytes.Equal(appendLogRecord(nil, &e), body[:size]) {
				t.Fatalf("readLogRecord: %d bytes do not encode back", size)
			}
			_, _ = e.commit() // no panic on whatever decodes
		}
		if e, err := decodeLogPayload(body); err == nil {
			if again := appendLogRecord(nil, &e); !bytes.Equal(again[logFrameSize:], body) {
				t.Fatalf("payload encodes to\n%x\nwant\n%x", again[logFrameSize:], body)
			}
			_, _ = e.commit()
		}
	})
}

// TestLogBackup: a backup holds the commits still waiting in the log, and
// the copy, restored without the log, is a store with all of them.
func TestLogBackup(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
	defer s.Close()
	step(t, s, "api:a", 1, "one", "m1")
	step(t, s, "api:a", 2, "two")
	if inBBolt(t, s, "api:a") {
		t.Fatal("applied already")
	}
	var buf bytes.Buffer
	if _, err := s.Backup(t.Context(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "olbot.db")
	if err := os.WriteFile(restored, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Verify(restored); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{{}, {NoLog: true}} {
		r := mustOpen(t, restored, opts)
		want(t, r, "api:a", 2, "two", "m1")
		r.Close()
	}
}

// TestOldFile: a file written by the store before the commit log
// (testdata/main-2026-12-02.db: written through the Store API of main at
// bbc4fb1 — two dialogs, one idle, one ended; three calls, one parked; a
// cursor; a portal install) opens with the log and without it, reads as
// it was written, and takes commits.
func TestOldFile(t *testing.T) {
	for _, opts := range []Options{{}, {NoLog: true}} {
		t.Run(fmt.Sprint("log=", !opts.NoLog), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "olbot.db")
			copyFile(t, "testdata/main-2026-12-02.db", path)
			s := mustOpen(t, path, opts)
			ctx := t.Context()
			at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			d, err := s.Dialog(ctx, "api:active")
			if err != nil || d.State != "ask_email" || d.Fields["name"] != "Anna" || d.Rev != 1 {
				t.Fatalf("Dialog(api:active) = %+v, %v", d, err)
			}
			if p, k, _ := s.Depth(ctx); p != 2 || k != 1 {
				t.Fatalf("Depth = %d, %d; want 2, 1", p, k)
			}
			calls, err := s.Calls(ctx, "b24:example.bitrix24.ru:7")
			if err != nil || len(calls) != 2 || calls[0].Parked || !calls[1].Parked || calls[1].Error != "portal said no" {
				t.Fatalf("Calls = %+v, %v", calls, err)
			}
			if n, err := s.Cursor(ctx, "b24:example.bitrix24.ru:v2bot:1"); err != nil || n != 42 {
				t.Fatalf("Cursor = %d, %v", n, err)
			}
			if v, err := s.Get(ctx, "install", "example.bitrix24.ru"); err != nil || string(v) != `{"token":"t"}` {
				t.Fatalf("Get = %q, %v", v, err)
			}
			if ended, err := s.Ended(ctx, engine.KeyPortal, at, 10); err != nil || !slices.Equal(ended, []string{"b24:example.bitrix24.ru:7"}) {
				t.Fatalf("Ended = %q, %v", ended, err)
			}
			if idle, err := s.Idle(ctx, at.Add(time.Hour), 10); err != nil || !slices.Equal(idle, []string{"api:active"}) {
				t.Fatalf("Idle = %q, %v", idle, err)
			}
			d.Rev, d.State = 2, "thanks"
			if err := s.Commit(ctx, engine.Commit{Dialog: d, PrevRev: 1, Calls: []engine.Call{{Method: "imbot.message.add"}}}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, path, opts)
			defer s.Close()
			if d, err := s.Dialog(ctx, "api:active"); err != nil || d.Rev != 2 {
				t.Fatalf("after reopen: %+v, %v", d, err)
			}
			if p, _, _ := s.Depth(ctx); p != 3 {
				t.Fatalf("Depth pending = %d, want 3", p)
			}
		})
	}
}

// TestLogRestore: a backup copied over the file of a server that stopped
// cleanly opens as it is (Close leaves the log empty); over the file of a
// killed server, whose log holds steps made after the backup, Open refuses
// until the log is removed, and never applies those steps to the copy.
func TestLogRestore(t *testing.T) {
	for _, killed := range []bool{false, true} {
		t.Run(fmt.Sprint("killed=", killed), func(t *testing.T) {
			s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
			step(t, s, "api:a", 1, "one")
			var buf bytes.Buffer
			if _, err := s.Backup(t.Context(), &buf, nil); err != nil {
				t.Fatal(err)
			}
			step(t, s, "api:a", 2, "after the backup")
			step(t, s, "api:b", 1, "after the backup")
			path := s.path
			if killed {
				path = crashImage(t, s)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(logPath(s.path)); err != nil || st.Size() != logHeaderSize {
				t.Fatalf("log after Close: %v, %v; want its header only", st, err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil { // the restore
				t.Fatal(err)
			}
			if killed {
				_, err := Open(path, Options{})
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "remove "+logPath(path)) {
					t.Fatalf("Open over a killed server's log = %v, want ErrCorrupt naming the log", err)
				}
				if err := os.Remove(logPath(path)); err != nil {
					t.Fatal(err)
				}
			}
			r := mustOpen(t, path, Options{})
			defer r.Close()
			want(t, r, "api:a", 1, "one")
			if _, err := r.Dialog(t.Context(), "api:b"); !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("a step after the backup reached the restored copy: %v", err)
			}
		})
	}
}

// TestLogFill: the log grows by zero-filled chunks ahead of its end, so
// that most appends change no file size (their fdatasync needs no journal
// commit); the zeros past the last record read as the end of the log
// after a crash, and the file stays about LogSize.
func TestLogFill(t *testing.T) {
	for _, tc := range []struct {
		logSize, chunk int64
	}{
		{4096, 4096},
		{1 << 20, 64 << 10},
		{DefaultLogSize, 1 << 20},
	} {
		t.Run(fmt.Sprint(tc.logSize), func(t *testing.T) {
			s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), Options{LogSize: tc.logSize, ApplyDelay: time.Hour})
			if got := s.log.fillChunk(); got != tc.chunk {
				t.Fatalf("fillChunk = %d, want %d", got, tc.chunk)
			}
			size := func() int64 {
				st, err := os.Stat(logPath(s.path))
				if err != nil {
					t.Fatal(err)
				}
				return st.Size()
			}
			grew, steps := 0, 0
			prev := size()
			for r := int64(1); r <= 30; r++ {
				for d := range 10 {
					step(t, s, fmt.Sprintf("api:%d", d), r, fmt.Sprint("s", r), fmt.Sprint("c", r))
					steps++
					if n := size(); n != prev {
						grew++
						if n < s.log.off || n%tc.chunk != 0 && n != s.log.off {
							t.Fatalf("after step %d: log file %d bytes, the log ends at %d (chunk %d)", steps, n, s.log.off, tc.chunk)
						}
						prev = n
					}
				}
			}
			if grew*4 > steps {
				t.Fatalf("the log file grew on %d of %d steps, want few", grew, steps)
			}
			if n := size(); n > tc.logSize+tc.chunk+4096 {
				t.Fatalf("log file %d bytes, want about LogSize %d", n, tc.logSize)
			}
			if size() == s.log.off {
				t.Fatal("no zero-filled tail behind the last record")
			}
			img := crashImage(t, s)
			s.Close()
			r := mustOpen(t, img, Options{})
			for d := range 10 {
				want(t, r, fmt.Sprintf("api:%d", d), 30, "s30", callsUpTo(30)...)
			}
		})
	}
}

func callsUpTo(r int) []string {
	var out []string
	for i := 1; i <= r; i++ {
		out = append(out, fmt.Sprint("c", i))
	}
	return out
}

// BenchmarkLogSync is one group's append and fdatasync, alone: onto a log
// whose file grows with every append (the log before fill) and onto one
// that fill keeps ahead of its end (the log now). The second changes no
// file size, so its fdatasync writes the data blocks only, without a
// journal commit; both append the same 512-byte group.
//
//	go test -run '^$' -bench LogSync -benchtime 2000x -count 3 ./bolt/
func BenchmarkLogSync(b *testing.B) {
	for _, mode := range []string{"grow", "filled"} {
		b.Run(mode, func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "olbot.db-log"), os.O_RDWR|os.O_CREATE, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			l := &commitLog{f: f, path: f.Name(), off: logHeaderSize, max: DefaultLogSize}
			if mode == "grow" {
				l.filled = math.MaxInt64 // fill never writes: each append grows the file
			}
			group := bytes.Repeat([]byte{'r'}, 512)
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for range b.N {
				if l.off+int64(len(group)) > l.max {
					l.off = logHeaderSize // start over, as a checkpoint does (the file keeps its size)
				}
				if err := l.fill(l.off + int64(len(group))); err != nil {
					b.Fatal(err)
				}
				if _, err := f.WriteAt(group, l.off); err != nil {
					b.Fatal(err)
				}
				if err := fdatasync(f); err != nil {
					b.Fatal(err)
				}
				l.off += int64(len(group))
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
