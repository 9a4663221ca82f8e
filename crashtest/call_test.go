package crashtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The call: tests run the real `olbot serve` (bolt store) against a real
// HTTP server on 127.0.0.1 that plays the team's shop and CRM.

const callScenario = `name: shop
start: ask_order
states:
  ask_order:
    ask: "Order number?"
    save: order
    next: lookup
    on_fail: person
  lookup:
    say: "Checking {{order}}"
    call: shop
    path: "/orders/{{order}}"
    save: {status: status, eta: delivery.eta}
    timeout: 3s
    next: show
    on_error: sorry
  show:
    ask: "Order {{order}}: {{status}}, {{eta}}. Anything else?"
    save: more
    next: again
    on_fail: person
  again:
    ask: "And?"
    save: more2
    next: done
    on_fail: person
  sorry:
    say: "Cannot check"
    operator: any
  person:
    operator: any
  done:
    say: "Noted {{more}} {{more2}}"
    finish: true
`

const notifyScenario = `name: notify
lines: [2]
start: send
states:
  send:
    call: crm
    method: POST
    path: /notes
    body: {client: "{{client}}", kind: callback}
    next: sent
    on_error: failed
  sent:
    say: "Sent"
    finish: true
  failed:
    say: "Not sent"
    operator: any
`

// shop is the endpoints' server: it records what reached it.
type shop struct {
	mu      sync.Mutex
	hits    map[string]int
	auth    map[string]bool // Authorization headers seen
	bodies  []string
	release chan struct{} // closes to answer /orders/slow
	block   chan struct{} // closed at cleanup: ends the blocked handlers
}

