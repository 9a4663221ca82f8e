package storetest

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
)

func testCallIDsAndSeq(t *testing.T, h *harness) {
	a := h.start("api:a", newCall("a1"), newCall("a2"))
	b := h.start("api:b", newCall("b1"))
	a = h.step(a, newCall("a3"))
	b = h.step(b) // a commit without calls
	a = h.step(a, newCall("a4"), newCall("a5"))
	h.step(b, newCall("b2"))

	order := []string{"a1", "a2", "b1", "a3", "a4", "a5", "b2"} // commit order
	for i := 1; i < len(order); i++ {
		if prev, cur := h.id(order[i-1]), h.id(order[i]); cur <= prev {
			t.Fatalf("id of %s=%d, not above %s=%d", order[i], cur, order[i-1], prev)
		}
	}
	for _, key := range []string{"api:a", "api:b"} {
		calls := h.calls(key)
		for i, c := range calls {
			if c.Dialog != key {
				t.Fatalf("%s Dialog=%q, want %q", c.Method, c.Dialog, key)
			}
			if c.Seq <= 0 || (i > 0 && c.Seq <= calls[i-1].Seq) {
				t.Fatalf("Calls(%s): %s Seq=%d does not follow %d", key, c.Method, c.Seq, calls[max(i-1, 0)].Seq)
			}
		}
	}
	h.wantCalls("api:a", "a1", "a2", "a3", "a4", "a5")

	// Seq keeps increasing after every call of the dialog is done.
	last := h.call("api:a", "a5")
	for _, l := range []string{"a1", "a2", "a3", "a4", "a5"} {
		h.done(l)
	}
	h.step(a, newCall("a6"))
	a6 := h.call("api:a", "a6")
	if a6.Seq <= last.Seq || a6.ID <= h.id("b2") {
		t.Fatalf("a6 id=%d seq=%d, want id above %d and seq above %d", a6.ID, a6.Seq, h.id("b2"), last.Seq)
	}
}

func testCallRoundTrip(t *testing.T, h *harness) {
	msk := time.FixedZone("MSK", 3*60*60)
	tests := []struct {
		name string
		c    engine.Call
	}{
		{"minimal", engine.Call{Method: "imbot.message.add", Params: []byte(`{}`)}},
		{"full", engine.Call{
			Portal:   "example.bitrix24.ru",
			Method:   "imopenlines.bot.session.transfer",
			Params:   []byte(`{"CHAT_ID": 42, "LEAVE": "N", "TRANSFER_ID": "queue5", "nested": {"a": [1, 2, "три"]}}`),
			Created:  t0.In(msk),
			Attempts: 2,
			NextAt:   t0.Add(time.Hour).In(time.Local),
			Error:    "QUERY_LIMIT_EXCEEDED: too many requests",
		}},
		{"parked", engine.Call{Method: "crm.lead.update", Params: []byte(`{"id":1}`), Parked: true, Error: "ACCESS_DENIED"}},
		{"no params", engine.Call{Method: "imopenlines.bot.session.finish"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("api:rt%d", i)
			h.commit(engine.Commit{Dialog: newDialog(key), PrevRev: 0, Calls: []engine.Call{tc.c}})
			got := h.calls(key)
			if len(got) != 1 {
				t.Fatalf("Calls=%s, want one call", fmtCalls(got))
			}
			want := tc.c
			want.ID, want.Seq, want.Dialog = got[0].ID, got[0].Seq, key
			if want.ID == 0 || want.Seq <= 0 {
				t.Fatalf("ID=%d Seq=%d, want both assigned", want.ID, want.Seq)
			}
			if !sameCalls(got, []engine.Call{want}) {
				t.Fatalf("Calls=%s\nwant%s", fmtCalls(got), fmtCalls([]engine.Call{want}))
			}
			if !got[0].Created.Equal(tc.c.Created) || !got[0].NextAt.Equal(tc.c.NextAt) {
				t.Fatalf("Created=%v NextAt=%v, want %v and %v", got[0].Created, got[0].NextAt, tc.c.Created, tc.c.NextAt)
			}
		})
	}
}

func testCalls(t *testing.T, h *harness) {
	h.wantCalls("api:unknown")
	h.start("api:a", newCall("a1"), newCall("a2"), newCall("a3"), newCall("a4"))
	h.start("api:b", newCall("b1"))
	h.park("a2", "WRONG_PARAMS")
	h.done("a3")
	h.wantCalls("api:a", "a1", "a2", "a4")
	h.wantCalls("api:b", "b1")
	h.wantCalls("api:unknown")
	for _, c := range h.calls("api:a") {
		if parked := c.Method == "a2"; c.Parked != parked {
			t.Fatalf("%s Parked=%v, want %v", c.Method, c.Parked, parked)
		}
	}
	if got := h.call("api:a", "a2").Error; got != "WRONG_PARAMS" {
		t.Fatalf("a2 Error=%q, want WRONG_PARAMS", got)
	}
}

