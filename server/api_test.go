package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/scenarios"
)

// positioned matches a FILE:LINE:COL error of a file.
func positioned(file string) *regexp.Regexp {
	return regexp.MustCompile(regexp.QuoteMeta(file) + `:\d+:\d+: `)
}

func TestAPIEvents(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	e.install()

	resp := e.event(EventRequest{Dialog: "a1", Line: 1, Type: "start", Client: "Anna"})
	if resp.Outcome != "applied" || resp.Dialog.Key != "api:a1" || resp.Dialog.Scenario != "support" || resp.Dialog.State != "welcome" {
		t.Fatalf("start: %+v", resp)
	}
	wantActions := `[{"type":"greet","text":"Hello, Anna! I am the support assistant."},{"type":"say","text":"","buttons":["Leave a request","Talk to a person"],"numbered":true}]`
	if string(resp.Actions) != wantActions {
		t.Fatalf("start actions\n got %s\nwant %s", resp.Actions, wantActions)
	}
	resp = e.event(EventRequest{Dialog: "a1", Type: "button", Button: 1})
	if string(resp.Actions) != `[{"type":"say","text":"How may I call you?"}]` || resp.Dialog.State != "ask_name" {
		t.Fatalf("button 1: %+v %s", resp.Dialog, resp.Actions)
	}
	resp = e.event(EventRequest{Dialog: "a1", Type: "message", Text: "anna", ID: "m-1"})
	if resp.Dialog.Fields["name"] != "Anna" || resp.Dialog.State != "ask_email" {
		t.Fatalf("name: %+v", resp.Dialog)
	}
	if again := e.event(EventRequest{Dialog: "a1", Type: "message", Text: "anna", ID: "m-1"}); again.Outcome != "duplicate" || again.Dialog.Rev != resp.Dialog.Rev {
		t.Fatalf("the same event id again: %+v, want a duplicate", again)
	}
	before := e.dialog("a1")

	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantField  string
		wantIn     string
	}{
		{"unknown scenario", `{"dialog":"x1","scenario":"nope","type":"start"}`, 400, "scenario", `unknown scenario "nope"`},
		{"unknown event type", `{"dialog":"a1","type":"jump"}`, 400, "type", `unknown event type "jump"`},
		{"no event type", `{"dialog":"a1"}`, 400, "type", "missing"},
		{"a button the state does not show", `{"dialog":"a1","type":"button","button":3}`, 400, "button", "no buttons"},
		{"a button text the state does not show", `{"dialog":"a1","type":"button","text":"Maybe"}`, 400, "button", "Maybe"},
		{"a negative button", `{"dialog":"a1","type":"button","button":-1}`, 400, "button", "1 or more"},
		{"a button of a dialog that is not running", `{"dialog":"never-started","type":"button","button":1}`, 400, "button", "not running"},
		{"no dialog", `{"type":"start","line":1}`, 400, "dialog", "missing"},
		{"a dialog id with spaces", `{"dialog":"a 1","type":"start"}`, 400, "dialog", "spaces"},
		{"a negative line", `{"dialog":"x3","type":"start","line":-1}`, 400, "line", "positive"},
		{"an unknown field", `{"dialog":"a1","type":"message","txt":"hi"}`, 400, "txt", "unknown field"},
		{"a field of the wrong type", `{"dialog":"a1","type":"message","line":"one"}`, 400, "line", "expected int"},
		{"malformed JSON", `{"dialog":"a1",`, 400, "", "malformed JSON"},
		{"an empty body", ``, 400, "", "empty"},
		{"two objects", `{"dialog":"a1","type":"idle"} {}`, 400, "", "after the JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.api(http.MethodPost, "/v1/events", tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d %s, want %d", status, body, tc.wantStatus)
			}
			got := parseError(t, body)
			if got.Field != tc.wantField || got.Code != EInvalid || !strings.Contains(got.Error, tc.wantIn) {
				t.Fatalf("error %+v, want code invalid, field %q, message containing %q", got, tc.wantField, tc.wantIn)
			}
		})
	}
	if after := e.dialog("a1"); after.Rev != before.Rev || after.State != before.State {
		t.Fatalf("rejected events changed the dialog: %+v → %+v", before, after)
	}
	for _, id := range []string{"x1", "x3", "never-started"} {
		if status, _ := e.api(http.MethodGet, "/v1/dialogs/"+id, nil); status != http.StatusNotFound {
			t.Fatalf("a rejected event created dialog %s (GET: %d)", id, status)
		}
	}

	t.Run("an api dialog never addresses a portal chat", func(t *testing.T) {
		chat := e.chat(1, 9001, "Anna")
		e.send(chat, chat.Join())
		e.settle()
		portalKey := e.key(chat)
		rec := e.record(portalKey)
		calls := len(p.Calls())
		resp := e.event(EventRequest{Dialog: portalKey, Line: 1, Type: "message", Text: "Talk to a person"})
		if resp.Dialog.Key != engine.KeyAPI+portalKey {
			t.Fatalf("the event went to %q, want %q", resp.Dialog.Key, engine.KeyAPI+portalKey)
		}
		if !strings.Contains(string(resp.Actions), `"type":"operator"`) {
			t.Fatalf("actions %s: the api dialog should have been handed off", resp.Actions)
		}
		e.settle()
		if got := e.record(portalKey); got.Rev != rec.Rev || got.Status != engine.Active {
			t.Fatalf("the portal dialog changed: %+v → %+v", rec, got)
		}
		if n := len(p.Calls()); n != calls {
			t.Fatalf("an api event made %d portal calls", n-calls)
		}
		if d := e.dialog(engine.KeyAPI + portalKey); len(d.Calls) != 0 || d.Status != string(engine.HandedOff) {
			t.Fatalf("api dialog %+v: handed off, with no outbox calls", d)
		}
		if d := e.dialog(portalKey); d.Key != portalKey || d.State != "welcome" {
			t.Fatalf("GET of the portal key %+v", d)
		}
	})
}

