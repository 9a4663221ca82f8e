package server

// Hostile input: each promise of the README about bad and malicious input
// gets a test that attacks it. Most requests go straight to Handler() of an
// unopened server; the slow-client tests and the secrets test need a real
// listener and the delivery worker.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/scenarios"
)

// hostile is an unopened server over the default scenarios with a memory
// store, logging at debug level into logs. Every answer body is kept.
type hostile struct {
	t      *testing.T
	s      *Replica
	store  *memstore.Store
	logs   *logBuf
	mu     sync.Mutex
	bodies [][]byte
}

func newHostile(t *testing.T, cfg Config, jsonLogs bool) *hostile {
	t.Helper()
	logs := &logBuf{}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var lh slog.Handler = slog.NewTextHandler(logs, opts)
	if jsonLogs {
		lh = slog.NewJSONHandler(logs, opts)
	}
	reg := scenarios.NewRegistry(defaultScenarios(t), nil)
	if res, err := reg.Reload(); err != nil || len(res.Problems) > 0 {
		t.Fatalf("scenarios: %v %v", err, res.Problems)
	}
	store := memstore.New()
	s := Assemble(t, cfg, Wiring{Store: store, Registry: reg, Logger: slog.New(lh)})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &hostile{t: t, s: s, store: store, logs: logs}
}

// do sends one request to the handler; header values may be "" to send none.
func (h *hostile) do(method, target, contentType string, body io.Reader, header http.Header) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, target, body)
	req.Host = "127.0.0.1:8080" // httptest's example.com is not served on loopback
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	rec := serveBounded(h.t, h.s.Handler(), req)
	h.mu.Lock()
	h.bodies = append(h.bodies, rec.Body.Bytes())
	h.mu.Unlock()
	return rec
}

func (h *hostile) post(form url.Values, query string) *httptest.ResponseRecorder {
	h.t.Helper()
	target := "/bitrix24/events"
	if query != "" {
		target += "?" + query
	}
	return h.do(http.MethodPost, target, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil)
}

// answer decodes a JSON answer, requiring the status; a 4xx must say what is wrong.
func answer(tb testing.TB, rec *httptest.ResponseRecorder, status int) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		tb.Fatalf("status %d: answer %q is not JSON: %v", rec.Code, rec.Body.Bytes(), err)
	}
	if rec.Code != status {
		tb.Fatalf("status %d %s, want %d", rec.Code, rec.Body.Bytes(), status)
	}
	if status >= 400 {
		if msg, _ := m["error"].(string); strings.TrimSpace(msg) == "" {
			tb.Fatalf("status %d without an error message: %s", rec.Code, rec.Body.Bytes())
		}
	}
	return m
}

