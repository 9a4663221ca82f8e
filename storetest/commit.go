package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

func testDialogNotFound(t *testing.T, h *harness) {
	h.start("api:other")
	for _, key := range []string{"api:missing", "b24:member:chat1", "", "api:othe", "api:other2"} {
		t.Run(key, func(t *testing.T) {
			_, err := h.s.Dialog(h.ctx, key)
			if !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("Dialog(%q) err=%v, want ErrNotFound", key, err)
			}
		})
	}
}

func testCommitNew(t *testing.T, h *harness) {
	d := newDialog("api:new")
	d.Fields = map[string]string{"name": "Anna"}
	if err := h.s.Commit(h.ctx, engine.Commit{Dialog: d, PrevRev: 0}); err != nil {
		t.Fatalf("Commit new: %v", err)
	}
	h.wantDialog(d.Key, d)
	if calls := h.calls(d.Key); len(calls) != 0 {
		t.Fatalf("Calls=%s, want none", fmtCalls(calls))
	}
}

func testCommitUpdate(t *testing.T, h *harness) {
	d := h.start("api:upd")
	steps := []struct {
		name   string
		change func(d *engine.Dialog)
	}{
		{"state", func(d *engine.Dialog) { d.State = "ask_name" }},
		{"field", func(d *engine.Dialog) {
			d.Fields = map[string]string{"name": "Anna"}
			d.Retries = 2
			d.Remember("m1")
		}},
		{"more fields", func(d *engine.Dialog) {
			d.Fields["email"] = "anna@example.com"
			d.Retries = 0
			d.Remember("m2")
		}},
		{"finish", func(d *engine.Dialog) {
			d.Status = engine.Finished
			delete(d.Fields, "name")
			d.Recent = nil
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			next := d.Clone()
			st.change(&next)
			d = h.step(next)
			h.wantDialog(d.Key, d)
			if got := h.dialog(d.Key).Rev; got != d.Rev {
				t.Fatalf("Rev=%d, want %d", got, d.Rev)
			}
		})
	}
}

func testCommitRoundTrip(t *testing.T, h *harness) {
	msk := time.FixedZone("MSK", 3*60*60)
	now := time.Now() // carries a monotonic reading
	now = now.Add(-time.Duration(now.Nanosecond() % 1000))
	tests := []struct {
		name string
		d    engine.Dialog
	}{
		{"minimal", engine.Dialog{Key: "api:min", Rev: 1}},
		{"full", engine.Dialog{
			Key:            "b24:a1b2c3:chat42",
			Scenario:       "support",
			Version:        "sha256:0123456789abcdef",
			State:          "ask_email",
			Status:         engine.HandedOff,
			Fields:         map[string]string{"name": "Анна", "email": "anna@example.com", "empty": "", "q": "a \"quoted\"\nline"},
			Retries:        3,
			Client:         "Анна",
			Line:           7,
			LeadID:         1234,
			IdleDone:       true,
			IdleAt:         t0.Add(15 * time.Minute),
			Started:        t0.In(msk),
			LastIn:         now,
			Updated:        t0.Add(90 * time.Minute).In(time.Local),
			Rev:            1,
			Recent:         []string{"m1", "m2", "m3"},
			Channel:        engine.Channel{Member: "m42", Domain: "example.bitrix24.ru", Dialog: "chat42", Chat: 42, Bot: 7},
			Language:       "en",
			LanguageChosen: true,
			Reminded:       2,
			RemindFrom:     t0.Add(10 * time.Minute).In(msk),
			Ended:          t0.Add(80 * time.Minute),
			Call: &engine.PendingCall{Seq: 2, Endpoint: "shop", Method: "POST", Path: "/orders/12%2F3", Body: []byte(`{"phone":"+7 999"}`),
				Timeout: 5 * time.Second, Since: t0.In(msk), Attempts: 1, Due: t0.Add(35 * time.Second)},
			CallSeq: 2,
			Held:    []engine.Held{{Type: engine.Message, Text: "где заказ?", ID: "m4", Time: t0.Add(time.Second)}, {Type: engine.Button, Button: 2, Time: t0.Add(2 * time.Second)}},
		}},
		{"empty collections", engine.Dialog{
			Key:    "api:empty",
			Status: engine.Active,
			Fields: map[string]string{},
			Recent: []string{},
			Rev:    1,
		}},
		{"odd key", engine.Dialog{Key: "pg:ключ/with spaces:and:colons%20", Status: engine.Active, Rev: 1}},
	}
	// The full record sets every field, so that a field added to
	// engine.Dialog fails here until the suite covers it.
	full := reflect.ValueOf(tests[1].d)
	for i := range full.NumField() {
		if full.Field(i).IsZero() {
			t.Fatalf("the full record leaves Dialog.%s unset", full.Type().Field(i).Name)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.commit(engine.Commit{Dialog: tc.d, PrevRev: 0})
			h.wantDialog(tc.d.Key, tc.d)
			got, want := reflect.ValueOf(h.dialog(tc.d.Key)), reflect.ValueOf(tc.d)
			for i := range got.NumField() {
				if g, ok := got.Field(i).Interface().(time.Time); ok {
					if w := want.Field(i).Interface().(time.Time); !g.Equal(w) {
						t.Errorf("%s=%v, want %v", got.Type().Field(i).Name, g, w)
					}
				}
			}
		})
	}
}

