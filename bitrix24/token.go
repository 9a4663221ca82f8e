package bitrix24

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// DefaultTokenURL is the Bitrix24 OAuth server's token endpoint.
const DefaultTokenURL = "https://oauth.bitrix.info/oauth/token/"

// TokenSource supplies OAuth access tokens to a Client.
type TokenSource interface {
	// Token returns the access token to use now.
	Token(ctx context.Context) (string, error)
	// Refresh returns a new access token after the portal answered
	// expired_token for stale. If another caller already replaced stale, it
	// returns the current token without refreshing again.
	Refresh(ctx context.Context, stale string) (string, error)
}

// StaticToken is a TokenSource with one token that cannot be refreshed
// (e.g. a bot token taken from an event). Refresh returns ErrCannotRefresh.
type StaticToken string

// Token returns the token.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

// Refresh always fails with ErrCannotRefresh.
func (t StaticToken) Refresh(context.Context, string) (string, error) { return "", ErrCannotRefresh }

// Token is an OAuth token pair and what the OAuth server says about it.
type Token struct {
	AccessToken    string    `json:"access_token"`
	RefreshToken   string    `json:"refresh_token"`
	Expiry         time.Time `json:"expiry,omitzero"` // zero: unknown, use until the portal says expired_token
	ClientEndpoint string    `json:"client_endpoint,omitempty"`
	MemberID       string    `json:"member_id,omitempty"`
	Domain         string    `json:"domain,omitempty"`
}

// TokenFromAuth takes the token pair from an event's auth set; now is used
// to turn expires_in into Expiry.
func TokenFromAuth(a Auth, now time.Time) Token {
	t := Token{AccessToken: a.AccessToken, RefreshToken: a.RefreshToken,
		ClientEndpoint: a.ClientEndpoint, MemberID: a.MemberID, Domain: a.Domain}
	switch {
	case a.Expires > 0:
		t.Expiry = time.Unix(a.Expires, 0)
	case a.ExpiresIn > 0:
		t.Expiry = now.Add(time.Duration(a.ExpiresIn) * time.Second)
	}
	return t
}

// OAuthConfig configures OAuthTokens.
type OAuthConfig struct {
	ClientID     string // the application's client_id
	ClientSecret string // the application's client_secret
	// TokenURL is the refresh endpoint; DefaultTokenURL when empty. http://
	// only for loopback hosts.
	TokenURL   string
	HTTPClient *http.Client     // default: one with DefaultTimeout
	UserAgent  string           // default: DefaultUserAgent
	Now        func() time.Time // default: time.Now
	Logger     *slog.Logger     // default: slog.Default()
	// OnRefresh, when set, is called with every new token so it can be
	// stored (refresh tokens rotate: the old one stops working). An error is
	// logged; the new token is used anyway. It runs while the refresh lock is
	// held: it must not call back into the OAuthTokens.
	OnRefresh func(ctx context.Context, t Token) error
	// Stored, when set, returns the token pair as OnRefresh last stored it,
	// where other processes store theirs too (replicas sharing one
	// database). A refresh first looks there: when another replica has
	// rotated the pair meanwhile, its tokens are adopted instead of
	// spending a refresh token the OAuth server has already retired; and a
	// refresh the server refuses with invalid_grant (two replicas refreshed
	// the same pair at once) adopts the winner's stored pair. It runs while
	// the refresh lock is held.
	Stored func(ctx context.Context) (Token, error)
	// Early is how long before Expiry Token refreshes on its own; default 1 minute.
	Early time.Duration
}

// OAuthTokens is a TokenSource that refreshes through the OAuth server
// (GET TokenURL?grant_type=refresh_token&client_id=…&client_secret=…&refresh_token=…).
// Refreshes are serialized; concurrent callers that saw the same expired
// token share one refresh. It is safe for concurrent use.
type OAuthTokens struct {
	cfg      OAuthConfig
	tokenURL *url.URL
	sem      chan struct{} // a lock that respects ctx
	tok      Token
}

// NewOAuthTokens returns a TokenSource starting from tok.
func NewOAuthTokens(cfg OAuthConfig, tok Token) (*OAuthTokens, error) {
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultTokenURL
	}
	u, err := checkBaseURL(cfg.TokenURL)
	if err != nil {
		return nil, fmt.Errorf("bitrix24: token URL: %w", err)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Early == 0 {
		cfg.Early = time.Minute
	}
	return &OAuthTokens{cfg: cfg, tokenURL: u, sem: make(chan struct{}, 1), tok: tok}, nil
}

