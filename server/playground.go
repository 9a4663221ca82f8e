package server

// The playground: a web page at / (embedded, no build step, no CDN) where a
// scenario author chats with any loaded scenario, sees its diagram with the
// dialog's state lit, sees reload errors as soon as a file is saved, and sees
// the funnel of real traffic on the same diagram. Its JSON API lives under
// /playground/api/ and needs the admin token when one is configured; the
// page itself is public.

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/funnel"
	"github.com/olbot/olbot/scenarios"
	"github.com/olbot/olbot/schema"
)

//go:embed web
var webFS embed.FS

// playground is the live state behind the page: the subscribers of reload
// news.
type playground struct {
	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	closed bool
	done   chan struct{} // closed when the server shuts down: SSE streams end
	seq    int64
}

// sseBuffer is how many reload messages a slow page may lag behind; older
// ones are dropped (each message is a full status, so the latest is enough).
const sseBuffer = 4

// ssePing keeps idle event streams open through proxies.
const ssePing = 25 * time.Second

func newPlayground() *playground {
	return &playground{subs: map[chan []byte]struct{}{}, done: make(chan struct{})}
}

// playgroundRoutes registers the page and its API.
func (s *Server) playgroundRoutes(e *echo.Echo) {
	e.GET("/", indexPage())
	e.GET("/playground/app.js", staticFile("web/app.js", "text/javascript; charset=utf-8"))
	e.GET("/playground/app.css", staticFile("web/app.css", "text/css; charset=utf-8"))
	// the editor: CodeMirror 6 bundled by `make editor` (editor/), committed
	e.GET("/playground/editor.js", staticFile("web/editor.js", "text/javascript; charset=utf-8"))
	e.GET("/playground/schema.json", staticBlob(schema.Scenario, "application/schema+json"))

	api := e.Group("/playground/api", s.requireAdmin)
	api.GET("/scenarios", s.handlePGScenarios)
	api.GET("/status", s.handlePGStatus)
	api.GET("/events", s.handlePGStream)
	api.POST("/dialogs/:session/events", s.handlePGEvent, accepts(mediaJSON))
	api.GET("/dialogs/:session", s.handlePGDialog)
	api.GET("/funnel", s.handlePGFunnels)
	api.GET("/funnel/:scenario", s.handlePGFunnel)
}

// reloaded is the hook the reload goroutine calls after every reload: it
// tells every open page. It never blocks: a page that is behind loses older
// messages, never the latest.
func (p *playground) reloaded(st ReloadStatus, out scenarios.ReloadOutcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.seq++
	st.Seq, st.Trigger, st.Changed = p.seq, out.Trigger, out.Result.Changed
	msg, err := json.Marshal(st)
	if err != nil {
		return
	}
	for ch := range p.subs {
		select {
		case ch <- msg:
		default:
			select { // full: drop the oldest, keep the newest
			case <-ch:
			default:
			}
			select {
			case ch <- msg:
			default:
			}
		}
	}
}

// subscribe registers a page for reload news; ok is false after shutdown.
func (p *playground) subscribe() (ch chan []byte, cancel func(), ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, func() {}, false
	}
	ch = make(chan []byte, sseBuffer)
	p.subs[ch] = struct{}{}
	return ch, func() {
		p.mu.Lock()
		delete(p.subs, ch)
		p.mu.Unlock()
	}, true
}

func (p *playground) subscribers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs)
}

// shutdown ends every event stream; safe to call more than once.
func (p *playground) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
}

// staticFile serves one embedded file, revalidated by its hash.
func staticFile(name, contentType string) echo.HandlerFunc {
	body, err := webFS.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("playground: embedded file %s: %v", name, err))
	}
	return staticBody(name, body, contentType)
}

// indexPage serves the page with a fresh CSP nonce on every request: the
// editor (CodeMirror) writes its styles into a <style> element, which the
// policy allows only with this nonce; the page's own CSS and scripts come
// from files ('self'), and no inline script is allowed at all.
func indexPage() echo.HandlerFunc {
	body, err := webFS.ReadFile("web/index.html")
	if err != nil {
		panic(fmt.Sprintf("playground: embedded file index.html: %v", err))
	}
	page := string(body)
	if !strings.Contains(page, "{{nonce}}") {
		panic("playground: index.html lacks its {{nonce}} meta tag")
	}
	return func(c echo.Context) error {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return errorf(EInternal, "no randomness for the page's nonce: %v", err)
		}
		nonce := base64.StdEncoding.EncodeToString(b[:])
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-"+nonce+"'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		return c.HTML(http.StatusOK, strings.Replace(page, "{{nonce}}", nonce, 1))
	}
}

