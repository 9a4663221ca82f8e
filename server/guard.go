package server

// Browser-origin protection (issue 17). With no admin token (the loopback
// default) any web page the operator visits could otherwise drive olbot: a
// form, text/plain or multipart body needs no CORS preflight, and a
// DNS-rebinding page reaches 127.0.0.1 under its own host name. Three
// checks close that, each answering with the application error:
//   - hosts: while listening on loopback, only loopback host names and
//     --public-host are served (the probes and /metrics are exempt);
//   - origins: a state-changing request that a browser marks cross-site
//     (Sec-Fetch-Site, else Origin against Host) is refused;
//   - bodies: each state-changing route names the media types it reads, and
//     none but /bitrix24/events (the portal posts forms server to server)
//     takes one that a foreign page can send without a preflight.

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// guard holds the host and origin checks of one server.
type guard struct {
	loopback   bool   // listening on loopback: the host check is on
	publicHost string // the one other host name served then, lower-case, "" for none
	origins    *http.CrossOriginProtection
}

// hostExempt are the routes served under any host name: probes and
// scrapes address the pod or the machine, not olbot's name, and a page
// learns nothing from them.
var hostExempt = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// newGuard builds the checks for cfg (after defaults): publicHost may carry
// a port, which is ignored.
func newGuard(cfg Config) (*guard, error) {
	g := &guard{origins: http.NewCrossOriginProtection()}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", cfg.Listen, err)
	}
	g.loopback = isLoopbackName(host)
	if ph := strings.TrimSpace(cfg.PublicHost); ph != "" {
		name, err := ParsePublicHost(ph)
		if err != nil {
			return nil, err
		}
		g.publicHost = name
		// A proxy that rewrites Host to 127.0.0.1 still lets the pages of
		// the public name through.
		for _, scheme := range []string{"https://", "http://"} {
			if err := g.origins.AddTrustedOrigin(scheme + ph); err != nil {
				return nil, fmt.Errorf("public host %q: %w", cfg.PublicHost, err)
			}
		}
	}
	return g, nil
}

// ParsePublicHost checks a Config.PublicHost value — a host name, with or
// without a port (bot.example.com, bot.example.com:8443) — and returns the
// lower-case name it matches.
func ParsePublicHost(s string) (string, error) {
	name := hostName(strings.TrimSpace(s))
	if name == "" || strings.ContainsAny(s, "/ ?#@") {
		return "", fmt.Errorf("public host %q: want a host name such as bot.example.com, without scheme or path", s)
	}
	return name, nil
}

// hostName is the lower-case host of a Host header value, without port or
// IPv6 brackets.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}

// isLoopbackName: localhost or a loopback address literal. A rebinding page
// always comes under a DNS name of its own, never under these.
func isLoopbackName(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// middleware runs the host check, then the origin check, before anything
// else reads the request.
func (g *guard) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if g.loopback && !hostExempt[req.URL.Path] {
			if h := hostName(req.Host); !isLoopbackName(h) && (g.publicHost == "" || h != g.publicHost) {
				return &Error{Code: EForbidden, Field: "Host", Message: fmt.Sprintf("host %q is not served: olbot listens on loopback and answers only localhost, 127.0.0.1 and [::1]; "+
					"behind a proxy or tunnel, start it with --public-host NAME", clipHost(req.Host))}
			}
		}
		if err := g.origins.Check(req); err != nil {
			return &Error{Code: EForbidden, Field: "Origin", Message: fmt.Sprintf("a cross-origin browser request (Origin %q, Sec-Fetch-Site %q) may not change anything here",
				clipHost(req.Header.Get("Origin")), clipHost(req.Header.Get("Sec-Fetch-Site")))}
		}
		return next(c)
	}
}

// clipHost keeps a header value short and printable for an error message.
func clipHost(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// Media types a route's body may have.
const (
	mediaJSON = "application/json"
	mediaForm = "application/x-www-form-urlencoded"
	mediaYAML = "application/yaml"
	// mediaNone: a body-less route; no Content-Type at all is accepted.
	mediaNone = ""
)

// yamlAliases are the older names of application/yaml (RFC 9512) that
// editors and tools still send; none of them passes without a preflight.
var yamlAliases = map[string]bool{"application/x-yaml": true, "text/yaml": true, "text/x-yaml": true}

// accepts is the route middleware that names the media types of a route's
// body: any other Content-Type is a 415 naming the field, before the body
// is read. mediaNone lets a request without Content-Type (and then without
// a body that says what it is) through; a body-less route also takes
// application/json, which clients send by habit.
func accepts(types ...string) echo.MiddlewareFunc {
	var names, hint []string
	for _, t := range types {
		if t == mediaNone {
			names = append(names, "no body")
			continue
		}
		names, hint = append(names, t), append(hint, t)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ct := c.Request().Header.Get("Content-Type")
			for _, t := range types {
				if ct == t && t != mediaNone {
					return next(c) // the usual case, without parsing
				}
			}
			mt, _, err := mime.ParseMediaType(ct)
			if ct == "" {
				mt, err = mediaNone, nil
			}
			if yamlAliases[mt] {
				mt = mediaYAML
			}
			for _, t := range types {
				if err == nil && mt == t {
					return next(c)
				}
			}
			got := "no Content-Type"
			if ct != "" {
				got = fmt.Sprintf("Content-Type %q", clipHost(ct))
			}
			return &Error{Code: EMediaType, Field: "Content-Type", Message: fmt.Sprintf("%s: this route reads %s (send -H 'Content-Type: %s')", got, strings.Join(names, " or "), hint[0])}
		}
	}
}

// pathParam is a path parameter, decoded: Echo routes on the escaped path
// when it has escapes that decoding would change (%2F), and then hands the
// parameter over still escaped.
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, nil
	}
	d, err := url.PathUnescape(v)
	if err != nil {
		return "", &Error{Code: EInvalid, Field: name, Message: fmt.Sprintf("%s: bad escape in the path: %v", name, err)}
	}
	return d, nil
}