func (s *shop) hit(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.hits[r.URL.EscapedPath()]++
	n := s.hits[r.URL.EscapedPath()]
	s.auth[r.Header.Get("Authorization")] = true
	if len(body) > 0 {
		s.bodies = append(s.bodies, string(body))
	}
	s.mu.Unlock()
	ok := func() {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"shipped","delivery":{"eta":"2 days"}}`)
	}
	switch r.URL.EscapedPath() {
	case "/api/orders/1", "/api/orders/12%2F3":
		ok()
	case "/api/orders/404":
		http.Error(w, `{"error":"no such order"}`, http.StatusNotFound)
	case "/api/orders/500":
		http.Error(w, "boom", http.StatusInternalServerError)
	case "/api/orders/garbage":
		fmt.Fprint(w, "<html>not json</html>")
	case "/api/orders/big":
		w.Write([]byte(`{"status":"shipped","delivery":{"eta":"` + strings.Repeat("x", 2<<20) + `"}}`))
	case "/api/orders/redirect":
		http.Redirect(w, r, "/api/orders/1", http.StatusFound)
	case "/api/orders/hang":
		select {
		case <-r.Context().Done():
		case <-s.block:
		}
	case "/api/orders/slow":
		select {
		case <-s.release:
			ok()
		case <-s.block:
		}
	case "/api/orders/kill", "/crm/notes":
		if n == 1 { // the first attempt hangs until olbot is killed
			select {
			case <-r.Context().Done():
			case <-s.block:
			}
			return
		}
		ok()
	default:
		http.NotFound(w, r)
	}
}

type callEnv struct {
	t      *testing.T
	p      *proc
	shop   *shop
	db     string
	secret string
}

func newCallEnv(t *testing.T) *callEnv {
	dir := t.TempDir()
	scen := filepath.Join(dir, "scenarios")
	if err := os.MkdirAll(scen, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{"shop.yaml": callScenario, "notify.yaml": notifyScenario} {
		if err := os.WriteFile(filepath.Join(scen, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sh := &shop{hits: map[string]int{}, auth: map[string]bool{}, release: make(chan struct{}), block: make(chan struct{})}
	srv := httptest.NewServer(sh)
	t.Cleanup(func() { close(sh.block); srv.Close() })
	secret := "s3cr3t-" + fmt.Sprint(time.Now().UnixNano())
	t.Setenv("CALLTEST_SHOP_TOKEN", secret)
	cfg := filepath.Join(dir, "olbot.yaml")
	conf := fmt.Sprintf(`endpoints:
  shop:
    url: %s/api
    headers: {Authorization: "Bearer ${CALLTEST_SHOP_TOKEN}"}
    allow_loopback: true
  crm:
    url: %s/crm
    allow_loopback: true
`, srv.URL, srv.URL)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "olbot.db")
	p := newProc(t, "olbot", dir, []string{"--store", db, "--scenarios", scen, "--config", cfg})
	p.start()
	return &callEnv{t: t, p: p, shop: sh, db: db, secret: secret}
}

type eventReply struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Actions []struct {
		Type string `json:"type"`
		Text string `json:"text"`
		Path string `json:"path"`
	} `json:"actions"`
	Dialog dialogReply `json:"dialog"`
}

type dialogReply struct {
	State  string            `json:"state"`
	Status string            `json:"status"`
	Fields map[string]string `json:"fields"`
	Held   int               `json:"held"`
	Lookup *struct {
		Attempts int `json:"attempts"`
	} `json:"lookup"`
}

// send posts one event to /v1/events; raw is the body of the reply.
func (e *callEnv) send(dialog, scenario, typ, text string) (eventReply, string) {
	e.t.Helper()
	b, _ := json.Marshal(map[string]string{"dialog": dialog, "scenario": scenario, "type": typ, "text": text, "client": "Анна"})
	resp, err := http.Post(e.p.base()+"/v1/events", "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Errorf("POST /v1/events: %v", err)
		return eventReply{}, ""
	}
	return e.reply(resp, typ, text)
}

// sendDoomed posts an event whose reply dies with the process.
func (e *callEnv) sendDoomed(dialog, scenario, typ, text string) {
	b, _ := json.Marshal(map[string]string{"dialog": dialog, "scenario": scenario, "type": typ, "text": text, "client": "Анна"})
	if resp, err := http.Post(e.p.base()+"/v1/events", "application/json", bytes.NewReader(b)); err == nil {
		resp.Body.Close()
	}
}

func (e *callEnv) reply(resp *http.Response, typ, text string) (eventReply, string) {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r eventReply
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &r) != nil {
		e.t.Errorf("POST /v1/events %s %q: %d %s", typ, text, resp.StatusCode, raw)
	}
	return r, string(raw)
}

func (e *callEnv) dialog(id string) (dialogReply, string) {
	e.t.Helper()
	status, body := e.p.get("/v1/dialogs/" + id)
	var d dialogReply
	if status != http.StatusOK || json.Unmarshal([]byte(body), &d) != nil {
		e.t.Fatalf("GET /v1/dialogs/%s: %d %s", id, status, body)
	}
	return d, body
}

func texts(r eventReply) string {
	var parts []string
	for _, a := range r.Actions {
		switch {
		case a.Type == "call":
			parts = append(parts, "call "+a.Path)
		case a.Text != "":
			parts = append(parts, a.Text)
		default:
			parts = append(parts, a.Type)
		}
	}
	return strings.Join(parts, " | ")
}

func TestCallServe(t *testing.T) {
	e := newCallEnv(t)
	var seen []string // every reply and record, searched for the secret
	cases := []struct {
		order, state, actions string
		fields                map[string]string
		reason                string
	}{
		{"1", "show", "Checking 1 | call /orders/1 | Order 1: shipped, 2 days. Anything else?", map[string]string{"order": "1", "status": "shipped", "eta": "2 days"}, ""},
		{"12/3", "show", "Checking 12/3 | call /orders/12%2F3 | Order 12/3: shipped, 2 days. Anything else?", map[string]string{"order": "12/3", "status": "shipped", "eta": "2 days"}, ""},
		{"404", "sorry", "Checking 404 | call /orders/404 | Cannot check | operator", map[string]string{"order": "404"}, "status 404"},
		{"500", "sorry", "Checking 500 | call /orders/500 | Cannot check | operator", map[string]string{"order": "500"}, "status 500"},
		{"garbage", "sorry", "Checking garbage | call /orders/garbage | Cannot check | operator", map[string]string{"order": "garbage"}, "not JSON"},
		{"big", "sorry", "Checking big | call /orders/big | Cannot check | operator", map[string]string{"order": "big"}, "over 1048576 bytes"},
		{"redirect", "sorry", "Checking redirect | call /orders/redirect | Cannot check | operator", map[string]string{"order": "redirect"}, "never followed"},
		{"hang", "sorry", "Checking hang | call /orders/hang | Cannot check | operator", map[string]string{"order": "hang"}, "timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.order, func(t *testing.T) {
			id := "c-" + strings.ReplaceAll(tc.order, "/", "-")
			e.send(id, "shop", "start", "")
			r, raw := e.send(id, "shop", "message", tc.order)
			seen = append(seen, raw)
			if got := texts(r); got != tc.actions {
				t.Errorf("actions:\n got %s\nwant %s", got, tc.actions)
			}
			if r.Dialog.State != tc.state || !sameMap(r.Dialog.Fields, tc.fields) {
				t.Errorf("state %s fields %v, want %s %v", r.Dialog.State, r.Dialog.Fields, tc.state, tc.fields)
			}
			if !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("reason %q, want %q in it", r.Reason, tc.reason)
			}
			d, body := e.dialog(id)
			seen = append(seen, body)
			if d.State != tc.state || d.Lookup != nil || d.Held != 0 {
				t.Errorf("stored: %s", body)
			}
		})
	}
	if n := e.shop.hit("/api/orders/1"); n != 1 { // before the playground's call
		t.Errorf("/orders/1 reached %d times, want once (the redirect to it is never followed)", n)
	}

	t.Run("the playground makes the real call", func(t *testing.T) {
		post := func(body string) (eventReply, string) {
			resp, err := http.Post(e.p.base()+"/playground/api/dialogs/pgcall/events", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			return e.reply(resp, "playground", body)
		}
		post(`{"scenario":"shop","type":"start"}`)
		r, raw := post(`{"type":"message","text":"1"}`)
		seen = append(seen, raw)
		if got, want := texts(r), "Checking 1 | call /orders/1 | Order 1: shipped, 2 days. Anything else?"; got != want {
			t.Errorf("playground actions:\n got %s\nwant %s", got, want)
		}
		status, body := e.p.get("/playground/api/dialogs/pgcall")
		seen = append(seen, body)
		if status != http.StatusOK || !strings.Contains(body, `"eta":"2 days"`) {
			t.Errorf("playground dialog: %d %s", status, body)
		}
	})

	t.Run("messages during a slow call are applied in order after it", func(t *testing.T) {
		e.send("c-slow", "shop", "start", "")
		done := make(chan eventReply, 1)
		go func() { r, _ := e.send("c-slow", "shop", "message", "slow"); done <- r }()
		waitFor(t, eventTimeout, "the slow call to reach the shop", func() (bool, string) { return e.shop.hit("/api/orders/slow") == 1, "" })
		for _, m := range []string{"first", "second"} {
			r, raw := e.send("c-slow", "shop", "message", m)
			seen = append(seen, raw)
			if r.Outcome != "applied" || !strings.Contains(r.Reason, "held") || len(r.Actions) != 0 {
				t.Errorf("%s during the call: %s", m, raw)
			}
		}
		if d, _ := e.dialog("c-slow"); d.Held != 2 || d.Lookup == nil || d.State != "lookup" {
			t.Errorf("during the call: %+v", d)
		}
		close(e.shop.release)
		r := <-done
		if got, want := texts(r), "Checking slow | call /orders/slow | Order slow: shipped, 2 days. Anything else? | And? | Noted first second | finish"; got != want {
			t.Errorf("actions:\n got %s\nwant %s", got, want)
		}
		d, _ := e.dialog("c-slow")
		if d.Status != "finished" || d.Fields["more"] != "first" || d.Fields["more2"] != "second" || d.Held != 0 {
			t.Errorf("after the call: %+v", d)
		}
	})

	t.Run("a GET cut off by SIGKILL is made again", func(t *testing.T) {
		e.send("c-kill", "shop", "start", "")
		go e.sendDoomed("c-kill", "shop", "message", "kill")
		waitFor(t, eventTimeout, "the call to reach the shop", func() (bool, string) { return e.shop.hit("/api/orders/kill") == 1, "" })
		e.p.kill()
		e.p.start()
		waitFor(t, eventTimeout, "the dialog to get its answer", func() (bool, string) {
			d, body := e.dialog("c-kill")
			return d.State == "show", body
		})
		if n := e.shop.hit("/api/orders/kill"); n != 2 {
			t.Errorf("GET made %d times, want 2", n)
		}
	})

	t.Run("a POST cut off by SIGKILL takes on_error", func(t *testing.T) {
		go e.sendDoomed("c-post", "notify", "start", "")
		waitFor(t, eventTimeout, "the POST to reach the CRM", func() (bool, string) { return e.shop.hit("/crm/notes") == 1, "" })
		e.p.kill()
		e.p.start()
		waitFor(t, eventTimeout, "the dialog to take on_error", func() (bool, string) {
			d, body := e.dialog("c-post")
			return d.State == "failed", body
		})
		if n := e.shop.hit("/crm/notes"); n != 1 {
			t.Errorf("POST made %d times, want once", n)
		}
		e.shop.mu.Lock()
		bodies := e.shop.bodies
		e.shop.mu.Unlock()
		if len(bodies) != 1 || bodies[0] != `{"client":"Анна","kind":"callback"}` {
			t.Errorf("POST bodies %q", bodies)
		}
	})

	t.Run("the secret reaches the endpoint and nothing else", func(t *testing.T) {
		e.shop.mu.Lock()
		got := e.shop.auth["Bearer "+e.secret]
		e.shop.mu.Unlock()
		if !got {
			t.Errorf("the endpoint never saw the Authorization header from the environment")
		}
		e.p.stop()
		for _, f := range e.p.logs {
			b, _ := os.ReadFile(f)
			seen = append(seen, string(b))
		}
		db, _ := os.ReadFile(e.db)
		seen = append(seen, string(db))
		for i, s := range seen {
			if strings.Contains(s, e.secret) {
				t.Errorf("the secret appears in output %d: %.300s", i, s)
			}
		}
		if len(seen) < 10 {
			t.Errorf("only %d outputs searched", len(seen))
		}
	})
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
