// Package fakeportal is an in-process fake of a Bitrix24 portal for tests
// and demos (olbot fakeportal). It serves the REST API (OAuth /rest/METHOD,
// webhook /rest/USER/SECRET/METHOD, batch) and the OAuth token endpoint
// (/oauth/token/) in the documented wire format, validates params the way
// the portal does, enforces a leaky-bucket rate limit, records every call,
// injects faults on demand, and posts bot events (ONIMBOTJOINCHAT,
// ONIMBOTMESSAGEADD, …) in the real form encoding.
//
// What it does not model: the queue of operators, chat membership, files,
// ATTACH/MENU contents, and anything a method does beyond what the
// engine can observe through the API.
package fakeportal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/olbot/olbot/bitrix24"
)

// Config configures a Portal. Zero fields take the defaults in their comments.
type Config struct {
	// BaseURL is where the portal is served, e.g. an httptest.Server URL;
	// client_endpoint in events is BaseURL+"/rest/". NewServer sets it.
	BaseURL string
	// Domain is auth[domain]; the host of BaseURL when empty.
	Domain string
	// MemberID is the portal id (auth[member_id]); "fakeportal-member-0001".
	MemberID string
	// ApplicationToken is auth[application_token] of events; "fake-application-token".
	ApplicationToken string
	// ClientID and ClientSecret are the OAuth application's credentials for
	// /oauth/token/; "local.fakeportal.app" and "fake-client-secret".
	ClientID, ClientSecret string
	// TokenTTL is the access tokens' lifetime; 1 h. Refresh tokens do not expire.
	TokenTTL time.Duration
	// WebhookUser and WebhookSecret form the webhook path
	// /rest/<user>/<secret>/; 1 and "fakewebhooksecret".
	WebhookUser   int
	WebhookSecret string
	// Burst (X) and Rate (Y per second) of the leaky bucket; 50 and 2.
	// A negative Burst turns the limit off.
	Burst int
	Rate  float64
	// Now is the clock for tokens, the bucket and records; time.Now when nil.
	Now func() time.Time
	// StringIDs makes ids in results strings ("86320") instead of numbers,
	// as some methods do.
	StringIDs bool
	// Operators, when set, are the only employees session.transfer accepts
	// as USER_ID (others: OPERATOR_WRONG). Lines, when set, are the only
	// QUEUE_IDs it accepts.
	Operators []int
	Lines     []int
	// WebhookSessionsFail makes session.transfer and session.finish through
	// a webhook answer BOT_ID_ERROR, as the public source of the REST class
	// suggests they might (the methods of the docs'
	// api-reference/imopenlines/openlines/chat-bots/, b24restdocs).
	WebhookSessionsFail bool
	// Logger gets a Debug line per call; discarded when nil.
	Logger *slog.Logger
}

// Call is one recorded request (or batch sub-call) and its outcome.
type Call struct {
	Seq    int            // 1, 2, … in arrival order
	Time   time.Time      // by the portal's clock
	Method string         // lower-case REST method; "oauth/token" for token refreshes
	Auth   string         // "webhook", "oauth" or "" (none given)
	Params map[string]any // decoded params (JSON values or form strings), including auth and CLIENT_ID
	Batch  string         // the sub-call's key when made inside a batch
	Status int            // HTTP status sent; 0 when the connection was dropped
	Error  string         // error code; "" on success
	Result any            // result on success
}

// Str returns a param as a string ("" when absent or a group).
func (c Call) Str(key string) string { return params(c.Params).str(key) }

// Int returns a param as PHP's intval would (0 when absent or not a number).
func (c Call) Int(key string) int { return params(c.Params).intval(key) }

// OK reports whether the call succeeded.
func (c Call) OK() bool { return c.Status == http.StatusOK && c.Error == "" }