func (s *OAuthTokens) lock(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *OAuthTokens) unlock() { <-s.sem }

// Current returns the token pair held now.
func (s *OAuthTokens) Current() Token {
	s.sem <- struct{}{}
	defer s.unlock()
	return s.tok
}

// Token returns the access token, refreshing first when it is known to
// expire within cfg.Early and a refresh token is available.
func (s *OAuthTokens) Token(ctx context.Context) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.unlock()
	t := s.tok
	if !t.Expiry.IsZero() && t.RefreshToken != "" && !s.cfg.Now().Add(s.cfg.Early).Before(t.Expiry) {
		if err := s.refreshLocked(ctx); err != nil {
			return "", err
		}
	}
	return s.tok.AccessToken, nil
}

// Refresh gets a new access token unless stale was already replaced.
func (s *OAuthTokens) Refresh(ctx context.Context, stale string) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.unlock()
	if s.tok.AccessToken != stale {
		return s.tok.AccessToken, nil
	}
	if err := s.refreshLocked(ctx); err != nil {
		return "", err
	}
	return s.tok.AccessToken, nil
}

// Offer adopts t's access token when it expires later than the one held,
// e.g. a fresh token that came with an event. The refresh token is replaced
// only by a non-empty one, so the rotating refresh chain is never lost. It
// does not wait for a refresh in progress (that one brings a fresh token
// anyway) and reports whether it adopted t.
func (s *OAuthTokens) Offer(t Token) bool {
	select {
	case s.sem <- struct{}{}:
	default:
		return false
	}
	defer s.unlock()
	if t.AccessToken == "" || t.AccessToken == s.tok.AccessToken || !t.Expiry.After(s.tok.Expiry) {
		return false
	}
	s.tok.AccessToken, s.tok.Expiry = t.AccessToken, t.Expiry
	if t.RefreshToken != "" {
		s.tok.RefreshToken = t.RefreshToken
	}
	return true
}

// tokenAnswer is the OAuth server's JSON answer.
type tokenAnswer struct {
	AccessToken    string `json:"access_token"`
	RefreshToken   string `json:"refresh_token"`
	ExpiresIn      int    `json:"expires_in"`
	Expires        int64  `json:"expires"`
	ClientEndpoint string `json:"client_endpoint"`
	MemberID       string `json:"member_id"`
	Error          string `json:"error"`
	Description    string `json:"error_description"`
}

const tokenMethod = "oauth/token"

// storedRetries and storedWait bound how long a refresh that lost the race
// to another replica waits for the winner's pair to be stored.
const (
	storedRetries = 5
	storedWait    = 100 * time.Millisecond
)

// refreshLocked gets a fresh access token: from the shared store when
// another replica has rotated the pair (see OAuthConfig.Stored), else from
// the OAuth server.
func (s *OAuthTokens) refreshLocked(ctx context.Context) error {
	stale := s.tok.AccessToken
	if s.adoptStored(ctx, stale) {
		return nil
	}
	err := s.refreshOAuth(ctx)
	var ae *APIError
	if s.cfg.Stored == nil || !errors.As(err, &ae) || ae.Code != "invalid_grant" {
		return err
	}
	// Another replica may have spent this refresh token a moment ago: its
	// new pair reaches the store once its refresh answer is in.
	for range storedRetries {
		held := s.tok.RefreshToken
		if s.adoptStored(ctx, stale) {
			return nil
		}
		if s.tok.RefreshToken != held {
			// the stored pair was rotated but is about to expire
			return s.refreshOAuth(ctx)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(storedWait):
		}
	}
	return err
}

// adoptStored takes the stored pair when another process rotated it: its
// refresh token differs from the one held, and its access token is not the
// stale one and is not about to expire. It reports whether it did.
func (s *OAuthTokens) adoptStored(ctx context.Context, stale string) bool {
	if s.cfg.Stored == nil {
		return false
	}
	t, err := s.cfg.Stored(ctx)
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "bitrix24 reading the stored token failed", "error", err)
		return false
	}
	if t.RefreshToken == "" || t.RefreshToken == s.tok.RefreshToken || t.AccessToken == "" || t.AccessToken == stale {
		return false
	}
	s.tok.AccessToken, s.tok.RefreshToken, s.tok.Expiry = t.AccessToken, t.RefreshToken, t.Expiry
	if !t.Expiry.IsZero() && !s.cfg.Now().Add(s.cfg.Early).Before(t.Expiry) {
		// rotated, but already old: refresh with the newer refresh token
		return false
	}
	s.cfg.Logger.InfoContext(ctx, "bitrix24 access token taken from the store (refreshed by another replica)", "member_id", s.tok.MemberID)
	return true
}

