// Package fakeportal is an in-process fake of a Bitrix24 portal for tests
// and demos (olbot fakeportal). It serves the REST API (OAuth /rest/METHOD,
// webhook /rest/USER/SECRET/METHOD, batch) and the OAuth token endpoint
// (/oauth/token/) in the documented wire format, validates params the way
// the portal does, enforces a leaky-bucket rate limit, records every call,
// injects faults on demand, and posts bot events (ONIMBOTJOINCHAT,
// ONIMBOTMESSAGEADD, …) in the real form encoding.
//
// What it does not model: the queue of operators, chat membership, files,
// MENU contents (ATTACH is checked against its documented shapes, attach.go), and anything a method does beyond what the
// engine can observe through the API.
package fakeportal

import (
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
	// LineLanguages are the LANGUAGE_ID imopenlines.config.get answers per
	// line (SetLineLanguage changes one); "en" for the others.
	LineLanguages map[int]string
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
	Keyboard any       // KEYBOARD as sent, nil when none
	Attach   any       // ATTACH (v2: fields.attach) as sent and decoded, nil when none
	Kind     string    // "bot" (imbot.message.add), "greeting" (session.message.send)
	Time     time.Time // when the portal posted it, by its clock
	// SkipConnector: SKIP_CONNECTOR=Y (imbot-message-add.md), the message
	// stays in Bitrix24 and never reaches the client's channel
	SkipConnector bool
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

	bots         map[int]*Bot
	nextBot      int
	leads        map[int]map[string]any
	nextLead     int
	nextMessage  int
	messages     []Message
	chats        map[int]string
	lines        map[int]*Chat                     // Open Lines chats by chat id, for imopenlines.dialog.get
	lineLang     map[int]string                    // LANGUAGE_ID per line, for imopenlines.config.get
	lineSettings map[int]map[string]any            // other documented keys per line (SetLineSettings)
	binds        map[string][]string               // event.bind: event → handlers
	peers        []*Portal                         // AlsoIssues: portals whose tokens the OAuth endpoint exchanges too
	crm          map[string]map[int]map[string]any // contacts and deals (AddCRM)
	v2           v2State                           // imbot.v2 bots and their event queues (v2.go)
	bodies       map[string]*bodyTemplate          // event bodies' templates by shape (bodies.go)

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
		cfg:          cfg,
		log:          log,
		client:       &http.Client{Timeout: 30 * time.Second},
		changed:      make(chan struct{}),
		tokens:       map[string]*accessToken{},
		refresh:      map[string]bool{},
		bots:         map[int]*Bot{},
		nextBot:      1010,
		leads:        map[int]map[string]any{},
		nextLead:     1208,
		nextMessage:  86100,
		chats:        map[int]string{},
		lines:        map[int]*Chat{},
		binds:        map[string][]string{},
		crm:          map[string]map[int]map[string]any{},
		chatFails:    map[int][]string{},
		lineLang:     map[int]string{},
		lineSettings: map[int]map[string]any{},
	}
	for line, l := range cfg.LineLanguages {
		p.lineLang[line] = l
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
