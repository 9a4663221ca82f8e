package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

// harness holds the store a subtest works on and the ids of the calls it
// committed, by label (the suite puts a unique label in Call.Method).
type harness struct {
	t   *testing.T
	o   Opener
	s   engine.Store
	ctx context.Context
	ids map[string]uint64
}

func newHarness(t *testing.T, o Opener) *harness {
	h := &harness{t: t, o: o, s: o.Open(t), ctx: t.Context(), ids: map[string]uint64{}}
	if h.s == nil {
		t.Fatal("storetest: Opener.Open returned nil")
	}
	t.Cleanup(func() {
		if err := h.s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// reopen swaps the store for a reopened one, or skips the test.
func (h *harness) reopen() {
	h.t.Helper()
	if h.o.Reopen == nil {
		h.t.Skip("store does not persist (Opener.Reopen is nil)")
	}
	s := h.o.Reopen(h.t, h.s)
	if s == nil {
		h.t.Fatal("storetest: Opener.Reopen returned nil")
	}
	h.s = s
}

// newDialog returns an active dialog record at Rev 1.
func newDialog(key string) engine.Dialog {
	return engine.Dialog{
		Key:      key,
		Scenario: "support",
		Version:  "v1",
		State:    "start",
		Status:   engine.Active,
		Line:     1,
		Started:  t0,
		LastIn:   t0,
		Updated:  t0,
		Rev:      1,
	}
}

// newCall returns a due call labelled label.
func newCall(label string) engine.Call {
	return engine.Call{
		Portal:  "example.bitrix24.ru",
		Method:  label,
		Params:  []byte(fmt.Sprintf(`{"DIALOG_ID":"chat1","MESSAGE":%q}`, label)),
		Created: t0,
	}
}

// dueCall returns a call labelled label that is due at next.
func dueCall(label string, next time.Time) engine.Call {
	c := newCall(label)
	c.NextAt = next
	return c
}

// commit commits c and remembers the ids of its calls.
func (h *harness) commit(c engine.Commit) {
	h.t.Helper()
	if err := h.s.Commit(h.ctx, c); err != nil {
		h.t.Fatalf("Commit(%s, PrevRev %d): %v", c.Dialog.Key, c.PrevRev, err)
	}
	if len(c.Calls) > 0 {
		for _, call := range h.calls(c.Dialog.Key) {
			h.ids[call.Method] = call.ID
		}
	}
}

// start commits a new dialog record for key with calls.
func (h *harness) start(key string, calls ...engine.Call) engine.Dialog {
	h.t.Helper()
	d := newDialog(key)
	h.commit(engine.Commit{Dialog: d, PrevRev: 0, Calls: calls})
	return d
}

// step commits the next revision of d with calls.
func (h *harness) step(d engine.Dialog, calls ...engine.Call) engine.Dialog {
	h.t.Helper()
	d = d.Clone()
	d.Rev++
	d.Updated = d.Updated.Add(time.Second)
	h.commit(engine.Commit{Dialog: d, PrevRev: d.Rev - 1, Calls: calls})
	return d
}

func (h *harness) dialog(key string) engine.Dialog {
	h.t.Helper()
	d, err := h.s.Dialog(h.ctx, key)
	if err != nil {
		h.t.Fatalf("Dialog(%q): %v", key, err)
	}
	return d
}

func (h *harness) calls(key string) []engine.Call {
	h.t.Helper()
	calls, err := h.s.Calls(h.ctx, key)
	if err != nil {
		h.t.Fatalf("Calls(%q): %v", key, err)
	}
	return calls
}

func (h *harness) claim(owner string, limit int, now time.Time, lease time.Duration) []engine.Call {
	h.t.Helper()
	calls, err := h.s.Claim(h.ctx, owner, limit, now, lease)
	if err != nil {
		h.t.Fatalf("Claim(%q, %d, %v, %v): %v", owner, limit, now, lease, err)
	}
	return calls
}

// id returns the id of the call labelled label.
func (h *harness) id(label string) uint64 {
	h.t.Helper()
	id, ok := h.ids[label]
	if !ok {
		h.t.Fatalf("no call labelled %q was committed", label)
	}
	return id
}

func (h *harness) done(label string) {
	h.t.Helper()
	if err := h.s.Done(h.ctx, h.id(label)); err != nil {
		h.t.Fatalf("Done(%s): %v", label, err)
	}
}

func (h *harness) retry(label string, next time.Time, errText string) {
	h.t.Helper()
	if err := h.s.Retry(h.ctx, h.id(label), next, errText); err != nil {
		h.t.Fatalf("Retry(%s): %v", label, err)
	}
}

func (h *harness) park(label string, errText string) {
	h.t.Helper()
	if err := h.s.Park(h.ctx, h.id(label), errText); err != nil {
		h.t.Fatalf("Park(%s): %v", label, err)
	}
}

// call returns the stored call labelled label, failing when it is not listed.
func (h *harness) call(key, label string) engine.Call {
	h.t.Helper()
	for _, c := range h.calls(key) {
		if c.Method == label {
			return c
		}
	}
	h.t.Fatalf("Calls(%q) has no call %q", key, label)
	return engine.Call{}
}

// wantClaim claims and checks the labels of the claimed calls, in order.
func (h *harness) wantClaim(owner string, limit int, now time.Time, lease time.Duration, want ...string) {
	h.t.Helper()
	got := labels(h.claim(owner, limit, now, lease))
	if !slices.Equal(got, want) {
		h.t.Fatalf("Claim(%q, limit %d, t0%+v, lease %v) = %q, want %q", owner, limit, now.Sub(t0), lease, got, want)
	}
}

// wantCalls checks the labels of a dialog's listed calls, in order.
func (h *harness) wantCalls(key string, want ...string) {
	h.t.Helper()
	if got := labels(h.calls(key)); !slices.Equal(got, want) {
		h.t.Fatalf("Calls(%q) = %q, want %q", key, got, want)
	}
}

func (h *harness) depth() (pending, parked int) {
	h.t.Helper()
	pending, parked, err := h.s.Depth(h.ctx)
	if err != nil {
		h.t.Fatalf("Depth: %v", err)
	}
	return pending, parked
}

func labels(calls []engine.Call) []string {
	out := make([]string, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.Method)
	}
	return out
}

// normTime strips the monotonic reading and the location.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

// normDialog makes records comparable with reflect.DeepEqual.
func normDialog(d engine.Dialog) engine.Dialog {
	d = d.Clone()
	v := reflect.ValueOf(&d).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Type() == reflect.TypeFor[time.Time]() {
			f.Set(reflect.ValueOf(normTime(f.Interface().(time.Time))))
		}
	}
	if len(d.Fields) == 0 {
		d.Fields = nil
	}
	if len(d.Recent) == 0 {
		d.Recent = nil
	}
	if d.Call != nil {
		d.Call.Since, d.Call.Due = normTime(d.Call.Since), normTime(d.Call.Due)
	}
	for i := range d.Held {
		d.Held[i].Time = normTime(d.Held[i].Time)
	}
	return d
}

// normCall makes calls comparable with reflect.DeepEqual. Params compare as
// JSON values when they are JSON (a store may keep them as jsonb).
func normCall(c engine.Call) engine.Call {
	c.Created, c.NextAt = normTime(c.Created), normTime(c.NextAt)
	if len(c.Params) == 0 {
		c.Params = nil
		return c
	}
	var v any
	if json.Unmarshal(c.Params, &v) == nil {
		if b, err := json.Marshal(v); err == nil {
			c.Params = b
			return c
		}
	}
	c.Params = bytes.Clone(c.Params)
	return c
}

func sameDialog(got, want engine.Dialog) bool {
	return reflect.DeepEqual(normDialog(got), normDialog(want))
}

func sameCalls(got, want []engine.Call) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !reflect.DeepEqual(normCall(got[i]), normCall(want[i])) {
			return false
		}
	}
	return true
}

func (h *harness) wantDialog(key string, want engine.Dialog) {
	h.t.Helper()
	if got := h.dialog(key); !sameDialog(got, want) {
		h.t.Fatalf("Dialog(%q) =\n%+v\nwant\n%+v", key, normDialog(got), normDialog(want))
	}
}

func fmtCalls(calls []engine.Call) string {
	var b bytes.Buffer
	for _, c := range calls {
		c = normCall(c)
		fmt.Fprintf(&b, "\n  %+v params=%s", c, c.Params)
	}
	return b.String()
}
