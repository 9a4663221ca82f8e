package outbox

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
)

// TestGetSeesChanges: Get keeps the record it decoded last, yet every
// change of the stored record is seen by the next Get — an install or a
// token saved here, a record written by another replica (straight into the
// shared store), an uninstall, and a record that no longer decodes.
func TestGetSeesChanges(t *testing.T) {
	ctx := context.Background()
	const member = "m-1"
	for _, tc := range []struct {
		name    string
		change  func(t *testing.T, s *memstore.Store, p *Portals)
		want    string // the application token Get returns
		wantErr error
	}{
		{name: "unchanged", change: func(*testing.T, *memstore.Store, *Portals) {}, want: "app-1"},
		{name: "installed again here", want: "app-2", change: func(t *testing.T, _ *memstore.Store, p *Portals) {
			if _, err := p.Install(ctx, Install{MemberID: member, Domain: "acme.bitrix24.com", ApplicationToken: "app-2"}, func(Install) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "written by another replica", want: "app-3", change: func(t *testing.T, s *memstore.Store, _ *Portals) {
			if err := s.Put(ctx, NSPortals, member, []byte(`{"member_id":"m-1","domain":"acme.bitrix24.com","application_token":"app-3"}`)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "uninstalled", wantErr: engine.ErrNotFound, change: func(t *testing.T, _ *memstore.Store, p *Portals) {
			if err := p.Uninstall(ctx, member); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "broken record", wantErr: errAny, change: func(t *testing.T, s *memstore.Store, _ *Portals) {
			if err := s.Put(ctx, NSPortals, member, []byte(`{"member_id":`)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := memstore.New()
			p, err := newPortals(Config{}, s, slog.Default(), time.Now)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Install(ctx, Install{MemberID: member, Domain: "acme.bitrix24.com", ApplicationToken: "app-1"}, nil); err != nil {
				t.Fatal(err)
			}
			for range 2 { // decoded, then from what Get kept
				if in, err := p.Get(ctx, member); err != nil || in.ApplicationToken != "app-1" {
					t.Fatalf("before the change: %q, %v", in.ApplicationToken, err)
				}
			}
			tc.change(t, s, p)
			in, err := p.Get(ctx, member)
			switch {
			case tc.wantErr == errAny && err == nil:
				t.Fatalf("Get = %+v, want an error", in)
			case tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("Get error %v, want %v", err, tc.wantErr)
			case tc.wantErr == nil && (err != nil || in.ApplicationToken != tc.want):
				t.Fatalf("Get = %q, %v; want %q", in.ApplicationToken, err, tc.want)
			}
		})
	}
}

// errAny: any error will do.
var errAny = errors.New("any error")
