package server

// End-to-end test harness: the real server (New + Open on 127.0.0.1:0) with a
// bolt store in t.TempDir() or a memory store, a scenario folder copied from
// examples/ and testdata/, and the in-repo fake Bitrix24 portal, driven over
// HTTP exactly as a portal would drive it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/retention"
	"github.com/olbot/olbot/scenarios"
)

// waitTimeout bounds every wait for an outcome; the tests never assert on timing.
const waitTimeout = 10 * time.Second

// waitFor polls cond until it reports true, failing the test with what and
// cond's last detail after waitTimeout.
func waitFor(tb testing.TB, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s; last seen: %s", waitTimeout, what, detail)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testClock is an injectable clock that moves only when told to.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Now().Truncate(time.Second)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuf collects the server's log; it is printed when a test fails.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newPortal starts a fake portal with its rate limit off (unless cfg sets one).
func newPortal(tb testing.TB, cfg fakeportal.Config) *fakeportal.Portal {
	tb.Helper()
	if cfg.Burst == 0 {
		cfg.Burst = -1
	}
	p, srv := fakeportal.NewServer(cfg)
	tb.Cleanup(srv.Close)
	return p
}

// localApp is the local-application configuration for portal p: tokens from
// ONAPPINSTALL, refreshed through the fake's OAuth endpoint.
func localApp(p *fakeportal.Portal) outbox.Config {
	c := p.Config()
	return outbox.Config{AppClientID: c.ClientID, AppClientSecret: c.ClientSecret, OAuthURL: p.TokenURL(), Rate: 1000, Burst: 1000}
}

// webhookMode is the incoming-webhook configuration for portal p.
func webhookMode(e *env, p *fakeportal.Portal, clientID, secret string) {
	e.ob = outbox.Config{Webhook: p.WebhookURL(), ClientID: clientID, Rate: 1000, Burst: 1000}
	e.cfg.Bitrix24.HandlerSecret = secret
}

// scenarioDir makes a scenario folder with copies of files (paths relative
// to the package folder, e.g. ../examples/support.yaml, testdata/echo.yaml).
func scenarioDir(tb testing.TB, files ...string) string {
	tb.Helper()
	dir := tb.TempDir()
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		writeFile(tb, dir, filepath.Base(f), string(src))
	}
	return dir
}

// defaultScenarios are support (lines 1, 3), faq (default), echo (line 5)
// and sleepy (line 6).
func defaultScenarios(tb testing.TB) string {
	return scenarioDir(tb, "../examples/support.yaml", "../examples/faq.yaml", "testdata/echo.yaml", "testdata/sleepy.yaml")
}

func writeFile(tb testing.TB, dir, name, content string) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// env is one olbot server under test, restartable on the same store file.
type env struct {
	t       testing.TB
	portal  *fakeportal.Portal
	dir     string // scenario folder
	bolt    bool   // a bolt store in a temp folder (restartable); default memory
	db      string // the bolt file
	cfg     Config
	clock   *testClock              // nil: time.Now
	backoff func(int) time.Duration // retry delay; default 20ms
	logs    *logBuf

	ob    outbox.Config // how the outbox reaches the portal
	idle  time.Duration // idle sweep interval; default an hour
	keep  retention.Config
	srv   *Replica
	store engine.Store
	base  string // http://127.0.0.1:port
}