func testClaimHeadOfLine(t *testing.T, h *harness) {
	h.start("api:a", newCall("a1"), newCall("a2"), newCall("a3"))
	h.start("api:b", newCall("b1"))
	const lease = time.Minute
	h.wantClaim("w", 10, t0, lease, "a1", "b1")
	h.wantClaim("v", 10, t0, lease) // heads are leased; a2 waits for a1
	h.done("a1")
	h.wantClaim("v", 10, t0, lease, "a2")
	h.done("b1")
	h.wantClaim("x", 10, t0, lease)
	h.done("a2")
	h.wantClaim("x", 10, t0, lease, "a3")
	h.done("a3")
	h.wantClaim("y", 10, t0.Add(time.Hour), lease)
}

func testClaimDue(t *testing.T, h *harness) {
	h.start("api:a", dueCall("a1", t0.Add(10*time.Second)), newCall("a2"))
	h.start("api:b", dueCall("b1", t0.Add(5*time.Second)))
	h.start("api:c", newCall("c1"))
	tests := []struct {
		now  time.Duration // after t0
		want []string
	}{
		{-time.Hour, []string{"c1"}},
		{0, []string{"c1"}},
		{5*time.Second - time.Microsecond, []string{"c1"}},
		{5 * time.Second, []string{"c1", "b1"}},
		{10 * time.Second, []string{"c1", "b1", "a1"}},
		{time.Hour, []string{"c1", "b1", "a1"}},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprint(tc.now), func(t *testing.T) {
			// A zero lease leaves nothing leased, so each row sees everything due.
			h.wantClaim(fmt.Sprintf("w%d", i), 10, t0.Add(tc.now), 0, tc.want...)
		})
	}
}

func testClaimLimitAndOrder(t *testing.T, h *harness) {
	next := []time.Duration{4, 1, 3, -1, 2} // seconds after t0; -1: zero NextAt
	for i, n := range next {
		at := time.Time{}
		if n >= 0 {
			at = t0.Add(n * time.Second)
		}
		h.start(fmt.Sprintf("api:d%d", i), dueCall(fmt.Sprintf("d%d", i), at))
	}
	now, lease := t0.Add(time.Minute), time.Hour
	tests := []struct {
		owner string
		limit int
		want  []string
	}{
		{"a", 0, nil},
		{"a", -1, nil},
		{"a", 2, []string{"d3", "d1"}},
		{"b", 2, []string{"d4", "d2"}},
		{"c", 10, []string{"d0"}},
		{"d", 10, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.owner, tc.limit), func(t *testing.T) {
			h.wantClaim(tc.owner, tc.limit, now, lease, tc.want...)
		})
	}
}

func testClaimLease(t *testing.T, h *harness) {
	h.start("api:a", newCall("a1"), newCall("a2"))
	tests := []struct {
		owner string
		now   time.Duration // after t0
		want  []string
	}{
		{"a", 0, []string{"a1"}},                   // leased by a until t0+1m
		{"b", 30 * time.Second, nil},               // a's lease holds
		{"b", time.Minute - time.Microsecond, nil}, // still holds
		{"b", time.Minute, []string{"a1"}},         // expired exactly at t0+1m; now b's until t0+2m
		{"a", time.Minute + time.Second, nil},      // b's lease holds against a
		{"c", 2 * time.Minute, []string{"a1"}},     // b's expired
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s@%v", tc.owner, tc.now), func(t *testing.T) {
			h.wantClaim(tc.owner, 10, t0.Add(tc.now), time.Minute, tc.want...)
		})
	}
}

func testClaimSameOwner(t *testing.T, h *harness) {
	h.start("api:a", newCall("a1"), newCall("a2"))
	tests := []struct {
		owner string
		now   time.Duration
		want  []string
	}{
		{"a", 0, []string{"a1"}},                 // until t0+1m
		{"a", 10 * time.Second, []string{"a1"}},  // a again: same call, lease renewed until t0+70s
		{"b", 65 * time.Second, nil},             // the renewed lease holds
		{"b", 70 * time.Second, []string{"a1"}},  // and ends at t0+70s
		{"b", 80 * time.Second, []string{"a1"}},  // b renews its own
		{"a", 80 * time.Second, nil},             // until t0+140s
		{"a", 140 * time.Second, []string{"a1"}}, //
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s@%v", tc.owner, tc.now), func(t *testing.T) {
			h.wantClaim(tc.owner, 10, t0.Add(tc.now), time.Minute, tc.want...)
		})
	}
}