// rev is the dialog's revision, 0 when it does not exist.
func (h *hostile) rev(key string) int64 {
	d, err := h.store.Dialog(context.Background(), key)
	if errors.Is(err, engine.ErrNotFound) {
		return 0
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return d.Rev
}

func (h *hostile) calls(key string) []engine.Call {
	cs, err := h.store.Calls(context.Background(), key)
	if err != nil {
		h.t.Fatal(err)
	}
	return cs
}

// hostileChat builds events of one Open Lines chat of member "hostile-member"
// carrying the given application token.
type hostileChat struct {
	auth bitrix24.Auth
	bot  bitrix24.BotAuth
	chat bitrix24.LineChat
}

func newHostileChat(token string, line, chatID int, client bitrix24.User) hostileChat {
	auth := bitrix24.Auth{Domain: "hostile.bitrix24.com", MemberID: "hostile-member", ApplicationToken: token,
		ClientEndpoint: "https://hostile.bitrix24.com/rest/"}
	if client.ID == 0 {
		client.ID = 500 + chatID
	}
	client.IsConnector = true
	return hostileChat{auth: auth, bot: bitrix24.BotAuth{BotID: 1011, BotCode: outbox.BotCode},
		chat: bitrix24.LineChat{ChatID: chatID, Line: line, Client: client}}
}

func (c hostileChat) key() string {
	return engine.KeyPortal + c.auth.MemberID + ":chat" + strconv.Itoa(c.chat.ChatID)
}

func (c hostileChat) join() url.Values {
	return bitrix24.JoinEvent(c.auth, c.bot, c.chat).Form()
}

func (c hostileChat) say(id int, text string) url.Values {
	return bitrix24.MessageEvent(c.auth, c.bot, c.chat, id, text).Form()
}

func clone(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// TestHostileApplicationToken: an event without the right application token
// (or handler secret) gets 401 naming the field and changes nothing.
func TestHostileApplicationToken(t *testing.T) {
	const token, secret = "hostile-app-token", "hostile-k"
	h := newHostile(t, Config{Bitrix24: Bitrix24Config{AppToken: token, HandlerSecret: secret}}, false)
	c := newHostileChat(token, 1, 7001, bitrix24.User{FirstName: "Anna"})
	answer(t, h.post(c.join(), ""), http.StatusOK)
	rev, calls := h.rev(c.key()), len(h.calls(c.key()))

	real := c.say(1, "Leave a request")
	edit := func(f func(url.Values)) url.Values { v := clone(real); f(v); return v }
	tests := []struct {
		name, query string
		form        url.Values
		field       string
	}{
		{"forged token", "", edit(func(v url.Values) { v.Set("auth[application_token]", "forged") }), "auth[application_token]"},
		{"token of another case", "", edit(func(v url.Values) { v.Set("auth[application_token]", strings.ToUpper(token)) }), "auth[application_token]"},
		{"token with a suffix", "", edit(func(v url.Values) { v.Set("auth[application_token]", token+"x") }), "auth[application_token]"},
		{"token prefix", "", edit(func(v url.Values) { v.Set("auth[application_token]", token[:5]) }), "auth[application_token]"},
		{"missing token", "", edit(func(v url.Values) { v.Del("auth[application_token]") }), "auth[application_token]"},
		{"empty token", "", edit(func(v url.Values) { v.Set("auth[application_token]", "") }), "auth[application_token]"},
		{"token only inside data[BOT]", "", edit(func(v url.Values) {
			v.Del("auth[application_token]")
			v.Set("data[BOT][1011][application_token]", token)
		}), "auth[application_token]"},
		{"no auth at all", "", edit(func(v url.Values) {
			for k := range v {
				if strings.HasPrefix(k, "auth[") {
					v.Del(k)
				}
			}
		}), "auth[member_id]"},
		{"wrong k, no token", "k=wrong", edit(func(v url.Values) { v.Del("auth[application_token]") }), "auth[application_token]"},
		{"empty k, forged token", "k=", edit(func(v url.Values) { v.Set("auth[application_token]", "forged") }), "auth[application_token]"},
		{"k in the body, not the URL", "", edit(func(v url.Values) { v.Del("auth[application_token]"); v.Set("k", secret) }), "auth[application_token]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.post(tc.form, tc.query)
			m := answer(t, rec, http.StatusUnauthorized)
			if m["code"] != EUnauthorized || m["field"] != tc.field {
				t.Fatalf("answer %s, want code %s naming %s", rec.Body.Bytes(), EUnauthorized, tc.field)
			}
			if got := h.rev(c.key()); got != rev {
				t.Fatalf("dialog rev %d → %d: a refused event changed it", rev, got)
			}
			if got := len(h.calls(c.key())); got != calls {
				t.Fatalf("outbox %d → %d calls: a refused event queued portal calls", calls, got)
			}
		})
	}
	// the real event, and the k secret alone, still pass
	if m := answer(t, h.post(real, ""), http.StatusOK); m["outcome"] != "applied" {
		t.Fatalf("the real event: %v", m)
	}
	noToken := c.say(2, "anna")
	noToken.Del("auth[application_token]")
	if m := answer(t, h.post(noToken, "k="+secret), http.StatusOK); m["outcome"] != "applied" {
		t.Fatalf("event with the handler secret: %v", m)
	}
}

// TestHostileReplay: the same event delivered many times at once is applied
// once; its portal calls are queued once.
func TestHostileReplay(t *testing.T) {
	const token = "replay-token"
	h := newHostile(t, Config{Bitrix24: Bitrix24Config{AppToken: token}}, false)
	c := newHostileChat(token, 1, 7101, bitrix24.User{FirstName: "Anna"})
	answer(t, h.post(c.join(), ""), http.StatusOK)
	rev, calls := h.rev(c.key()), len(h.calls(c.key()))

	msg := c.say(86101, "Leave a request")
	const n = 16
	outcomes := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := h.post(msg, "")
			var m map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &m)
			outcomes[i] = fmt.Sprintf("%d %v", rec.Code, m["outcome"])
		}()
	}
	wg.Wait()
	applied := 0
	for _, o := range outcomes {
		switch o {
		case "200 applied":
			applied++
		case "200 duplicate":
		default:
			t.Fatalf("answer %q to a replay; outcomes %q", o, outcomes)
		}
	}
	if applied != 1 {
		t.Fatalf("%d of %d deliveries applied, want 1: %q", applied, n, outcomes)
	}
	if got := h.rev(c.key()); got != rev+1 {
		t.Fatalf("dialog rev %d → %d, want one step", rev, got)
	}
	added := len(h.calls(c.key())) - calls
	if added != 1 { // the question "How may I call you?"
		t.Fatalf("%d portal calls queued, want the one of a single step", added)
	}
	// a replay after later events is still recognised (within engine.RecentIDs)
	answer(t, h.post(c.say(86102, "anna"), ""), http.StatusOK)
	if m := answer(t, h.post(msg, ""), http.StatusOK); m["outcome"] != "duplicate" {
		t.Fatalf("late replay: %v, want duplicate", m)
	}
	// the join carries no id. Right after the join a second one is the
	// same join delivered twice and changes nothing; after the client has
	// written, a join is a new Open Lines session (service-2.md): the run
	// starts afresh (it used to be ignored while the dialog ran)
	if m := answer(t, h.post(c.join(), ""), http.StatusOK); m["outcome"] != string(engine.Applied) {
		t.Fatalf("join after messages: %v, want a new session (applied)", m)
	}
	if m := answer(t, h.post(c.join(), ""), http.StatusOK); m["outcome"] != string(engine.Ignored) {
		t.Fatalf("join delivered twice: %v, want the second ignored", m)
	}
}