// newEnv prepares a server with a memory store (fix sets bolt for a bolt
// file in a temp folder), the default scenarios, fast retries and a high
// portal rate; fix applies changes, then start starts it.
func newEnv(tb testing.TB, p *fakeportal.Portal, fix func(*env)) *env {
	tb.Helper()
	e := &env{t: tb, portal: p, logs: &logBuf{},
		backoff: func(int) time.Duration { return 20 * time.Millisecond }}
	e.cfg = Config{Listen: "127.0.0.1:0", Debounce: 50 * time.Millisecond, ShutdownGrace: 5 * time.Second}
	if p != nil {
		e.ob = localApp(p)
	}
	if fix != nil {
		fix(e)
	}
	if e.dir == "" {
		e.dir = defaultScenarios(tb)
	}
	if e.bolt {
		e.db = filepath.Join(tb.TempDir(), "olbot.db")
	}
	tb.Cleanup(func() {
		e.stop()
		if tb.Failed() {
			tb.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// startEnv is newEnv + start.
func startEnv(tb testing.TB, p *fakeportal.Portal, fix func(*env)) *env {
	tb.Helper()
	e := newEnv(tb, p, fix)
	e.start()
	return e
}

func (e *env) start() {
	e.t.Helper()
	if e.db == "" {
		e.store = memstore.New()
	} else {
		st, err := bolt.Open(e.db, bolt.Options{})
		if err != nil {
			e.t.Fatal(err)
		}
		e.store = st
	}
	w := Wiring{Store: e.store, Registry: scenarios.NewRegistry(e.dir, nil), Outbox: e.ob, Backoff: e.backoff, Idle: e.idle, Retention: e.keep,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if e.clock != nil {
		w.Now = e.clock.Now
	}
	srv := Assemble(e.t, e.cfg, w)
	if err := srv.Open(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	e.base = "http://" + srv.Addr()
}

// stop closes the server (flushing what the portal accepts) and the store.
func (e *env) stop() {
	if e.srv == nil {
		return
	}
	if err := e.srv.Close(); err != nil {
		e.t.Errorf("close server: %v", err)
	}
	if err := e.store.Close(); err != nil {
		e.t.Errorf("close store: %v", err)
	}
	e.srv, e.store = nil, nil
}

// restart stops the server and starts a new one on the same address, store
// file and scenario folder, as after a crash or a deploy; between runs while
// no server is up.
func (e *env) restart(between func()) {
	e.t.Helper()
	addr := e.srv.Addr()
	e.stop()
	if between != nil {
		between()
	}
	e.cfg.Listen = addr
	e.start()
}

// member is the fake portal's member_id.
func (e *env) member() string { return e.portal.Config().MemberID }

// key is the dialog key of a portal chat.
func (e *env) key(chat *fakeportal.Chat) string {
	return engine.KeyPortal + e.member() + ":chat" + strconv.Itoa(chat.ChatID)
}

// request sends an HTTP request to the server and returns the status and body.
func (e *env) request(method, path, contentType string, body io.Reader, token string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// api calls an admin route with the configured admin token; body is JSON-encoded unless it is a string.
func (e *env) api(method, path string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	ct := "application/json"
	if strings.HasPrefix(path, "/v1/scenarios/check") {
		ct = "application/yaml" // the body is the scenario file
	}
	return e.request(method, path, ct, r, e.cfg.AdminToken)
}

// event posts one /v1/events request and decodes the answer, requiring 200.
func (e *env) event(req EventRequest) EventResponse {
	e.t.Helper()
	status, body := e.api(http.MethodPost, "/v1/events", req)
	if status != http.StatusOK {
		e.t.Fatalf("POST /v1/events %+v: %d %s", req, status, body)
	}
	var resp EventResponse
	mustJSON(e.t, body, &resp)
	return resp
}

// dialog reads GET /v1/dialogs/{id}, requiring 200.
func (e *env) dialog(id string) DialogView {
	e.t.Helper()
	status, body := e.api(http.MethodGet, "/v1/dialogs/"+id, nil)
	if status != http.StatusOK {
		e.t.Fatalf("GET /v1/dialogs/%s: %d %s", id, status, body)
	}
	var v DialogView
	mustJSON(e.t, body, &v)
	return v
}

// record reads a dialog record straight from the store.
func (e *env) record(key string) engine.Dialog {
	e.t.Helper()
	d, err := e.store.Dialog(context.Background(), key)
	if err != nil {
		e.t.Fatalf("dialog %s: %v", key, err)
	}
	return d
}

func mustJSON(tb testing.TB, b []byte, v any) {
	tb.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("body %q is not the expected JSON: %v", b, err)
	}
}

// postForm posts a portal event body to /bitrix24/events (query: "k=…" or
// "") and returns the status and the decoded JSON answer.
func (e *env) postForm(form url.Values, query string) (int, map[string]any) {
	e.t.Helper()
	target := e.base + "/bitrix24/events"
	if query != "" {
		target += "?" + query
	}
	resp, err := e.portal.Post(context.Background(), target, form)
	if err != nil {
		e.t.Fatalf("post %s: %v", form.Get("event"), err)
	}
	return decodeResp(e.t, resp)
}

func decodeResp(tb testing.TB, resp *http.Response) (int, map[string]any) {
	tb.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	mustJSON(tb, b, &m)
	return resp.StatusCode, m
}

// send posts a chat's event to the handler the bot registered on the portal,
// as the portal does, and requires 200.
func (e *env) send(chat *fakeportal.Chat, form url.Values) map[string]any {
	e.t.Helper()
	resp, err := chat.Send(context.Background(), form)
	if err != nil {
		e.t.Fatalf("send %s: %v", form.Get("event"), err)
	}
	status, body := decodeResp(e.t, resp)
	if status != http.StatusOK {
		e.t.Fatalf("%s for chat %d: %d %v", form.Get("event"), chat.ChatID, status, body)
	}
	return body
}

// install posts ONAPPINSTALL, requires 200 and waits until the bot's
// registration reached the portal and its id is on the install record.
func (e *env) install() int {
	e.t.Helper()
	status, body := e.postForm(e.portal.InstallEvent(), "")
	if status != http.StatusOK {
		e.t.Fatalf("ONAPPINSTALL: %d %v", status, body)
	}
	var bot int
	waitFor(e.t, "the bot registration", func() (bool, string) {
		in, err := e.srv.Outbox.Portals().Get(context.Background(), e.member())
		if err != nil {
			return false, err.Error()
		}
		bot = in.BotID
		return bot > 0, fmt.Sprintf("install record %+v, bots %+v", in, e.portal.Bots())
	})
	// and the bindings of ONAPPUNINSTALL and ONAPPUPDATE, queued with it
	waitFor(e.t, "the event bindings", func() (bool, string) {
		return len(e.portal.Bound(bitrix24.EventAppUninstall)) == 1 && len(e.portal.Bound(bitrix24.EventAppUpdate)) == 1, "not bound yet"
	})
	return bot
}

// chat opens a client chat on a line of the fake portal.
func (e *env) chat(line, chatID int, name string) *fakeportal.Chat {
	return e.portal.Chat(line, chatID, bitrix24.User{FirstName: name, LastName: "Petrova"})
}

// settle waits until the outbox holds no call waiting for delivery (parked
// ones excepted). It sees every call of the events the server acknowledged;
// for steps the server commits by itself (the idle sweeper) wait for their
// calls first: the depth counter may lag a commit that is already visible.
func (e *env) settle() {
	e.t.Helper()
	waitFor(e.t, "the outbox to drain", func() (bool, string) {
		pending, parked, err := e.store.Depth(context.Background())
		return err == nil && pending == 0, fmt.Sprintf("pending=%d parked=%d err=%v", pending, parked, err)
	})
}

// call renders a portal call as "method {params}" with canonical params
// (see fakeportal.CanonicalParams), leaving out auth and CLIENT_ID.
func call(c fakeportal.Call) string {
	return c.Method + " " + fakeportal.CanonicalParams(c.Params)
}

// want renders an expected call like call does; params is JSON.
func want(tb testing.TB, method, params string) string {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(params))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("expected params of %s: %v", method, err)
	}
	return method + " " + fakeportal.CanonicalParams(m)
}

// delivered returns the portal's successful calls that match keep, rendered by call.
func delivered(p *fakeportal.Portal, keep func(fakeportal.Call) bool) []string {
	var out []string
	for _, c := range p.Calls() {
		if c.OK() && keep(c) {
			out = append(out, call(c))
		}
	}
	return out
}

// about selects the calls about one chat: CHAT_ID, DIALOG_ID, or its lead.
func about(chat *fakeportal.Chat) func(fakeportal.Call) bool {
	dialog := "chat" + strconv.Itoa(chat.ChatID)
	return func(c fakeportal.Call) bool {
		if strings.HasPrefix(c.Method, "crm.lead.") {
			return chat.LeadID != 0 && c.Int("id") == chat.LeadID
		}
		return c.Int("CHAT_ID") == chat.ChatID || c.Str("DIALOG_ID") == dialog
	}
}

// checkCalls compares delivered calls with the expected ones, line by line.
func checkCalls(tb testing.TB, got, want []string) {
	tb.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	var b strings.Builder
	for i := 0; i < max(len(got), len(want)); i++ {
		g, w := "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		mark := "  "
		if g != w {
			mark = "✗ "
		}
		fmt.Fprintf(&b, "%s%d\n     got: %s\n    want: %s\n", mark, i+1, g, w)
	}
	tb.Fatalf("portal calls differ:\n%s", b.String())
}

// waitDelivered waits until n successful calls match keep and returns them.
func waitDelivered(tb testing.TB, p *fakeportal.Portal, n int, keep func(fakeportal.Call) bool) []string {
	tb.Helper()
	var got []string
	waitFor(tb, fmt.Sprintf("%d delivered calls", n), func() (bool, string) {
		got = delivered(p, keep)
		return len(got) >= n, strings.Join(got, "\n")
	})
	return got
}

// errorBody is the JSON error every route answers with.
type errorBody struct {
	Code  string `json:"code"`
	Error string `json:"error"`
	Field string `json:"field"`
}

func parseError(tb testing.TB, b []byte) errorBody {
	tb.Helper()
	var e errorBody
	mustJSON(tb, b, &e)
	if e.Error == "" {
		tb.Fatalf("error body %s has no message", b)
	}
	return e
}

// supportFlow is the exact sequence of portal calls for the support
// scenario's happy path with one bad email, for a chat whose lead is known.
func supportFlow(tb testing.TB, chat *fakeportal.Chat, bot int, client string) []string {
	tb.Helper()
	dialog := fmt.Sprintf(`"DIALOG_ID":"chat%d","BOT_ID":%d`, chat.ChatID, bot)
	kb := fmt.Sprintf(`{"BOT_ID":%d,"BUTTONS":[{"TEXT":"Leave a request","ACTION":"SEND","ACTION_VALUE":"Leave a request","DISPLAY":"LINE"},{"TEXT":"Talk to a person","ACTION":"SEND","ACTION_VALUE":"Talk to a person","DISPLAY":"LINE"}]}`, bot)
	email := strings.ToLower(client) + "@example.com"
	return []string{
		want(tb, "imopenlines.bot.session.message.send", fmt.Sprintf(`{"CHAT_ID":%d,"NAME":"DEFAULT","MESSAGE":"Hello, %s! I am the support assistant."}`, chat.ChatID, client)),
		want(tb, "imbot.message.add", `{`+dialog+`,"MESSAGE":"[SEND=1]1. Leave a request[/SEND][BR][SEND=2]2. Talk to a person[/SEND]","KEYBOARD":`+kb+`}`),
		want(tb, "imbot.message.add", `{`+dialog+`,"MESSAGE":"How may I call you?"}`),
		want(tb, "imbot.message.add", `{`+dialog+`,"MESSAGE":"`+client+`, what is your email?"}`),
		want(tb, "imbot.message.add", `{`+dialog+`,"MESSAGE":"That does not look like an email. Example: anna@example.com"}`),
		want(tb, "imbot.message.add", `{`+dialog+`,"MESSAGE":"Thank you, `+client+`! We will write to `+email+`."}`),
		want(tb, "crm.lead.update", fmt.Sprintf(`{"id":%d,"fields":{"NAME":"%s","EMAIL":[{"VALUE":"%s","VALUE_TYPE":"WORK"}]}}`, chat.LeadID, client, email)),
		want(tb, "imopenlines.bot.session.finish", fmt.Sprintf(`{"CHAT_ID":%d}`, chat.ChatID)),
	}
}

// supportEvents are the client's side of supportFlow: join, then messages.
func supportEvents(chat *fakeportal.Chat, client string) []func() url.Values {
	return []func() url.Values{
		chat.Join,
		func() url.Values { return chat.Say("Leave a request") },
		func() url.Values { return chat.Say(strings.ToLower(client)) },
		func() url.Values { return chat.Say("not an email") },
		func() url.Values { return chat.Say(strings.ToLower(client) + "@example.com") },
	}
}
