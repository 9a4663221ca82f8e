package bolt

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// claimAll claims every due call for "me" and returns them by method.
func claimAll(t *testing.T, s *Store) map[string]engine.Call {
	t.Helper()
	calls, err := s.Claim(t.Context(), "me", 100, t0.Add(24*time.Hour), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]engine.Call{}
	for _, c := range calls {
		out[c.Method] = c
	}
	return out
}

func methods(m map[string]engine.Call) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestLogDone: a Done is a record of the commit log, not a bbolt
// transaction; its call is gone for every read at once, a second Done of
// it is ErrNotFound (before and after the apply), the dialog's next call
// becomes its head, and a process killed before the apply keeps it done.
func TestLogDone(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
	defer s.Close()
	ctx := t.Context()
	step(t, s, "api:a", 1, "one", "a1", "a2")
	step(t, s, "api:b", 1, "one", "b1")
	heads := claimAll(t, s) // applies the commits: calls get their ids
	if got := methods(heads); !slices.Equal(got, []string{"a1", "b1"}) {
		t.Fatalf("claimed %q, want the heads a1, b1", got)
	}
	appends := s.appends
	if err := s.Done(ctx, heads["a1"].ID); err != nil {
		t.Fatal(err)
	}
	if s.appends != appends+1 || s.pendingLen() != 1 {
		t.Fatalf("after Done: %d appends (was %d), %d pending records; want the done in the log", s.appends, appends, s.pendingLen())
	}
	if err := s.Done(ctx, heads["a1"].ID); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("second Done while the first waits in the log: %v, want ErrNotFound", err)
	}
	if p, _, _ := s.Depth(ctx); p != 2 {
		t.Fatalf("Depth pending = %d, want 2", p)
	}
	img := crashImage(t, s)

	want(t, s, "api:a", 1, "one", "a2")
	if got := methods(claimAll(t, s)); !slices.Equal(got, []string{"a2", "b1"}) {
		t.Fatalf("claimed %q after the done, want a2 (the new head) and b1", got)
	}
	if err := s.Done(ctx, heads["a1"].ID); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Done after the apply: %v, want ErrNotFound", err)
	}
	s.mu.Lock()
	busy := len(s.busy)
	s.mu.Unlock()
	if busy != 0 || len(s.doneIDs) != 0 {
		t.Fatalf("after the apply: %d busy ids, %d pending dones; want none", busy, len(s.doneIDs))
	}

	r := mustOpen(t, img, Options{})
	defer r.Close()
	want(t, r, "api:a", 1, "one", "a2")
	want(t, r, "api:b", 1, "one", "b1")
	if p, _, _ := r.Depth(ctx); p != 2 {
		t.Fatalf("recovered Depth pending = %d, want 2", p)
	}
	if got := methods(claimAll(t, r)); !slices.Equal(got, []string{"a2", "b1"}) {
		t.Fatalf("recovered store claimed %q, want a2, b1", got)
	}
}

// TestLogDoneRecovery: a done record torn by a crash in its append was
// never answered, so its call is delivered again (at least once); one
// naming a call the store no longer has is skipped; dones in the same
// group as steps are applied with them.
func TestLogDoneRecovery(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
	step(t, s, "api:a", 1, "one", "a1", "a2")
	heads := claimAll(t, s)
	before := s.log.off
	if err := s.Done(t.Context(), heads["a1"].ID); err != nil {
		t.Fatal(err)
	}
	end, seq := s.log.off, s.seq
	img := crashImage(t, s)
	s.Close()
	whole, err := os.ReadFile(logPath(img))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		log   func() []byte
		calls []string
	}{
		{"whole", func() []byte { return whole[:end] }, []string{"a2"}},
		{"cut in the payload", func() []byte { return whole[:end-1] }, []string{"a1", "a2"}},
		{"cut in the frame", func() []byte { return whole[:before+3] }, []string{"a1", "a2"}},
		{"a byte changed", func() []byte {
			b := slices.Clone(whole[:end])
			b[end-1] ^= 0x01
			return b
		}, []string{"a1", "a2"}},
		{"then a done of a call that is not there", func() []byte {
			return appendLogRecord(slices.Clone(whole[:end]), &logEntry{seq: seq + 1, done: []uint64{999}})
		}, []string{"a2"}},
		{"then a step and a done in one group", func() []byte {
			d := engine.Dialog{Key: "api:a", Scenario: "support", State: "two", Status: engine.Active, Started: t0, Updated: t0, Rev: 2}
			b := appendLogRecord(slices.Clone(whole[:end]), &logEntry{seq: seq + 1, key: "api:a", prevRev: 1, rec: d.AppendRecord(nil)})
			return appendLogRecord(b, &logEntry{seq: seq + 2, done: []uint64{heads["a1"].ID + 1}}) // a2's id
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "olbot.db")
			copyFile(t, img, db)
			if err := os.WriteFile(logPath(db), tc.log(), 0o600); err != nil {
				t.Fatal(err)
			}
			r := mustOpen(t, db, Options{})
			defer r.Close()
			d, err := r.Dialog(t.Context(), "api:a")
			if err != nil {
				t.Fatal(err)
			}
			want(t, r, "api:a", d.Rev, d.State, tc.calls...)
			if p, _, _ := r.Depth(t.Context()); p != len(tc.calls) {
				t.Fatalf("Depth pending = %d, want %d", p, len(tc.calls))
			}
		})
	}
}

// TestLogHeaderVersions: a log in the older format (OLBOTLG1, an olbot
// from before done records) is read; a cleanly closed store leaves its
// empty log in that format, so that such an olbot opens it too.
func TestLogHeaderVersions(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "olbot.db"), unapplied)
	step(t, s, "api:a", 1, "one", "a1")
	step(t, s, "api:a", 2, "two")
	img := crashImage(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if head, err := os.ReadFile(logPath(s.path)); err != nil || len(head) != logHeaderSize || string(head[:8]) != logMagicV1 {
		t.Fatalf("log after Close = %q, %v; want an empty %s log", head, err, logMagicV1)
	}
	log, err := os.ReadFile(logPath(img))
	if err != nil {
		t.Fatal(err)
	}
	if string(log[:8]) != logMagic {
		t.Fatalf("live log header %q, want %s", log[:8], logMagic)
	}
	copy(log, logMagicV1)
	if err := os.WriteFile(logPath(img), log, 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, img, Options{})
	defer r.Close()
	want(t, r, "api:a", 2, "two", "a1")
}