// TestHostileBodies: oversized and pathological bodies get a clear 4xx.
func TestHostileBodies(t *testing.T) {
	const token = "bodies-token"
	h := newHostile(t, Config{Bitrix24: Bitrix24Config{AppToken: token}}, false)
	c := newHostileChat(token, 1, 7201, bitrix24.User{FirstName: "Anna"})
	answer(t, h.post(c.join(), ""), http.StatusOK)
	rev := h.rev(c.key())
	const limit = 1 << 20

	big := c.say(1, strings.Repeat("x", limit)).Encode()
	deepKey := "data"
	for range 50 {
		deepKey += "[a]"
	}
	var many strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&many, "k%d=&", i)
	}
	form := "application/x-www-form-urlencoded"
	chunked := func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) } // no Content-Length
	tests := []struct {
		name, path, contentType string
		body                    io.Reader
		status                  int
		field                   string // the field the error names, "" for none
		in                      string // part of the message
	}{
		{"form over the limit", "/bitrix24/events", form, strings.NewReader(big), 413, "", "larger than"},
		{"form over the limit, chunked", "/bitrix24/events", form, chunked(big), 413, "", "larger than"},
		{"JSON over the limit", "/v1/events", "application/json", strings.NewReader(`{"text":"` + strings.Repeat("x", limit) + `"}`), 413, "", "large"},
		{"JSON over the limit, chunked", "/v1/events", "application/json", chunked(`{"text":"` + strings.Repeat("x", limit) + `"}`), 413, "", "large"},
		{"scenario over the limit, chunked", "/v1/scenarios/check?file=x.yaml", "text/yaml", chunked(strings.Repeat("#", limit+1)), 413, "", "large"},
		{"keys nested 50 deep", "/bitrix24/events", form, strings.NewReader(url.Values{deepKey: {"x"}, "event": {"ONIMBOTMESSAGEADD"}}.Encode()), 400, "data[a][a]", "nested deeper than 8"},
		{"100k keys", "/bitrix24/events", form, strings.NewReader(many.String()), 400, "", ""},
		{"JSON nested 100k deep", "/v1/events", "application/json", strings.NewReader(strings.Repeat("[", 100_000)), 400, "", "JSON"},
		{"JSON object nested 100k deep", "/v1/events", "application/json", strings.NewReader(`{"dialog":` + strings.Repeat(`{"a":`, 100_000)), 400, "", ""},
		{"JSON with 100k keys", "/v1/events", "application/json", strings.NewReader(`{` + strings.Repeat(`"k":1,`, 100_000) + `"dialog":"x"}`), 400, "k", "unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do(http.MethodPost, tc.path, tc.contentType, tc.body, nil)
			m := answer(t, rec, tc.status)
			msg, _ := m["error"].(string)
			field, _ := m["field"].(string)
			if tc.field != "" && !strings.HasPrefix(field, tc.field) {
				t.Fatalf("field %q, want one starting with %q", field, tc.field)
			}
			if !strings.Contains(msg, tc.in) {
				t.Fatalf("message %q, want it to contain %q", msg, tc.in)
			}
			if len(rec.Body.Bytes()) > 2048 {
				t.Fatalf("an error body of %d bytes echoes the input", len(rec.Body.Bytes()))
			}
		})
	}
	if got := h.rev(c.key()); got != rev {
		t.Fatalf("dialog rev %d → %d: a rejected body changed it", rev, got)
	}
}