// Bot is a registered bot.
type Bot struct {
	ID       int
	Code     string
	Type     string
	App      string            // "oauth" or "webhook:<CLIENT_ID>"
	Handlers map[string]string // EVENT_MESSAGE_ADD, EVENT_WELCOME_MESSAGE, EVENT_BOT_DELETE, …
	Name     string
}

// Message is a message posted into a dialog through the API.
type Message struct {
	ID       int
	DialogID string // "chat1777"
	BotID    int    // 0 for session messages
	Text     string
	Keyboard any    // KEYBOARD as sent, nil when none
	Kind     string // "bot" (imbot.message.add), "greeting" (session.message.send)
}

// Chat states reported by ChatState.
const (
	StateBot         = ""            // the bot has the chat
	StateOperator    = "operator"    // handed to the queue (session.operator)
	StateTransferred = "transferred" // session.transfer
	StateFinished    = "finished"    // session.finish
)

// Portal is a fake Bitrix24 portal; it is an http.Handler. Create it with
// New or NewServer. It is safe for concurrent use.
type Portal struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client // for Post

	mu       sync.Mutex
	calls    []Call
	changed  chan struct{} // closed and replaced on every record
	tokens   map[string]*accessToken
	refresh  map[string]bool
	access   string // current access token
	refTok   string // current refresh token
	tokenSeq int

	bots        map[int]*Bot
	nextBot     int
	leads       map[int]map[string]any
	nextLead    int
	nextMessage int
	messages    []Message
	chats       map[int]string
	lines       map[int]*Chat                     // Open Lines chats by chat id, for imopenlines.dialog.get
	binds       map[string][]string               // event.bind: event → handlers
	peers       []*Portal                         // AlsoIssues: portals whose tokens the OAuth endpoint exchanges too
	crm         map[string]map[int]map[string]any // contacts and deals (AddCRM)
	v2          v2State                           // imbot.v2 bots and their event queues (v2.go)

	failQueue  []string
	chatFails  map[int][]string // FailChat: codes waiting for calls about a chat
	down       bool
	badGateway bool
	delay      time.Duration

	level float64 // leaky bucket
	last  time.Time
}

type accessToken struct {
	expiry  time.Time
	expired bool
	// botUser marks the token of a bot user (data[BOT] of events): that
	// user has no CRM rights, so crm.* calls with it are refused.
	botUser bool
}

// New returns a portal. Set Config.BaseURL (or call SetBaseURL) before
// building events, so that client_endpoint points at it.
func New(cfg Config) *Portal {
	if cfg.MemberID == "" {
		cfg.MemberID = "fakeportal-member-0001"
	}
	if cfg.ApplicationToken == "" {
		cfg.ApplicationToken = "fake-application-token"
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "local.fakeportal.app"
	}
	if cfg.ClientSecret == "" {
		cfg.ClientSecret = "fake-client-secret"
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = time.Hour
	}
	if cfg.WebhookUser == 0 {
		cfg.WebhookUser = 1
	}
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = "fakewebhooksecret"
	}
	if cfg.Burst == 0 {
		cfg.Burst = bitrix24.DefaultBurst
	}
	if cfg.Rate == 0 {
		cfg.Rate = bitrix24.DefaultRate
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Portal{
		cfg:         cfg,
		log:         log,
		client:      &http.Client{Timeout: 30 * time.Second},
		changed:     make(chan struct{}),
		tokens:      map[string]*accessToken{},
		refresh:     map[string]bool{},
		bots:        map[int]*Bot{},
		nextBot:     1010,
		leads:       map[int]map[string]any{},
		nextLead:    1208,
		nextMessage: 86100,
		chats:       map[int]string{},
		lines:       map[int]*Chat{},
		binds:       map[string][]string{},
		crm:         map[string]map[int]map[string]any{},
		chatFails:   map[int][]string{},
	}
	p.issueLocked()
	p.SetBaseURL(cfg.BaseURL)
	return p
}