// staticBlob serves bytes embedded elsewhere (the JSON Schema).
func staticBlob(body []byte, contentType string) echo.HandlerFunc {
	return staticBody("schema.json", body, contentType)
}

func staticBody(name string, body []byte, contentType string) echo.HandlerFunc {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if path.Ext(name) == ".html" {
			h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		}
		if c.Request().Header.Get("If-None-Match") == etag {
			return c.NoContent(http.StatusNotModified)
		}
		return c.Blob(http.StatusOK, contentType, body)
	}
}

// ---- reload status ----

// ReloadStatus is what the page shows about the scenario folder: the live
// version and the files whose last save did not load.
type ReloadStatus struct {
	Seq       int64             `json:"seq,omitempty"`     // reload number since start (event stream only)
	Trigger   string            `json:"trigger,omitempty"` // start, watch, request, … (event stream only)
	Changed   bool              `json:"changed,omitempty"` // a new version went live (event stream only)
	Version   string            `json:"version"`           // hash over every live scenario
	LoadedAt  time.Time         `json:"loaded_at"`
	OK        bool              `json:"ok"`              // every file loaded
	Errors    []FileErrors      `json:"errors"`          // files kept at their last good version (or out)
	Scenarios map[string]string `json:"scenarios"`       // live scenario name → version
	Error     string            `json:"error,omitempty"` // the folder itself could not be read
}

// FileErrors are the problems that kept one file from loading.
type FileErrors struct {
	File     string        `json:"file"`
	Scenario string        `json:"scenario,omitempty"` // its live (last good) scenario, if any
	Live     string        `json:"live_version,omitempty"`
	Problems []ProblemView `json:"problems"`
}

// ProblemView is one problem, positioned.
type ProblemView struct {
	Where   string `json:"where"` // FILE:LINE:COL
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	Text    string `json:"text"` // the whole FILE:LINE:COL: error: … line, as `olbot check` prints it
	Warning bool   `json:"warning,omitempty"`
}

// problemView is one checker problem as the page shows it.
func problemView(p *scenarios.Problem) ProblemView {
	first, _, _ := strings.Cut(p.Error(), "\n")
	return ProblemView{Where: fmt.Sprintf("%s:%d:%d", p.File, p.Pos.Line, p.Pos.Col), Line: p.Pos.Line, Col: p.Pos.Col, Path: p.Path, Message: p.Msg, Hint: p.Hint, Text: first, Warning: p.Warning}
}

func (s *Server) reloadStatus() ReloadStatus {
	snap := s.registry.Current()
	st := ReloadStatus{Version: snap.Version, LoadedAt: snap.LoadedAt, Errors: []FileErrors{}, Scenarios: map[string]string{}}
	for _, sc := range snap.Set.List {
		st.Scenarios[sc.Name] = sc.Version
	}
	for _, f := range snap.Files {
		if f.Error == "" {
			continue
		}
		fe := FileErrors{File: f.File, Scenario: f.Name, Live: f.Version}
		for _, p := range f.Problems.Errors() {
			fe.Problems = append(fe.Problems, problemView(p))
		}
		if len(fe.Problems) == 0 { // no structured problems: show the text
			for _, line := range strings.Split(f.Error, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					fe.Problems = append(fe.Problems, ProblemView{Where: f.File, Message: line, Text: line})
				}
			}
		}
		st.Errors = append(st.Errors, fe)
	}
	s.readyMu.RLock()
	if s.lastLoad.Err != nil {
		st.Error = s.lastLoad.Err.Error()
	}
	s.readyMu.RUnlock()
	st.OK = len(st.Errors) == 0 && st.Error == ""
	return st
}

func (s *Server) handlePGStatus(c echo.Context) error {
	return c.JSON(http.StatusOK, s.reloadStatus())
}

// handlePGStream is GET /playground/api/events: a text/event-stream with a
// "reload" message now and after every reload. It ends when the client goes
// away or the server shuts down.
func (s *Server) handlePGStream(c echo.Context) error {
	ch, cancel, ok := s.pg.subscribe()
	if !ok {
		return errorf(EUnavailable, "the server is shutting down")
	}
	defer cancel()
	w := c.Response()
	// the stream outlives the server's write timeout
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	first, err := json.Marshal(s.reloadStatus())
	if err != nil {
		return nil
	}
	if _, err := fmt.Fprintf(w, "retry: 2000\nevent: reload\ndata: %s\n\n", first); err != nil {
		return nil
	}
	w.Flush()
	ping := time.NewTicker(ssePing)
	defer ping.Stop()
	ctx := c.Request().Context()
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-s.pg.done:
			return nil
		case msg := <-ch:
			_, err = fmt.Fprintf(w, "event: reload\ndata: %s\n\n", msg)
		case <-ping.C:
			_, err = fmt.Fprint(w, ": ping\n\n")
		}
		if err != nil {
			return nil
		}
		w.Flush()
	}
}