// TestHostileSlowClients: a client that sends its headers or body slowly, or
// keeps an idle connection, is cut off by the server's timeouts. The waits
// are bounded far above the timeouts; nothing asserts how fast it happens.
func TestHostileSlowClients(t *testing.T) {
	const timeout = 300 * time.Millisecond
	const bound = 10 * time.Second
	e := startEnv(t, nil, func(e *env) {
		e.db = ""
		e.cfg.ReadTimeout, e.cfg.WriteTimeout, e.cfg.IdleTimeout = timeout, 2*timeout, timeout
	})
	hs := e.srv.http
	if hs.ReadTimeout != timeout || hs.WriteTimeout != 2*timeout || hs.IdleTimeout != timeout ||
		hs.ReadHeaderTimeout <= 0 || hs.ReadHeaderTimeout > hs.ReadTimeout {
		t.Fatalf("http.Server timeouts read %s, header %s, write %s, idle %s: want the configured ones, the header one within the read one",
			hs.ReadTimeout, hs.ReadHeaderTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
	dial := func(t *testing.T) net.Conn {
		conn, err := net.Dial("tcp", e.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	t.Run("silent after connecting", func(t *testing.T) {
		conn := dial(t)
		waitClosed(t, conn, conn, bound)
	})
	t.Run("headers one byte at a time", func(t *testing.T) {
		conn := dial(t)
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			head := "POST /bitrix24/events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + strings.Repeat("a", 10_000)
			for i := 0; i < len(head); i++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := conn.Write([]byte{head[i]}); err != nil {
					return
				}
			}
		}()
		waitClosed(t, conn, conn, bound)
	})
	t.Run("body stalls", func(t *testing.T) {
		conn := dial(t)
		fmt.Fprint(conn, "POST /bitrix24/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nevent=ONIMBOT")
		got := waitClosed(t, conn, conn, bound)
		if strings.HasPrefix(string(got), "HTTP/1.1 5") {
			t.Fatalf("a stalled body got %q", got)
		}
	})
	t.Run("idle keep-alive connection", func(t *testing.T) {
		conn := dial(t)
		fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		r := bufio.NewReader(conn)
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("healthz: %d, close=%v; want a kept-alive 200", resp.StatusCode, resp.Close)
		}
		waitClosed(t, conn, r, bound)
	})
	// the server still serves normal clients afterwards
	if status, body := e.request(http.MethodGet, "/healthz", "", nil, ""); status != http.StatusOK {
		t.Fatalf("healthz after the slow clients: %d %s", status, body)
	}
}

// waitClosed reads r (from conn) until the server closes the connection,
// failing when it is still open after bound. It returns what was read.
func waitClosed(t *testing.T, conn net.Conn, r io.Reader, bound time.Duration) []byte {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(bound)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s (read %q)", bound, b)
	}
	return b
}