// supportNoEmail is support.yaml without its ask_email state.
const supportNoEmail = `name: support
lines: [1, 3]
start: welcome
settings:
  on_missing_state: welcome
states:
  welcome:
    greet: "Hello, {{client}}!"
    menu:
      - text: Leave a request
        goto: ask_name
      - text: Talk to a person
        goto: handoff
    on_fail: handoff
  ask_name:
    ask: "How may I call you?"
    save: name
    type: name
    on_fail: handoff
    next: thanks
  thanks:
    say: "Thank you, {{name}}!"
    finish: true
  handoff:
    say: "Connecting you to an operator…"
    operator: any
  bye:
    say: "Bye"
    finish: true
`

// checkScenarioList: GET /v1/scenarios lists the live scenarios with
// their files, versions, lines and the default.
func checkScenarioList(t *testing.T, e *env, wantScenarios map[string]string) {
	t.Helper()
	var list ScenariosResponse
	status, body := e.api(http.MethodGet, "/v1/scenarios", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/scenarios: %d %s", status, body)
	}
	mustJSON(t, body, &list)
	if len(list.Scenarios) != len(wantScenarios) || list.Dir != e.dir || list.Version == "" || list.LoadedAt.IsZero() {
		t.Fatalf("scenarios %+v", list)
	}
	for _, sc := range list.Scenarios {
		src, err := os.ReadFile(filepath.Join(e.dir, wantScenarios[sc.Name]))
		if err != nil {
			t.Fatalf("scenario %q: %v", sc.Name, err)
		}
		if sc.Version != scenarios.Version(src) || sc.File != filepath.Join(e.dir, wantScenarios[sc.Name]) || sc.States == 0 {
			t.Fatalf("scenario %+v, want version %s of %s", sc, scenarios.Version(src), wantScenarios[sc.Name])
		}
		switch sc.Name {
		case "support":
			if !slices.Equal(sc.Lines, []int{1, 3}) || sc.Default {
				t.Fatalf("support %+v: lines [1 3], not default", sc)
			}
		case "faq":
			if !sc.Default {
				t.Fatalf("faq %+v: the default scenario", sc)
			}
		}
	}
}

