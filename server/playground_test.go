package server

// Unit tests of the playground's JSON routes, event stream and funnel,
// through httptest (the browser test is browser_test.go).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/funnel"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/scenarios"
)

// pgWait bounds every wait in these tests; nothing asserts on timing.
const pgWait = 10 * time.Second

// shopYAML is a small scenario that reaches every kind of funnel count.
const shopYAML = `name: shop
lines: [7]
start: hello
settings:
  retries: 1
  idle: 1m
  on_idle: person
commands:
  - match: [operator]
    goto: person
states:
  hello:
    say: "Hi!"
    menu:
      - text: Email
        goto: ask_email
      - text: Person
        goto: person
  ask_email:
    ask: "Email?"
    save: email
    type: email
    next: done
  done:
    say: "Thanks, {{email}}"
    finish: true
  person:
    say: "An operator will answer"
    operator: any
`

type pgClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *pgClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *pgClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// pgDir makes a scenario folder with copies of files and extra named contents.
func pgDir(t *testing.T, files []string, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type pgEnv struct {
	t     *testing.T
	srv   *Replica
	store engine.Store
	ts    *httptest.Server
	dir   string
	clock *pgClock
	token string
}

// newPGEnv builds a server that is not opened: its handler runs under
// httptest, and reloads are done by hand (reload).
func newPGEnv(t *testing.T, dir string, store engine.Store, cfg Config) *pgEnv {
	t.Helper()
	clock := &pgClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	srv := Assemble(t, cfg, Wiring{Store: store, Registry: scenarios.NewRegistry(dir, clock.Now), Now: clock.Now})
	e := &pgEnv{t: t, srv: srv, store: store, dir: dir, clock: clock, token: cfg.AdminToken}
	e.reload()
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

func (e *pgEnv) reload() scenarios.ReloadOutcome {
	out := reloadNow(e.srv.registry, "test")
	e.srv.reloaded(out)
	e.srv.Funnel.Start(e.t.Context()) // as Open would
	return out
}

func (e *pgEnv) call(method, path, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json") // as the page's fetch sends it
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// must calls a route that has to answer 200 and decodes the answer into v.
func (e *pgEnv) must(method, path, body string, v any) {
	e.t.Helper()
	code, b := e.call(method, path, body)
	if code != http.StatusOK {
		e.t.Fatalf("%s %s %s: status %d, want 200: %s", method, path, body, code, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// pg sends a playground event.
func (e *pgEnv) pg(session, body string) EventResponse {
	e.t.Helper()
	var r EventResponse
	e.must(http.MethodPost, "/playground/api/dialogs/"+session+"/events", body, &r)
	return r
}

// api sends a /v1 event (real traffic).
func (e *pgEnv) api(body string) EventResponse {
	e.t.Helper()
	var r EventResponse
	e.must(http.MethodPost, "/v1/events", body, &r)
	return r
}

func actionTypes(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = fmt.Sprint(a["type"])
	}
	return out
}

func TestPlaygroundPageIsPublicAndAPINeedsToken(t *testing.T) {
	e := newPGEnv(t, pgDir(t, []string{"../examples/support.yaml"}, nil), memstore.New(), Config{AdminToken: "s3cret"})
	tests := []struct {
		path, token string
		status      int
		ctype       string
	}{
		{path: "/", status: 200, ctype: "text/html"},
		{path: "/playground/app.js", status: 200, ctype: "text/javascript"},
		{path: "/playground/app.css", status: 200, ctype: "text/css"},
		{path: "/playground/api/scenarios", status: 401},
		{path: "/playground/api/scenarios", token: "wrong", status: 401},
		{path: "/playground/api/scenarios", token: "s3cret", status: 200, ctype: "application/json"},
		{path: "/playground/api/status", status: 401},
		{path: "/playground/api/funnel", status: 401},
		{path: "/playground/api/events", status: 401},
		{path: "/playground/nope.js", status: 404},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.token, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.ts.URL+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status=%d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.ctype) {
				t.Fatalf("content type=%q, want %q", got, tc.ctype)
			}
			if tc.status == 401 && !strings.Contains(string(body), `"code":"unauthorized"`) {
				t.Fatalf("401 body %s, want the unauthorized JSON error", body)
			}
		})
	}

	// the page loads its own script and style, nothing from the network
	_, page := e.call(http.MethodGet, "/", "")
	for _, want := range []string{`src="/playground/app.js"`, `href="/playground/app.css"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
		t.Errorf("the page refers to an outside address")
	}

	// revalidation by ETag
	resp, err := http.Get(e.ts.URL + "/playground/app.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/playground/app.js", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation status=%d, want 304", resp2.StatusCode)
	}
}

func TestPlaygroundScenariosGraph(t *testing.T) {
	e := newPGEnv(t, pgDir(t, []string{"../examples/support.yaml", "../examples/faq.yaml", "../examples/russian.yaml"}, nil), memstore.New(), Config{})
	var resp PGScenarios
	e.must(http.MethodGet, "/playground/api/scenarios", "", &resp)
	if len(resp.Scenarios) != 3 || resp.Version == "" || !resp.Status.OK {
		t.Fatalf("scenarios=%d version=%q ok=%v, want 3 scenarios, a version and no errors", len(resp.Scenarios), resp.Version, resp.Status.OK)
	}
	set := e.srv.registry.Current().Set
	for _, view := range resp.Scenarios {
		t.Run(view.Name, func(t *testing.T) {
			sc := set.ByName[view.Name]
			g := view.Graph
			if view.Version != sc.Version || view.Start != sc.Start {
				t.Fatalf("version=%q start=%q, want %q %q", view.Version, view.Start, sc.Version, sc.Start)
			}
			// every state is a node; the edges are Scenario.Edges, in order
			states := map[string]scenarios.GraphNode{}
			for _, n := range g.Nodes {
				if n.Kind == "state" {
					states[n.Name] = n
				}
			}
			if len(states) != len(sc.Order) {
				t.Fatalf("%d state nodes, want %d", len(states), len(sc.Order))
			}
			want := sc.Edges()
			if len(g.Edges) != len(want) {
				t.Fatalf("%d edges, want %d (Scenario.Edges)", len(g.Edges), len(want))
			}
			for i, we := range want {
				ge := g.Edges[i]
				from, to := g.Nodes[ge.From], g.Nodes[ge.To]
				if ge.Key != scenarios.EdgeKey(we.From, we.To) || ge.Label != we.Label || ge.Kind != we.Kind || from.Name != we.From || to.Name != we.To {
					t.Fatalf("edge %d = %+v (%s -> %s), want %+v", i, ge, from.Name, to.Name, we)
				}
				if to.Kind == "end" && to.Of != ge.From {
					t.Fatalf("edge %d goes to the end dot of node %d, want its own (%d)", i, to.Of, ge.From)
				}
			}
			checkLayout(t, g, states, sc.Start)
			// the layout is stable
			if again := sc.Layout(); !reflect.DeepEqual(again, g) {
				t.Fatalf("a second layout differs")
			}
		})
	}
}

// checkLayout: the start on top, the start state below it, boxes of a row
// apart, everything inside the drawing.
func checkLayout(t *testing.T, g scenarios.Graph, states map[string]scenarios.GraphNode, start string) {
	t.Helper()
	if g.Nodes[0].Kind != "start" || g.Nodes[0].Rank != 0 || states[start].Rank != 1 {
		t.Fatalf("start rank=%d, %s rank=%d, want 0 and 1", g.Nodes[0].Rank, start, states[start].Rank)
	}
	for i, a := range g.Nodes {
		if a.X-a.W/2 < 0 || a.X+a.W/2 > g.Width || a.Y-a.H/2 < 0 || a.Y+a.H/2 > g.Height {
			t.Fatalf("node %s at %d,%d (%dx%d) is outside %dx%d", a.Name, a.X, a.Y, a.W, a.H, g.Width, g.Height)
		}
		for _, b := range g.Nodes[i+1:] {
			if a.Y == b.Y && abs(a.X-b.X) < (a.W+b.W)/2 {
				t.Fatalf("nodes %s and %s overlap at y=%d", a.Name, b.Name, a.Y)
			}
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestPlaygroundConversation(t *testing.T) {
	store := memstore.New()
	quiet := "name: quiet\nlines: [9]\nstart: ask\nstates:\n  ask:\n    ask: \"Anything?\"\n    save: x\n    on_fail: ask\n    next: ask\n"
	e := newPGEnv(t, pgDir(t, []string{"../examples/support.yaml"}, map[string]string{"quiet.yaml": quiet}), store, Config{})

	r := e.pg("s1", `{"scenario":"support","type":"start","client":"Anna"}`)
	if got := actionTypes(t, r.Actions); !reflect.DeepEqual(got, []string{"greet", "say"}) {
		t.Fatalf("start actions=%v, want greet, say", got)
	}
	if r.Dialog.Key != "pg:s1" || r.Dialog.State != "welcome" || r.Dialog.Line != 1 {
		t.Fatalf("dialog=%+v, want pg:s1 in welcome on line 1", r.Dialog)
	}
	r = e.pg("s1", `{"type":"button","button":1}`)
	if r.Dialog.State != "ask_name" {
		t.Fatalf("state=%q after button 1, want ask_name", r.Dialog.State)
	}
	r = e.pg("s1", `{"scenario":"support","type":"message","text":"anna"}`)
	if r.Dialog.State != "ask_email" {
		t.Fatalf("state=%q, want ask_email", r.Dialog.State)
	}
	var d DialogView
	e.must(http.MethodGet, "/playground/api/dialogs/s1", "", &d)
	if d.State != "ask_email" || d.Fields["name"] != "Anna" || d.Status != "active" {
		t.Fatalf("dialog=%+v, want ask_email, active, name=Anna", d)
	}
	r = e.pg("s1", `{"type":"message","text":"anna@example.com"}`)
	if got := actionTypes(t, r.Actions); !reflect.DeepEqual(got, []string{"say", "crm", "finish"}) || r.Dialog.Status != "finished" {
		t.Fatalf("actions=%v status=%q, want say, crm, finish and finished", got, r.Dialog.Status)
	}

	// marked as a playground dialog, no portal calls
	rec, err := store.Dialog(t.Context(), "pg:s1")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Channel.Playground {
		t.Fatalf("channel=%+v, want a playground one", rec.Channel)
	}
	if calls, err := store.Calls(t.Context(), "pg:s1"); err != nil || len(calls) != 0 {
		t.Fatalf("calls=%v err=%v, want none", calls, err)
	}

	// "client goes silent" fast-forwards the scenario's idle time (15m → bye)
	e.pg("s2", `{"scenario":"support","type":"start"}`)
	r = e.pg("s2", `{"type":"idle"}`)
	if r.Dialog.State != "bye" || r.Dialog.Status != "finished" {
		t.Fatalf("after idle: %s/%s, want bye/finished", r.Dialog.State, r.Dialog.Status)
	}
	// idle in a scenario without idle is explained, not an error
	e.pg("s3", `{"scenario":"quiet","type":"start"}`)
	r = e.pg("s3", `{"type":"idle"}`)
	if r.Outcome != "ignored" || !strings.Contains(r.Reason, "idle is off") {
		t.Fatalf("outcome=%q reason=%q, want ignored: idle is off", r.Outcome, r.Reason)
	}
	r = e.pg("s3", `{"type":"close"}`)
	if r.Dialog.Status != "finished" {
		t.Fatalf("after close: %q, want finished", r.Dialog.Status)
	}
}

func TestPlaygroundBadRequests(t *testing.T) {
	e := newPGEnv(t, pgDir(t, []string{"../examples/support.yaml"}, nil), memstore.New(), Config{})
	e.pg("ok", `{"scenario":"support","type":"start"}`)
	tests := []struct {
		name, method, path, body string
		status                   int
		field, contains          string
	}{
		{"session with a slash-like char", "POST", "/playground/api/dialogs/a.b/events", `{"scenario":"support","type":"start"}`, 400, "session", "letters, digits"},
		{"session too long", "POST", "/playground/api/dialogs/" + strings.Repeat("a", 65) + "/events", `{"scenario":"support","type":"start"}`, 400, "session", "1 to 64"},
		{"unknown type", "POST", "/playground/api/dialogs/x1/events", `{"scenario":"support","type":"jump"}`, 400, "type", "unknown event type"},
		{"no type", "POST", "/playground/api/dialogs/x1/events", `{"scenario":"support"}`, 400, "type", "missing"},
		{"unknown scenario", "POST", "/playground/api/dialogs/x1/events", `{"scenario":"nope","type":"start"}`, 400, "scenario", `unknown scenario "nope"`},
		{"unknown field", "POST", "/playground/api/dialogs/x1/events", `{"scenario":"support","type":"start","dialog":"x"}`, 400, "dialog", "unknown field"},
		{"not JSON", "POST", "/playground/api/dialogs/x1/events", `start`, 400, "", "malformed JSON"},
		{"empty body", "POST", "/playground/api/dialogs/x1/events", ``, 400, "", "empty"},
		{"no such button", "POST", "/playground/api/dialogs/ok/events", `{"type":"button","button":9}`, 400, "*", "no such button"},
		{"unknown dialog", "GET", "/playground/api/dialogs/never", ``, 404, "", "no playground dialog"},
		{"funnel of an unknown scenario", "GET", "/playground/api/funnel/nope", ``, 404, "", "no live scenario"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, b := e.call(tc.method, tc.path, tc.body)
			if code != tc.status {
				t.Fatalf("status=%d, want %d: %s", code, tc.status, b)
			}
			var ae Error
			if err := json.Unmarshal(b, &ae); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if (tc.field != "*" && ae.Field != tc.field) || !strings.Contains(ae.Message, tc.contains) {
				t.Fatalf("error=%+v, want field %q and a message with %q", ae, tc.field, tc.contains)
			}
		})
	}
	// nothing was created by the rejected events
	if _, err := e.store.Dialog(t.Context(), "pg:x1"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("pg:x1: err=%v, want not found", err)
	}
}

// sseReader reads reload messages of the event stream.
type sseReader struct {
	t    *testing.T
	body io.ReadCloser
	msgs chan ReloadStatus
	done chan error
}

func openStream(t *testing.T, ctx context.Context, url, token string) *sseReader {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := &sseReader{t: t, body: resp.Body, msgs: make(chan ReloadStatus, 16), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "reload":
				var st ReloadStatus
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &st); err == nil {
					r.msgs <- st
				}
			}
		}
		r.done <- sc.Err()
	}()
	return r
}

func (r *sseReader) next(what string) ReloadStatus {
	r.t.Helper()
	select {
	case st := <-r.msgs:
		return st
	case err := <-r.done:
		r.t.Fatalf("the stream ended (%v) while waiting for %s", err, what)
	case <-time.After(pgWait):
		r.t.Fatalf("no reload message for %s within %s", what, pgWait)
	}
	return ReloadStatus{}
}

func TestPlaygroundReloadStream(t *testing.T) {
	dir := pgDir(t, []string{"../examples/support.yaml", "../examples/faq.yaml"}, nil)
	e := newPGEnv(t, dir, memstore.New(), Config{AdminToken: "tok"})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := openStream(t, ctx, e.ts.URL+"/playground/api/events", "tok")
	first := s.next("the first message")
	if !first.OK || first.Version == "" || first.Scenarios["support"] == "" {
		t.Fatalf("first message %+v, want ok with versions", first)
	}

	// a broken save: the message names FILE:LINE:COL, the live version stays
	path := filepath.Join(dir, "support.yaml")
	src, _ := os.ReadFile(path)
	broken := strings.Replace(string(src), "next: thanks", "next: thnaks", 1)
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	e.reload()
	bad := s.next("the broken save")
	line := 1 + strings.Count(broken[:strings.Index(broken, "next: thnaks")], "\n")
	where := fmt.Sprintf("%s:%d:11", path, line)
	if bad.OK || len(bad.Errors) != 1 || len(bad.Errors[0].Problems) != 1 {
		t.Fatalf("message %+v, want one file with one problem", bad)
	}
	p := bad.Errors[0].Problems[0]
	if p.Where != where || !strings.HasPrefix(p.Text, where+": error: states.ask_email.next: unknown state \"thnaks\"") || !strings.Contains(p.Hint, `"thanks"`) {
		t.Fatalf("problem %+v, want it at %s with the hint", p, where)
	}
	if bad.Version != first.Version || bad.Errors[0].Live != first.Scenarios["support"] {
		t.Fatalf("version %q (live %q) after a broken save, want the last good %q", bad.Version, bad.Errors[0].Live, first.Version)
	}
	var st ReloadStatus
	e.must(http.MethodGet, "/playground/api/status", "", &st)
	if st.OK || len(st.Errors) != 1 || st.Errors[0].Problems[0].Where != where {
		t.Fatalf("status %+v, want the same error", st)
	}

	// the fix: a new version, no errors
	fixed := strings.Replace(string(src), "Thank you, {{name}}!", "Many thanks, {{name}}!", 1)
	if err := os.WriteFile(path, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	e.reload()
	good := s.next("the fix")
	if !good.OK || !good.Changed || good.Version == first.Version || good.Scenarios["support"] == first.Scenarios["support"] {
		t.Fatalf("message %+v, want ok, changed, new versions", good)
	}

	// the page goes away: the server forgets it
	cancel()
	waitUntil(t, "the subscriber to go", func() bool { return e.srv.pg.subscribers() == 0 })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(pgWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPlaygroundReloadNeverBlocks(t *testing.T) {
	e := newPGEnv(t, pgDir(t, []string{"../examples/support.yaml"}, nil), memstore.New(), Config{})
	ch, cancel, ok := e.srv.pg.subscribe()
	if !ok {
		t.Fatal("subscribe refused")
	}
	defer cancel()
	for i := 0; i < 10*sseBuffer; i++ { // nobody reads: the reload goroutine must not wait
		e.reload()
	}
	if len(ch) != sseBuffer {
		t.Fatalf("%d messages buffered, want %d", len(ch), sseBuffer)
	}
	var last ReloadStatus
	for len(ch) > 0 {
		if err := json.Unmarshal(<-ch, &last); err != nil {
			t.Fatal(err)
		}
	}
	if last.Seq != e.srv.pg.seq {
		t.Fatalf("last buffered message is #%d, want the newest #%d", last.Seq, e.srv.pg.seq)
	}
	e.srv.pg.shutdown()
	if _, _, ok := e.srv.pg.subscribe(); ok {
		t.Fatal("subscribe after shutdown was accepted")
	}
	e.reload() // after shutdown: nothing to send, no panic
}

// TestPlaygroundStreamEndsOnClose: a stream outlives the server's write
// timeout, and an open page does not hold Close up.
func TestPlaygroundStreamEndsOnClose(t *testing.T) {
	dir := pgDir(t, []string{"../examples/support.yaml"}, nil)
	const writeTimeout = 100 * time.Millisecond
	srv := Assemble(t, Config{Listen: "127.0.0.1:0", ShutdownGrace: 5 * time.Second, WriteTimeout: writeTimeout}, Wiring{Store: memstore.New(), Registry: scenarios.NewRegistry(dir, nil)})
	if err := srv.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := openStream(t, t.Context(), "http://"+srv.Addr()+"/playground/api/events", "")
	s.next("the first message")
	time.Sleep(3 * writeTimeout) // past the write deadline a plain response would have
	if _, err := srv.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if msg := s.next("a reload after the write timeout"); msg.Trigger == "" {
		t.Fatalf("message %+v, want one from the reload", msg)
	}
	// Shutdown returns an error when a connection is still active at the
	// end of the grace period: a stream that outlived it would show here.
	if err := srv.Close(); err != nil {
		t.Fatalf("close with an open stream: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(pgWait):
		t.Fatal("the stream is still open after Close")
	}
}

// funnelTraffic drives real (API) dialogs of shop through every kind of count.
func funnelTraffic(e *pgEnv) {
	e.t.Helper()
	ev := func(id, body string) EventResponse {
		return e.api(`{"dialog":"` + id + `",` + body + `}`)
	}
	ev("a", `"line":7,"type":"start"`)
	ev("a", `"type":"button","button":1`)
	if r := ev("a", `"type":"message","text":"a@example.com"`); r.Dialog.Status != "finished" {
		e.t.Fatalf("a: %+v, want finished", r.Dialog)
	}
	ev("b", `"line":7,"type":"start"`)
	if r := ev("b", `"type":"message","text":"operator please"`); r.Dialog.State != "person" || r.Dialog.Status != "handed_off" {
		e.t.Fatalf("b: %+v, want handed off in person", r.Dialog)
	}
	ev("c", `"line":7,"type":"start"`)
	ev("c", `"type":"button","button":2`)
	ev("d", `"line":7,"type":"start"`)
	ev("d", `"type":"button","button":1`)
	ev("d", `"type":"message","text":"not an email"`)
	if r := ev("d", `"type":"message","text":"still not"`); r.Dialog.State != "ask_email" || r.Dialog.Status != "handed_off" {
		e.t.Fatalf("d: %+v, want handed off in ask_email (retries used up)", r.Dialog)
	}
	ev("e", `"line":7,"type":"start"`)
	ev("e", `"type":"button","button":1`)
	e.clock.Advance(2 * time.Minute)
	if n, err := e.srv.Dialogs.SweepIdle(e.t.Context()); err != nil || n != 1 {
		e.t.Fatalf("idle sweep handled %d (err %v), want 1", n, err)
	}
	ev("f", `"line":7,"type":"start"`) // waits in hello
	// a playground dialog is not real traffic
	e.pg("pg1", `{"scenario":"shop","type":"start"}`)
	e.pg("pg1", `{"type":"button","button":2}`)
}

func wantShopFunnel(t *testing.T, f funnel.Funnel) {
	t.Helper()
	want := funnel.Funnel{
		Scenario: "shop",
		Started:  6,
		Entered:  map[string]int64{"hello": 6, "ask_email": 3, "done": 1, "person": 3},
		Edges: map[string]int64{
			"[*] -> hello": 6, "hello -> ask_email": 3, "hello -> person": 2, "ask_email -> person": 1,
			"ask_email -> ask_email": 1, "ask_email -> [*]": 1, "ask_email -> done": 1, "done -> [*]": 1, "person -> [*]": 3,
		},
		Active:    map[string]int64{"hello": 1},
		Finished:  map[string]int64{"done": 1},
		HandedOff: map[string]int64{"person": 3, "ask_email": 1},
		Reasons:   map[string]int64{"command": 1, "asked": 1, "retries": 1, "idle": 1},
	}
	got := f
	got.Since, got.Updated = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.MarshalIndent(got, "", " ")
		wb, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("funnel:\n%s\nwant:\n%s", gb, wb)
	}
}

func TestFunnelCountsRealTraffic(t *testing.T) {
	store := memstore.New()
	e := newPGEnv(t, pgDir(t, nil, map[string]string{"shop.yaml": shopYAML}), store, Config{})
	funnelTraffic(e)
	var v funnel.FunnelView
	e.must(http.MethodGet, "/playground/api/funnel/shop", "", &v)
	wantShopFunnel(t, v.Funnel)
	if v.TotalActive != 1 || v.TotalFinished != 1 || v.TotalHandedOff != 4 || v.Version == "" {
		t.Fatalf("totals active=%d finished=%d handed off=%d version=%q, want 1, 1, 4 and the version", v.TotalActive, v.TotalFinished, v.TotalHandedOff, v.Version)
	}
	// every counted arrow is an arrow of the diagram
	keys := map[string]bool{}
	for _, ge := range e.srv.registry.Current().Set.ByName["shop"].Layout().Edges {
		keys[ge.Key] = true
	}
	for k := range v.Edges {
		if !keys[k] {
			t.Errorf("counted arrow %q is not on the diagram", k)
		}
	}
	var all map[string]map[string]funnel.FunnelView
	e.must(http.MethodGet, "/playground/api/funnel", "", &all)
	wantShopFunnel(t, all["scenarios"]["shop"].Funnel)

	// written to the store's key-value space, read back by another server
	if err := e.srv.Funnel.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, err := store.Get(t.Context(), funnel.NSFunnel, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var stored funnel.Funnel
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	wantShopFunnel(t, stored)
	if stored.Since.IsZero() || stored.Updated.IsZero() {
		t.Fatalf("since=%v updated=%v, want both set", stored.Since, stored.Updated)
	}
	e2 := newPGEnv(t, e.dir, store, Config{})
	e2.must(http.MethodGet, "/playground/api/funnel/shop", "", &v)
	wantShopFunnel(t, v.Funnel)

	// a second flush adds only what is new
	e.api(`{"dialog":"g","line":7,"type":"start"}`)
	if err := e.srv.Funnel.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Funnel.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, _ = store.Get(t.Context(), funnel.NSFunnel, "shop")
	stored = funnel.Funnel{}
	_ = json.Unmarshal(raw, &stored)
	if stored.Started != 7 || stored.Active["hello"] != 2 {
		t.Fatalf("after one more start: started=%d active=%v, want 7 and hello=2", stored.Started, stored.Active)
	}
}

// TestFunnelAcrossRestart: Close writes the counts, Open reads them and
// recounts the waiting dialogs from the records (bolt store on disk).
func TestFunnelAcrossRestart(t *testing.T) {
	dir := pgDir(t, nil, map[string]string{"shop.yaml": shopYAML})
	db := filepath.Join(t.TempDir(), "olbot.db")
	open := func() (*Replica, *bolt.Store) {
		st, err := bolt.Open(db, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		srv := Assemble(t, Config{Listen: "127.0.0.1:0", ShutdownGrace: 5 * time.Second}, Wiring{Store: st, Registry: scenarios.NewRegistry(dir, nil)})
		if err := srv.Open(t.Context()); err != nil {
			t.Fatal(err)
		}
		return srv, st
	}
	post := func(srv *Replica, body string) {
		t.Helper()
		resp, err := http.Post("http://"+srv.Addr()+"/v1/events", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
	srv, st := open()
	post(srv, `{"dialog":"a","line":7,"type":"start"}`)
	post(srv, `{"dialog":"b","line":7,"type":"start"}`)
	post(srv, `{"dialog":"b","type":"button","button":1}`)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// drift the saved "waiting now" counts, as a crash could
	raw, err := st.Get(t.Context(), funnel.NSFunnel, "shop")
	if err != nil {
		t.Fatalf("no funnel written on Close: %v", err)
	}
	var f funnel.Funnel
	_ = json.Unmarshal(raw, &f)
	if f.Started != 2 || f.Active["hello"] != 1 || f.Active["ask_email"] != 1 {
		t.Fatalf("written on Close: %+v, want started=2, hello=1, ask_email=1", f)
	}
	f.Active = map[string]int64{"hello": 40}
	raw, _ = json.Marshal(f)
	if err := st.Put(t.Context(), funnel.NSFunnel, "shop", raw); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	srv, st = open()
	defer st.Close()
	defer srv.Close()
	got, err := srv.Funnel.View(t.Context(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if got.Started != 2 || !reflect.DeepEqual(got.Active, map[string]int64{"hello": 1, "ask_email": 1}) {
		t.Fatalf("after restart: started=%d active=%v, want 2 and the recount hello=1, ask_email=1", got.Started, got.Active)
	}
}

// TestPlaygroundClock: an event's at sets the time conditions see, so the
// page reaches a scenario's after-hours branch; the answer names the clock in
// the scenario's time zone, and a bad time is refused before anything runs.
func TestPlaygroundClock(t *testing.T) {
	e := newPGEnv(t, pgDir(t, []string{"../examples/shop.yaml"}, nil), memstore.New(), Config{})
	pgClockOf := func(session, body string) PGEventResponse {
		t.Helper()
		var r PGEventResponse
		e.must(http.MethodPost, "/playground/api/dialogs/"+session+"/events", body, &r)
		return r
	}
	tests := []struct {
		name, at, state, clock string
	}{
		{"saturday evening is after hours", "2027-01-09T20:00", "after_hours", "Sat 2027-01-09 20:00 MSK"},
		{"monday morning is open", "2027-01-11T10:00", "ask_total", "Mon 2027-01-11 10:00 MSK"},
		{"a holiday is closed", "2027-01-07T12:00", "after_hours", "Thu 2027-01-07 12:00 MSK"},
		{"RFC 3339 in UTC", "2027-01-11T07:30:00Z", "ask_total", "Mon 2027-01-11 10:30 MSK"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			session := fmt.Sprintf("clock%d", i)
			r := pgClockOf(session, `{"scenario":"shop","type":"start","client":"Ann","at":"`+tc.at+`"}`)
			if r.Dialog.State != tc.state || r.Clock != tc.clock {
				t.Fatalf("state=%q clock=%q, want %q %q", r.Dialog.State, r.Clock, tc.state, tc.clock)
			}
		})
	}
	// a running dialog's event without a scenario still reads the clock in
	// its scenario's zone; without at the event carries the server's now
	r := pgClockOf("clock0", `{"type":"message","text":"+7 999 123-45-67","at":"2027-01-09T20:05"}`)
	if r.Clock != "Sat 2027-01-09 20:05 MSK" || r.Dialog.Fields["phone"] != "+79991234567" {
		t.Fatalf("clock=%q fields=%v", r.Clock, r.Dialog.Fields)
	}
	if r := pgClockOf("now", `{"scenario":"shop","type":"start"}`); r.Clock != "Sun 2026-03-01 13:00 MSK" {
		t.Fatalf("without at: clock=%q, want the server's now", r.Clock)
	}

	for _, at := range []string{"tonight", "2027-13-01T10:00", "2027-01-09", strings.Repeat("9", 50)} {
		t.Run("bad "+at[:min(len(at), 12)], func(t *testing.T) {
			code, b := e.call(http.MethodPost, "/playground/api/dialogs/badclock/events", `{"scenario":"shop","type":"start","at":"`+at+`"}`)
			var ae Error
			if err := json.Unmarshal(b, &ae); err != nil || code != http.StatusBadRequest || ae.Field != "at" || !strings.Contains(ae.Message, "is not a time") {
				t.Fatalf("status=%d body=%s, want 400 naming at", code, b)
			}
		})
	}
	if _, err := e.store.Dialog(t.Context(), "pg:badclock"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("pg:badclock: err=%v, want not found", err)
	}
}