// TestHostileDefaultTimeouts: a server configured with nothing still has
// every HTTP timeout set.
func TestHostileDefaultTimeouts(t *testing.T) {
	e := startEnv(t, nil, func(e *env) { e.db = "" })
	hs := e.srv.http
	if hs.ReadTimeout <= 0 || hs.ReadHeaderTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Fatalf("timeouts read %s, header %s, write %s, idle %s: all must be set", hs.ReadTimeout, hs.ReadHeaderTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
}

// TestHostileAdminRoutes: every admin route refuses a missing or wrong
// token with 401, WWW-Authenticate and a JSON error, before reading the body.
func TestHostileAdminRoutes(t *testing.T) {
	const token = "admin-token-hostile"
	h := newHostile(t, Config{AdminToken: token}, false)
	routes := []struct{ method, path string }{
		{http.MethodPost, "/v1/events"},
		{http.MethodPost, "/v1/noop"},
		{http.MethodGet, "/v1/dialogs/x"},
		{http.MethodGet, "/v1/scenarios"},
		{http.MethodPost, "/v1/scenarios/reload"},
		{http.MethodPost, "/v1/scenarios/check?file=support.yaml"},
		{http.MethodGet, "/playground/api/scenarios"},
		{http.MethodGet, "/playground/api/status"},
		{http.MethodGet, "/playground/api/events"},
		{http.MethodPost, "/playground/api/dialogs/s1/events"},
		{http.MethodGet, "/playground/api/dialogs/s1"},
		{http.MethodGet, "/playground/api/funnel"},
		{http.MethodGet, "/playground/api/funnel/support"},
	}
	auths := []struct{ name, header, query string }{
		{"no token", "", ""},
		{"wrong token", "Bearer wrong", ""},
		{"token with a suffix", "Bearer " + token + "x", ""},
		{"token prefix", "Bearer " + token[:len(token)-1], ""},
		{"empty bearer", "Bearer ", ""},
		{"no scheme", token, ""},
		{"basic scheme", "Basic " + token, ""},
		{"token in the query", "", "token=" + token + "&access_token=" + token},
	}
	body := `{"dialog":"x","type":"start","line":1}`
	for _, r := range routes {
		for _, a := range auths {
			t.Run(r.method+" "+r.path+"/"+a.name, func(t *testing.T) {
				hdr := http.Header{}
				if a.header != "" {
					hdr.Set("Authorization", a.header)
				}
				target := r.path
				if a.query != "" {
					sep := "?"
					if strings.Contains(target, "?") {
						sep = "&"
					}
					target += sep + a.query
				}
				rec := h.do(r.method, target, "application/json", strings.NewReader(body), hdr)
				m := answer(t, rec, http.StatusUnauthorized)
				if m["code"] != EUnauthorized {
					t.Fatalf("code %v", m["code"])
				}
				if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Fatalf("WWW-Authenticate %q, want a Bearer challenge", got)
				}
				if strings.Contains(rec.Body.String(), token) {
					t.Fatalf("the answer repeats the token: %s", rec.Body.Bytes())
				}
			})
		}
	}
	if _, err := h.store.Dialog(context.Background(), engine.KeyAPI+"x"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a refused request created a dialog (err %v)", err)
	}
	rec := h.do(http.MethodGet, "/v1/scenarios", "", nil, http.Header{"Authorization": {"Bearer " + token}})
	answer(t, rec, http.StatusOK)
}

