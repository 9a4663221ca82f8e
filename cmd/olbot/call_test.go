package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChatAndCheckCalls: olbot chat --config makes the real call (the
// header from the environment reaches the endpoint, and is printed
// nowhere), without a config it says which call would be made; olbot
// check --config knows the endpoints.
func TestChatAndCheckCalls(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		if r.URL.EscapedPath() != "/api/orders/12%2F3" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"status":"shipped","delivery":{"eta":"2 days"}}`)
	}))
	defer srv.Close()
	t.Setenv("CHATTEST_TOKEN", "tok-9f8e7d")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "olbot.yaml")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg, fmt.Sprintf("endpoints:\n  shop:\n    url: %s/api\n    headers: {Authorization: \"Bearer ${CHATTEST_TOKEN}\"}\n    allow_loopback: true\n", srv.URL))
	other := filepath.Join(dir, "other.yaml")
	write(other, "endpoints:\n  crm: {url: https://crm.example.com}\n")
	in := "where is my order\n12/3\n"
	shop := filepath.Join("..", "..", "examples", "shop.yaml")

	code, out, errs := runCmd(t, in, "chat", "--at", "2027-01-04T12:00", "--config", cfg, shop)
	if code != 0 || !strings.Contains(out, "bot> Order 12/3 is on its way and arrives in 2 days.") || auth != "Bearer tok-9f8e7d" {
		t.Errorf("chat with --config: %d auth %q\n%s%s", code, auth, out, errs)
	}
	if strings.Contains(out+errs, "tok-9f8e7d") {
		t.Errorf("the secret is printed:\n%s%s", out, errs)
	}
	code, out, _ = runCmd(t, in, "chat", "--at", "2027-01-04T12:00", shop)
	if code != 0 || !strings.Contains(out, `endpoint "shop" is not configured: GET shop/orders/12%2F3 was not called`) || !strings.Contains(out, "bot> I cannot check order 12/3 right now.") {
		t.Errorf("chat without --config:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"check", "--config", cfg, shop}, 0, "ok "},
		{[]string{"check", "--config", other, shop}, 1, `error: states.lookup_order.call: unknown endpoint "shop": the configuration has no endpoints.shop`},
		{[]string{"check", shop}, 0, `warning: states.lookup_order.call: endpoint "shop" is not checked: no configuration given`},
	} {
		code, out, errs := runCmd(t, "", tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.want, out, errs)
		}
	}
}
