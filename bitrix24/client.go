package bitrix24

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultUserAgent is sent unless WithUserAgent says otherwise.
const DefaultUserAgent = "olbot/1.0 (+https://github.com/olbot/olbot)"

// DefaultTimeout bounds one HTTP request of the default HTTP client. The
// cloud portal cuts requests off after 60 s.
const DefaultTimeout = 65 * time.Second

// IdleConnsPerPortal is how many idle connections the default HTTP client
// keeps open to one portal host: at least as many as the requests the
// outbox sends to a portal at once (8), so that each round reuses the
// connections of the last. net/http's default of 2 closed the others after
// every round and opened them again, each time with a TLS handshake to a
// real portal (BENCHMARKS.md: 666 new connections for 10,000 dialogs).
const IdleConnsPerPortal = 16

// defaultTransport is the transport of the default HTTP client, shared by
// every Client: net/http's defaults (proxy from the environment, timeouts,
// HTTP/2) with IdleConnsPerPortal idle connections per host.
var defaultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = IdleConnsPerPortal
	t.MaxIdleConns = 1024 // many portals; IdleConnTimeout (90 s) closes the unused
	return t
}()

// maxResponseBytes bounds how much of a response is read.
const maxResponseBytes = 16 << 20

// Client calls the REST API of one portal, either through an incoming
// webhook (NewWebhook) or as an OAuth application (NewOAuth). It is safe for
// concurrent use. Secrets (the webhook secret, tokens) never appear in its
// errors or logs.
type Client struct {
	endpoint *url.URL // ends with "/"; METHOD is appended
	safe     string   // endpoint with the secret masked, for errors and logs
	webhook  bool
	clientID string
	tokens   TokenSource
	hc       *http.Client
	ua       string
	log      *slog.Logger
	budget   operating // per method: when an OPERATION_TIME_LIMIT lifts
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one with DefaultTimeout
// that keeps IdleConnsPerPortal idle connections to the portal).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// WithLogger sets the logger (default: slog.Default()). Calls are logged at
// Debug, token refreshes at Info.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// NewWebhook returns a client for an incoming webhook URL
// https://PORTAL/rest/USER_ID/SECRET/. clientID is the CLIENT_ID chosen at
// imbot.register; it is added to every imbot.* and imopenlines.bot.* call
// (the docs require it for imbot.* and list it for transfer/finish). http://
// is accepted only for loopback hosts.
func NewWebhook(webhookURL, clientID string, opts ...Option) (*Client, error) {
	u, err := checkBaseURL(webhookURL)
	if err != nil {
		return nil, fmt.Errorf("bitrix24: webhook URL: %w", err)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	n := len(parts)
	if n < 3 || parts[n-3] != "rest" || parts[n-1] == "" {
		return nil, fmt.Errorf("bitrix24: webhook URL: want https://PORTAL/rest/USER_ID/SECRET/")
	}
	if _, err := strconv.Atoi(parts[n-2]); err != nil {
		return nil, fmt.Errorf("bitrix24: webhook URL: user id %q is not a number", clip(parts[n-2]))
	}
	u.Path = "/" + strings.Join(parts, "/") + "/"
	u.RawPath = ""
	safe := u.Scheme + "://" + u.Host + "/" + strings.Join(append(parts[:n-1:n-1], "***"), "/") + "/"
	c := newClient(u, safe, opts)
	c.webhook = true
	c.clientID = clientID
	return c, nil
}

// NewOAuth returns a client for an OAuth application: calls go to
// clientEndpoint + METHOD (the client_endpoint of the install event,
// https://PORTAL/rest/) with auth=ACCESS_TOKEN from tokens. On 401
// expired_token it refreshes once through tokens and retries. http:// is
// accepted only for loopback hosts.
func NewOAuth(clientEndpoint string, tokens TokenSource, opts ...Option) (*Client, error) {
	if tokens == nil {
		return nil, errors.New("bitrix24: NewOAuth: nil TokenSource")
	}
	u, err := checkBaseURL(clientEndpoint)
	if err != nil {
		return nil, fmt.Errorf("bitrix24: client endpoint: %w", err)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	c := newClient(u, u.String(), opts)
	c.tokens = tokens
	return c, nil
}

func newClient(u *url.URL, safe string, opts []Option) *Client {
	c := &Client{endpoint: u, safe: safe}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: DefaultTimeout, Transport: defaultTransport}
	}
	c.hc = noRedirectClient(c.hc)
	if c.ua == "" {
		c.ua = DefaultUserAgent
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c
}

// ErrRedirect marks an answer that was a redirect. olbot never follows
// one: the request carries the access token (and chat messages), and a
// redirect could take them to any host. Classify says ClassAuth: the
// portal's address has to be looked at by a person.
var ErrRedirect = errors.New("bitrix24: the server answered with a redirect, which is not followed")

func noRedirects(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("%w (to host %s)", ErrRedirect, clip(req.URL.Host))
}

// noRedirectClient returns hc, or a copy of it, that follows no redirect.
func noRedirectClient(hc *http.Client) *http.Client {
	cp := *hc
	cp.CheckRedirect = noRedirects
	return &cp
}

// String describes the client without secrets.
func (c *Client) String() string {
	mode := "oauth"
	if c.webhook {
		mode = "webhook"
	}
	return "bitrix24 " + mode + " " + c.safe
}

// Host is the portal's host as the client reaches it (lower-case, with
// the port when the URL has one).
func (c *Client) Host() string { return strings.ToLower(c.endpoint.Host) }

// checkBaseURL accepts https URLs, and http ones only for loopback hosts.
func checkBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the input, which may hold a secret.
		return nil, errors.New("not a valid URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("missing host")
	}
	if u.User != nil {
		return nil, errors.New("user info is not allowed")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("query and fragment are not allowed")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("http:// is allowed only for loopback hosts, not %q; use https://", u.Hostname())
		}
	default:
		return nil, fmt.Errorf("scheme %q: want https", u.Scheme)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validMethod accepts REST method names like imbot.message.add; anything
// else could escape the endpoint path.
func validMethod(m string) bool {
	if m == "" || len(m) > 100 || m[0] == '.' || m[len(m)-1] == '.' || strings.Contains(m, "..") {
		return false
	}
	for _, r := range m {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// needsClientID reports whether a webhook call of method carries CLIENT_ID.
func needsClientID(method string) bool {
	m := strings.ToLower(method)
	return strings.HasPrefix(m, "imbot.") || strings.HasPrefix(m, "imopenlines.bot.")
}

// paramsObject turns params (a map, a struct, json.RawMessage or nil) into a
// JSON object, keeping values as raw JSON.
func paramsObject(params any) (map[string]json.RawMessage, error) {
	var raw []byte
	switch p := params.(type) {
	case nil:
		return map[string]json.RawMessage{}, nil
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	default:
		b, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("params must be a JSON object")
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	return m, nil
}

func (c *Client) prepare(method string, params any) (map[string]json.RawMessage, error) {
	if !validMethod(method) {
		return nil, fmt.Errorf("%w: bad method name %q", ErrInvalidRequest, clip(method))
	}
	body, err := paramsObject(params)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidRequest, method, err)
	}
	if c.webhook && c.clientID != "" && needsClientID(method) {
		if _, ok := body["CLIENT_ID"]; !ok {
			b, _ := json.Marshal(c.clientID)
			body["CLIENT_ID"] = b
		}
	}
	return body, nil
}

// Call calls a REST method with params (a map, a struct or JSON object
// bytes) sent as a JSON POST body, and returns the "result" part of the
// answer. Errors are *APIError for error answers, ErrInvalidRequest for
// calls refused locally, or a network/ErrBadResponse error; use Classify.
//
// In OAuth mode an expired_token answer makes it refresh the token once and
// repeat the call.
func (c *Client) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	body, err := c.prepare(method, params)
	if err != nil {
		return nil, err
	}
	return c.call(ctx, method, mapBody(body))
}

// A bodyWriter writes a call's JSON body. With tokens (OAuth mode) the
// body's auth is tok, or is left out when tok is "".
type bodyWriter func(tokens bool, tok string) ([]byte, error)

// mapBody writes a prepared body as encoding/json does (keys sorted).
func mapBody(body map[string]json.RawMessage) bodyWriter {
	return func(tokens bool, tok string) ([]byte, error) {
		if tokens {
			if tok == "" {
				delete(body, "auth")
			} else {
				b, _ := json.Marshal(tok)
				body["auth"] = b
			}
		}
		return json.Marshal(body)
	}
}

// call sends a body to method with the client's token, if it has tokens:
// an expired_token answer makes it refresh the token once and repeat the
// call.
func (c *Client) call(ctx context.Context, method string, body bodyWriter) (json.RawMessage, error) {
	if c.tokens == nil {
		return c.send(ctx, method, body, false, "")
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("bitrix24: %s: get token: %w", method, err)
	}
	res, err := c.send(ctx, method, body, true, tok)
	if Classify(err) != ClassExpired {
		return res, err
	}
	c.log.InfoContext(ctx, "bitrix24 access token expired, refreshing", "method", method)
	tok, rerr := c.tokens.Refresh(ctx, tok)
	if rerr != nil {
		return nil, fmt.Errorf("bitrix24: %s: refresh after expired_token: %w", method, rerr)
	}
	return c.send(ctx, method, body, true, tok)
}

// Do is Call for a prepared Request.
func (c *Client) Do(ctx context.Context, r Request) (json.RawMessage, error) {
	return c.Call(ctx, r.Method, r.Params)
}

// envelope is the JSON answer: {"result":…,"time":{…}} or {"error":…}.
type envelope struct {
	Result      json.RawMessage `json:"result"`
	Error       any             `json:"error"`
	Description string          `json:"error_description"`
	Time        json.RawMessage `json:"time"`
}

func (c *Client) send(ctx context.Context, method string, body bodyWriter, tokens bool, tok string) (json.RawMessage, error) {
	payload, err := body(tokens, tok)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidRequest, method, err)
	}
	target := c.endpoint.JoinPath(method)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: cannot build request", ErrInvalidRequest, method)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = c.safe + method // the real URL may hold the webhook secret
		}
		c.log.DebugContext(ctx, "bitrix24 call failed", "method", method, "error", err, "duration", time.Since(start))
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("bitrix24: %s: read response: %w", method, err)
	}
	res, tm, err := decodeAnswer(method, resp, data)
	var ae *APIError
	switch {
	case err == nil:
		c.budget.note(method, tm)
	case errors.As(err, &ae):
		c.budget.wait(ae, tm, time.Now())
	}
	c.log.DebugContext(ctx, "bitrix24 call", "method", method, "status", resp.StatusCode,
		"class", Classify(err).String(), "duration", time.Since(start))
	return res, err
}