// TestHostileInjection: client text carrying BB-codes, {{…}} templates and
// forged log lines reaches the portal escaped and literal, and the log keeps
// it inside one record.
func TestHostileInjection(t *testing.T) {
	const forged = "\nlevel=ERROR msg=forged"
	// [URL=…] is cleaned from incoming text (as the official example bot
	// does); [SEND=…] is not, so it must come back escaped
	const payload = "[URL=http://evil.example]click[/URL] [SEND=http://evil.example]go[/SEND] {{email}} {{client}}" + forged
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			const token = "injection-token"
			h := newHostile(t, Config{Bitrix24: Bitrix24Config{AppToken: token}}, format == "json")
			// a client whose name is an attack, greeted by support (line 1)
			a := newHostileChat(token, 1, 7301, bitrix24.User{FirstName: "[B]Anna{{name}}" + forged, Name: "x"})
			answer(t, h.post(a.join(), ""), http.StatusOK)
			// a client whose message is echoed by the echo scenario (line 5)
			b := newHostileChat(token, 5, 7302, bitrix24.User{FirstName: "Boris"})
			answer(t, h.post(b.join(), ""), http.StatusOK)
			answer(t, h.post(b.say(1, payload), ""), http.StatusOK)
			// log lines with attacker-chosen values: a refused event's domain,
			// an ignored command's name
			refused := clone(b.say(2, "hi"))
			refused.Set("auth[domain]", "evil.example"+forged)
			refused.Set("auth[application_token]", "forged")
			answer(t, h.post(refused, ""), http.StatusUnauthorized)
			cmd := bitrix24.CommandEvent(b.auth, b.bot, b.chat, bitrix24.Command{ID: 9, Command: "x" + forged, Params: "y" + forged, MessageID: 3}).Form()
			answer(t, h.post(cmd, ""), http.StatusOK)

			messages := func(key string) []string {
				var out []string
				for _, c := range h.calls(key) {
					var p map[string]any
					if err := json.Unmarshal(c.Params, &p); err != nil {
						t.Fatal(err)
					}
					if s, ok := p["MESSAGE"].(string); ok {
						out = append(out, s)
					}
				}
				return out
			}
			wantGreeting := "Hello, [\u200bB]Anna{{name}}" + forged + "! I am the support assistant."
			if got := messages(a.key()); len(got) == 0 || got[0] != wantGreeting {
				t.Fatalf("greeting %q, want %q", got, wantGreeting)
			}
			wantEcho := "You wrote: " + engine.EscapeBB(bitrix24.CleanMessage(payload))
			if got := messages(b.key()); len(got) != 2 || got[1] != wantEcho {
				t.Fatalf("messages %q, want the echo %q", got, wantEcho)
			}
			if strings.Contains(wantEcho, "URL=") || !strings.Contains(wantEcho, "[\u200bSEND=") || !strings.Contains(wantEcho, "{{email}} {{client}}") {
				t.Fatalf("echo %q is not escaped and literal", wantEcho)
			}
			// no portal is configured: delivery logs each call with its params
			// (one call per dialog a round, so that each dialog's order holds)
			h.s.Outbox.Flush(context.Background())

			logs := h.logs.String()
			injected := 0
			for i, line := range strings.Split(strings.TrimRight(logs, "\n"), "\n") {
				if format == "text" && !strings.HasPrefix(line, "time=") {
					t.Fatalf("log line %d does not start a record: %q", i+1, line)
				}
				if format == "json" {
					var rec map[string]any
					if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["msg"] == "forged" {
						t.Fatalf("log line %d is not one honest JSON record (%v): %q", i+1, err, line)
					}
				}
				if strings.Contains(line, "forged") {
					injected++
				}
			}
			// the refusal, the ignored command and the delivered calls
			if injected < 3 {
				t.Fatalf("only %d log lines carry the injected text; the test does not reach the logging:\n%s", injected, logs)
			}
		})
	}
}

