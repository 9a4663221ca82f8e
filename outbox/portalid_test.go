package outbox

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
)

// TestPortalID: a portal's dialog-key id is chosen once per host and kept
// in the store: the member id the event names, else the one the store
// already uses for the host (an install record, a v1 webhook-mode dialog),
// else the host; once kept, every mode gets the same id. A store that
// fails is an error, never a guess.
func TestPortalID(t *testing.T) {
	ctx := context.Background()
	const host = "acme.bitrix24.com"
	for _, tc := range []struct {
		name   string
		seed   func(t *testing.T, s *memstore.Store, p *Portals)
		host   string
		member string
		want   string
	}{
		{name: "the event's member id", host: host, member: "m-event", want: "m-event"},
		{name: "fetch mode, nothing known: the host", host: "ACME.bitrix24.com", want: host},
		{name: "fetch mode after a local application: the install's member id", host: host, want: "m-install",
			seed: func(t *testing.T, _ *memstore.Store, p *Portals) {
				if _, err := p.Install(ctx, Install{MemberID: "m-other", Domain: "other.bitrix24.com"}, nil); err != nil {
					t.Fatal(err)
				}
				if _, err := p.Install(ctx, Install{MemberID: "m-install", Domain: "Acme.Bitrix24.com"}, nil); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "fetch mode after the v1 webhook mode: the member id of the host's dialogs", host: host, want: "m-dialog",
			seed: func(t *testing.T, s *memstore.Store, _ *Portals) {
				for _, d := range []engine.Dialog{
					{Key: "b24:m-elsewhere:chat1", Rev: 1, Channel: engine.Channel{Member: "m-elsewhere", Domain: "other.bitrix24.com", Dialog: "chat1", Chat: 1}},
					{Key: "b24:" + host + ":chat2", Rev: 1, Channel: engine.Channel{Member: "m-moved", Domain: host, Dialog: "chat2", Chat: 2}}, // keyed otherwise
					{Key: "b24:m-dialog:chat3", Rev: 1, Channel: engine.Channel{Member: "m-dialog", Domain: host, Dialog: "chat3", Chat: 3}},
				} {
					if err := s.Commit(ctx, engine.Commit{Dialog: d}); err != nil {
						t.Fatal(err)
					}
				}
			}},
		{name: "kept: the event's member id does not change it", host: host, member: "m-event", want: host,
			seed: func(t *testing.T, _ *memstore.Store, p *Portals) {
				if id, err := p.PortalID(ctx, host, ""); err != nil || id != host {
					t.Fatalf("first sight: %q, %v", id, err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := memstore.New()
			p, err := newPortals(Config{}, s, slog.Default(), time.Now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.seed != nil {
				tc.seed(t, s, p)
			}
			if got, err := p.PortalID(ctx, tc.host, tc.member); err != nil || got != tc.want {
				t.Fatalf("PortalID(%q, %q) = %q, %v; want %q", tc.host, tc.member, got, err, tc.want)
			}
			// kept in the store: another process (another mode) reads the same id
			other, _ := newPortals(Config{}, s, slog.Default(), time.Now)
			if got, err := other.PortalID(ctx, tc.host, "m-later"); err != nil || got != tc.want {
				t.Fatalf("PortalID of a later start = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("a store that fails", func(t *testing.T) {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "olbot.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := newPortals(Config{}, s, slog.Default(), time.Now)
		s.Close()
		if id, err := p.PortalID(ctx, host, ""); !errors.Is(err, ErrStore) || id != "" {
			t.Fatalf("PortalID on a closed store = %q, %v; want ErrStore", id, err)
		}
	})
}