// NewServer starts a portal on an httptest.Server; the caller closes the server.
func NewServer(cfg Config) (*Portal, *httptest.Server) {
	p := New(cfg)
	srv := httptest.NewServer(p)
	p.SetBaseURL(srv.URL)
	return p, srv
}

// SetBaseURL sets where the portal is served (and Domain, unless configured).
func (p *Portal) SetBaseURL(base string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.BaseURL = strings.TrimSuffix(base, "/")
	if u, err := url.Parse(base); err == nil && u.Host != "" && p.cfg.Domain == "" {
		p.cfg.Domain = u.Host
	}
}

// Config returns the effective configuration.
func (p *Portal) Config() Config {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// Endpoint is the OAuth client_endpoint: BaseURL + "/rest/".
func (p *Portal) Endpoint() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.BaseURL + "/rest/"
}

// WebhookURL is the incoming-webhook base URL: BaseURL + "/rest/<user>/<secret>/".
func (p *Portal) WebhookURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%s/rest/%d/%s/", p.cfg.BaseURL, p.cfg.WebhookUser, p.cfg.WebhookSecret)
}

// TokenURL is the OAuth refresh endpoint: BaseURL + "/oauth/token/".
func (p *Portal) TokenURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.BaseURL + "/oauth/token/"
}

// Tokens returns the current access and refresh tokens.
func (p *Portal) Tokens() (access, refresh string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.access, p.refTok
}

// issueLocked makes a new token pair current. Callers hold mu.
func (p *Portal) issueLocked() {
	p.tokenSeq++
	p.access = "fake-access-" + strconv.Itoa(p.tokenSeq)
	p.refTok = "fake-refresh-" + strconv.Itoa(p.tokenSeq)
	p.tokens[p.access] = &accessToken{expiry: p.cfg.Now().Add(p.cfg.TokenTTL)}
	p.refresh[p.refTok] = true
}

// ExpireTokens makes every access token issued so far expired: calls with
// them get 401 expired_token until the client refreshes.
func (p *Portal) ExpireTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tokens {
		t.expired = true
	}
}

// Down makes the portal drop every connection without an answer (the
// client sees a network error) until Down(false).
func (p *Portal) Down(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = on
}

// BadGateway makes every REST request get a 502 HTML page, as from a broken
// proxy in front of the portal, until BadGateway(false).
func (p *Portal) BadGateway(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.badGateway = on
}

// FailNext makes the next n REST calls fail with code (with its usual
// HTTP status: 503 QUERY_LIMIT_EXCEEDED, 500 INTERNAL_SERVER_ERROR, 401
// expired_token, 400 for parameter codes, …), before any other check.
//
// Inside a batch it fails what the real portal would fail: a code of the
// request as a whole (401 and 5xx: expired_token, QUERY_LIMIT_EXCEEDED,
// INTERNAL_SERVER_ERROR, …; the batch errors ERROR_BATCH_*) fails the
// batch request, taking one from the queue for the whole batch; any other
// code (parameter errors, 403, 404, OPERATION_TIME_LIMIT) fails sub-calls,
// one from the queue each, in the result_error part of a successful batch
// answer.
func (p *Portal) FailNext(n int, code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.failQueue = append(p.failQueue, code)
	}
}

// FailChat makes the next n calls about chat chatID (CHAT_ID = chatID or
// DIALOG_ID = "chat<chatID>"), single or inside a batch, fail with code
// after the request's own checks (rate limit, auth). Inside a batch each
// such sub-call gets its own result_error entry whatever the code, so tests
// can fail one chosen sub-call of a batch.
func (p *Portal) FailChat(chatID, n int, code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.chatFails[chatID] = append(p.chatFails[chatID], code)
	}
}

// requestLevel reports whether code fails a whole request (a batch as a
// whole) rather than one method call: authorization and 5xx system errors,
// and the batch errors (ERROR_BATCH_*).
func requestLevel(code string) bool {
	s := errorStatus(code)
	return s == http.StatusUnauthorized || s >= 500 || strings.HasPrefix(strings.ToUpper(code), "ERROR_BATCH_")
}

