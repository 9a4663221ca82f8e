package bitrix24

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestNoRedirect: a portal that answers with a redirect gets the call
// failed, and the host it points at sees neither the token nor the body.
func TestNoRedirect(t *testing.T) {
	var stolen atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		_, _ = w.Write([]byte(`{"result":true}`))
	}))
	defer elsewhere.Close()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, status)
		}))
		c, err := NewOAuth(portal.URL+"/rest/", StaticToken("secret-token"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Call(context.Background(), MethodMessageAdd, map[string]any{"MESSAGE": "private"})
		if !errors.Is(err, ErrRedirect) || Classify(err) != ClassAuth {
			t.Errorf("HTTP %d: err %v (class %v), want ErrRedirect, ClassAuth", status, err, Classify(err))
		}
		_, err = Exchange(context.Background(), OAuthConfig{TokenURL: portal.URL + "/oauth/token/", ClientID: "a", ClientSecret: "s"}, "refresh")
		if !errors.Is(err, ErrRedirect) {
			t.Errorf("HTTP %d: token exchange err %v, want ErrRedirect", status, err)
		}
		portal.Close()
	}
	if n := stolen.Load(); n != 0 {
		t.Fatalf("the other host got %d requests", n)
	}
}
