package bitrix24

import (
	"testing"
	"time"
)

func TestOAuthTokensOffer(t *testing.T) {
	now := time.Date(2026, 3, 16, 10, 0, 0, 0, time.UTC)
	start := Token{AccessToken: "a1", RefreshToken: "r1", Expiry: now.Add(time.Hour)}
	tests := []struct {
		name    string
		offer   Token
		busy    bool // a refresh holds the lock
		adopted bool
		want    Token
	}{
		{"a later access token is adopted, the refresh token kept", Token{AccessToken: "a2", Expiry: now.Add(2 * time.Hour)}, false, true,
			Token{AccessToken: "a2", RefreshToken: "r1", Expiry: now.Add(2 * time.Hour)}},
		{"with a refresh token, both are adopted", Token{AccessToken: "a2", RefreshToken: "r2", Expiry: now.Add(2 * time.Hour)}, false, true,
			Token{AccessToken: "a2", RefreshToken: "r2", Expiry: now.Add(2 * time.Hour)}},
		{"an older access token is not", Token{AccessToken: "a0", RefreshToken: "r0", Expiry: now.Add(time.Minute)}, false, false, start},
		{"the same access token is not", Token{AccessToken: "a1", Expiry: now.Add(2 * time.Hour)}, false, false, start},
		{"an empty access token is not", Token{Expiry: now.Add(2 * time.Hour)}, false, false, start},
		{"during a refresh nothing waits", Token{AccessToken: "a2", Expiry: now.Add(2 * time.Hour)}, true, false, start},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewOAuthTokens(OAuthConfig{TokenURL: "http://127.0.0.1:1/oauth/token/", Now: func() time.Time { return now }}, start)
			if err != nil {
				t.Fatal(err)
			}
			if tc.busy {
				s.sem <- struct{}{}
			}
			if got := s.Offer(tc.offer); got != tc.adopted {
				t.Fatalf("Offer=%v, want %v", got, tc.adopted)
			}
			if tc.busy {
				s.unlock()
			}
			if got := s.Current(); got != tc.want {
				t.Fatalf("token %+v, want %+v", got, tc.want)
			}
		})
	}
}
