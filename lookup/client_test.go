package lookup

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/engine"
)

// fixedResolver answers every host with the same addresses.
type fixedResolver []netip.Addr

func (r fixedResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return r, nil
}

func parse(t testing.TB, src string) Endpoints {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	eps, err := Parse("olbot.yaml", n.Content[0])
	if err != nil {
		t.Fatal(err)
	}
	return eps
}

func TestClientPolicy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"path":%q}`, r.URL.EscapedPath())
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	loop := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name     string
		url      string
		loopback bool
		resolver fixedResolver
		build    string // an error of NewClient
		call     string // an error of the call
	}{
		{name: "an IP literal on loopback, allowed", url: srv.URL, loopback: true},
		{name: "loopback without allow_loopback", url: srv.URL, build: "loopback"},
		{name: "a host name that resolved to the address", url: "http://localhost:" + port, loopback: true, resolver: fixedResolver{loop, netip.IPv6Loopback()}},
		// DNS rebinding: at start the host resolved to 127.0.0.2; when
		// connecting, "localhost" is 127.0.0.1, an address it never had
		{name: "a host name that now resolves elsewhere", url: "http://localhost:" + port, loopback: true, resolver: fixedResolver{netip.MustParseAddr("127.0.0.2")}, call: "not an address localhost resolved to at start"},
		{name: "link-local (cloud metadata) never", url: "http://169.254.169.254", loopback: true, build: "link-local"},
		{name: "unspecified never", url: "http://0.0.0.0:" + port, loopback: true, build: "unspecified"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eps := parse(t, fmt.Sprintf("shop: {url: %q, allow_loopback: %v}", tc.url, tc.loopback))
			c, err := NewClient(context.Background(), eps, tc.resolver)
			if tc.build != "" {
				if err == nil || !strings.Contains(err.Error(), tc.build) {
					t.Fatalf("NewClient err = %v, want %q", err, tc.build)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := c.Do(context.Background(), engine.PendingCall{Seq: 1, Endpoint: "shop", Method: "GET", Path: "/orders/1", Timeout: 5 * time.Second})
			if tc.call != "" {
				if !strings.Contains(a.Error, tc.call) || a.Status != 0 {
					t.Fatalf("answer %+v, want the error %q", a, tc.call)
				}
				return
			}
			if a.Error != "" || a.Status != 200 || string(a.Body) != `{"path":"/orders/1"}` {
				t.Fatalf("answer %+v %s", a, a.Body)
			}
		})
	}
}

func TestPathStaysOnTheEndpoint(t *testing.T) {
	eps := parse(t, `shop: {url: "http://127.0.0.1:9/api", allow_loopback: true}`)
	c, err := NewClient(context.Background(), eps, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"@evil.example/x", "x@evil.example"} {
		a := c.Do(context.Background(), engine.PendingCall{Endpoint: "shop", Method: "GET", Path: p, Timeout: time.Second})
		if a.Status != 0 || a.Error == "" || strings.Contains(a.Error, "evil") && !strings.Contains(a.Error, "leaves") && !strings.Contains(a.Error, "refused") {
			t.Errorf("path %q: %+v", p, a)
		}
	}
	a := c.Do(context.Background(), engine.PendingCall{Endpoint: "other", Method: "GET", Path: "/x"})
	if !strings.Contains(a.Error, "not configured") {
		t.Errorf("an endpoint not configured: %+v", a)
	}
}

func TestParseAndExpand(t *testing.T) {
	bad := []struct{ src, want string }{
		{`shop: {url: "https://x/${TOKEN}"}`, "secrets in headers"},
		{`shop: {url: "ftp://x"}`, "http:// or https://"},
		{`shop: {url: "https://u:p@x"}`, "credentials"},
		{`shop: {url: "https://x", retries: 2}`, `unknown key "retries"`},
		{`shop: {}`, "url is missing"},
		{`"a b": {url: "https://x"}`, "not an endpoint name"},
		{`shop: {url: "https://x", headers: {"A B": x}}`, "not a header name"},
	}
	for _, tc := range bad {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tc.src), &n); err != nil {
			t.Fatal(err)
		}
		_, err := Parse("olbot.yaml", n.Content[0])
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "olbot.yaml:1") {
			t.Errorf("%s: err = %v, want %q with the position", tc.src, err, tc.want)
		}
	}
	eps := parse(t, `shop: {url: "https://x", headers: {Authorization: "Bearer ${TOKEN}", X-Key: "${A}-${B}"}}`)
	env := map[string]string{"TOKEN": "t0k", "A": "1", "B": "2"}
	if err := eps.Expand(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if h := eps["shop"].Headers; h["Authorization"] != "Bearer t0k" || h["X-Key"] != "1-2" {
		t.Errorf("headers %v", h)
	}
	eps = parse(t, `shop: {url: "https://x", headers: {Authorization: "Bearer ${NOPE}"}}`)
	err := eps.Expand(func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "NOPE is not set") {
		t.Errorf("err = %v", err)
	}
}