func (s *OAuthTokens) refreshOAuth(ctx context.Context) error {
	if s.tok.RefreshToken == "" {
		return ErrCannotRefresh
	}
	t, err := exchange(ctx, s.cfg, s.tokenURL, s.tok.RefreshToken)
	if err != nil {
		return err
	}
	// The answer's "domain" is the OAuth server's own (oauth.bitrix.info): keep the portal's.
	t.Domain = s.tok.Domain
	if t.RefreshToken == "" {
		t.RefreshToken = s.tok.RefreshToken
	}
	if t.ClientEndpoint == "" {
		t.ClientEndpoint = s.tok.ClientEndpoint
	}
	if t.MemberID == "" {
		t.MemberID = s.tok.MemberID
	}
	s.tok = t
	s.cfg.Logger.InfoContext(ctx, "bitrix24 access token refreshed", "member_id", t.MemberID)
	if s.cfg.OnRefresh != nil {
		if err := s.cfg.OnRefresh(ctx, t); err != nil {
			s.cfg.Logger.ErrorContext(ctx, "bitrix24 storing refreshed token failed", "error", err)
		}
	}
	return nil
}

// Exchange trades refreshToken at the OAuth server (cfg.TokenURL) for a new
// pair with the application's client id and secret, and returns the pair
// with what the server says about the portal: its client_endpoint and
// member_id (Domain stays empty: the answer's "domain" is the OAuth
// server's own). A refresh token the server does not know comes back as an
// *APIError (invalid_grant), so a successful Exchange proves that the
// portal really issued the token to this application.
func Exchange(ctx context.Context, cfg OAuthConfig, refreshToken string) (Token, error) {
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultTokenURL
	}
	u, err := checkBaseURL(cfg.TokenURL)
	if err != nil {
		return Token{}, fmt.Errorf("bitrix24: token URL: %w", err)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultTimeout, CheckRedirect: noRedirects}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if refreshToken == "" {
		return Token{}, ErrCannotRefresh
	}
	return exchange(ctx, cfg, u, refreshToken)
}

func exchange(ctx context.Context, cfg OAuthConfig, tokenURL *url.URL, refreshToken string) (Token, error) {
	u := *tokenURL
	q := url.Values{}
	q.Set("grant_type", "refresh_token")
	q.Set("client_id", cfg.ClientID)
	q.Set("client_secret", cfg.ClientSecret)
	q.Set("refresh_token", refreshToken)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Token{}, fmt.Errorf("%w: token refresh request", ErrInvalidRequest)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", cfg.UserAgent)
	resp, err := noRedirectClient(cfg.HTTPClient).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = tokenURL.String() // without the secrets in the query
		}
		return Token{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Token{}, fmt.Errorf("bitrix24: token refresh: read response: %w", err)
	}
	var ans tokenAnswer
	jsonErr := json.Unmarshal(data, &ans)
	if resp.StatusCode != http.StatusOK || ans.Error != "" {
		ae := &APIError{Status: resp.StatusCode, Method: tokenMethod, Code: ans.Error, Description: ans.Description}
		if jsonErr != nil {
			ae.Description = http.StatusText(resp.StatusCode)
		}
		cfg.Logger.WarnContext(ctx, "bitrix24 token refresh failed", "status", resp.StatusCode, "error", ae.Code)
		return Token{}, ae
	}
	if jsonErr != nil || ans.AccessToken == "" {
		return Token{}, fmt.Errorf("%w: %s: no access_token in answer", ErrBadResponse, tokenMethod)
	}
	t := Token{AccessToken: ans.AccessToken, RefreshToken: ans.RefreshToken,
		ClientEndpoint: ans.ClientEndpoint, MemberID: ans.MemberID}
	if ans.ExpiresIn > 0 {
		t.Expiry = cfg.Now().Add(time.Duration(ans.ExpiresIn) * time.Second)
	} else if ans.Expires > 0 {
		t.Expiry = time.Unix(ans.Expires, 0)
	}
	return t, nil
}