// checkDryRun: POST /v1/scenarios/check says how many running dialogs a
// save would move, changes nothing, and refuses a bad file name.
func checkDryRun(t *testing.T, e *env) {
	// running dialogs: two wait for their email, one for its name; one is finished
	for _, id := range []string{"d1", "d2", "d3", "d4"} {
		e.event(EventRequest{Dialog: id, Line: 1, Type: "start"})
		e.event(EventRequest{Dialog: id, Type: "button", Button: 1})
	}
	for _, id := range []string{"d1", "d2", "d4"} {
		e.event(EventRequest{Dialog: id, Type: "message", Text: "Anna"})
	}
	e.event(EventRequest{Dialog: "d4", Type: "message", Text: "anna@example.com"})
	live := e.dialog("d1").Version

	status, body := e.api(http.MethodPost, "/v1/scenarios/check?file=support.yaml", supportNoEmail)
	var dry DryRunResponse
	mustJSON(t, body, &dry)
	want := DryRunResponse{File: filepath.Join(e.dir, "support.yaml"), OK: true, Scenario: "support", Version: scenarios.Version([]byte(supportNoEmail)),
		Live: live, Running: 3, Moved: map[string]int{"ask_email": 2}, MovedTo: "welcome", Removed: []string{"ask_email"}}
	if len(dry.Problems) != len(dry.Warnings) || len(dry.Problems) == 0 || !dry.Problems[0].Warning || dry.Problems[0].Line == 0 {
		t.Fatalf("dry run: problems %+v, want the warnings positioned", dry.Problems)
	}
	dry.Warnings, dry.Problems = nil, nil
	if status != http.StatusOK || !jsonEqual(dry, want) {
		t.Fatalf("dry run: %d %s\nwant %+v", status, body, want)
	}
	// nothing changed
	if d := e.dialog("d1"); d.State != "ask_email" || d.Version != live {
		t.Fatalf("the dry run changed a dialog: %+v", d)
	}

	status, body = e.api(http.MethodPost, "/v1/scenarios/check?file=support.yaml", "name: support\nstart: nowhere\nstates:\n  a:\n    say: hi\n")
	mustJSON(t, body, &dry)
	if status != http.StatusUnprocessableEntity || dry.OK || len(dry.Errors) == 0 || !positioned(filepath.Join(e.dir, "support.yaml")).MatchString(dry.Errors[0]) {
		t.Fatalf("dry run of a broken file: %d %s", status, body)
	}
	for _, q := range []string{"", "?file=", "?file=../etc/x.yaml", "?file=.hidden.yaml", "?file=/etc/x.yaml", "?file=a/../support.yaml", "?file=nofolder/x.yaml"} {
		status, body := e.api(http.MethodPost, "/v1/scenarios/check"+q, supportNoEmail)
		if got := parseError(t, body); status != http.StatusBadRequest || got.Field != "file" {
			t.Fatalf("dry run %q: %d %s, want 400 naming file", q, status, body)
		}
	}
}