// TestHostileSecretsStayOut: with every secret configured, refused events,
// refused admin calls, a portal that is down, a refused token refresh and a
// parked call leave no secret in the log or in any answer.
func TestHostileSecretsStayOut(t *testing.T) {
	t.Run("webhook", func(t *testing.T) {
		const (
			webhookSecret = "webhooksecret0b8f2c71"
			appToken      = "apptoken5d1e7a90"
			adminToken    = "admintoken9c4b3e11"
			handlerSecret = "handlersecret3f6a2d"
			clientID      = "botclientid8e2d4f"
		)
		p := newPortal(t, fakeportal.Config{WebhookSecret: webhookSecret, ApplicationToken: appToken})
		e := startEnv(t, p, func(e *env) {
			e.db = ""
			e.cfg.AdminToken = adminToken
			webhookMode(e, p, clientID, handlerSecret)
			e.cfg.Bitrix24.AppToken = appToken
		})
		var bodies [][]byte
		keep := func(status int, b []byte) int { bodies = append(bodies, b); return status }
		form := "application/x-www-form-urlencoded"
		p.AddBot("olbot", clientID, e.base+"/bitrix24/events?k="+handlerSecret)
		chat := e.chat(1, 7401, "Anna")

		forged := chat.Join()
		forged.Set("auth[application_token]", "forged")
		if keep(e.request(http.MethodPost, "/bitrix24/events?k=wrong", form, strings.NewReader(forged.Encode()), "")) != http.StatusUnauthorized {
			t.Fatal("forged event accepted")
		}
		for _, tok := range []string{"", "wrong", adminToken + "x"} {
			if keep(e.request(http.MethodGet, "/v1/scenarios", "", nil, tok)) != http.StatusUnauthorized {
				t.Fatalf("admin route with token %q accepted", tok)
			}
		}
		e.send(chat, chat.Join())
		e.settle()
		p.Down(true)
		keep(200, jsonOf(t, e.send(chat, chat.Say("Leave a request"))))
		waitFor(t, "a failed delivery in the log", func() (bool, string) {
			return strings.Contains(e.logs.String(), "portal call failed"), ""
		})
		p.Down(false)
		e.settle()
		p.FailNext(1, "ACCESS_DENIED")
		keep(200, jsonOf(t, e.send(chat, chat.Say("anna"))))
		waitFor(t, "a parked call", func() (bool, string) {
			return strings.Contains(e.logs.String(), "parked"), ""
		})
		for _, path := range []string{"/v1/dialogs/" + e.key(chat), "/v1/scenarios", "/readyz", "/healthz", "/metrics", "/playground/api/status"} {
			keep(e.request(http.MethodGet, path, "", nil, adminToken))
		}
		checkNoSecrets(t, e.logs.String(), bodies, e.srv.Outbox.Mode(),
			webhookSecret, p.WebhookURL(), appToken, adminToken, handlerSecret, clientID)
	})
	t.Run("local application", func(t *testing.T) {
		const (
			clientSecret = "clientsecret7a9b0c33"
			appToken     = "apptoken2c8d6e44"
		)
		p := newPortal(t, fakeportal.Config{ClientSecret: clientSecret, ApplicationToken: appToken})
		e := startEnv(t, p, func(e *env) { e.db = "" })
		var bodies [][]byte
		access, refresh := p.Tokens() // the ones ONAPPINSTALL carries
		e.install()
		chat := e.chat(1, 7501, "Anna")
		bodies = append(bodies, jsonOf(t, e.send(chat, chat.Join())))
		e.settle()
		// the token expires and the refresh endpoint is down
		p.ExpireTokens()
		p.Down(true)
		bodies = append(bodies, jsonOf(t, e.send(chat, chat.Say("Leave a request"))))
		waitFor(t, "a failed delivery in the log", func() (bool, string) {
			return strings.Contains(e.logs.String(), "portal call failed"), ""
		})
		p.Down(false)
		e.settle()
		forged := chat.Say("anna")
		forged.Set("auth[application_token]", "forged")
		status, body := e.postForm(forged, "")
		bodies = append(bodies, jsonOf(t, body))
		if status != http.StatusUnauthorized {
			t.Fatalf("forged: %d", status)
		}
		for _, path := range []string{"/v1/dialogs/" + e.key(chat), "/v1/scenarios", "/metrics"} {
			_, b := e.request(http.MethodGet, path, "", nil, "")
			bodies = append(bodies, b)
		}
		newAccess, newRefresh := p.Tokens()
		if newAccess == access {
			t.Fatal("no token refresh happened: the test does not reach the refresh path")
		}
		checkNoSecrets(t, e.logs.String(), bodies, e.srv.Outbox.Mode(), clientSecret, appToken, access, refresh, newAccess, newRefresh)
	})
}

func jsonOf(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func checkNoSecrets(t *testing.T, logs string, bodies [][]byte, mode string, secrets ...string) {
	t.Helper()
	if logs == "" || len(bodies) == 0 {
		t.Fatal("nothing to check")
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("an empty secret")
		}
		if i := strings.Index(logs, s); i >= 0 {
			start := strings.LastIndex(logs[:i], "\n") + 1
			end := strings.Index(logs[i:], "\n")
			if end < 0 {
				end = len(logs) - i
			}
			t.Errorf("secret %q is in the log: %s", s, logs[start:i+end])
		}
		for _, b := range bodies {
			if strings.Contains(string(b), s) {
				t.Errorf("secret %q is in an answer: %s", s, b)
			}
		}
		if strings.Contains(mode, s) {
			t.Errorf("secret %q is in the portal mode %q", s, mode)
		}
	}
}

// billionLaughs nests aliases twelve levels deep, ten wide: 10^12 values
// once expanded, in a few hundred bytes.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n")
	for i := 1; i <= 12; i++ {
		ref := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(ref+",", 10), ","))
	}
	b.WriteString("start: a\nstates:\n  a:\n    say: hi\n    on:\n      - match: *l12\n        goto: a\n")
	return b.String()
}