// testCommitCopies checks that the store keeps no reference to what it was
// given or what it returned.
func testCommitCopies(t *testing.T, h *harness) {
	d := newDialog("api:copies")
	d.Fields = map[string]string{"name": "Anna"}
	d.Channel = engine.Channel{Chat: 1}
	d.Recent = []string{"m1"}
	want := d.Clone()
	c := newCall("c1")
	params := append([]byte(nil), c.Params...)
	c.Params = params
	calls := []engine.Call{c}
	h.commit(engine.Commit{Dialog: d, PrevRev: 0, Calls: calls})

	d.Fields["name"] = "changed"
	d.Channel.Chat = 2
	d.Recent[0] = "changed"
	params[2] = 'X'
	if calls[0].ID != 0 || calls[0].Seq != 0 || calls[0].Dialog != "" {
		t.Fatalf("Commit changed the caller's call: %+v", calls[0])
	}
	h.wantDialog(want.Key, want)
	wantCall := newCall("c1")
	if got := h.call(want.Key, "c1"); string(normCall(got).Params) != string(normCall(wantCall).Params) {
		t.Fatalf("Params=%s, want %s", got.Params, wantCall.Params)
	}

	got := h.dialog(want.Key)
	got.Fields["name"] = "changed"
	got.Channel.Chat = 2
	got.Recent[0] = "changed"
	h.wantDialog(want.Key, want)

	for _, listed := range [][]engine.Call{h.calls(want.Key), h.claim("w", 10, t0, time.Minute)} {
		for i := range listed[0].Params {
			listed[0].Params[i] = 'Y'
		}
	}
	if got := h.call(want.Key, "c1"); string(normCall(got).Params) != string(normCall(wantCall).Params) {
		t.Fatalf("Params=%s after changing returned calls, want %s", got.Params, wantCall.Params)
	}
}

func testCommitConflict(t *testing.T, h *harness) {
	d := h.start("api:c", newCall("c1"))
	d = h.step(d, newCall("c2"))
	pending, parked := h.depth()
	stale := d.Clone()
	stale.State = "stale"
	tests := []struct {
		name    string
		key     string
		prevRev int64
	}{
		{"stale", d.Key, 1},
		{"ahead", d.Key, 5},
		{"new over existing", d.Key, 0},
		{"update of missing", "api:missing", 1},
		{"update of missing, far", "api:missing", 41},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := stale.Clone()
			rec.Key = tc.key
			rec.Rev = tc.prevRev + 1
			err := h.s.Commit(h.ctx, engine.Commit{Dialog: rec, PrevRev: tc.prevRev, Calls: []engine.Call{newCall("x1"), newCall("x2")}})
			if !errors.Is(err, engine.ErrConflict) {
				t.Fatalf("Commit err=%v, want ErrConflict", err)
			}
			if tc.key == d.Key {
				h.wantDialog(d.Key, d)
			} else if _, err := h.s.Dialog(h.ctx, tc.key); !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("Dialog(%q) err=%v after a conflict, want ErrNotFound", tc.key, err)
			}
			h.wantCalls(d.Key, "c1", "c2")
			h.wantCalls("api:missing")
			if p, pk := h.depth(); p != pending || pk != parked {
				t.Fatalf("Depth=(%d, %d) after a conflict, want (%d, %d)", p, pk, pending, parked)
			}
		})
	}
	// The dialog goes on from its real revision.
	d = h.step(d, newCall("c3"))
	h.wantCalls(d.Key, "c1", "c2", "c3")
	h.wantClaim("w", 10, t0, time.Minute, "c1")
}