// ---- scenarios and their diagrams ----

// PGScenarios is the answer of GET /playground/api/scenarios.
type PGScenarios struct {
	Version   string       `json:"version"`
	LoadedAt  time.Time    `json:"loaded_at"`
	Scenarios []PGScenario `json:"scenarios"`
	Status    ReloadStatus `json:"status"`
}

// PGScenario is one live scenario with its diagram.
type PGScenario struct {
	Name    string   `json:"name"`
	Title   string   `json:"title,omitempty"`
	File    string   `json:"file"`
	Version string   `json:"version"`
	Lines   []int    `json:"lines,omitempty"`
	Default bool     `json:"default,omitempty"`
	Start   string   `json:"start"`
	Fields  []string `json:"fields,omitempty"` // fields the scenario collects, in state order
	// Languages are the scenario's settings.languages, the default first.
	Languages []string        `json:"languages,omitempty"`
	Graph     scenarios.Graph `json:"graph"`
}

// fieldsOf lists the fields a scenario saves, in state order.
func fieldsOf(sc *scenarios.Scenario) []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range sc.Order {
		if f := sc.States[name].Save; f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func (s *Server) handlePGScenarios(c echo.Context) error {
	snap := s.registry.Current()
	resp := PGScenarios{Version: snap.Version, LoadedAt: snap.LoadedAt, Scenarios: []PGScenario{}, Status: s.reloadStatus()}
	for _, sc := range snap.Set.List {
		resp.Scenarios = append(resp.Scenarios, PGScenario{Name: sc.Name, Title: sc.Title, File: sc.File, Version: sc.Version, Lines: sc.Lines,
			Default: sc.Default(), Start: sc.Start, Fields: fieldsOf(sc), Languages: sc.Languages, Graph: sc.Layout()})
	}
	return c.JSON(http.StatusOK, resp)
}

// ---- playground dialogs ----

// PGEventRequest is the body of POST /playground/api/dialogs/{session}/events.
type PGEventRequest struct {
	Scenario string `json:"scenario,omitempty"` // required to start; a running dialog keeps its own
	Type     string `json:"type"`               // start, message, button, idle, close, language
	Text     string `json:"text,omitempty"`
	Button   int    `json:"button,omitempty"`
	Client   string `json:"client,omitempty"`
	// Language: for start, the line's language the dialog starts in; for
	// language, the language to switch the dialog to.
	Language string `json:"language,omitempty"`
	// At is the time the event carries instead of now (conditions on now,
	// hours: and open() see it), so an author can try after-hours branches:
	// RFC 3339, or 2027-01-09T20:00 in the scenario's time zone, as
	// `olbot chat`'s /at takes it.
	At string `json:"at,omitempty"`
	// File is the client's file, as in POST /v1/events (the playground's
	// "send a file" and olbot chat's /file).
	File *FileRequest `json:"file,omitempty"`
}

// PGEventResponse is the answer of POST /playground/api/dialogs/{session}/events:
// the API's answer and the clock the event carried.
type PGEventResponse struct {
	EventResponse
	// Clock is the event's time in the scenario's time zone, e.g.
	// "Sat 2027-01-09 20:00 CET".
	Clock string `json:"clock"`
}

// maxAtLen bounds the at field: the longest accepted form is RFC 3339 with
// nanoseconds and an offset.
const maxAtLen = 40

// checkSession validates a page's session id: letters, digits, - and _.
func checkSession(id string) error {
	if id == "" || len(id) > MaxSessionLen {
		return &Error{Code: EInvalid, Field: "session", Message: fmt.Sprintf("the session id must be 1 to %d letters, digits, - or _", MaxSessionLen)}
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return &Error{Code: EInvalid, Field: "session", Message: "the session id may hold only letters, digits, - and _"}
		}
	}
	return nil
}