// TestHostileScenarioFiles: a scenario folder holding a huge file and a YAML
// alias bomb loads its good files; the two are rejected with clear errors,
// shown by GET /v1/scenarios, within bounded memory; the server keeps
// serving.
func TestHostileScenarioFiles(t *testing.T) {
	dir := scenarioDir(t, "../examples/support.yaml", "../examples/faq.yaml")
	huge, err := os.Create(filepath.Join(dir, "huge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := huge.Truncate(100 << 20); err != nil { // 100 MiB, sparse
		t.Fatal(err)
	}
	huge.Close()
	writeFile(t, dir, "bomb.yaml", billionLaughs())

	reg := scenarios.NewRegistry(dir, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := reg.Reload()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	const bound = 64 << 20
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > bound {
		t.Fatalf("loading the folder allocated %d MiB, want under %d MiB", alloc>>20, bound>>20)
	}
	if len(res.Problems) != 2 {
		t.Fatalf("problems %v, want one for huge.yaml and one for bomb.yaml", res.Problems)
	}

	s := Assemble(t, Config{}, Wiring{Store: memstore.New(), Registry: reg})
	h := &hostile{t: t, s: s, logs: &logBuf{}}
	var view ScenariosResponse
	if err := json.Unmarshal(h.do(http.MethodGet, "/v1/scenarios", "", nil, nil).Body.Bytes(), &view); err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, sc := range view.Scenarios {
		live = append(live, sc.Name)
	}
	if strings.Join(live, ",") != "support,faq" && strings.Join(live, ",") != "faq,support" {
		t.Fatalf("live scenarios %q, want support and faq", live)
	}
	errs := map[string]string{}
	for _, f := range view.Files {
		errs[filepath.Base(f.File)] = f.Error
	}
	for file, want := range map[string]string{"huge.yaml": "1 MiB", "bomb.yaml": "alias"} {
		if got := errs[file]; !strings.Contains(got, want) || !strings.Contains(got, file) {
			t.Errorf("%s: error %q, want a positioned error mentioning %q", file, got, want)
		}
	}
	for _, file := range []string{"support.yaml", "faq.yaml"} {
		if errs[file] != "" {
			t.Errorf("%s: error %q", file, errs[file])
		}
	}
	// the good scenarios serve
	rec := h.do(http.MethodPost, "/v1/events", "application/json", strings.NewReader(`{"dialog":"d1","line":1,"type":"start"}`), nil)
	if m := answer(t, rec, http.StatusOK); m["dialog"].(map[string]any)["scenario"] != "support" {
		t.Fatalf("start on line 1: %s", rec.Body.Bytes())
	}
	// a dry run of the bomb, and of a body over the limit, are refused too
	rec = h.do(http.MethodPost, "/v1/scenarios/check?file=bomb.yaml", "text/yaml", strings.NewReader(billionLaughs()), nil)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "alias") {
		t.Fatalf("dry run of the bomb: %d %s", rec.Code, rec.Body.Bytes())
	}
	rec = h.do(http.MethodPost, "/v1/scenarios/check?file=huge.yaml", "text/yaml", strings.NewReader(strings.Repeat("#", 2<<20)), nil)
	answer(t, rec, http.StatusRequestEntityTooLarge)
}

// TestHostileEventWithoutChat: an Open Lines event that names no chat (no
// CHAT_ID, a DIALOG_ID that is not chat<N>) is a 400, not an internal error
// after the engine stepped (FuzzBitrix24Handler's testdata/fuzz/no-chat-id).
func TestHostileEventWithoutChat(t *testing.T) {
	const token = "nochat-token"
	h := newHostile(t, Config{Bitrix24: Bitrix24Config{AppToken: token}}, false)
	c := newHostileChat(token, 1, 7601, bitrix24.User{FirstName: "Anna"})
	for _, ev := range []url.Values{c.join(), c.say(1, "Leave a request")} {
		ev.Set("data[PARAMS][DIALOG_ID]", "569")
		ev.Del("data[PARAMS][CHAT_ID]")
		m := answer(t, h.post(ev, ""), http.StatusBadRequest)
		if m["field"] != "data[PARAMS][CHAT_ID]" {
			t.Fatalf("answer %v, want it to name data[PARAMS][CHAT_ID]", m)
		}
	}
	if _, err := h.store.Dialog(context.Background(), engine.KeyPortal+"hostile-member:569"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("the refused event created a dialog (err %v)", err)
	}
	if strings.Contains(h.logs.String(), "level=ERROR") {
		t.Fatalf("a bad event logged an internal error:\n%s", h.logs.String())
	}
}