func TestAPIScenarios(t *testing.T) {
	e := startEnv(t, nil, nil)
	status, body := e.api(http.MethodGet, "/v1/dialogs/nobody", nil)
	if got := parseError(t, body); status != http.StatusNotFound || got.Code != ENotFound || !strings.Contains(got.Error, "api:nobody") {
		t.Fatalf("unknown dialog: %d %s, want 404 not_found", status, body)
	}

	wantScenarios := map[string]string{"echo": "echo.yaml", "faq": "faq.yaml", "sleepy": "sleepy.yaml", "support": "support.yaml"}
	checkScenarioList(t, e, wantScenarios)

	status, body = e.api(http.MethodPost, "/v1/scenarios/reload", nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"changed":false`) {
		t.Fatalf("reload of an unchanged folder: %d %s", status, body)
	}

	// a broken file: the reload reports it with FILE:LINE:COL and keeps the rest
	bad := filepath.Join(e.dir, "broken.yaml")
	writeFile(t, e.dir, "broken.yaml", "name: broken\nlines: [4]\nstart: a\nstates:\n  a:\n    say: hi\n    next: nowhere\n")
	status, body = e.api(http.MethodPost, "/v1/scenarios/reload", nil)
	var reload struct {
		Errors    []string          `json:"errors"`
		Scenarios ScenariosResponse `json:"scenarios"`
	}
	mustJSON(t, body, &reload)
	if status != http.StatusUnprocessableEntity || len(reload.Errors) == 0 || !positioned(bad).MatchString(reload.Errors[0]) ||
		!strings.Contains(reload.Errors[0], `unknown state "nowhere"`) {
		t.Fatalf("reload with a broken file: %d %s", status, body)
	}
	if len(reload.Scenarios.Scenarios) != len(wantScenarios) {
		t.Fatalf("the broken file changed the live set: %+v", reload.Scenarios.Scenarios)
	}
	status, body = e.api(http.MethodGet, "/v1/scenarios", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/scenarios: %d %s", status, body)
	}
	var list ScenariosResponse
	mustJSON(t, body, &list)
	i := slices.IndexFunc(list.Files, func(f scenarios.FileStatus) bool { return f.File == bad })
	if i < 0 || !positioned(bad).MatchString(list.Files[i].Error) || list.Files[i].Version != "" {
		t.Fatalf("GET /v1/scenarios files %+v: want %s with its positioned error and no live version", list.Files, bad)
	}

	t.Run("dry run", func(t *testing.T) { checkDryRun(t, e) })
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestAdminToken(t *testing.T) {
	const token = "admin-s3cret"
	e := startEnv(t, nil, func(e *env) { e.cfg.AdminToken = token })
	routes := []struct{ method, path, contentType, body string }{
		{http.MethodPost, "/v1/events", "application/json", `{"dialog":"t1","line":1,"type":"start"}`},
		{http.MethodGet, "/v1/dialogs/t1", "", ""},
		{http.MethodGet, "/v1/scenarios", "", ""},
		{http.MethodPost, "/v1/scenarios/reload", "", ""},
		{http.MethodPost, "/v1/scenarios/check?file=support.yaml", "application/yaml", supportNoEmail},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			for _, tok := range []string{"", "wrong", token + "x"} {
				status, body := e.request(r.method, r.path, r.contentType, strings.NewReader(r.body), tok)
				if got := parseError(t, body); status != http.StatusUnauthorized || got.Code != EUnauthorized {
					t.Fatalf("token %q: %d %s, want 401", tok, status, body)
				}
			}
			if status, body := e.request(r.method, r.path, r.contentType, strings.NewReader(r.body), token); status != http.StatusOK {
				t.Fatalf("with the token: %d %s", status, body)
			}
		})
	}
	if status, _ := e.request(http.MethodGet, "/v1/dialogs/t1", "", nil, ""); status != http.StatusUnauthorized {
		t.Fatalf("GET without the token: %d", status)
	}
	// the probes and the portal's route need no bearer token
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if status, body := e.request(http.MethodGet, path, "", nil, ""); status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
	}
	if status, body := e.request(http.MethodPost, "/bitrix24/events", "application/x-www-form-urlencoded", strings.NewReader("event=ONIMBOTJOINCHAT"), ""); status != http.StatusBadRequest {
		t.Fatalf("POST /bitrix24/events without a bearer token: %d %s, want 400 for the body, not 401", status, body)
	}
}

func TestListenNeedsAdminToken(t *testing.T) {
	tests := []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:0", "", true},
		{"localhost:0", "", true},
		{"[::1]:0", "", true},
		{"0.0.0.0:0", "", false},
		{":0", "", false},
		{"[::]:0", "", false},
		{"192.0.2.10:8080", "", false},
		{"0.0.0.0:0", "t", true},
		{"nonsense", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr+"/"+tc.token, func(t *testing.T) {
			err := checkListen(tc.addr, tc.token)
			if (err == nil) != tc.ok {
				t.Fatalf("checkListen(%q, %q) = %v, want ok=%v", tc.addr, tc.token, err, tc.ok)
			}
		})
	}
	// the server itself refuses to open
	srv := Assemble(t, Config{Listen: "0.0.0.0:0"}, Wiring{Store: memstore.New(), Registry: scenarios.NewRegistry(defaultScenarios(t), nil)})
	if err := srv.Open(context.Background()); err == nil || !strings.Contains(err.Error(), "admin token") {
		srv.Close()
		t.Fatalf("Open on 0.0.0.0 without an admin token: %v, want a refusal naming the admin token", err)
	}
	if srv.Addr() != "" {
		t.Fatalf("the refused server listens on %s", srv.Addr())
	}
}

func TestHealth(t *testing.T) {
	e := startEnv(t, nil, nil)
	status, body := e.request(http.MethodGet, "/healthz", "", nil, "")
	if status != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", status, body)
	}
	status, body = e.request(http.MethodGet, "/readyz", "", nil, "")
	if status != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ready"}` {
		t.Fatalf("readyz: %d %s", status, body)
	}

	empty := startEnv(t, nil, func(e *env) { e.dir = t.TempDir() })
	status, body = empty.request(http.MethodGet, "/readyz", "", nil, "")
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "no scenario loaded") {
		t.Fatalf("readyz without scenarios: %d %s, want 503", status, body)
	}
	if status, _ := empty.request(http.MethodGet, "/healthz", "", nil, ""); status != http.StatusOK {
		t.Fatalf("healthz without scenarios: %d, want 200 (alive)", status)
	}
	if status, body := e.request(http.MethodGet, "/no/such/route", "", nil, ""); status != http.StatusNotFound || parseError(t, body).Code != ENotFound {
		t.Fatalf("unknown route: %d %s", status, body)
	}
	if status, body := e.request(http.MethodDelete, "/v1/scenarios", "", nil, ""); status/100 != 4 || parseError(t, body).Code == "" {
		t.Fatalf("wrong method: %d %s, want a 4xx with a JSON error", status, body)
	}
}