// QueryLimitBurst makes the next n REST requests get 503 QUERY_LIMIT_EXCEEDED.
func (p *Portal) QueryLimitBurst(n int) { p.FailNext(n, "QUERY_LIMIT_EXCEEDED") }

// Delay makes every answer wait d (or until the request is cancelled).
func (p *Portal) Delay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Calls returns every recorded call so far, in order. Sub-calls of a batch
// are recorded (with Batch set) just before the batch call itself.
func (p *Portal) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// CallsFor returns the recorded calls about one chat: CHAT_ID = chatID or
// DIALOG_ID = "chat<chatID>".
func (p *Portal) CallsFor(chatID int) []Call {
	dialog := "chat" + strconv.Itoa(chatID)
	var out []Call
	for _, c := range p.Calls() {
		if c.Int("CHAT_ID") == chatID || c.Str("DIALOG_ID") == dialog {
			out = append(out, c)
		}
	}
	return out
}

// CallsOf returns the recorded calls of one method (e.g. "imbot.message.add").
func (p *Portal) CallsOf(method string) []Call {
	method = strings.ToLower(method)
	var out []Call
	for _, c := range p.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until at least n calls are recorded and returns them, or
// returns ctx's error with the calls so far.
func (p *Portal) WaitCalls(ctx context.Context, n int) ([]Call, error) {
	for {
		p.mu.Lock()
		if len(p.calls) >= n {
			out := append([]Call(nil), p.calls...)
			p.mu.Unlock()
			return out, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return p.Calls(), fmt.Errorf("fakeportal: waiting for %d calls: %w", n, ctx.Err())
		}
	}
}

// Reset forgets recorded calls and posted messages (bots, leads, tokens and
// chat states stay).
func (p *Portal) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
	p.messages = nil
}

// recordLocked appends c. Callers hold mu.
func (p *Portal) recordLocked(c Call) {
	c.Seq = len(p.calls) + 1
	if c.Time.IsZero() {
		c.Time = p.cfg.Now()
	}
	p.calls = append(p.calls, c)
	close(p.changed)
	p.changed = make(chan struct{})
	p.log.Debug("fakeportal call", "method", c.Method, "status", c.Status, "error", c.Error, "batch", c.Batch)
}

// Messages returns the messages posted into dialogID ("chat1777"), in order.
func (p *Portal) Messages(dialogID string) []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Message
	for _, m := range p.messages {
		if m.DialogID == dialogID {
			out = append(out, m)
		}
	}
	return out
}

// Bots returns the registered bots.
func (p *Portal) Bots() []Bot {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Bot
	for _, b := range p.sortedBotsLocked() {
		out = append(out, *b)
	}
	return out
}

