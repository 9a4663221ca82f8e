package server

import (
	"context"
	"testing"
	"time"

	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/outbox"
)

// TestRenewIdlePortal: a portal whose chats are quiet gets its token pair
// refreshed before its refresh token's 180 days run out
// (settings/oauth/index.md), and only then.
func TestRenewIdlePortal(t *testing.T) {
	clock := newClock()
	p := newPortal(t, fakeportal.Config{Now: clock.Now, TokenTTL: 365 * 24 * time.Hour})
	e := startEnv(t, p, func(e *env) { e.clock = clock })
	e.install()
	e.settle()
	portals := e.srv.Outbox.Portals()
	ctx := context.Background()
	before, _ := portals.Get(ctx, e.member())
	refreshes := len(p.CallsOf("oauth/token"))
	clock.Advance(100 * 24 * time.Hour)
	if n := portals.RenewIdle(ctx, outbox.RenewAfter); n != 0 {
		t.Fatalf("renewed %d portals after 100 days, want none yet", n)
	}
	clock.Advance(60 * 24 * time.Hour)
	if n := portals.RenewIdle(ctx, outbox.RenewAfter); n != 1 {
		t.Fatalf("renewed %d portals after 160 quiet days, want 1", n)
	}
	after, _ := portals.Get(ctx, e.member())
	if after.RefreshToken == before.RefreshToken || !after.RefreshedAt.Equal(clock.Now()) {
		t.Fatalf("record after renewal %+v, want a new refresh token refreshed now", after)
	}
	if n := len(p.CallsOf("oauth/token")); n != refreshes+1 {
		t.Fatalf("%d token requests, want one more", n-refreshes)
	}
	if n := portals.RenewIdle(ctx, outbox.RenewAfter); n != 0 {
		t.Fatalf("renewed %d portals right after a renewal, want none", n)
	}
	// an uninstalled portal is no longer visited
	if err := portals.Uninstall(ctx, e.member()); err != nil {
		t.Fatal(err)
	}
	clock.Advance(200 * 24 * time.Hour)
	if n := portals.RenewIdle(ctx, outbox.RenewAfter); n != 0 {
		t.Fatalf("renewed %d uninstalled portals", n)
	}
}