// testClaimConcurrent claims from many owners at once: no call goes to two
// owners, and only heads are claimed.
func testClaimConcurrent(t *testing.T, h *harness) {
	const dialogs, owners = 40, 8
	heads := map[string]bool{}
	for i := range dialogs {
		h.start(fmt.Sprintf("api:d%d", i), newCall(fmt.Sprintf("d%d-1", i)), newCall(fmt.Sprintf("d%d-2", i)))
		heads[fmt.Sprintf("d%d-1", i)] = true
	}
	start := make(chan struct{})
	got := make([][]engine.Call, owners)
	var wg sync.WaitGroup
	for o := range owners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			calls, err := h.s.Claim(h.ctx, fmt.Sprintf("owner%d", o), 7, t0, time.Hour)
			if err != nil {
				t.Errorf("owner%d: Claim: %v", o, err)
			}
			got[o] = calls
		}()
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	rest := h.claim("late", dialogs, t0, time.Hour)
	got = append(got, rest)
	byLabel := map[string]int{}
	for o, calls := range got {
		for _, c := range calls {
			if !heads[c.Method] {
				t.Fatalf("owner %d claimed %s, which is not the head of its dialog", o, c.Method)
			}
			if prev, dup := byLabel[c.Method]; dup {
				t.Fatalf("%s claimed by owners %d and %d", c.Method, prev, o)
			}
			byLabel[c.Method] = o
		}
	}
	if len(byLabel) != dialogs {
		t.Fatalf("%d heads claimed in all, want %d", len(byLabel), dialogs)
	}
}