// testCommitInvalid commits what engine.CheckCommit refuses: each is
// ErrInvalid naming the field, and writes nothing.
func testCommitInvalid(t *testing.T, h *harness) {
	d := h.start("api:inv", newCall("c1"))
	pending, parked := h.depth()
	next := func(calls ...engine.Call) engine.Commit {
		n := d.Clone()
		n.Rev = 2
		return engine.Commit{Dialog: n, PrevRev: 1, Calls: append([]engine.Call{newCall("y")}, calls...)}
	}
	fresh := func(key string) engine.Commit {
		return engine.Commit{Dialog: newDialog(key), PrevRev: 0, Calls: []engine.Call{newCall("x")}}
	}
	withCall := func(change func(c *engine.Call)) engine.Commit {
		c := newCall("x")
		change(&c)
		return next(c)
	}
	tests := []struct {
		name  string
		c     engine.Commit
		field string
	}{
		{"rev not prev+1", func() engine.Commit { c := next(); c.Dialog.Rev = 3; return c }(), "Dialog.Rev"},
		{"rev unchanged", func() engine.Commit { c := next(); c.Dialog.Rev = 1; return c }(), "Dialog.Rev"},
		{"new with rev 0", func() engine.Commit { c := fresh("api:inv2"); c.Dialog.Rev = 0; return c }(), "Dialog.Rev"},
		{"negative prev", func() engine.Commit { c := fresh("api:inv2"); c.Dialog.Rev, c.PrevRev = 0, -1; return c }(), "PrevRev"},
		{"empty key", fresh(""), "Dialog.Key"},
		{"key too long", fresh("api:" + strings.Repeat("k", engine.MaxKeyLen-3)), "Dialog.Key"},
		{"key not UTF-8", fresh("api:\xff\xfe"), "Dialog.Key"},
		{"key with NUL", fresh("api:a\x00b"), "Dialog.Key"},
		{"call of another dialog", withCall(func(c *engine.Call) { c.Dialog = "api:inv2" }), "Calls[1].Dialog"},
		{"empty method", withCall(func(c *engine.Call) { c.Method = "" }), "Calls[1].Method"},
		{"method too long", withCall(func(c *engine.Call) { c.Method = strings.Repeat("m", engine.MaxMethodLen+1) }), "Calls[1].Method"},
		{"method not UTF-8", withCall(func(c *engine.Call) { c.Method = "imbot.\xff" }), "Calls[1].Method"},
		{"portal too long", withCall(func(c *engine.Call) { c.Portal = strings.Repeat("p", engine.MaxPortalLen+1) }), "Calls[1].Portal"},
		{"portal with NUL", withCall(func(c *engine.Call) { c.Portal = "a\x00" }), "Calls[1].Portal"},
		{"params not JSON", withCall(func(c *engine.Call) { c.Params = []byte("not json") }), "Calls[1].Params"},
		{"cursor without key", withCursor(next(), engine.Cursor{Value: 5}), "Cursor.Key"},
		{"cursor key too long", withCursor(next(), engine.Cursor{Key: strings.Repeat("k", engine.MaxKVKeyLen+1), Value: 5}), "Cursor.Key"},
		{"cursor key not UTF-8", withCursor(next(), engine.Cursor{Key: "b\xff", Value: 5}), "Cursor.Key"},
		{"negative cursor", withCursor(next(), engine.Cursor{Key: "bot", Value: -1}), "Cursor.Value"},
		{"negative fence", withCursor(next(), engine.Cursor{Key: "bot", Value: 5, Fence: -1}), "Cursor.Fence"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := h.s.Commit(h.ctx, tc.c)
			var ie *engine.InvalidError
			if !errors.Is(err, engine.ErrInvalid) || !errors.As(err, &ie) || ie.Field != tc.field {
				t.Fatalf("Commit err=%v, want ErrInvalid naming %s", err, tc.field)
			}
			if errors.Is(err, engine.ErrConflict) || errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("Commit err=%v is also ErrConflict or ErrNotFound", err)
			}
			h.wantDialog(d.Key, d)
			h.wantCalls(d.Key, "c1")
			for _, key := range []string{"api:inv2", tc.c.Dialog.Key} {
				if key == d.Key {
					continue
				}
				if _, err := h.s.Dialog(h.ctx, key); !errors.Is(err, engine.ErrNotFound) {
					t.Fatalf("Dialog(%q) err=%v, want ErrNotFound", clipKey(key), err)
				}
				h.wantCalls(key)
			}
			if p, pk := h.depth(); p != pending || pk != parked {
				t.Fatalf("Depth=(%d, %d) after a refused commit, want (%d, %d)", p, pk, pending, parked)
			}
			h.wantCursor("bot", 0)
		})
	}
	// A call naming its own dialog is fine.
	c := newCall("c2")
	c.Dialog = d.Key
	d = h.step(d, c)
	h.wantCalls(d.Key, "c1", "c2")
}

