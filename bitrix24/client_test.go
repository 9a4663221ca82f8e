package bitrix24_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// startPortal runs a fake portal with the rate limit off unless cfg sets one.
func startPortal(tb testing.TB, cfg fakeportal.Config) *fakeportal.Portal {
	tb.Helper()
	if cfg.Burst == 0 {
		cfg.Burst = -1
	}
	p, srv := fakeportal.NewServer(cfg)
	tb.Cleanup(srv.Close)
	return p
}

func oauthClient(tb testing.TB, p *fakeportal.Portal, onRefresh func(context.Context, bitrix24.Token) error) (*bitrix24.Client, *bitrix24.OAuthTokens) {
	tb.Helper()
	cfg := p.Config()
	access, refresh := p.Tokens()
	ts, err := bitrix24.NewOAuthTokens(bitrix24.OAuthConfig{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: p.TokenURL(), OnRefresh: onRefresh,
		Logger: slog.New(slog.DiscardHandler),
	}, bitrix24.Token{AccessToken: access, RefreshToken: refresh, MemberID: cfg.MemberID})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := bitrix24.NewOAuth(p.Endpoint(), ts, bitrix24.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	return c, ts
}

func webhookClient(tb testing.TB, p *fakeportal.Portal, clientID string) *bitrix24.Client {
	tb.Helper()
	c, err := bitrix24.NewWebhook(p.WebhookURL(), clientID)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestClientMethods(t *testing.T) {
	for _, mode := range []string{"oauth", "webhook"} {
		t.Run(mode, func(t *testing.T) {
			p := startPortal(t, fakeportal.Config{})
			var c *bitrix24.Client
			if mode == "oauth" {
				c, _ = oauthClient(t, p, nil)
			} else {
				c = webhookClient(t, p, "olbot-key")
			}
			ctx := context.Background()
			botID, err := c.Register(ctx, bitrix24.RegisterParams{Code: "olbot", EventHandler: "https://bot.example/bitrix24/events",
				Properties: bitrix24.BotProperties{Name: "Olbot"}})
			if err != nil || botID != 1011 {
				t.Fatalf("Register=%d,%v, want 1011", botID, err)
			}
			msgID, err := c.MessageAdd(ctx, "chat1777", botID, "How can we help?", []string{"Order status", "Delivery"}, true)
			if err != nil || msgID <= 0 {
				t.Fatalf("MessageAdd=%d,%v", msgID, err)
			}
			msgs := p.Messages("chat1777")
			if len(msgs) != 1 || msgs[0].ID != msgID || msgs[0].BotID != botID ||
				msgs[0].Text != "How can we help?[BR][SEND=1]1. Order status[/SEND][BR][SEND=2]2. Delivery[/SEND]" || msgs[0].Keyboard == nil {
				t.Fatalf("posted messages=%+v", msgs)
			}
			steps := []struct {
				name string
				call func() error
			}{
				{"greeting", func() error { return c.SessionMessageSend(ctx, 1777, bitrix24.GreetDefault, "Thanks!") }},
				{"transfer", func() error { return c.SessionTransfer(ctx, 1777, 0, 22, true) }},
				{"operator", func() error { return c.SessionOperator(ctx, 1888) }},
				{"finish", func() error { return c.SessionFinish(ctx, 1999) }},
				{"lead update", func() error { return c.LeadUpdate(ctx, mustLead(t, c), map[string]string{"phone": "+7999"}) }},
			}
			for _, s := range steps {
				if err := s.call(); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
			}
			if st := p.ChatState(1777); st != fakeportal.StateTransferred {
				t.Errorf("chat 1777 state=%q, want transferred", st)
			}
			if st := p.ChatState(1888); st != fakeportal.StateOperator {
				t.Errorf("chat 1888 state=%q, want operator", st)
			}
			if st := p.ChatState(1999); st != fakeportal.StateFinished {
				t.Errorf("chat 1999 state=%q, want finished", st)
			}
			lead := p.Lead(1209)
			if lead["NAME"] != "Ivan" || lead["COMMENTS"] != "order: 42" {
				t.Errorf("lead=%v", lead)
			}
			if phones, _ := lead["PHONE"].([]map[string]string); len(phones) != 1 || phones[0]["VALUE"] != "+7999" {
				t.Errorf("lead phones=%v", lead["PHONE"])
			}
			if err := c.Unregister(ctx, botID); err != nil {
				t.Fatalf("Unregister: %v", err)
			}
			if len(p.Bots()) != 0 {
				t.Errorf("bots after unregister=%v", p.Bots())
			}
			checkCallAuth(t, p, mode)
		})
	}
}

// checkCallAuth checks that every call the portal saw succeeded and was
// authenticated the way mode says; CLIENT_ID only on webhook bot calls.
func checkCallAuth(t *testing.T, p *fakeportal.Portal, mode string) {
	t.Helper()
	access, _ := p.Tokens()
	for _, call := range p.Calls() {
		if !call.OK() {
			t.Errorf("call %s failed: %s", call.Method, call.Error)
		}
		isBot := strings.HasPrefix(call.Method, "imbot.") || strings.HasPrefix(call.Method, "imopenlines.bot.")
		switch mode {
		case "oauth":
			if call.Auth != "oauth" || call.Str("auth") != access || call.Str("CLIENT_ID") != "" {
				t.Errorf("%s: auth=%q token=%q CLIENT_ID=%q", call.Method, call.Auth, call.Str("auth"), call.Str("CLIENT_ID"))
			}
		case "webhook":
			wantCID := ""
			if isBot {
				wantCID = "olbot-key"
			}
			if call.Auth != "webhook" || call.Str("auth") != "" || call.Str("CLIENT_ID") != wantCID {
				t.Errorf("%s: auth=%q token=%q CLIENT_ID=%q, want CLIENT_ID %q", call.Method, call.Auth, call.Str("auth"), call.Str("CLIENT_ID"), wantCID)
			}
		}
	}
}

func mustLead(tb testing.TB, c *bitrix24.Client) int {
	tb.Helper()
	id, err := c.LeadAdd(context.Background(), map[string]string{"name": "Ivan", "order": "42"})
	if err != nil {
		tb.Fatalf("LeadAdd: %v", err)
	}
	return id
}

func TestClientErrors(t *testing.T) {
	type env struct {
		p     *fakeportal.Portal
		oauth *bitrix24.Client
		hook  *bitrix24.Client
	}
	tests := []struct {
		name       string
		cfg        fakeportal.Config
		setup      func(e env)
		call       func(ctx context.Context, e env) error
		wantClass  bitrix24.Class
		wantStatus int    // 0: not an *APIError
		wantCode   string // "-": do not check
	}{
		{"message empty", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error {
				_, err := e.oauth.MessageAdd(ctx, "chat1777", 0, "   ", nil, false)
				return err
			}, bitrix24.ClassPermanent, 400, "MESSAGE_EMPTY"},
		{"dialog empty", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error {
				_, err := e.oauth.MessageAdd(ctx, "", 0, "hi", nil, false)
				return err
			}, bitrix24.ClassPermanent, 400, "DIALOG_ID_EMPTY"},
		{"unknown bot", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error {
				_, err := e.oauth.MessageAdd(ctx, "chat1", 999, "hi", nil, false)
				return err
			}, bitrix24.ClassPermanent, 400, "BOT_ID_ERROR"},
		{"chat id empty", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error { return e.oauth.SessionOperator(ctx, 0) },
			bitrix24.ClassPermanent, 400, "CHAT_ID_EMPTY"},
		{"operator already has chat", fakeportal.Config{}, func(e env) { e.p.SetChatState(1777, fakeportal.StateOperator) },
			func(ctx context.Context, e env) error { return e.oauth.SessionOperator(ctx, 1777) },
			bitrix24.ClassDone, 400, "WRONG_CHAT"},
		{"transfer to nobody", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error { return e.oauth.SessionTransfer(ctx, 1777, 0, 0, false) },
			bitrix24.ClassPermanent, 400, "TRANSFER_ID_EMPTY"},
		{"transfer to a stranger", fakeportal.Config{Operators: []int{12}}, nil,
			func(ctx context.Context, e env) error { return e.oauth.SessionTransfer(ctx, 1777, 13, 0, false) },
			bitrix24.ClassPermanent, 400, "OPERATOR_WRONG"},
		{"finish without a bot", fakeportal.Config{}, func(e env) {
			for _, b := range e.p.Bots() {
				_ = e.oauth.Unregister(context.Background(), b.ID)
			}
		}, func(ctx context.Context, e env) error { return e.oauth.SessionFinish(ctx, 1777) },
			bitrix24.ClassPermanent, 400, "BOT_ID_ERROR"},
		{"webhook sessions unsupported", fakeportal.Config{WebhookSessionsFail: true}, nil,
			func(ctx context.Context, e env) error { return e.hook.SessionFinish(ctx, 1777) },
			bitrix24.ClassPermanent, 400, "BOT_ID_ERROR"},
		{"crm not found", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error {
				return e.oauth.LeadUpdate(ctx, 424242, map[string]string{"name": "x"})
			},
			bitrix24.ClassPermanent, 400, ""},
		{"unknown method", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error { _, err := e.oauth.Call(ctx, "no.such.method", nil); return err },
			bitrix24.ClassPermanent, 404, "ERROR_METHOD_NOT_FOUND"},
		{"query limit", fakeportal.Config{}, func(e env) { e.p.QueryLimitBurst(1) },
			func(ctx context.Context, e env) error { return e.oauth.SessionOperator(ctx, 1777) },
			bitrix24.ClassTransient, 503, "QUERY_LIMIT_EXCEEDED"},
		{"internal error", fakeportal.Config{}, func(e env) { e.p.FailNext(1, "INTERNAL_SERVER_ERROR") },
			func(ctx context.Context, e env) error { return e.oauth.SessionOperator(ctx, 1777) },
			bitrix24.ClassTransient, 500, "INTERNAL_SERVER_ERROR"},
		{"operation time limit", fakeportal.Config{}, func(e env) { e.p.FailNext(1, "OPERATION_TIME_LIMIT") },
			func(ctx context.Context, e env) error { return e.oauth.SessionOperator(ctx, 1777) },
			bitrix24.ClassTransient, 429, "OPERATION_TIME_LIMIT"},
		{"access denied", fakeportal.Config{}, func(e env) { e.p.FailNext(1, "ACCESS_DENIED") },
			func(ctx context.Context, e env) error { return e.oauth.SessionOperator(ctx, 1777) },
			bitrix24.ClassAuth, 403, "ACCESS_DENIED"},
		{"insufficient scope", fakeportal.Config{}, func(e env) { e.p.FailNext(1, "insufficient_scope") },
			func(ctx context.Context, e env) error { return e.oauth.SessionOperator(ctx, 1777) },
			bitrix24.ClassAuth, 403, "insufficient_scope"},
		{"bad gateway", fakeportal.Config{}, func(e env) { e.p.BadGateway(true) },
			func(ctx context.Context, e env) error { return e.oauth.SessionOperator(ctx, 1777) },
			bitrix24.ClassTransient, 502, ""},
		{"portal down", fakeportal.Config{}, func(e env) { e.p.Down(true) },
			func(ctx context.Context, e env) error { return e.hook.SessionOperator(ctx, 1777) },
			bitrix24.ClassTransient, 0, "-"},
		{"webhook wrong secret", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error {
				c, err := bitrix24.NewWebhook(strings.Replace(e.p.WebhookURL(), "fakewebhooksecret", "wrong", 1), "k")
				if err != nil {
					return err
				}
				return c.SessionOperator(ctx, 1777)
			}, bitrix24.ClassAuth, 401, "NO_AUTH_FOUND"},
		{"webhook without CLIENT_ID", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error {
				c, err := bitrix24.NewWebhook(e.p.WebhookURL(), "")
				if err != nil {
					return err
				}
				_, err = c.MessageAdd(ctx, "chat1", 0, "hi", nil, false)
				return err
			}, bitrix24.ClassAuth, 403, "ACCESS_DENIED"},
		{"oauth unknown token", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error {
				c, err := bitrix24.NewOAuth(e.p.Endpoint(), bitrix24.StaticToken("forged"))
				if err != nil {
					return err
				}
				return c.SessionOperator(ctx, 1777)
			}, bitrix24.ClassAuth, 401, "NO_AUTH_FOUND"},
		{"expired static token", fakeportal.Config{}, func(e env) { e.p.ExpireTokens() },
			func(ctx context.Context, e env) error {
				access, _ := e.p.Tokens()
				c, err := bitrix24.NewOAuth(e.p.Endpoint(), bitrix24.StaticToken(access))
				if err != nil {
					return err
				}
				err = c.SessionOperator(ctx, 1777)
				if !errors.Is(err, bitrix24.ErrCannotRefresh) {
					return errors.New("want ErrCannotRefresh, got " + err.Error())
				}
				return err
			}, bitrix24.ClassAuth, 0, "-"},
		{"cancelled while slow", fakeportal.Config{}, func(e env) { e.p.Delay(time.Hour) },
			func(ctx context.Context, e env) error {
				// The portal never answers; the caller's deadline ends the call.
				ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				err := e.oauth.SessionOperator(ctx, 1777)
				if !errors.Is(err, context.DeadlineExceeded) {
					return errors.New("want context.DeadlineExceeded, got " + err.Error())
				}
				return err
			}, bitrix24.ClassTransient, 0, "-"},
		{"bad method name", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error {
				_, err := e.hook.Call(ctx, "../../oauth/token", nil)
				return err
			},
			bitrix24.ClassPermanent, 0, "-"},
		{"params not an object", fakeportal.Config{}, nil,
			func(ctx context.Context, e env) error {
				_, err := e.oauth.Call(ctx, "imbot.message.add", []int{1})
				return err
			},
			bitrix24.ClassPermanent, 0, "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startPortal(t, tc.cfg)
			oauth, _ := oauthClient(t, p, nil)
			e := env{p: p, oauth: oauth, hook: webhookClient(t, p, "olbot-key")}
			ctx := context.Background()
			// Both the OAuth app and the webhook key own a bot.
			if _, err := oauth.Register(ctx, bitrix24.RegisterParams{Code: "app-bot", EventHandler: "https://bot.example/h", Properties: bitrix24.BotProperties{Name: "A"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.hook.Register(ctx, bitrix24.RegisterParams{Code: "hook-bot", EventHandler: "https://bot.example/h", Properties: bitrix24.BotProperties{Name: "H"}}); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(e)
			}
			err := tc.call(ctx, e)
			if err == nil {
				t.Fatal("call succeeded, want an error")
			}
			if got := bitrix24.Classify(err); got != tc.wantClass {
				t.Errorf("Classify(%v)=%v, want %v", err, got, tc.wantClass)
			}
			var ae *bitrix24.APIError
			isAPI := errors.As(err, &ae)
			switch {
			case tc.wantStatus == 0 && isAPI:
				t.Errorf("err=%v is an *APIError, want another error", err)
			case tc.wantStatus != 0 && !isAPI:
				t.Errorf("err=%T %v, want *APIError", err, err)
			case isAPI && (ae.Status != tc.wantStatus || (tc.wantCode != "-" && ae.Code != tc.wantCode)):
				t.Errorf("APIError status=%d code=%q, want %d %q", ae.Status, ae.Code, tc.wantStatus, tc.wantCode)
			}
			if strings.Contains(err.Error(), "fakewebhooksecret") || strings.Contains(err.Error(), "fake-access") {
				t.Errorf("error leaks a secret: %v", err)
			}
		})
	}
}

func TestClientRefreshesExpiredToken(t *testing.T) {
	p := startPortal(t, fakeportal.Config{})
	var stored []bitrix24.Token
	c, ts := oauthClient(t, p, func(_ context.Context, tok bitrix24.Token) error {
		stored = append(stored, tok)
		return nil
	})
	ctx := context.Background()
	oldAccess, oldRefresh := p.Tokens()
	p.ExpireTokens()
	if err := c.SessionOperator(ctx, 1777); err != nil {
		t.Fatalf("SessionOperator after expiry: %v", err)
	}
	newAccess, newRefresh := p.Tokens()
	if newAccess == oldAccess || newRefresh == oldRefresh {
		t.Fatalf("portal did not issue new tokens")
	}
	var got []string
	for _, call := range p.Calls() {
		got = append(got, call.Method+" "+call.Error)
	}
	want := []string{"imopenlines.bot.session.operator expired_token", "oauth/token ", "imopenlines.bot.session.operator "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("calls=%q, want %q", got, want)
	}
	if calls := p.Calls(); calls[2].Str("auth") != newAccess || calls[1].Str("refresh_token") != oldRefresh {
		t.Errorf("retry used token %q (want %q); refresh sent %q (want %q)", calls[2].Str("auth"), newAccess, calls[1].Str("refresh_token"), oldRefresh)
	}
	cur := ts.Current()
	if cur.AccessToken != newAccess || cur.RefreshToken != newRefresh || cur.MemberID != p.Config().MemberID || cur.Expiry.IsZero() {
		t.Errorf("Current()=%+v", cur)
	}
	if len(stored) != 1 || stored[0].AccessToken != newAccess || stored[0].RefreshToken != newRefresh {
		t.Errorf("OnRefresh got %+v, want the new pair once", stored)
	}
	// The rotated refresh token is dead: refreshing with it fails permanently.
	stale, err := bitrix24.NewOAuthTokens(bitrix24.OAuthConfig{ClientID: p.Config().ClientID, ClientSecret: p.Config().ClientSecret, TokenURL: p.TokenURL()},
		bitrix24.Token{AccessToken: oldAccess, RefreshToken: oldRefresh})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stale.Refresh(ctx, oldAccess)
	var ae *bitrix24.APIError
	if !errors.As(err, &ae) || ae.Code != "invalid_grant" || bitrix24.Classify(err) != bitrix24.ClassAuth {
		t.Fatalf("refresh with a used refresh token: %v (class %v), want invalid_grant/auth", err, bitrix24.Classify(err))
	}
}

func TestClientRefreshFailures(t *testing.T) {
	tests := []struct {
		name      string
		secret    string
		refresh   string
		wantCode  string
		wantClass bitrix24.Class
	}{
		{"wrong client secret", "nope", "", "invalid_client", bitrix24.ClassAuth},
		{"unknown refresh token", "", "fake-refresh-999", "invalid_grant", bitrix24.ClassAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startPortal(t, fakeportal.Config{})
			cfg := p.Config()
			access, refresh := p.Tokens()
			if tc.secret == "" {
				tc.secret = cfg.ClientSecret
			}
			if tc.refresh == "" {
				tc.refresh = refresh
			}
			ts, err := bitrix24.NewOAuthTokens(bitrix24.OAuthConfig{ClientID: cfg.ClientID, ClientSecret: tc.secret, TokenURL: p.TokenURL()},
				bitrix24.Token{AccessToken: access, RefreshToken: tc.refresh})
			if err != nil {
				t.Fatal(err)
			}
			c, err := bitrix24.NewOAuth(p.Endpoint(), ts)
			if err != nil {
				t.Fatal(err)
			}
			p.ExpireTokens()
			err = c.SessionOperator(context.Background(), 1777)
			var ae *bitrix24.APIError
			if !errors.As(err, &ae) || ae.Code != tc.wantCode {
				t.Fatalf("err=%v, want %s", err, tc.wantCode)
			}
			if got := bitrix24.Classify(err); got != tc.wantClass {
				t.Fatalf("Classify=%v, want %v", got, tc.wantClass)
			}
			if strings.Contains(err.Error(), tc.secret) && tc.secret != "" {
				t.Errorf("error leaks the client secret: %v", err)
			}
		})
	}
}

func TestConcurrentRefreshHappensOnce(t *testing.T) {
	p := startPortal(t, fakeportal.Config{})
	c, _ := oauthClient(t, p, nil)
	p.ExpireTokens()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.SessionOperator(context.Background(), 5000+i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call failed: %v", err)
		}
	}
	if n := len(p.CallsOf("oauth/token")); n != 1 {
		t.Fatalf("%d token refreshes, want 1", n)
	}
}

func TestProactiveRefresh(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := startPortal(t, fakeportal.Config{Now: func() time.Time { return now }})
	cfg := p.Config()
	access, refresh := p.Tokens()
	ts, err := bitrix24.NewOAuthTokens(bitrix24.OAuthConfig{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: p.TokenURL(),
		Now: func() time.Time { return now }},
		bitrix24.Token{AccessToken: access, RefreshToken: refresh, Expiry: now.Add(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok == access {
		t.Fatal("a token 30 s from expiry was used instead of refreshed")
	}
	if want := now.Add(time.Hour); !ts.Current().Expiry.Equal(want) {
		t.Fatalf("Expiry=%v, want %v", ts.Current().Expiry, want)
	}
	again, _ := ts.Token(context.Background())
	if again != tok || len(p.CallsOf("oauth/token")) != 1 {
		t.Fatalf("second Token() refreshed again")
	}
}

func TestPortalRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := startPortal(t, fakeportal.Config{Burst: 3, Rate: 1, Now: clock})
	c := webhookClient(t, p, "k")
	ctx := context.Background()
	for i := range 3 {
		if err := c.SessionOperator(ctx, 100+i); err != nil {
			t.Fatalf("call %d within burst: %v", i+1, err)
		}
	}
	err := c.SessionOperator(ctx, 200)
	var ae *bitrix24.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.Code != "QUERY_LIMIT_EXCEEDED" || bitrix24.Classify(err) != bitrix24.ClassTransient {
		t.Fatalf("4th call: %v, want 503 QUERY_LIMIT_EXCEEDED (transient)", err)
	}
	// A client-side limiter with the same numbers spaces calls instead.
	lim := bitrix24.NewLimiter(bitrix24.LimiterConfig{Burst: 3, Rate: 1, Now: clock})
	if d := lim.Delay("p"); d != 0 {
		t.Fatalf("fresh limiter Delay=%v", d)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if err := c.SessionOperator(ctx, 201); err != nil {
		t.Fatalf("after 1 s drained: %v", err)
	}
}

func TestBatch(t *testing.T) {
	for _, mode := range []string{"oauth", "webhook"} {
		t.Run(mode, func(t *testing.T) {
			p := startPortal(t, fakeportal.Config{StringIDs: mode == "webhook"})
			var c *bitrix24.Client
			if mode == "oauth" {
				c, _ = oauthClient(t, p, nil)
			} else {
				c = webhookClient(t, p, "olbot-key")
			}
			ctx := context.Background()
			botID, err := c.Register(ctx, bitrix24.RegisterParams{Code: "olbot", EventHandler: "https://bot.example/h", Properties: bitrix24.BotProperties{Name: "O"}})
			if err != nil {
				t.Fatal(err)
			}
			p.Reset()
			res, err := c.Batch(ctx, []bitrix24.BatchCall{
				bitrix24.MessageAddRequest("chat1777", botID, "Pick [B]one[/B] & go", []string{"Yes, please", "No"}, true),
				bitrix24.MessageAddRequest("chat1777", botID, "", nil, false),
				bitrix24.SessionOperatorRequest(1777),
				bitrix24.LeadAddRequest(map[string]string{"name": "Ivan", "email": "ivan@example.com"}),
				bitrix24.SessionOperatorRequest(1777), // now WRONG_CHAT
			})
			if err != nil {
				t.Fatalf("Batch: %v", err)
			}
			if len(res) != 5 {
				t.Fatalf("%d results, want 5", len(res))
			}
			if id, err := bitrix24.ParseID(res[0].Result); err != nil || res[0].Err != nil || id <= 0 {
				t.Errorf("result 0: %s %v", res[0].Result, res[0].Err)
			}
			var ae *bitrix24.APIError
			if !errors.As(res[1].Err, &ae) || ae.Code != "MESSAGE_EMPTY" || ae.Method != bitrix24.MethodMessageAdd || bitrix24.Classify(res[1].Err) != bitrix24.ClassPermanent {
				t.Errorf("result 1 err=%v, want MESSAGE_EMPTY", res[1].Err)
			}
			if res[2].Err != nil || string(res[2].Result) != "true" {
				t.Errorf("result 2: %s %v", res[2].Result, res[2].Err)
			}
			if id, err := bitrix24.ParseID(res[3].Result); err != nil || p.Lead(id)["NAME"] != "Ivan" {
				t.Errorf("result 3: %s %v", res[3].Result, err)
			}
			if bitrix24.Classify(res[4].Err) != bitrix24.ClassDone {
				t.Errorf("result 4 err=%v, want WRONG_CHAT (done)", res[4].Err)
			}
			// One HTTP request; sub-calls ran in order with the params intact through the form encoding.
			calls := p.Calls()
			var methods []string
			for _, call := range calls {
				methods = append(methods, call.Batch+":"+call.Method)
			}
			want := "c0:imbot.message.add c1:imbot.message.add c2:imopenlines.bot.session.operator c3:crm.lead.add c4:imopenlines.bot.session.operator :batch"
			if strings.Join(methods, " ") != want {
				t.Fatalf("calls=%v, want %s", methods, want)
			}
			msgs := p.Messages("chat1777")
			if len(msgs) != 1 || msgs[0].Text != "Pick [B]one[/B] & go[BR][SEND=1]1. Yes, please[/SEND][BR][SEND=2]2. No[/SEND]" {
				t.Fatalf("messages=%+v", msgs)
			}
			kb, _ := json.Marshal(msgs[0].Keyboard)
			if !strings.Contains(string(kb), `"ACTION_VALUE":"Yes, please"`) {
				t.Errorf("keyboard lost in the batch encoding: %s", kb)
			}
			wantCID := ""
			if mode == "webhook" {
				wantCID = "olbot-key"
			}
			if calls[0].Str("CLIENT_ID") != wantCID || calls[3].Str("CLIENT_ID") != "" {
				t.Errorf("CLIENT_ID: message.add %q (want %q), crm %q (want none)", calls[0].Str("CLIENT_ID"), wantCID, calls[3].Str("CLIENT_ID"))
			}
		})
	}
}

func TestBatchLimitsAndFailures(t *testing.T) {
	p := startPortal(t, fakeportal.Config{})
	c, _ := oauthClient(t, p, nil)
	ctx := context.Background()
	calls := make([]bitrix24.BatchCall, bitrix24.MaxBatch+1)
	for i := range calls {
		calls[i] = bitrix24.SessionOperatorRequest(i + 1)
	}
	if _, err := c.Batch(ctx, calls); !errors.Is(err, bitrix24.ErrInvalidRequest) {
		t.Fatalf("51 calls: err=%v, want ErrInvalidRequest", err)
	}
	if n := len(p.Calls()); n != 0 {
		t.Fatalf("%d calls reached the portal", n)
	}
	res, err := c.Batch(ctx, calls[:bitrix24.MaxBatch])
	if err != nil || len(res) != bitrix24.MaxBatch {
		t.Fatalf("50 calls: %d results, %v", len(res), err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("sub-call %d: %v", i, r.Err)
		}
	}
	p.QueryLimitBurst(1)
	_, err = c.Batch(ctx, calls[:2])
	if bitrix24.Classify(err) != bitrix24.ClassTransient {
		t.Fatalf("limited batch: %v, want transient", err)
	}
	if res, err := c.Batch(ctx, nil); res != nil || err != nil {
		t.Fatalf("empty batch=%v,%v", res, err)
	}
}

func TestEscapedTextStaysText(t *testing.T) {
	p := startPortal(t, fakeportal.Config{})
	c, _ := oauthClient(t, p, nil)
	ctx := context.Background()
	if _, err := c.Register(ctx, bitrix24.RegisterParams{Code: "o", EventHandler: "https://b.example/h", Properties: bitrix24.BotProperties{Name: "O"}}); err != nil {
		t.Fatal(err)
	}
	client := "[URL=https://evil.example]win[/URL] [SEND=0]0[/SEND]"
	if _, err := c.MessageAdd(ctx, "chat5", 0, "You said: "+bitrix24.EscapeBB(client), nil, false); err != nil {
		t.Fatal(err)
	}
	got := p.Messages("chat5")[0].Text
	if strings.Contains(got, "[URL=") || strings.Contains(got, "[SEND=") {
		t.Fatalf("client text formed a BB-code: %q", got)
	}
	if strings.ReplaceAll(got, "\u200b", "") != "You said: "+client {
		t.Fatalf("text changed beyond the zero-width spaces: %q", got)
	}
}

func TestRequestHeaders(t *testing.T) {
	p := fakeportal.New(fakeportal.Config{Burst: -1})
	var mu sync.Mutex
	var seen []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		if r.Method != http.MethodPost {
			t.Errorf("method=%s, want POST", r.Method)
		}
		p.ServeHTTP(w, r)
	}))
	defer srv.Close()
	p.SetBaseURL(srv.URL)
	c, err := bitrix24.NewWebhook(p.WebhookURL(), "k", bitrix24.WithUserAgent("olbot-test/1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SessionOperator(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	h := seen[0]
	if h.Get("Content-Type") != "application/json" || h.Get("Accept") != "application/json" || h.Get("User-Agent") != "olbot-test/1" {
		t.Fatalf("headers=%v", h)
	}
}

// TestConnectionsReused: the outbox sends up to 8 requests to a portal at
// once, round after round; the default client keeps their connections
// open between rounds instead of closing all but net/http's default 2 (and
// opening them again, a TLS handshake each against a real portal).
func TestConnectionsReused(t *testing.T) {
	const rounds, concurrent = 20, 8
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, p *fakeportal.Portal) *bitrix24.Client
	}{
		{"webhook", func(t *testing.T, p *fakeportal.Portal) *bitrix24.Client { return webhookClient(t, p, "k") }},
		{"oauth", func(t *testing.T, p *fakeportal.Portal) *bitrix24.Client { c, _ := oauthClient(t, p, nil); return c }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fakeportal.New(fakeportal.Config{Burst: -1})
			var mu sync.Mutex
			opened := 0
			srv := httptest.NewUnstartedServer(p)
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					mu.Lock()
					opened++
					mu.Unlock()
				}
			}
			srv.Start()
			defer srv.Close()
			p.SetBaseURL(srv.URL)
			c := tc.setup(t, p)
			for r := range rounds {
				var wg sync.WaitGroup
				errs := make(chan error, concurrent)
				for i := range concurrent {
					wg.Go(func() { errs <- c.SessionOperator(context.Background(), r*concurrent+i+1) })
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			// every round opening 6 anew (net/http's 2 idle per host) would
			// be 8 + 19×6 = 122; a connection handed back a moment after its
			// request returned may make a round open one or two more
			if opened > 2*concurrent {
				t.Fatalf("%d connections opened for %d rounds of %d concurrent calls, want at most %d", opened, rounds, concurrent, 2*concurrent)
			}
		})
	}
}