// testClaimDoneConcurrent delivers an outbox with workers that claim and
// finish calls at the same time: every call is delivered once, and each
// dialog's calls in order.
func testClaimDoneConcurrent(t *testing.T, h *harness) {
	const dialogs, calls, workers = 12, 6, 4
	for d := range dialogs {
		var cs []engine.Call
		for i := range calls {
			cs = append(cs, newCall(fmt.Sprintf("d%d-%d", d, i)))
		}
		h.start(fmt.Sprintf("api:d%d", d), cs...)
	}
	var (
		mu        sync.Mutex
		delivered = map[string]int{} // by label
		done      = map[string]int{} // calls finished per dialog
		total     int
		claims    int
	)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				mu.Lock()
				finished, stuck := total == dialogs*calls, claims > 1_000_000
				claims++
				mu.Unlock()
				if finished || t.Failed() {
					return
				}
				if stuck {
					t.Errorf("worker %d: outbox not drained after a million claims", w)
					return
				}
				got, err := h.s.Claim(h.ctx, fmt.Sprintf("w%d-%d", w, n), 3, t0, time.Hour)
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				for _, c := range got {
					var d, i int
					fmt.Sscanf(c.Method, "d%d-%d", &d, &i)
					mu.Lock()
					delivered[c.Method]++
					if delivered[c.Method] > 1 || done[c.Dialog] != i {
						t.Errorf("claimed %s (delivery %d) with %d calls of its dialog done", c.Method, delivered[c.Method], done[c.Dialog])
					}
					done[c.Dialog]++
					total++
					mu.Unlock()
					if err := h.s.Done(h.ctx, c.ID); err != nil {
						t.Errorf("Done(%s): %v", c.Method, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(delivered) != dialogs*calls {
		t.Fatalf("%d calls delivered, want %d", len(delivered), dialogs*calls)
	}
	if p, pk := h.depth(); p != 0 || pk != 0 {
		t.Fatalf("Depth=(%d, %d) after delivering everything, want (0, 0)", p, pk)
	}
}

func testDone(t *testing.T, h *harness) {
	h.start("api:a", newCall("a1"), newCall("a2"))
	h.start("api:b", newCall("b1"), newCall("b2"), newCall("b3"))
	h.wantClaim("w", 10, t0, time.Hour, "a1", "b1")
	h.done("a1")
	h.wantCalls("api:a", "a2")
	h.wantClaim("v", 10, t0, time.Hour, "a2") // the next call is free at once
	if err := h.s.Done(h.ctx, h.id("a1")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Done(a1) twice: err=%v, want ErrNotFound", err)
	}
	h.done("a2")
	h.wantCalls("api:a")

	// Done of a call behind the head (b1, leased by w).
	h.done("b2")
	h.wantCalls("api:b", "b1", "b3")
	h.wantClaim("v", 10, t0, time.Hour)
	h.done("b1")
	h.wantClaim("v", 10, t0, time.Hour, "b3")
}

func testRetry(t *testing.T, h *harness) {
	h.start("api:a", newCall("a1"), newCall("a2"))
	h.wantClaim("w", 10, t0, time.Hour, "a1")
	h.retry("a1", t0.Add(30*time.Second), "timeout")
	a1 := h.call("api:a", "a1")
	if a1.Attempts != 1 || !a1.NextAt.Equal(t0.Add(30*time.Second)) || a1.Error != "timeout" || a1.Parked {
		t.Fatalf("after Retry: Attempts=%d NextAt=t0%+v Error=%q Parked=%v, want 1, t0+30s, timeout, false",
			a1.Attempts, a1.NextAt.Sub(t0), a1.Error, a1.Parked)
	}
	h.wantClaim("v", 10, t0.Add(29*time.Second), time.Hour)          // not due; a2 waits behind it
	h.wantClaim("v", 10, t0.Add(30*time.Second), time.Hour, "a1")    // due; w's lease was released
	h.retry("a1", t0.Add(40*time.Second), "503 Service Unavailable") // v's lease is released too
	h.wantClaim("x", 10, t0.Add(40*time.Second), time.Minute, "a1")  //
	a1 = h.call("api:a", "a1")
	if a1.Attempts != 2 || a1.Error != "503 Service Unavailable" {
		t.Fatalf("after second Retry: Attempts=%d Error=%q, want 2 and the new error", a1.Attempts, a1.Error)
	}
	// Retry of a call behind the head changes it but not the order.
	h.retry("a2", t0, "x")
	h.done("a1")
	h.wantClaim("y", 10, t0.Add(time.Hour), time.Minute, "a2")
	if a2 := h.call("api:a", "a2"); a2.Attempts != 1 {
		t.Fatalf("a2 Attempts=%d, want 1", a2.Attempts)
	}
}

func testPark(t *testing.T, h *harness) {
	h.start("api:a", newCall("a1"), newCall("a2"), newCall("a3"))
	h.wantClaim("w", 10, t0, time.Hour, "a1")
	h.park("a1", "ERROR_ARGUMENT: bad chat")
	a1 := h.call("api:a", "a1")
	if !a1.Parked || a1.Error != "ERROR_ARGUMENT: bad chat" || a1.Attempts != 0 {
		t.Fatalf("after Park: Parked=%v Error=%q Attempts=%d, want true, the error, 0", a1.Parked, a1.Error, a1.Attempts)
	}
	h.wantClaim("v", 10, t0, time.Hour, "a2") // the next call proceeds
	h.done("a2")
	h.wantClaim("v", 10, t0, time.Hour, "a3")
	h.done("a3")
	h.wantClaim("x", 10, t0.Add(48*time.Hour), time.Hour) // a parked call is never claimed
	h.wantCalls("api:a", "a1")

	// Park and Retry of a parked call update it; it stays parked.
	h.park("a1", "again")
	h.retry("a1", t0, "retried")
	a1 = h.call("api:a", "a1")
	if !a1.Parked || a1.Error != "retried" || a1.Attempts != 1 || !a1.NextAt.Equal(t0) {
		t.Fatalf("parked a1: Parked=%v Error=%q Attempts=%d NextAt=%v, want true, retried, 1, t0", a1.Parked, a1.Error, a1.Attempts, a1.NextAt)
	}
	h.wantClaim("x", 10, t0.Add(48*time.Hour), time.Hour)

	// A new call of a dialog whose calls are parked goes out.
	h.step(h.dialog("api:a"), newCall("a4"))
	h.wantClaim("x", 10, t0, time.Hour, "a4")

	// Park of a call behind the head.
	h.start("api:b", newCall("b1"), newCall("b2"), newCall("b3"))
	h.wantClaim("w", 10, t0, time.Hour, "b1")
	h.park("b2", "bad")
	h.done("b1")
	h.wantClaim("v", 10, t0, time.Hour, "b3")
	h.wantCalls("api:b", "b2", "b3")

	// Done removes a parked call.
	h.done("a1")
	h.wantCalls("api:a", "a4")
}

func testNotFound(t *testing.T, h *harness) {
	h.start("api:a", newCall("a1"), newCall("a2"))
	h.done("a1")
	ids := map[string]uint64{"zero": 0, "done": h.id("a1"), "never": h.id("a2") + 1000, "max": math.MaxUint64}
	ops := map[string]func(id uint64) error{
		"Done":  func(id uint64) error { return h.s.Done(h.ctx, id) },
		"Retry": func(id uint64) error { return h.s.Retry(h.ctx, id, t0, "x") },
		"Park":  func(id uint64) error { return h.s.Park(h.ctx, id, "x") },
	}
	for op, fn := range ops {
		for name, id := range ids {
			t.Run(op+"/"+name, func(t *testing.T) {
				if err := fn(id); !errors.Is(err, engine.ErrNotFound) {
					t.Fatalf("%s(%d) err=%v, want ErrNotFound", op, id, err)
				}
			})
		}
	}
	h.wantCalls("api:a", "a2")
	if c := h.call("api:a", "a2"); c.Attempts != 0 || c.Parked || c.Error != "" {
		t.Fatalf("a2 changed by failed operations: %+v", c)
	}
}