// Lead returns a lead's fields, or nil.
func (p *Portal) Lead(id int) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.leads[id]
	if l == nil {
		return nil
	}
	out := make(map[string]any, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// ChatState returns who has the chat now: StateBot, StateOperator,
// StateTransferred or StateFinished.
func (p *Portal) ChatState(chatID int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.chats[chatID]
}

// SetChatState sets who has the chat, e.g. StateOperator to simulate an
// operator who took it (session.operator then answers WRONG_CHAT).
func (p *Portal) SetChatState(chatID int, state string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chats[chatID] = state
}

// errorStatus maps error codes to the HTTP status the portal uses.
func errorStatus(code string) int {
	switch strings.ToUpper(code) {
	case "NO_AUTH_FOUND", "EXPIRED_TOKEN", "INVALID_TOKEN":
		return http.StatusUnauthorized
	case "ACCESS_DENIED", "INVALID_CREDENTIALS", "INSUFFICIENT_SCOPE", "WRONG_AUTH_TYPE", "USER_ACCESS_ERROR":
		return http.StatusForbidden
	case "ERROR_METHOD_NOT_FOUND":
		return http.StatusNotFound
	case "ERROR_BATCH_METHOD_NOT_ALLOWED":
		return http.StatusMethodNotAllowed
	case "OPERATION_TIME_LIMIT":
		return http.StatusTooManyRequests
	case "INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER", "PORTAL_DELETED":
		return http.StatusInternalServerError
	case "QUERY_LIMIT_EXCEEDED", "OVERLOAD_LIMIT":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

var descriptions = map[string]string{
	"QUERY_LIMIT_EXCEEDED":  "Too many requests",
	"OVERLOAD_LIMIT":        "REST API is blocked due to overload.",
	"OPERATION_TIME_LIMIT":  "Method is blocked due to operation time limit.",
	"INTERNAL_SERVER_ERROR": "Internal server error",
	"NO_AUTH_FOUND":         "Wrong authorization data",
	"expired_token":         "The access token provided has expired.",
	"ACCESS_DENIED":         "Access denied.",
}

// apiErr is an error answer of a method.
type apiErr struct {
	status int
	code   string
	desc   string
}

func fail(code, desc string) *apiErr {
	return &apiErr{status: errorStatus(code), code: code, desc: desc}
}

func injected(code string) *apiErr {
	d := descriptions[code]
	if d == "" {
		d = "injected failure"
	}
	return fail(code, d)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, e *apiErr) {
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

// ServeHTTP serves /rest/METHOD, /rest/USER/SECRET/METHOD and /oauth/token/.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/oauth/token/" || r.URL.Path == "/oauth/token":
		p.serveToken(w, r)
	case strings.HasPrefix(r.URL.Path, "/rest/"):
		p.serveREST(w, r)
	default:
		http.NotFound(w, r)
	}
}

// fault applies Down, BadGateway and Delay. It reports whether the request
// was answered (or dropped) already.
func (p *Portal) fault(w http.ResponseWriter, r *http.Request, method string) bool {
	p.mu.Lock()
	down, bad, delay := p.down, p.badGateway, p.delay
	switch {
	case down:
		p.recordLocked(Call{Method: method, Error: "connection dropped"})
	case bad:
		p.recordLocked(Call{Method: method, Status: http.StatusBadGateway, Error: "bad gateway"})
	}
	p.mu.Unlock()
	if down {
		panic(http.ErrAbortHandler) // the server closes the connection without an answer
	}
	if bad {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>\n"))
		return true
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		}
	}
	return false
}

// caller is who makes a REST call.
type caller struct {
	webhook  bool
	clientID string // webhook CLIENT_ID
	botUser  bool   // called with a bot user's token
}

// app is the key bots are owned by; "" for a webhook call without CLIENT_ID.
func (c caller) app() string {
	if !c.webhook {
		return "oauth"
	}
	if c.clientID == "" {
		return ""
	}
	return "webhook:" + c.clientID
}

func (p *Portal) serveREST(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/rest/")
	parts := strings.Split(rest, "/")
	var who caller
	var method string
	switch len(parts) {
	case 1:
		method = parts[0]
	case 3:
		who.webhook = true
		method = parts[2]
	default:
		writeErr(w, fail("ERROR_METHOD_NOT_FOUND", "Method not found!"))
		return
	}
	method = strings.ToLower(strings.TrimSuffix(method, ".json"))
	// Read the body first: only then does the server notice a client that
	// hung up, which ends a Delay.
	prm, order, perr := readParams(w, r)
	if p.fault(w, r, method) {
		return
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	rec := Call{Method: method, Params: prm}
	if who.webhook {
		rec.Auth = "webhook"
	} else if prm.str("auth") != "" {
		rec.Auth = "oauth"
	}
	answer := func(res any, e *apiErr) {
		if e != nil {
			rec.Status, rec.Error = e.status, e.code
			p.recordLocked(rec)
			writeErr(w, e)
			return
		}
		rec.Status, rec.Result = http.StatusOK, res
		p.recordLocked(rec)
		writeJSON(w, http.StatusOK, map[string]any{"result": res, "time": p.timeLocked()})
	}
	if perr != nil {
		answer(nil, fail("WRONG_REQUEST", perr.Error()))
		return
	}
	if !p.takeLocked() {
		answer(nil, injected("QUERY_LIMIT_EXCEEDED"))
		return
	}
	if len(p.failQueue) > 0 && (method != bitrix24.MethodBatch || requestLevel(p.failQueue[0])) {
		code := p.failQueue[0]
		p.failQueue = p.failQueue[1:]
		answer(nil, injected(code))
		return
	}
	if who.webhook {
		if parts[0] != strconv.Itoa(p.cfg.WebhookUser) || parts[1] != p.cfg.WebhookSecret {
			answer(nil, injected("NO_AUTH_FOUND"))
			return
		}
		who.clientID = prm.str("CLIENT_ID")
	} else if e := p.checkTokenLocked(prm.str("auth")); e != nil {
		answer(nil, e)
		return
	} else {
		who.botUser = p.tokens[prm.str("auth")].botUser
	}
	if method == bitrix24.MethodBatch {
		answer(p.batchLocked(who, prm, order))
		return
	}
	answer(p.callLocked(who, method, prm))
}

// callLocked runs one method call, single or a batch's sub-call, after the
// request's checks: FailChat's faults first, then the method. Callers hold mu.
func (p *Portal) callLocked(who caller, method string, prm params) (any, *apiErr) {
	chat := prm.intval("CHAT_ID")
	if chat <= 0 {
		if d := prm.str("DIALOG_ID"); strings.HasPrefix(d, "chat") {
			chat = intval(d[len("chat"):])
		}
	}
	if codes := p.chatFails[chat]; chat > 0 && len(codes) > 0 {
		p.chatFails[chat] = codes[1:]
		return nil, injected(codes[0])
	}
	if who.botUser && strings.HasPrefix(method, "crm.") {
		// the documented CRM refusal (crm-lead-add.md): {"error":"","error_description":"Access denied."}
		return nil, crmErr("Access denied.")
	}
	return p.dispatchLocked(who, method, prm)
}

func (p *Portal) checkTokenLocked(tok string) *apiErr {
	if tok == "" {
		return fail("NO_AUTH_FOUND", "Wrong authorization data")
	}
	t := p.tokens[tok]
	if t == nil {
		return fail("NO_AUTH_FOUND", "Wrong authorization data")
	}
	if t.expired || !p.cfg.Now().Before(t.expiry) {
		return injected("expired_token")
	}
	return nil
}

// takeLocked adds one request to the leaky bucket, reporting false when it
// is full. Callers hold mu.
func (p *Portal) takeLocked() bool {
	if p.cfg.Burst < 0 {
		return true
	}
	now := p.cfg.Now()
	if !p.last.IsZero() {
		if el := now.Sub(p.last).Seconds(); el > 0 {
			p.level -= el * p.cfg.Rate
			if p.level < 0 {
				p.level = 0
			}
		}
	}
	p.last = now
	if p.level+1 > float64(p.cfg.Burst) {
		return false
	}
	p.level++
	return true
}

func (p *Portal) timeLocked() map[string]any {
	now := p.cfg.Now()
	ts := float64(now.UnixNano()) / 1e9
	return map[string]any{
		"start": ts, "finish": ts, "duration": 0, "processing": 0,
		"date_start": now.Format(time.RFC3339), "date_finish": now.Format(time.RFC3339),
		"operating_reset_at": now.Add(10 * time.Minute).Unix(), "operating": 0,
	}
}

// readParams merges query params and the body (JSON or form). order is the
// key order of a JSON "cmd" object, for batch.
func readParams(w http.ResponseWriter, r *http.Request) (params, []string, error) {
	tree, err := bitrix24.DecodeForm(r.URL.Query())
	if err != nil {
		return params{}, nil, err
	}
	prm := params(tree)
	if r.Body == nil {
		return prm, nil, nil
	}
	body := http.MaxBytesReader(w, r.Body, 2<<20)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var raw map[string]json.RawMessage
		dec := json.NewDecoder(body)
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return prm, nil, errors.New("body is not a JSON object")
		}
		var order []string
		for k, v := range raw {
			var val any
			d := json.NewDecoder(strings.NewReader(string(v)))
			d.UseNumber()
			if err := d.Decode(&val); err != nil {
				return prm, nil, err
			}
			prm[k] = val
			if strings.EqualFold(k, "cmd") {
				order = objectKeys(v)
			}
		}
		return prm, order, nil
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return prm, nil, err
		}
		t, err := bitrix24.DecodeForm(r.PostForm)
		if err != nil {
			return prm, nil, err
		}
		for k, v := range t {
			prm[k] = v
		}
	}
	return prm, nil, nil
}