func withCursor(c engine.Commit, cur engine.Cursor) engine.Commit {
	c.Cursor = &cur
	return c
}

// testCursor: a commit's cursor is written with it, only grows, and goes
// with a lost compare-and-set; other cursors are apart; it survives a
// reopen. (A Fence of a store with a lease table: package pull/pulltest.)
func testCursor(t *testing.T, h *harness) {
	h.wantCursor("b24:portal:v2bot:7", 0)
	if n, err := h.s.Cursor(h.ctx, "bad\xff"); err != nil || n != 0 {
		t.Fatalf("Cursor(a key that cannot exist) = %d, %v; want 0, nil", n, err)
	}
	cur := func(key string, v int64) *engine.Cursor { return &engine.Cursor{Key: key, Value: v} }
	d := newDialog("b24:portal:chat1")
	h.commit(engine.Commit{Dialog: d, Calls: []engine.Call{newCall("c1")}, Cursor: cur("b24:portal:v2bot:7", 1002)})
	h.wantCursor("b24:portal:v2bot:7", 1002)
	h.wantCalls(d.Key, "c1")

	// a replayed event's smaller position: the step is written, the cursor stays
	d2 := d.Clone()
	d2.Rev = 2
	h.commit(engine.Commit{Dialog: d2, PrevRev: 1, Cursor: cur("b24:portal:v2bot:7", 1001)})
	h.wantCursor("b24:portal:v2bot:7", 1002)
	h.wantDialog(d.Key, d2)

	// another dialog moves the same cursor on; another cursor is apart
	h.commit(engine.Commit{Dialog: newDialog("b24:portal:chat2"), Cursor: cur("b24:portal:v2bot:7", 1010)})
	h.commit(engine.Commit{Dialog: newDialog("b24:portal:chat3"), Cursor: cur("b24:portal:v2bot:8", 5)})
	h.wantCursor("b24:portal:v2bot:7", 1010)
	h.wantCursor("b24:portal:v2bot:8", 5)

	// a lost compare-and-set writes neither the step nor the cursor
	lost := d2.Clone()
	lost.Rev = 2
	err := h.s.Commit(h.ctx, engine.Commit{Dialog: lost, PrevRev: 1, Calls: []engine.Call{newCall("lost")}, Cursor: cur("b24:portal:v2bot:7", 2000)})
	if !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("stale commit with a cursor: %v, want ErrConflict", err)
	}
	h.wantCursor("b24:portal:v2bot:7", 1010)
	h.wantCalls(d.Key, "c1")

	h.reopen()
	h.wantCursor("b24:portal:v2bot:7", 1010)
	h.wantCursor("b24:portal:v2bot:8", 5)
}

func (h *harness) wantCursor(key string, want int64) {
	h.t.Helper()
	if n, err := h.s.Cursor(h.ctx, key); err != nil || n != want {
		h.t.Fatalf("Cursor(%q) = %d, %v; want %d", key, n, err, want)
	}
}

