package server

// Browser-origin protection (issue 17, guard.go): what a foreign web page
// can send to a loopback olbot without a CORS preflight is refused, and
// what olbot's own page, curl, the CLI and the portal send still works.
//
//	go test ./server -run 'TestOrigin|TestEveryPostRoute' -v

import (
	"net/http"
	"strings"
	"testing"

	"github.com/olbot/olbot/bitrix24"
)

func TestOriginProtection(t *testing.T) {
	const token = "origin-app-token"
	servers := map[string]*hostile{
		"loopback":    newHostile(t, Config{Bitrix24: Bitrix24Config{AppToken: token}}, false),
		"public host": newHostile(t, Config{PublicHost: "bot.example.com", Bitrix24: Bitrix24Config{AppToken: token}}, false),
		"all interfaces": newHostile(t, Config{Listen: "0.0.0.0:8080", AdminToken: "adm",
			Bitrix24: Bitrix24Config{AppToken: token}}, false),
	}
	portal := newHostileChat(token, 1, 7601, bitrix24.User{FirstName: "Anna"})
	const event = `{"dialog":"origin-1","line":1,"type":"start"}`
	const local = "127.0.0.1:8080"
	form := "application/x-www-form-urlencoded"
	tests := []struct {
		name, server                  string
		method, path, contentType     string
		host, origin, fetchSite, auth string
		body                          string
		status                        int
		field                         string // the field a refusal names
	}{
		// what a foreign page sends without a preflight
		{name: "cross-site form post", method: "POST", path: "/v1/events", contentType: form, host: local, origin: "http://evil.example", fetchSite: "cross-site", body: "dialog=x&type=start", status: 403, field: "Origin"},
		{name: "cross-site form post, Origin only", method: "POST", path: "/v1/events", contentType: form, host: local, origin: "http://evil.example", body: "dialog=x&type=start", status: 403, field: "Origin"},
		{name: "cross-site JSON post (fetch no-cors)", method: "POST", path: "/v1/events", contentType: "text/plain", host: local, origin: "http://evil.example", fetchSite: "cross-site", body: event, status: 403, field: "Origin"},
		{name: "same-site page on another port", method: "POST", path: "/v1/events", contentType: "application/json", host: local, origin: "http://127.0.0.1:3000", fetchSite: "same-site", body: event, status: 403, field: "Origin"},
		{name: "cross-site reload without a body", method: "POST", path: "/v1/scenarios/reload", host: local, origin: "http://evil.example", fetchSite: "cross-site", status: 403, field: "Origin"},
		{name: "cross-site playground event", method: "POST", path: "/playground/api/dialogs/s1/events", contentType: "application/json", host: local, origin: "http://evil.example", fetchSite: "cross-site", body: `{"scenario":"support","type":"start"}`, status: 403, field: "Origin"},
		{name: "text/plain JSON post", method: "POST", path: "/v1/events", contentType: "text/plain", host: local, body: event, status: 415, field: "Content-Type"},
		{name: "text/plain JSON post, charset", method: "POST", path: "/v1/events", contentType: "text/plain;charset=UTF-8", host: local, body: event, status: 415, field: "Content-Type"},
		{name: "JSON post without Content-Type", method: "POST", path: "/v1/events", host: local, body: event, status: 415, field: "Content-Type"},
		{name: "form post to /v1/events", method: "POST", path: "/v1/events", contentType: form, host: local, body: "dialog=x&type=start", status: 415, field: "Content-Type"},
		{name: "multipart post to /v1/events", method: "POST", path: "/v1/events", contentType: "multipart/form-data; boundary=x", host: local, body: "--x\r\n\r\n--x--\r\n", status: 415, field: "Content-Type"},
		{name: "multipart post to /bitrix24/events", method: "POST", path: "/bitrix24/events", contentType: "multipart/form-data; boundary=x", host: local, body: "--x\r\n\r\n--x--\r\n", status: 415, field: "Content-Type"},
		{name: "text/plain playground event", method: "POST", path: "/playground/api/dialogs/s1/events", contentType: "text/plain", host: local, body: `{"scenario":"support","type":"start"}`, status: 415, field: "Content-Type"},
		{name: "form post to reload", method: "POST", path: "/v1/scenarios/reload", contentType: form, host: local, body: "a=b", status: 415, field: "Content-Type"},
		{name: "text/plain scenario check", method: "POST", path: "/v1/scenarios/check?file=support.yaml", contentType: "text/plain", host: local, body: "name: support\n", status: 415, field: "Content-Type"},
		{name: "JSON scenario check", method: "POST", path: "/v1/scenarios/check?file=support.yaml", contentType: "application/json", host: local, body: "{}", status: 415, field: "Content-Type"},
		// DNS rebinding: a page under its own name resolving to 127.0.0.1
		{name: "rebinding Host reads a dialog", method: "GET", path: "/v1/dialogs/origin-1", host: "evil.example:8080", status: 403, field: "Host"},
		{name: "rebinding Host reads the scenarios", method: "GET", path: "/playground/api/scenarios", host: "evil.example", status: 403, field: "Host"},
		{name: "rebinding Host posts an event", method: "POST", path: "/v1/events", contentType: "application/json", host: "evil.example:8080", origin: "http://evil.example:8080", fetchSite: "same-origin", body: event, status: 403, field: "Host"},
		{name: "rebinding Host loads the page", method: "GET", path: "/", host: "evil.example:8080", status: 403, field: "Host"},
		{name: "a subdomain of localhost", method: "GET", path: "/v1/scenarios", host: "evil.localhost:8080", status: 403, field: "Host"},
		{name: "public host not configured", server: "loopback", method: "GET", path: "/v1/scenarios", host: "bot.example.com", status: 403, field: "Host"},
		{name: "another host than the public one", server: "public host", method: "GET", path: "/v1/scenarios", host: "evil.example", status: 403, field: "Host"},

		// what must keep working
		{name: "same-origin browser fetch", method: "POST", path: "/v1/events", contentType: "application/json", host: local, origin: "http://" + local, fetchSite: "same-origin", body: event, status: 200},
		{name: "same-origin fetch, Origin only", method: "POST", path: "/v1/events", contentType: "application/json", host: "localhost:8080", origin: "http://localhost:8080", body: `{"dialog":"origin-2","line":1,"type":"start"}`, status: 200},
		{name: "curl without Origin", method: "POST", path: "/v1/events", contentType: "application/json", host: local, body: `{"dialog":"origin-3","line":1,"type":"start"}`, status: 200},
		{name: "JSON with a charset", method: "POST", path: "/v1/events", contentType: "application/json; charset=utf-8", host: local, body: `{"dialog":"origin-4","line":1,"type":"start"}`, status: 200},
		{name: "IPv6 loopback", method: "POST", path: "/v1/events", contentType: "application/json", host: "[::1]:8080", body: `{"dialog":"origin-5","line":1,"type":"start"}`, status: 200},
		{name: "the portal's form post", method: "POST", path: "/bitrix24/events", contentType: form, host: local, body: portal.join().Encode(), status: 200},
		{name: "playground event from the page", method: "POST", path: "/playground/api/dialogs/s1/events", contentType: "application/json", host: local, origin: "http://" + local, fetchSite: "same-origin", body: `{"scenario":"support","type":"start"}`, status: 200},
		{name: "the page", method: "GET", path: "/", host: "localhost:8080", status: 200},
		{name: "a cross-site GET (the answer stays unreadable to the page)", method: "GET", path: "/v1/scenarios", host: local, origin: "http://evil.example", fetchSite: "cross-site", status: 200},
		{name: "scenario check, application/yaml", method: "POST", path: "/v1/scenarios/check?file=support.yaml", contentType: "application/yaml", host: local, body: "name: x\nstart: a\nstates:\n  a:\n    say: hi\n    finish: true\n", status: 200},
		{name: "scenario check, text/yaml", method: "POST", path: "/v1/scenarios/check?file=support.yaml", contentType: "text/yaml", host: local, body: "name: x\nstart: a\nstates:\n  a:\n    say: hi\n    finish: true\n", status: 200},
		{name: "/healthz with a foreign Host", method: "GET", path: "/healthz", host: "evil.example", status: 200},
		{name: "/readyz with a foreign Host", method: "GET", path: "/readyz", host: "10.0.0.7:8080", status: 503}, // unopened: not ready, but answered
		{name: "/metrics with a foreign Host", method: "GET", path: "/metrics", host: "prometheus-target:8080", status: 200},
		{name: "the public host", server: "public host", method: "GET", path: "/v1/scenarios", host: "BOT.example.com:443", status: 200},
		{name: "the public host's page behind a Host-rewriting proxy", server: "public host", method: "POST", path: "/v1/events", contentType: "application/json", host: local, origin: "https://bot.example.com", fetchSite: "cross-site", body: `{"dialog":"origin-6","line":1,"type":"start"}`, status: 200},
		{name: "any Host off loopback (the admin token guards)", server: "all interfaces", method: "GET", path: "/v1/scenarios", host: "bot.example.net", auth: "Bearer adm", status: 200},
		{name: "cross-site off loopback", server: "all interfaces", method: "POST", path: "/v1/events", contentType: "application/json", host: "bot.example.net", origin: "http://evil.example", fetchSite: "cross-site", auth: "Bearer adm", body: event, status: 403, field: "Origin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.server == "" {
				tc.server = "loopback"
			}
			h := servers[tc.server]
			hdr := http.Header{"Host": {tc.host}}
			for k, v := range map[string]string{"Origin": tc.origin, "Sec-Fetch-Site": tc.fetchSite, "Authorization": tc.auth} {
				if v != "" {
					hdr.Set(k, v)
				}
			}
			rec := h.do(tc.method, tc.path, tc.contentType, strings.NewReader(tc.body), hdr)
			if tc.path == "/" || tc.path == "/metrics" || tc.path == "/readyz" { // not the API's JSON answers
				if rec.Code != tc.status {
					t.Fatalf("status %d %s, want %d", rec.Code, rec.Body.Bytes(), tc.status)
				}
				return
			}
			m := answer(t, rec, tc.status)
			if tc.status < 400 {
				return
			}
			if m["field"] != tc.field {
				t.Fatalf("field %v, want %q: %s", m["field"], tc.field, rec.Body.Bytes())
			}
			want := map[int]string{403: EForbidden, 415: EMediaType}[tc.status]
			if want != "" && m["code"] != want {
				t.Fatalf("code %v, want %q", m["code"], want)
			}
		})
	}
	// the refused posts changed nothing
	if rev := servers["loopback"].rev("api:x"); rev != 0 {
		t.Fatalf("api:x: rev %d after refused posts", rev)
	}
}

// TestEveryPostRoute: every state-changing route refuses the bodies a page
// can send without a preflight, unless it is the portal's form route; a
// route added later without accepts() fails here.
func TestEveryPostRoute(t *testing.T) {
	h := newHostile(t, Config{}, false)
	simple := []string{"text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"}
	formOK := map[string]bool{"/bitrix24/events": true, "/v1/noop": true} // the portal's, and the load tool's baseline that does nothing
	n := 0
	for _, r := range h.s.echo.Routes() {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			continue
		}
		n++
		path := strings.NewReplacer(":id", "x", ":session", "s1", ":scenario", "support").Replace(r.Path)
		for _, ct := range simple {
			if formOK[r.Path] && ct == "application/x-www-form-urlencoded" {
				continue
			}
			t.Run(r.Method+" "+r.Path+" "+ct, func(t *testing.T) {
				rec := h.do(r.Method, path, ct, strings.NewReader("a=b"), nil)
				m := answer(t, rec, http.StatusUnsupportedMediaType)
				if m["field"] != "Content-Type" {
					t.Fatalf("field %v, want Content-Type", m["field"])
				}
			})
		}
	}
	if n < 6 {
		t.Fatalf("%d state-changing routes found; the walk does not see the routes", n)
	}
}
