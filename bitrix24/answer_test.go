package bitrix24

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestOddAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		wantResult string
		wantErr    error // matched with errors.Is; nil with wantAPI set means *APIError
		wantAPI    *APIError
		wantClass  Class
	}{
		{"ok", 200, nil, `{"result":86320,"time":{"start":1}}`, "86320", nil, nil, ClassOK},
		{"ok string id", 200, nil, `{"result":"86320"}`, `"86320"`, nil, nil, ClassOK},
		{"html maintenance page", 200, nil, `<html>maintenance</html>`, "", ErrBadResponse, nil, ClassTransient},
		{"no result", 200, nil, `{"time":{}}`, "", ErrBadResponse, nil, ClassTransient},
		{"error with 200", 200, nil, `{"error":"WRONG_REQUEST","error_description":"x"}`, "", nil,
			&APIError{Status: 200, Code: "WRONG_REQUEST", Description: "x", Method: "m.x"}, ClassPermanent},
		{"crm style error", 400, nil, `{"error":"","error_description":"Not found"}`, "", nil,
			&APIError{Status: 400, Description: "Not found", Method: "m.x"}, ClassPermanent},
		{"retry after", 503, map[string]string{"Retry-After": "7"}, `{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}`, "", nil,
			&APIError{Status: 503, Code: "QUERY_LIMIT_EXCEEDED", Description: "Too many requests", Method: "m.x", RetryAfter: 7 * time.Second}, ClassTransient},
		{"proxy 504 html", 504, nil, `<html>timeout</html>`, "", nil,
			&APIError{Status: 504, Description: "Gateway Timeout", Method: "m.x"}, ClassTransient},
		{"error not a string", 400, nil, `{"error":{"code":1}}`, "", nil,
			&APIError{Status: 400, Method: "m.x"}, ClassPermanent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			c, err := NewWebhook(srv.URL+"/rest/1/secret/", "", WithHTTPClient(srv.Client()), WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Call(context.Background(), "m.x", nil)
			if got := Classify(err); got != tc.wantClass {
				t.Fatalf("Classify(%v)=%v, want %v", err, got, tc.wantClass)
			}
			if string(res) != tc.wantResult {
				t.Errorf("result=%s, want %s", res, tc.wantResult)
			}
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("err=%v, want %v", err, tc.wantErr)
			case tc.wantAPI != nil:
				var ae *APIError
				if !errors.As(err, &ae) || *ae != *tc.wantAPI {
					t.Errorf("err=%#v, want %#v", err, tc.wantAPI)
				}
			}
		})
	}
}

func TestNetworkErrorHidesSecret(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there now: connection refused
	c, err := NewWebhook(base+"/rest/1/topsecret/", "k", WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(context.Background(), "imbot.message.add", map[string]any{"DIALOG_ID": "chat1", "MESSAGE": "hi"})
	if err == nil || Classify(err) != ClassTransient {
		t.Fatalf("err=%v (class %v), want a transient network error", err, Classify(err))
	}
	var ue *url.Error
	if !errors.As(err, &ue) || strings.Contains(err.Error(), "topsecret") || !strings.Contains(err.Error(), "/rest/1/***/imbot.message.add") {
		t.Fatalf("err=%q: want the URL with the secret masked", err)
	}
}

func TestClipInErrors(t *testing.T) {
	long := strings.Repeat("ж", 100) // 2 bytes each
	_, err := ParseEvent(url.Values{"event": {"ONIMBOTMESSAGEADD"}, "data[PARAMS][DIALOG_ID]": {"chat1"}, "data[PARAMS][CHAT_ID]": {long}})
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("err=%v", err)
	}
	if !utf8.ValidString(fe.Msg) || !strings.Contains(fe.Msg, "…") || len(fe.Msg) > 100 {
		t.Fatalf("Msg=%q: want a short, valid UTF-8, clipped message", fe.Msg)
	}
}

func TestTokenFromAuth(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name string
		a    Auth
		want time.Time
	}{
		{"expires wins", Auth{AccessToken: "a", Expires: 1_800_001_000, ExpiresIn: 3600}, time.Unix(1_800_001_000, 0)},
		{"expires_in", Auth{AccessToken: "a", ExpiresIn: 3600}, now.Add(time.Hour)},
		{"unknown", Auth{AccessToken: "a"}, time.Time{}},
	}
	for _, tc := range tests {
		tc.a.RefreshToken, tc.a.ClientEndpoint, tc.a.MemberID, tc.a.Domain = "r", "https://p/rest/", "m", "p"
		got := TokenFromAuth(tc.a, now)
		want := Token{AccessToken: "a", RefreshToken: "r", Expiry: tc.want, ClientEndpoint: "https://p/rest/", MemberID: "m", Domain: "p"}
		if got != want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, want)
		}
	}
}

func TestLimiterForgetsIdlePortals(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := NewLimiter(LimiterConfig{Now: clk.Now})
	for i := range 70 {
		l.Allow(fmt.Sprintf("p%d", i))
	}
	clk.Advance(time.Minute)
	l.Allow("fresh")
	l.mu.Lock()
	n := len(l.buckets)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d buckets kept, want only the fresh one", n)
	}
}