// decodeAnswer returns an answer's result, or its error, and its time object.
func decodeAnswer(method string, resp *http.Response, data []byte) (json.RawMessage, json.RawMessage, error) {
	var env envelope
	jsonErr := json.Unmarshal(data, &env)
	code, _ := env.Error.(string)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ok && jsonErr == nil && env.Error == nil {
		if env.Result == nil {
			return nil, nil, fmt.Errorf("%w: %s: answer has no result", ErrBadResponse, method)
		}
		return env.Result, env.Time, nil
	}
	if ok && jsonErr != nil {
		return nil, nil, fmt.Errorf("%w: %s: HTTP %d, body is not JSON", ErrBadResponse, method, resp.StatusCode)
	}
	ae := &APIError{Status: resp.StatusCode, Method: method, Code: code, Description: env.Description}
	if jsonErr != nil {
		ae.Code, ae.Description = "", http.StatusText(resp.StatusCode)
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if secs, err := strconv.Atoi(s); err == nil && secs > 0 {
			ae.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	return nil, env.Time, ae
}

// ParseID decodes an id that the portal returns as a number or as a string
// ("86320" or 86320).
func ParseID(raw json.RawMessage) (int, error) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, fmt.Errorf("%w: id %s", ErrBadResponse, clip(s))
		}
		s = strings.TrimSpace(str)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: %s is not an id", ErrBadResponse, clip(string(raw)))
	}
	return n, nil
}
