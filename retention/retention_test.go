package retention

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/outbox"
)

var t0 = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

// stores are the stores the sweeper runs on here; PostgreSQL's SweepEnded
// is in the conformance suite, and the sweep over it in package postgres.
func stores(t *testing.T) map[string]engine.Store {
	b, err := bolt.Open(filepath.Join(t.TempDir(), "olbot.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := memstore.New()
	t.Cleanup(func() { b.Close(); m.Close() })
	return map[string]engine.Store{"bolt": b, "memory": m}
}

func commit(t *testing.T, s engine.Store, d engine.Dialog, calls ...engine.Call) {
	t.Helper()
	d.Rev = 1
	if err := s.Commit(t.Context(), engine.Commit{Dialog: d, Calls: calls}); err != nil {
		t.Fatal(err)
	}
}

func endedAt(key string, at time.Time) engine.Dialog {
	return engine.Dialog{Key: key, Status: engine.Finished, Ended: at, Updated: at, Fields: map[string]string{"phone": "+79990001122"}}
}

func keys(t *testing.T, s engine.Store) []string {
	t.Helper()
	var out []string
	if err := s.ScanDialogs(t.Context(), func(d engine.Dialog) error { out = append(out, d.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func call(method string) engine.Call {
	return engine.Call{Method: method, Params: []byte(`{}`), Created: t0}
}

// TestSweep: what one sweep deletes, per kind of dialog and setting.
func TestSweep(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name string
		cfg  Config
		want []string // the dialogs left
		del  Report
	}{
		{"90 days", Config{Keep: 90 * day, Playground: day},
			[]string{"api:recent", "b24:m:active", "b24:m:recent", "pg:fresh"}, Report{Dialogs: 6, Calls: 2}},
		{"kept for ever, playground still a day", Config{Keep: 0, Playground: day},
			[]string{"api:old", "api:recent", "b24:m:active", "b24:m:handed", "b24:m:old", "b24:m:recent", "other", "pg:fresh"}, Report{Dialogs: 2}},
		{"an hour: playground too", Config{Keep: time.Hour, Playground: day},
			[]string{"b24:m:active", "pg:fresh"}, Report{Dialogs: 8, Calls: 2}},
	}
	for _, tc := range tests {
		for name, s := range stores(t) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				commit(t, s, endedAt("b24:m:old", t0.Add(-100*day)), call("parked"), call("pending"))
				if err := s.Park(t.Context(), 1, "dead"); err != nil {
					t.Fatal(err)
				}
				h := endedAt("b24:m:handed", t0.Add(-91*day))
				h.Status = engine.HandedOff
				commit(t, s, h)
				commit(t, s, endedAt("b24:m:recent", t0.Add(-89*day)))
				commit(t, s, engine.Dialog{Key: "b24:m:active", Status: engine.Active, Updated: t0.Add(-200 * day)})
				commit(t, s, endedAt("api:old", t0.Add(-91*day)))
				commit(t, s, endedAt("api:recent", t0.Add(-2*time.Hour)))
				commit(t, s, endedAt("pg:stale", t0.Add(-25*time.Hour)))
				commit(t, s, endedAt("pg:fresh", t0.Add(-10*time.Minute)))
				commit(t, s, endedAt("other", t0.Add(-91*day)))
				commit(t, s, engine.Dialog{Key: "pg:left", Status: engine.Active, Updated: t0.Add(-30 * time.Hour)}) // abandoned: goes after a day
				if err := s.Put(t.Context(), "funnel", "support", []byte(`{"started":9}`)); err != nil {
					t.Fatal(err)
				}
				sw := New(s, tc.cfg, nil, slog.New(slog.DiscardHandler), func() time.Time { return t0 })
				got, err := sw.Sweep(t.Context())
				if err != nil || got != tc.del {
					t.Fatalf("Sweep = %+v, %v; want %+v", got, err, tc.del)
				}
				if left := keys(t, s); !slices.Equal(left, tc.want) {
					t.Fatalf("left %q, want %q", left, tc.want)
				}
				if p, k, _ := s.Depth(t.Context()); p+k != 0 && !slices.Contains(tc.want, "b24:m:old") {
					t.Fatalf("depth after the sweep = %d pending, %d parked; want none", p, k)
				}
				if v, err := s.Get(t.Context(), "funnel", "support"); err != nil || string(v) != `{"started":9}` {
					t.Fatalf("funnel counts after the sweep = %s, %v", v, err)
				}
				if again, err := sw.Sweep(t.Context()); err != nil || again != (Report{}) {
					t.Fatalf("second Sweep = %+v, %v; want nothing", again, err)
				}
				for _, k := range keys(t, s) {
					if _, err := s.Erase(t.Context(), k, time.Time{}); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}

// TestSweepBatches: more ended dialogs than one batch all go in one sweep.
func TestSweepBatches(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			n := 3*batch + 7
			for i := range n {
				commit(t, s, endedAt("api:"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+time.Duration(i).String(), t0.Add(-time.Duration(i+1)*time.Hour)))
			}
			commit(t, s, engine.Dialog{Key: "api:live", Status: engine.Active})
			sw := New(s, Config{Keep: time.Minute}, nil, slog.New(slog.DiscardHandler), func() time.Time { return t0 })
			got, err := sw.Sweep(t.Context())
			if err != nil || got.Dialogs != n {
				t.Fatalf("Sweep = %+v, %v; want %d dialogs", got, err, n)
			}
			if left := keys(t, s); !slices.Equal(left, []string{"api:live"}) {
				t.Fatalf("left %q", left)
			}
		})
	}
}

func newPortals(t *testing.T, s engine.Store) *outbox.Portals {
	ob, err := outbox.New(outbox.Config{}, outbox.Options{Store: s, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return ob.Portals()
}

func install(t *testing.T, p *outbox.Portals, member string) {
	t.Helper()
	in := outbox.Install{MemberID: member, Domain: member + ".bitrix24.ru", ClientEndpoint: "https://" + member + ".bitrix24.ru/rest/", AccessToken: "secret"}
	if _, err := p.Install(t.Context(), in, func(outbox.Install) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestPortalErasure: a portal's erasure takes its dialogs (not those of a
// member whose id starts the same) with their calls and its install
// record; an uninstall waits for the grace unless it asks to clean, and a
// reinstall within the grace keeps the data.
func TestPortalErasure(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			now := t0
			p := newPortals(t, s)
			sw := New(s, Config{Keep: 0, Playground: DefaultPlayground, UninstallGrace: 7 * 24 * time.Hour}, p, slog.New(slog.DiscardHandler), func() time.Time { return now })
			for _, m := range []string{"m1", "m10", "m2", "m3"} {
				install(t, p, m)
				commit(t, s, engine.Dialog{Key: "b24:" + m + ":chat1", Status: engine.Active}, call("msg"))
				commit(t, s, endedAt("b24:"+m+":chat2", t0))
			}
			ctx := t.Context()
			got, err := sw.ErasePortal(ctx, "m1")
			if want := (PortalErased{Member: "m1", Dialogs: 2, Calls: 1, Install: true}); err != nil || got != want {
				t.Fatalf("ErasePortal = %+v, %v; want %+v", got, err, want)
			}
			if ok, _ := p.Installed(ctx, "m1"); ok {
				t.Fatal("m1 is still installed")
			}

			// m2 uninstalls and keeps its data for the grace; m3 asks to clean.
			if err := p.Uninstall(ctx, "m2"); err != nil {
				t.Fatal(err)
			}
			if e, err := sw.Uninstalled(ctx, "m2", false); err != nil || e.Dialogs != 0 {
				t.Fatalf("Uninstalled(m2) = %+v, %v", e, err)
			}
			if err := p.Uninstall(ctx, "m3"); err != nil {
				t.Fatal(err)
			}
			if e, err := sw.Uninstalled(ctx, "m3", true); err != nil || e.Dialogs != 2 || e.Calls != 1 {
				t.Fatalf("Uninstalled(m3, clean) = %+v, %v; want 2 dialogs and 1 call", e, err)
			}
			want := []string{"b24:m10:chat1", "b24:m10:chat2", "b24:m2:chat1", "b24:m2:chat2"}
			if left := keys(t, s); !slices.Equal(left, want) {
				t.Fatalf("left %q, want %q", left, want)
			}
			now = t0.Add(6 * 24 * time.Hour)
			if r, err := sw.Sweep(ctx); err != nil || r.Portals != 0 {
				t.Fatalf("Sweep within the grace = %+v, %v", r, err)
			}
			now = t0.Add(7 * 24 * time.Hour)
			if r, err := sw.Sweep(ctx); err != nil || r.Portals != 1 {
				t.Fatalf("Sweep after the grace = %+v, %v", r, err)
			}
			if left := keys(t, s); !slices.Equal(left, want[:2]) {
				t.Fatalf("left %q, want %q", left, want[:2])
			}

			// m10 uninstalls and comes back within the grace: nothing goes.
			if _, err := sw.Uninstalled(ctx, "m10", false); err != nil {
				t.Fatal(err)
			}
			install(t, p, "m10")
			now = now.Add(30 * 24 * time.Hour)
			if r, err := sw.Sweep(ctx); err != nil || r.Portals != 0 {
				t.Fatalf("Sweep after a reinstall = %+v, %v", r, err)
			}
			if left := keys(t, s); !slices.Equal(left, want[:2]) {
				t.Fatalf("left %q, want %q", left, want[:2])
			}
			if _, err := sw.ErasePortal(ctx, "a::b"); !errors.Is(err, engine.ErrInvalid) {
				t.Fatalf("ErasePortal(a::b) err=%v, want ErrInvalid", err)
			}
		})
	}
}

// TestErasePortalHostPort: a portal known by its host and port (a
// webhook portal without a member_id, as the fake portal and local setups
// give) is erased by that id, and neither the same host without the port
// nor another port loses a dialog; ids with an empty part around ':' are
// refused, nothing erased.
func TestErasePortalHostPort(t *testing.T) {
	all := []string{
		"b24:127.0.0.1:8080:chat1", "b24:127.0.0.1:8080:chat2", "b24:127.0.0.1:8080:~app",
		"b24:127.0.0.1:chat3", "b24:127.0.0.1:9090:chat4", "b24:127.0.0.1:80801:chat5",
		"b24:portal.example:8443:17", "api:127.0.0.1:8080:chat1",
	}
	tests := []struct {
		member    string
		erased    []string
		wantError bool
	}{
		{member: "127.0.0.1:8080", erased: all[:3]},
		{member: "127.0.0.1", erased: all[3:4]},
		{member: "127.0.0.1:80801", erased: all[5:6]},
		{member: "portal.example:8443", erased: all[6:7]},
		{member: "portal.example"},
		{member: "", wantError: true},
		{member: ":8080", wantError: true},
		{member: "127.0.0.1:", wantError: true},
		{member: "127.0.0.1::8080", wantError: true},
		{member: "127.0.0.1:8080/chat1", wantError: true},
		{member: "127.0.0.1 8080", wantError: true},
	}
	for name, s := range stores(t) {
		for _, k := range all {
			commit(t, s, engine.Dialog{Key: k, Status: engine.Active}, call("imbot.v2.Chat.Message.send"))
		}
		sw := New(s, Config{}, nil, slog.New(slog.DiscardHandler), func() time.Time { return t0 })
		left := slices.Clone(all)
		for _, tc := range tests {
			t.Run(name+"/"+tc.member, func(t *testing.T) {
				got, err := sw.ErasePortal(t.Context(), tc.member)
				left = slices.DeleteFunc(left, func(k string) bool { return slices.Contains(tc.erased, k) })
				if tc.wantError {
					if !errors.Is(err, engine.ErrInvalid) {
						t.Fatalf("ErasePortal(%q) err = %v, want ErrInvalid", tc.member, err)
					}
				} else if err != nil || got.Dialogs != len(tc.erased) || got.Calls != len(tc.erased) {
					t.Fatalf("ErasePortal(%q) = %+v, %v; want %d dialogs with a call each", tc.member, got, err, len(tc.erased))
				}
				got2 := keys(t, s)
				slices.Sort(got2)
				want := slices.Sorted(slices.Values(left))
				if !slices.Equal(got2, want) {
					t.Fatalf("after ErasePortal(%q) left %q, want %q", tc.member, got2, want)
				}
			})
		}
	}
}

// TestNotice: the first start logs how many dialogs the first sweep
// deletes and when; the next start does not, and sweeps sooner.
func TestNotice(t *testing.T) {
	s := memstore.New()
	commit(t, s, endedAt("b24:m:old", t0.Add(-100*24*time.Hour)))
	commit(t, s, endedAt("b24:m:new", t0.Add(-time.Hour)))
	commit(t, s, engine.Dialog{Key: "b24:m:live", Status: engine.Active})
	var buf bytes.Buffer
	sw := New(s, Config{Keep: DefaultKeep, Playground: DefaultPlayground}, nil, slog.New(slog.NewTextHandler(&buf, nil)), func() time.Time { return t0 })
	if !sw.notice(context.Background()) {
		t.Fatal("the first start logged no notice")
	}
	for _, want := range []string{"retention=2160h0m0s", "dialogs=3", "deleted_at_first_sweep=1", "deleted_later_as_they_age=1", "first_sweep=2027-03-01T13:00:00Z"} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("notice %q lacks %q", buf.String(), want)
		}
	}
	buf.Reset()
	if sw.notice(context.Background()) || buf.Len() > 0 {
		t.Fatalf("the second start logged %q", buf.String())
	}
}

// TestTrimProcessed: the processed message ids of a dialog that ended more
// than DuplicateWindow ago are dropped, the record (fields, rev order)
// otherwise kept; younger and active dialogs keep theirs.
func TestTrimProcessed(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			withIDs := func(d engine.Dialog) engine.Dialog {
				d.Recent = []string{"m1", "m2"}
				return d
			}
			commit(t, s, withIDs(endedAt("b24:m:old", t0.Add(-DuplicateWindow-time.Minute))))
			commit(t, s, withIDs(endedAt("b24:m:young", t0.Add(-DuplicateWindow+time.Minute))))
			commit(t, s, withIDs(engine.Dialog{Key: "b24:m:live", Status: engine.Active, Updated: t0.Add(-100 * time.Hour)}))
			sw := New(s, Config{Keep: DefaultKeep}, nil, slog.New(slog.DiscardHandler), func() time.Time { return t0 })
			if n, err := sw.TrimProcessed(t.Context()); err != nil || n != 1 {
				t.Fatalf("TrimProcessed = %d, %v; want 1", n, err)
			}
			for key, want := range map[string]int{"b24:m:old": 0, "b24:m:young": 2, "b24:m:live": 2} {
				d, err := s.Dialog(t.Context(), key)
				if err != nil || len(d.Recent) != want {
					t.Fatalf("%s: ids %v, %v; want %d", key, d.Recent, err, want)
				}
				if key == "b24:m:old" && (d.Rev != 2 || d.Fields["phone"] == "" || !d.Ended.Equal(t0.Add(-DuplicateWindow-time.Minute))) {
					t.Fatalf("the trimmed record changed otherwise: %+v", d)
				}
			}
			if n, err := sw.TrimProcessed(t.Context()); err != nil || n != 0 {
				t.Fatalf("second TrimProcessed = %d, %v; want 0", n, err)
			}
			// still swept by retention when its time comes
			if got, _ := s.Ended(t.Context(), engine.KeyPortal, t0, 10); !slices.Equal(got, []string{"b24:m:old", "b24:m:young"}) {
				t.Fatalf("Ended after the trim = %q", got)
			}
		})
	}
}