// testCommitLimits commits ids of exactly the documented maximum lengths:
// they are stored and read back.
func testCommitLimits(t *testing.T, h *harness) {
	key := "api:к" + strings.Repeat("k", engine.MaxKeyLen-len("api:к"))
	c := newCall(strings.Repeat("m", engine.MaxMethodLen))
	c.Portal = strings.Repeat("p", engine.MaxPortalLen)
	d := h.start(key, c)
	h.wantDialog(key, d)
	if got := h.call(key, c.Method); got.Portal != c.Portal {
		t.Fatalf("Portal of %d bytes came back as %d bytes", len(c.Portal), len(got.Portal))
	}
	h.wantClaim("w", 10, t0, time.Minute, c.Method)
	d = h.step(d)
	h.wantDialog(key, d)
}

// clipKey shortens a key for a failure message.
func clipKey(key string) string {
	if len(key) > 40 {
		return key[:40] + "…"
	}
	return key
}

// testCommitRace commits from the same PrevRev in many goroutines: exactly one
// wins each round, and only the winner's call is written.
func testCommitRace(t *testing.T, h *harness) {
	const goroutines, rounds = 24, 8
	d := h.start("api:race")
	var winners []string
	for round := range rounds {
		start := make(chan struct{})
		errs := make([]error, goroutines)
		var wg sync.WaitGroup
		for i := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := d.Clone()
				n.Rev = d.Rev + 1
				n.Fields = map[string]string{"who": fmt.Sprint(i)}
				c := newCall(fmt.Sprintf("r%d-g%d", round, i))
				<-start
				errs[i] = h.s.Commit(h.ctx, engine.Commit{Dialog: n, PrevRev: d.Rev, Calls: []engine.Call{c}})
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: goroutines %d and %d both committed from Rev %d", round, winner, i, d.Rev)
			case err == nil:
				winner = i
			case !errors.Is(err, engine.ErrConflict):
				t.Fatalf("round %d: goroutine %d: Commit err=%v, want nil or ErrConflict", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no commit won", round)
		}
		got := h.dialog(d.Key)
		if got.Rev != d.Rev+1 || got.Fields["who"] != fmt.Sprint(winner) {
			t.Fatalf("round %d: record Rev=%d who=%q, want Rev=%d who=%d", round, got.Rev, got.Fields["who"], d.Rev+1, winner)
		}
		d = got
		winners = append(winners, fmt.Sprintf("r%d-g%d", round, winner))
	}
	h.wantCalls(d.Key, winners...)
}

// testCommitConcurrentDialogs commits to many dialogs at once: every commit
// lands, ids are unique, and each dialog's calls keep their order.
func testCommitConcurrentDialogs(t *testing.T, h *harness) {
	const dialogs, commits = 16, 10
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range dialogs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d := newDialog(fmt.Sprintf("api:cc%d", g))
			for i := range commits {
				d.Rev = int64(i + 1)
				calls := []engine.Call{newCall(fmt.Sprintf("g%d-%d-a", g, i)), newCall(fmt.Sprintf("g%d-%d-b", g, i))}
				if err := h.s.Commit(h.ctx, engine.Commit{Dialog: d, PrevRev: int64(i), Calls: calls}); err != nil {
					t.Errorf("dialog %d commit %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := map[uint64]string{}
	for g := range dialogs {
		key := fmt.Sprintf("api:cc%d", g)
		if got := h.dialog(key).Rev; got != commits {
			t.Fatalf("%s Rev=%d, want %d", key, got, commits)
		}
		var want []string
		for i := range commits {
			want = append(want, fmt.Sprintf("g%d-%d-a", g, i), fmt.Sprintf("g%d-%d-b", g, i))
		}
		calls := h.calls(key)
		if got := labels(calls); !slices.Equal(got, want) {
			t.Fatalf("Calls(%s)=%q, want %q", key, got, want)
		}
		for i, c := range calls {
			if prev, dup := seen[c.ID]; dup {
				t.Fatalf("id %d given to %s and %s", c.ID, prev, c.Method)
			}
			seen[c.ID] = c.Method
			if c.Dialog != key {
				t.Fatalf("%s Dialog=%q, want %q", c.Method, c.Dialog, key)
			}
			if i > 0 && (c.Seq <= calls[i-1].Seq || c.ID <= calls[i-1].ID) {
				t.Fatalf("%s (id %d, seq %d) does not follow %s (id %d, seq %d)", c.Method, c.ID, c.Seq, calls[i-1].Method, calls[i-1].ID, calls[i-1].Seq)
			}
		}
	}
}