func TestMetrics(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e := startEnv(t, p, nil)
	e.install()
	chat := e.chat(1, 9101, "Anna")
	// the chat's first call, not any request: the line's settings are read
	// in the background meanwhile
	p.FailChat(9101, 1, "QUERY_LIMIT_EXCEEDED")
	e.send(chat, chat.Join())
	e.send(chat, chat.Say("Talk to a person"))
	e.event(EventRequest{Dialog: "m1", Line: 1, Type: "start"})
	e.event(EventRequest{Dialog: "m1", Type: "button", Button: 1})
	e.event(EventRequest{Dialog: "m1", Type: "message", Text: "123"}) // not a name
	e.event(EventRequest{Dialog: "m1", Type: "message", Text: "Anna"})
	e.event(EventRequest{Dialog: "m1", Type: "message", Text: "anna@example.com"})
	writeFile(t, e.dir, "broken.yaml", "name: [")
	e.api(http.MethodPost, "/v1/scenarios/reload", nil)
	e.settle()

	m := e.metrics()
	for _, want := range []string{
		`olbot_events_total{outcome="applied",type="start"}`,
		`olbot_events_total{outcome="applied",type="message"}`,
		`olbot_step_duration_seconds_bucket{le=`,
		`olbot_step_duration_seconds_count`,
		`olbot_dialogs_total{event="started"}`,
		`olbot_dialogs_total{event="finished"} 1`,
		`olbot_dialogs_total{event="handed_off"} 1`,
		`olbot_handoffs_total{reason="asked"} 1`,
		`olbot_validation_failures_total 1`,
		`olbot_scenario_reloads_total{result="success"}`,
		`olbot_scenario_reloads_total{result="failure"}`,
		`olbot_scenario_last_reload_successful 0`,
		`olbot_scenario_last_reload_success_timestamp_seconds`,
		`olbot_outbox_calls{state="pending"}`,
		`olbot_outbox_calls{state="parked"}`,
		`olbot_portal_call_errors_total{code="QUERY_LIMIT_EXCEEDED"} 1`,
		`olbot_portal_call_retries_total 1`,
		`olbot_portal_calls_total{method="imbot.message.add",result="ok"}`,
		`olbot_outbox_delivery_lag_seconds_count`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(m, "olbot_"))
	}
}

func TestPprof(t *testing.T) {
	const token = "admin-s3cret"
	tests := []struct {
		name       string
		enabled    bool
		path, tok  string
		wantStatus int
		wantBody   string
	}{
		{"off by default", false, "/debug/pprof/", token, http.StatusNotFound, ""},
		{"index", true, "/debug/pprof/", token, http.StatusOK, "goroutine"},
		{"goroutines", true, "/debug/pprof/goroutine?debug=1", token, http.StatusOK, "goroutine profile:"},
		{"heap", true, "/debug/pprof/heap?debug=1", token, http.StatusOK, "heap profile:"},
		{"cmdline", true, "/debug/pprof/cmdline", token, http.StatusOK, ""},
		{"no token", true, "/debug/pprof/", "", http.StatusUnauthorized, "admin token"},
		{"wrong token", true, "/debug/pprof/heap", "x", http.StatusUnauthorized, "admin token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnv(t, nil, func(e *env) { e.cfg.AdminToken, e.cfg.Pprof = token, tt.enabled })
			status, body := e.request(http.MethodGet, tt.path, "", nil, tt.tok)
			if status != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("GET %s: %d %.200s, want %d with %q", tt.path, status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
