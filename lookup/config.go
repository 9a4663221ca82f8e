// Package lookup makes the calls of call: states: the endpoints of the
// server's configuration (with their secrets, which never leave this
// package), an HTTP client that reaches only those endpoints, and the
// lanes that make the calls outside the engine's step, one lane per
// endpoint, feeding each answer back to the dialog as an event.
package lookup

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultConcurrency is how many calls of one endpoint are in flight at once.
const DefaultConcurrency = 8

// Endpoint is one endpoint of the configuration's endpoints:.
type Endpoint struct {
	Name string
	URL  string
	// Headers are sent with every call; values may name environment
	// variables as ${VAR}. After Expand they hold the secrets.
	Headers map[string]string
	// RetryPost: a POST cut off by a crash is sent again (the endpoint
	// takes the same POST twice safely); otherwise it takes on_error.
	RetryPost bool
	// AllowLoopback lets the endpoint be on 127.0.0.0/8 or ::1 (a sidecar,
	// tests); otherwise loopback addresses are refused when connecting.
	AllowLoopback bool
	Concurrency   int
}

// Endpoints are the configured endpoints by name.
type Endpoints map[string]*Endpoint

// Names lists the endpoints' names, sorted.
func (e Endpoints) Names() []string {
	out := make([]string, 0, len(e))
	for n := range e {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Known is the set of the endpoints' names (for scenarios.CheckEndpoints).
func (e Endpoints) Known() map[string]bool {
	out := make(map[string]bool, len(e))
	for n := range e {
		out[n] = true
	}
	return out
}

var (
	nameRE = regexp.MustCompile(`^[-_0-9A-Za-z]{1,64}$`)
	varRE  = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
)

// Parse reads the endpoints: node of a configuration file (file names it
// in errors). Nothing is expanded or resolved yet.
func Parse(file string, n *yaml.Node) (Endpoints, error) {
	at := func(n *yaml.Node) string { return fmt.Sprintf("config file %s:%d: endpoints", file, n.Line) }
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a map of endpoint names, e.g. shop: {url: https://shop.example.com/api}", at(n))
	}
	out := Endpoints{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !nameRE.MatchString(k.Value) {
			return nil, fmt.Errorf("%s: %q is not an endpoint name (letters, digits, _ and -)", at(k), k.Value)
		}
		var raw struct {
			URL           string            `yaml:"url"`
			Headers       map[string]string `yaml:"headers"`
			RetryPost     bool              `yaml:"retry_post"`
			AllowLoopback bool              `yaml:"allow_loopback"`
			Concurrency   int               `yaml:"concurrency"`
		}
		if err := v.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", at(v), k.Value, err)
		}
		for j := 0; v.Kind == yaml.MappingNode && j+1 < len(v.Content); j += 2 {
			switch key := v.Content[j]; key.Value {
			case "url", "headers", "retry_post", "allow_loopback", "concurrency":
			default:
				return nil, fmt.Errorf("%s.%s: unknown key %q (keys: url, headers, retry_post, allow_loopback, concurrency)", at(key), k.Value, key.Value)
			}
		}
		ep := &Endpoint{Name: k.Value, URL: raw.URL, Headers: raw.Headers, RetryPost: raw.RetryPost, AllowLoopback: raw.AllowLoopback, Concurrency: raw.Concurrency}
		if err := ep.check(); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", at(v), k.Value, err)
		}
		out[ep.Name] = ep
	}
	return out, nil
}

func (ep *Endpoint) check() error {
	if strings.Contains(ep.URL, "${") {
		return fmt.Errorf("url: put secrets in headers:, not in the URL (it is shown in logs and by olbot check)")
	}
	u, err := url.Parse(ep.URL)
	switch {
	case ep.URL == "":
		return fmt.Errorf("url is missing, e.g. url: https://shop.example.com/api")
	case err != nil:
		return fmt.Errorf("url %q: %v", ep.URL, err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("url %q: want an http:// or https:// address", ep.URL)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("url %q: no host", ep.URL)
	case u.User != nil:
		return fmt.Errorf("url %q: put credentials in headers:, not in the URL", ep.URL)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("url %q: no query or fragment in the endpoint's URL; a call's path: may add a query", ep.URL)
	}
	if ep.Concurrency < 0 || ep.Concurrency > 256 {
		return fmt.Errorf("concurrency %d: want 1 to 256 (default %d)", ep.Concurrency, DefaultConcurrency)
	}
	if ep.Concurrency == 0 {
		ep.Concurrency = DefaultConcurrency
	}
	for h := range ep.Headers {
		if h == "" || strings.ContainsAny(h, " :\r\n") {
			return fmt.Errorf("headers: %q is not a header name", h)
		}
	}
	return nil
}

// Expand replaces every ${VAR} in the headers with the environment's
// value; a variable that is not set is an error naming it (never its
// value). getenv nil means os.LookupEnv.
func (e Endpoints) Expand(getenv func(string) (string, bool)) error {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	for _, name := range e.Names() {
		ep := e[name]
		for h, v := range ep.Headers {
			var missing []string
			out := varRE.ReplaceAllStringFunc(v, func(m string) string {
				x, ok := getenv(m[2 : len(m)-1])
				if !ok {
					missing = append(missing, m[2:len(m)-1])
				}
				return x
			})
			if len(missing) > 0 {
				return fmt.Errorf("endpoints.%s.headers.%s: environment variable %s is not set", name, h, strings.Join(missing, ", "))
			}
			if strings.ContainsAny(out, "\r\n") {
				return fmt.Errorf("endpoints.%s.headers.%s: the value holds a line break", name, h)
			}
			ep.Headers[h] = out
		}
	}
	return nil
}
