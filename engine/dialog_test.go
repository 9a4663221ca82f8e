package engine

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// typicalDialog is a support dialog as a store keeps it: a client who left a
// name and answered the email question badly once, a portal chat, a full ring
// of recent event ids. Event times are those of play (whole minutes), or, with
// nanos, carry nanoseconds as time.Now gives them.
func typicalDialog(tb testing.TB, nanos bool) Dialog {
	tb.Helper()
	sc := mustParse(tb, supportYAML)
	d := Dialog{
		Key:     "b24:4f1c2a9e8b7d:chat18342",
		Channel: Channel{Chat: 18342, Member: "4f1c2a9e8b7d"},
	}
	evs := timed(
		Event{Type: Start, Client: "Anna", Line: 1, LeadID: 1204},
		msg("Leave a request"), msg("anna"), msg("not an email"),
	)
	if nanos {
		for i := range evs {
			evs[i].Time = evs[i].Time.Add(time.Duration(123456789 + i*1111111))
		}
	}
	d = play(tb, sc, d, evs...)
	for i := range RecentIDs {
		d.Remember(fmt.Sprintf("%d", 905310+i))
	}
	d.Rev = 4
	return d
}

func TestDialogBinaryRoundTrip(t *testing.T) {
	full := Dialog{
		Key: "b24:m:1", Scenario: "support", Version: "0123456789ab", State: "ask_email",
		Status: Active, Fields: fields("name", "Anna", "note", "[b]\u200b{{x}}\"\n"), Retries: 1,
		Client: "Анна", Line: 3, LeadID: 77, IdleDone: true,
		Started: t0, LastIn: t0.Add(time.Minute), Updated: t0.Add(2 * time.Minute),
		IdleAt: t0.Add(17 * time.Minute), Rev: 9, Recent: []string{"a", "b"}, Channel: Channel{Chat: 1},
	}
	cases := []struct {
		name string
		d    Dialog
	}{
		{"empty", Dialog{}},
		{"key only", Dialog{Key: "api:1"}},
		{"every field", full},
		{"typical support dialog", typicalDialog(t, false)},
		{"typical support dialog, times in nanoseconds", typicalDialog(t, true)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.d.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got Dialog
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if !sameDialog(got, tc.d) {
				t.Errorf("round trip:\n got %+v\nwant %+v\n(%s)", got, tc.d, b)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		var d Dialog
		err := d.UnmarshalBinary([]byte("{not json"))
		if err == nil || !strings.Contains(err.Error(), "decode dialog record") {
			t.Errorf("err = %v, want a decode error", err)
		}
	})
}

// sameDialog compares records as a store sees them: times by instant.
func sameDialog(a, b Dialog) bool {
	for _, p := range [][2]*time.Time{{&a.Started, &b.Started}, {&a.LastIn, &b.LastIn}, {&a.Updated, &b.Updated}, {&a.IdleAt, &b.IdleAt}} {
		if !p[0].Equal(*p[1]) {
			return false
		}
		*p[0], *p[1] = time.Time{}, time.Time{}
	}
	return reflect.DeepEqual(a, b)
}

// TestDialogSize keeps the record of a typical support dialog small: the
// store writes it on every step. Most of it is the four RFC 3339 times; with
// the nanoseconds of time.Now each takes 10 bytes more.
func TestDialogSize(t *testing.T) {
	cases := []struct {
		name  string
		nanos bool
		max   int
	}{
		{"times in whole seconds", false, 400},
		{"times in nanoseconds", true, 440},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := typicalDialog(t, tc.nanos).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > tc.max {
				t.Errorf("a typical support dialog is %d bytes, want at most %d:\n%s", len(b), tc.max, b)
			}
			t.Logf("%d bytes: %s", len(b), b)
		})
	}
}

func TestRecentRing(t *testing.T) {
	var d Dialog
	if d.Seen("") || d.Seen("x") {
		t.Fatal("an empty dialog has seen something")
	}
	d.Remember("")
	if len(d.Recent) != 0 {
		t.Fatalf("recent = %q, want the empty id not remembered", d.Recent)
	}
	var all []string
	for i := 1; i <= 3*RecentIDs; i++ {
		id := fmt.Sprint("id", i)
		d.Remember(id)
		all = append(all, id)
		want := all[max(0, len(all)-RecentIDs):]
		if !slices.Equal(d.Recent, want) {
			t.Fatalf("after %d ids recent = %q, want %q", i, d.Recent, want)
		}
		for j, old := range all {
			if got, want := d.Seen(old), j >= len(all)-RecentIDs; got != want {
				t.Fatalf("after %d ids Seen(%q) = %v, want %v", i, old, got, want)
			}
		}
	}
	if d.Seen("") {
		t.Error(`Seen("") = true, want false`)
	}
}

func TestRecentRingDoesNotShareMemory(t *testing.T) {
	var d Dialog
	for i := range RecentIDs {
		d.Remember(fmt.Sprint(i))
	}
	c := d.Clone()
	for i := range RecentIDs {
		c.Remember(fmt.Sprint("c", i))
	}
	if d.Recent[0] != "0" || d.Recent[RecentIDs-1] != fmt.Sprint(RecentIDs-1) {
		t.Errorf("remembering on a clone changed the original: %q", d.Recent)
	}
}

func TestDialogClone(t *testing.T) {
	d := Dialog{Fields: fields("a", "1"), Recent: []string{"x"}, Channel: Channel{Dialog: "chat1"}}
	c := d.Clone()
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("clone = %+v, want %+v", c, d)
	}
	c.Fields["a"], c.Recent[0], c.Channel.Dialog = "2", "y", "chat2"
	if d.Fields["a"] != "1" || d.Recent[0] != "x" || d.Channel.Dialog != "chat1" {
		t.Errorf("changing the clone changed the original: %+v", d)
	}
	if z := (Dialog{}).Clone(); z.Fields != nil || z.Recent != nil || !z.Channel.IsZero() {
		t.Errorf("clone of an empty dialog = %+v, want nil maps and slices", z)
	}
	var none, done Dialog
	done.Status = Finished
	if none.Exists() || !done.Exists() {
		t.Errorf("Exists() = %v, %v; want false for no status, true for finished", none.Exists(), done.Exists())
	}
}

// TestDialogOmitsEmpty checks that empty values, zero times included, take no
// room in the record.
func TestDialogOmitsEmpty(t *testing.T) {
	cases := []struct {
		d    Dialog
		want string
	}{
		{Dialog{Key: "api:1"}, `{"k":"api:1"}`},
		{Dialog{Key: "api:1", Status: Finished, State: "bye", Updated: t0}, `{"k":"api:1","st":"bye","x":"finished","tu":"2025-03-01T10:00:00Z"}`},
	}
	for _, tc := range cases {
		b, err := tc.d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.want {
			t.Errorf("MarshalBinary = %s, want %s", b, tc.want)
		}
	}
}