// objectKeys returns the keys of a JSON object in document order.
func objectKeys(raw json.RawMessage) []string {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		k, _ := t.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return keys
}

func (p *Portal) serveToken(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm() // query and form body
	q := r.Form
	p.mu.Lock()
	peers := append([]*Portal(nil), p.peers...)
	p.mu.Unlock()
	status, ans := p.exchange(q)
	// the OAuth server is one for every portal: a refresh token this
	// portal did not issue may be a peer's
	for _, peer := range peers {
		if ans["error"] != "invalid_grant" {
			break
		}
		if st, a := peer.exchange(q); a["error"] != "invalid_grant" {
			status, ans = st, a
		}
	}
	writeJSON(w, status, ans)
}

// AlsoIssues makes p's OAuth endpoint exchange other's refresh tokens too,
// answering with other's portal (as oauth.bitrix.info serves every portal).
func (p *Portal) AlsoIssues(other *Portal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peers = append(p.peers, other)
}

// exchange runs one request of the OAuth endpoint against this portal's
// tokens and records it.
func (p *Portal) exchange(q url.Values) (int, map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := Call{Method: "oauth/token", Params: map[string]any{
		"grant_type": q.Get("grant_type"), "client_id": q.Get("client_id"), "refresh_token": q.Get("refresh_token"),
	}}
	answer := func(status int, v map[string]any) (int, map[string]any) {
		rec.Status = status
		if e, ok := v["error"].(string); ok {
			rec.Error = e
		}
		p.recordLocked(rec)
		return status, v
	}
	if q.Get("grant_type") != "refresh_token" {
		return answer(http.StatusBadRequest, map[string]any{"error": "unsupported_grant_type", "error_description": "grant_type must be refresh_token"})
	}
	if q.Get("client_id") != p.cfg.ClientID || q.Get("client_secret") != p.cfg.ClientSecret {
		return answer(http.StatusUnauthorized, map[string]any{"error": "invalid_client", "error_description": "Invalid client credentials"})
	}
	rt := q.Get("refresh_token")
	if !p.refresh[rt] {
		return answer(http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "Invalid refresh token"})
	}
	delete(p.refresh, rt) // refresh tokens rotate
	p.issueLocked()
	// the documented refresh answer (settings/oauth/auto-renewal.md) with the fake's tokens and addresses
	ans := mustTree("oauth.answer.refresh_token")
	setPresent(ans, map[string]any{
		"access_token": p.access, "refresh_token": p.refTok, "expires": p.cfg.Now().Add(p.cfg.TokenTTL).Unix(),
		"expires_in": int(p.cfg.TokenTTL.Seconds()), "scope": "imbot,imopenlines,crm", "server_endpoint": p.cfg.BaseURL + "/rest/",
		"status": "L", "client_endpoint": p.cfg.BaseURL + "/rest/", "member_id": p.cfg.MemberID, "user_id": 1,
	})
	return answer(http.StatusOK, ans)
}
