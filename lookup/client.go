package lookup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/olbot/olbot/engine"
)

// ErrNotAllowed: the address being connected to is not one the endpoint's
// host resolved to when the server started, or is a loopback, link-local
// or unspecified address the endpoint does not allow.
var ErrNotAllowed = errors.New("address not allowed")

// Resolver looks a host name up; net.DefaultResolver in the server.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Client makes calls to the configured endpoints only.
//
// The policy: each endpoint's host is resolved once, when the client is
// built, and a connection is allowed only to those addresses (checked by
// the dialer's Control on the address actually connected, so a DNS answer
// that changed since — DNS rebinding — is refused); loopback addresses
// only with allow_loopback; link-local (169.254.0.0/16, fe80::/10, where
// cloud metadata lives), multicast and unspecified addresses never.
// Private addresses (10/8, 192.168/16…) are allowed: the team's own
// systems often live there. No redirect is followed, no proxy is used, an
// answer over engine.MaxAnswer is cut off, and no error names a header.
type Client struct {
	endpoints map[string]*target
}

type target struct {
	ep      *Endpoint
	base    *url.URL
	allowed map[netip.Addr]bool
	http    *http.Client
}

// NewClient resolves every endpoint's host and builds its HTTP client.
// Expand the endpoints first.
func NewClient(ctx context.Context, eps Endpoints, r Resolver) (*Client, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	c := &Client{endpoints: map[string]*target{}}
	for _, name := range eps.Names() {
		ep := eps[name]
		base, err := url.Parse(ep.URL)
		if err != nil {
			return nil, fmt.Errorf("endpoints.%s.url: %w", name, err)
		}
		host := base.Hostname()
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(host); err == nil {
			addrs = []netip.Addr{a}
		} else if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, fmt.Errorf("endpoints.%s: resolve %s: %w", name, host, err)
		}
		t := &target{ep: ep, base: base, allowed: map[netip.Addr]bool{}}
		for _, a := range addrs {
			a = a.Unmap()
			if err := permitted(ep, a); err != nil {
				return nil, fmt.Errorf("endpoints.%s: %s resolves to %s: %w", name, host, a, err)
			}
			t.allowed[a] = true
		}
		dialer := &net.Dialer{Timeout: engine.CallGrace, Control: t.control}
		t.http = &http.Client{
			Transport: &http.Transport{
				Proxy:               nil, // never through a proxy: it would see the secrets
				DialContext:         dialer.DialContext,
				ForceAttemptHTTP2:   true,
				MaxIdleConnsPerHost: ep.Concurrency,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		c.endpoints[name] = t
	}
	return c, nil
}

// permitted applies the fixed part of the policy to one address.
func permitted(ep *Endpoint, a netip.Addr) error {
	switch {
	case a.IsLoopback() && !ep.AllowLoopback:
		return fmt.Errorf("%w: loopback (set allow_loopback: true for an endpoint on this machine)", ErrNotAllowed)
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a.IsMulticast(), a.IsUnspecified(), a.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: link-local, multicast or unspecified", ErrNotAllowed)
	}
	return nil
}

// control is the dialer's last word on every connection: the address
// connected must be one the host resolved to at start.
func (t *target) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrNotAllowed, address)
	}
	a := ap.Addr().Unmap()
	if !t.allowed[a] {
		return fmt.Errorf("%w: %s is not an address %s resolved to at start", ErrNotAllowed, a, t.base.Hostname())
	}
	return permitted(t.ep, a)
}

// Has reports whether the endpoint is configured.
func (c *Client) Has(name string) bool { return c != nil && c.endpoints[name] != nil }

// RetryPost reports the endpoint's retry_post.
func (c *Client) RetryPost(name string) bool { return c.Has(name) && c.endpoints[name].ep.RetryPost }

// Concurrency is the endpoint's concurrency; 1 for one not configured.
func (c *Client) Concurrency(name string) int {
	if !c.Has(name) {
		return 1
	}
	return c.endpoints[name].ep.Concurrency
}

// Do makes one call and returns its answer, or why there is none. The
// error text names the endpoint and the path, never the URL's host or a
// header, so it may go to logs and records.
func (c *Client) Do(ctx context.Context, p engine.PendingCall) engine.Answer {
	a := engine.Answer{Call: p.Seq}
	var t *target
	if c != nil {
		t = c.endpoints[p.Endpoint]
	}
	if t == nil {
		a.Error = fmt.Sprintf("endpoint %q is not configured: %s %s was not called", p.Endpoint, p.Method, Describe(p))
		return a
	}
	u, err := t.join(p.Path)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if p.Method == http.MethodPost {
		body = bytes.NewReader(p.Body)
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, u, body)
	if err != nil {
		a.Error = fmt.Sprintf("build the request: %v", errors.Unwrap(err))
		return a
	}
	for h, v := range t.ep.Headers {
		req.Header.Set(h, v)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "olbot")
	if p.Method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.http.Do(req)
	if err != nil {
		a.Error = reason(ctx, err, timeout)
		return a
	}
	defer resp.Body.Close()
	a.Status = resp.StatusCode
	b, err := io.ReadAll(io.LimitReader(resp.Body, engine.MaxAnswer+1))
	switch {
	case len(b) > engine.MaxAnswer:
		a.Error = fmt.Sprintf("status %d, but the answer is over %d bytes: cut off", a.Status, engine.MaxAnswer)
	case err != nil:
		a.Error = "reading the answer: " + reason(ctx, err, timeout)
	case a.Status >= 300 && a.Status < 400:
		a.Error = fmt.Sprintf("status %d: a redirect, which is never followed", a.Status)
	default:
		a.Body = b
	}
	return a
}

// join appends a call's path to the endpoint's URL; the result must stay
// on the endpoint's scheme and host.
func (t *target) join(path string) (string, error) {
	s := strings.TrimSuffix(t.base.String(), "/")
	if path != "" && !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "?") {
		s += "/"
	}
	s += path
	u, err := url.Parse(s)
	if err != nil || u.Scheme != t.base.Scheme || u.Host != t.base.Host || u.User != nil {
		return "", fmt.Errorf("path %q leaves endpoint %s", path, t.ep.Name)
	}
	return s, nil
}

// reason is a call's error as a short text without the URL.
func reason(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s (timeout)", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, ErrNotAllowed) {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return "refused: " + err.Error()
	}
	return err.Error()
}

// Describe is a call as shown to people: endpoint and path, never the URL.
func Describe(p engine.PendingCall) string { return p.Endpoint + p.Path }
