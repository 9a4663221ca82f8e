package bitrix24_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// sharedTokens is where replicas keep one portal's token pair (the install
// record in the shared database, for olbot serve).
type sharedTokens struct {
	mu  sync.Mutex
	tok bitrix24.Token
}

func (s *sharedTokens) save(_ context.Context, t bitrix24.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = t
	return nil
}

func (s *sharedTokens) load(context.Context) (bitrix24.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok, nil
}

// replicaClient is one replica's client of the portal, sharing store when
// shared is set (else it only saves there, as before Stored existed).
func replicaClient(tb testing.TB, p *fakeportal.Portal, store *sharedTokens, shared bool) *bitrix24.Client {
	tb.Helper()
	cfg := p.Config()
	oc := bitrix24.OAuthConfig{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: p.TokenURL(),
		OnRefresh: store.save, Logger: slog.New(slog.DiscardHandler)}
	if shared {
		oc.Stored = store.load
	}
	tok, _ := store.load(context.Background())
	ts, err := bitrix24.NewOAuthTokens(oc, tok)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := bitrix24.NewOAuth(p.Endpoint(), ts, bitrix24.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestSharedTokenRotation: two replicas hold the same rotating token pair.
// When the portal expires the access token, one replica's refresh retires
// the refresh token the other still holds; with Stored the other takes the
// new pair from the shared store (or, having lost a race, waits for it)
// instead of failing with invalid_grant.
func TestSharedTokenRotation(t *testing.T) {
	tests := []struct {
		name       string
		shared     bool
		concurrent bool
		wantErr    string // from the second replica's call; "" for success
		maxOAuth   int    // refreshes the OAuth server saw
	}{
		{"one after the other, shared store", true, false, "", 1},
		{"at the same time, shared store", true, true, "", 2},
		{"one after the other, no shared store", false, false, "invalid_grant", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			p := startPortal(t, fakeportal.Config{})
			access, refresh := p.Tokens()
			store := &sharedTokens{tok: bitrix24.Token{AccessToken: access, RefreshToken: refresh, MemberID: p.Config().MemberID}}
			a, b := replicaClient(t, p, store, tt.shared), replicaClient(t, p, store, tt.shared)
			p.ExpireTokens()
			call := func(c *bitrix24.Client) error {
				_, err := c.Do(ctx, bitrix24.Request{Method: "imbot.bot.list", Params: map[string]any{}})
				return err
			}
			var errA, errB error
			if tt.concurrent {
				var wg sync.WaitGroup
				wg.Go(func() { errA = call(a) })
				wg.Go(func() { errB = call(b) })
				wg.Wait()
			} else {
				errA = call(a)
				errB = call(b)
			}
			if errA != nil {
				t.Fatalf("first replica: %v", errA)
			}
			switch {
			case tt.wantErr == "" && errB != nil:
				t.Fatalf("second replica: %v", errB)
			case tt.wantErr != "" && (errB == nil || !strings.Contains(errB.Error(), tt.wantErr)):
				t.Fatalf("second replica: %v, want an error with %q", errB, tt.wantErr)
			}
			refreshes := len(p.CallsOf("oauth/token"))
			if refreshes < 1 || refreshes > tt.maxOAuth {
				t.Errorf("%d token refreshes, want 1..%d", refreshes, tt.maxOAuth)
			}
			if tt.wantErr == "" {
				// both replicas now work with the pair the portal issued last
				if _, cur := p.Tokens(); store.tok.RefreshToken != cur {
					t.Errorf("stored refresh token %q, the portal's current one %q", store.tok.RefreshToken, cur)
				}
				for name, c := range map[string]*bitrix24.Client{"a": a, "b": b} {
					if err := call(c); err != nil {
						t.Errorf("replica %s afterwards: %v", name, err)
					}
				}
			}
		})
	}
}