// handlePGEvent applies an event to the playground dialog pg:<session>. The
// dialog is marked as a playground one and never produces portal calls.
// "idle" acts as if the client had been silent until the dialog's next
// timer: a reminder, or the scenario's idle time.
func (s *Server) handlePGEvent(c echo.Context) error {
	session, err := pathParam(c, "session")
	if err != nil {
		return err
	}
	if err := checkSession(session); err != nil {
		return err
	}
	var req PGEventRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := checkLen("client", req.Client, MaxClientLen); err != nil {
		return err
	}
	if err := checkLen("scenario", req.Scenario, MaxScenarioLen); err != nil {
		return err
	}
	key := engine.KeyPlayground + session
	now := s.now()
	if err := checkLanguage(req.Language); err != nil {
		return err
	}
	if err := req.File.check(); err != nil {
		return err
	}
	ev := engine.Event{Type: engine.EventType(req.Type), Text: req.Text, Button: req.Button, Client: req.Client, Language: req.Language, Time: now,
		File: req.File.client()}
	if err := ev.Validate(); err != nil {
		return &Error{Code: EInvalid, Field: "type", Message: err.Error()}
	}
	ctx := c.Request().Context()
	set := s.registry.Current().Set
	var sc *scenarios.Scenario
	if req.Scenario != "" {
		sc = set.ByName[req.Scenario]
		if sc == nil {
			return &Error{Code: EInvalid, Field: "scenario", Message: fmt.Sprintf("unknown scenario %q (loaded: %s)", req.Scenario, strings.Join(dialogs.Names(set), ", "))}
		}
		if len(sc.Lines) > 0 {
			ev.Line = sc.Lines[0]
		}
	}
	if sc == nil { // a running dialog keeps its own scenario
		if d, err := s.store.Dialog(ctx, key); err == nil {
			sc = set.ByName[d.Scenario]
		}
	}
	loc := time.UTC
	if sc != nil && sc.Settings.Location != nil {
		loc = sc.Settings.Location
	}
	if req.At != "" {
		t, err := scenarios.TestTime(req.At, loc)
		if err != nil || len(req.At) > maxAtLen {
			return &Error{Code: EInvalid, Field: "at", Message: fmt.Sprintf("%.60q is not a time: use RFC 3339 or 2027-01-09T20:00 (in the scenario's time zone, %s)", req.At, loc)}
		}
		now, ev.Time = t, t
	}
	if ev.Type == engine.Idle {
		// fast-forward the silence to the next timer (a reminder, or
		// idle): the page cannot wait 15 minutes
		if d, err := s.store.Dialog(ctx, key); err == nil && d.Status == engine.Active && d.IdleAt.After(now) {
			ev.Time = d.IdleAt
		}
	}
	out, err := s.dialogs.Apply(ctx, dialogs.Input{Key: key, Event: ev, Scenario: req.Scenario, Channel: engine.Channel{Playground: true}})
	if err != nil {
		return err
	}
	out = s.awaitCalls(ctx, key, out)
	return c.JSON(http.StatusOK, PGEventResponse{EventResponse: responseOf(out), Clock: ev.Time.In(loc).Format("Mon 2006-01-02 15:04 MST")})
}

func (s *Server) handlePGDialog(c echo.Context) error {
	session, err := pathParam(c, "session")
	if err != nil {
		return err
	}
	if err := checkSession(session); err != nil {
		return err
	}
	key := engine.KeyPlayground + session
	d, err := s.store.Dialog(c.Request().Context(), key)
	if errors.Is(err, engine.ErrNotFound) {
		return &Error{Code: ENotFound, Message: fmt.Sprintf("no playground dialog %q", session)}
	}
	if err != nil {
		return unavailable("read dialog %s", key, err)
	}
	return c.JSON(http.StatusOK, viewOf(d))
}

// ---- funnel ----

func (s *Server) handlePGFunnel(c echo.Context) error {
	name, err := pathParam(c, "scenario")
	if err != nil {
		return err
	}
	sc := s.registry.Current().Set.ByName[name]
	if sc == nil {
		return &Error{Code: ENotFound, Message: fmt.Sprintf("no live scenario %q", name)}
	}
	f, err := s.funnel.View(c.Request().Context(), name)
	if err != nil {
		return unavailable("read the funnel of %s", name, err)
	}
	return c.JSON(http.StatusOK, funnel.ViewOf(f, sc.Version))
}

func (s *Server) handlePGFunnels(c echo.Context) error {
	resp := map[string]funnel.FunnelView{}
	for _, sc := range s.registry.Current().Set.List {
		f, err := s.funnel.View(c.Request().Context(), sc.Name)
		if err != nil {
			return unavailable("read the funnel of %s", sc.Name, err)
		}
		resp[sc.Name] = funnel.ViewOf(f, sc.Version)
	}
	return c.JSON(http.StatusOK, map[string]any{"scenarios": resp})
}
