package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/lookup"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/postgres"
	"github.com/olbot/olbot/server"
)

// serveConfig is everything `olbot serve` can be told, typed. The flags,
// the OLBOT_* variables and the YAML --config file all fill it through
// one table (options), which also holds every default.
type serveConfig struct {
	Listen          string
	Scenarios       string
	Store           string
	StoreSchema     string
	OutboxLease     time.Duration
	PortalTimeout   time.Duration
	Webhook         string
	ClientID        string
	BotCode         string
	BotName         string
	BotToken        string
	PollInterval    time.Duration
	PollIdle        time.Duration
	PollLease       time.Duration
	AppToken        string
	HandlerSecret   string
	AdminToken      string
	PublicHost      string
	AppClientID     string
	AppClientSecret string
	OAuthURL        string
	BotAPI          string
	Events          string
	Portals         []string
	Rate            rate
	AllowReinstall  bool
	Pprof           bool
	Edit            bool
	Retention       time.Duration
	UninstallGrace  time.Duration
	LogLevel        slog.Level
	LogFormat       string
	// Endpoints are the config file's endpoints: for call: states (only
	// in the file: they carry secrets, as ${VAR} from the environment).
	Endpoints lookup.Endpoints
}

// rate is a per-portal rate limit: requests per second and burst.
type rate struct {
	PerSecond float64
	Burst     int
}

func (r rate) String() string { return fmt.Sprintf("%g,%d", r.PerSecond, r.Burst) }

// parseRate reads "2,50" (requests per second, burst) or "2" (the default burst).
func parseRate(s string) (float64, int, error) {
	perSecond, burst, _ := strings.Cut(s, ",")
	r, err := strconv.ParseFloat(strings.TrimSpace(perSecond), 64)
	if err != nil || r <= 0 {
		return 0, 0, fmt.Errorf("rate %q: want requests per second and burst, e.g. 2,50", s)
	}
	b := outbox.DefaultBurst
	if burst != "" {
		b, err = strconv.Atoi(strings.TrimSpace(burst))
		if err != nil || b < 1 {
			return 0, 0, fmt.Errorf("rate %q: burst must be a whole number of 1 or more", s)
		}
	}
	return r, b, nil
}

// option is one setting: its flag (the YAML key is the flag with _ for -),
// its variable, its default as text, and how text sets it.
type option struct {
	name, env, def, help string
	secret               bool // never printed (the help shows no default)
	boolean              bool // a flag without a value
	set                  func(string) error
}

func (o option) key() string { return strings.ReplaceAll(o.name, "-", "_") }

func text(dst *string) func(string) error {
	return func(s string) error { *dst = s; return nil }
}

func duration(dst *time.Duration) func(string) error {
	return func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q: want a positive duration, e.g. 15s or 2m", s)
		}
		*dst = d
		return nil
	}
}

// period reads a duration that may be given in days ("90d") and may be 0
// (for ever, or at once).
func period(dst *time.Duration) func(string) error {
	return func(s string) error {
		d, err := parsePeriod(s)
		if err != nil {
			return err
		}
		*dst = d
		return nil
	}
}

// parsePeriod reads "90d", "36h", "1h30m" or "0".
func parsePeriod(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err == nil && n >= 0 && n <= 100*365 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%q: want a duration in days or hours, e.g. 90d, 36h, or 0", s)
}

func boolean(dst *bool) func(string) error {
	return func(s string) error {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		*dst = b
		return nil
	}
}

func list(dst *[]string) func(string) error {
	return func(s string) error {
		*dst = nil
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*dst = append(*dst, p)
			}
		}
		return nil
	}
}

func (c *serveConfig) setRate(s string) error {
	r, b, err := parseRate(s)
	c.Rate = rate{r, b}
	return err
}

func (c *serveConfig) setLogLevel(s string) error {
	if err := c.LogLevel.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("%q: want debug, info, warn or error", s)
	}
	return nil
}

func (c *serveConfig) setPublicHost(s string) error {
	if s != "" {
		if _, err := server.ParsePublicHost(s); err != nil {
			return err
		}
	}
	c.PublicHost = s
	return nil
}

func (c *serveConfig) setBotAPI(s string) error {
	if s != "auto" && s != "v1" && s != "v2" {
		return fmt.Errorf("%q: want auto, v1 or v2", s)
	}
	c.BotAPI = s
	return nil
}

func (c *serveConfig) setEvents(s string) error {
	if s != "webhook" && s != "fetch" {
		return fmt.Errorf("%q: want webhook or fetch", s)
	}
	c.Events = s
	return nil
}

func (c *serveConfig) setLogFormat(s string) error {
	if s != "text" && s != "json" {
		return fmt.Errorf("%q: want text or json", s)
	}
	c.LogFormat = s
	return nil
}

// options is the one table of serve's settings and their defaults.
func (c *serveConfig) options() []option {
	return []option{
		{name: "listen", env: "OLBOT_LISTEN", def: server.DefaultListen, help: "address to listen on", set: text(&c.Listen)},
		{name: "scenarios", env: "OLBOT_SCENARIOS", def: "examples", help: "folder of scenario files (watched and hot-reloaded)", set: text(&c.Scenarios)},
		{name: "store", env: "OLBOT_STORE", def: bolt.DefaultPath, help: "dialog store: a bbolt file path, memory, or a postgres:// URL", set: text(&c.Store)},
		{name: "store-schema", env: "OLBOT_STORE_SCHEMA", def: postgres.DefaultSchema, help: "PostgreSQL schema that holds olbot's tables (created when missing); replicas of one olbot share it", set: text(&c.StoreSchema)},
		{name: "outbox-lease", env: "OLBOT_OUTBOX_LEASE", def: outbox.DefaultLease.String(), help: "how long a replica reserves a portal call it is delivering; the calls of a replica that died go out from the others after it", set: duration(&c.OutboxLease)},
		{name: "portal-timeout", env: "OLBOT_PORTAL_TIMEOUT", def: outbox.DefaultCallTimeout.String(), help: "how long one request to a portal may take; a portal that does not answer in time has the call retried later and delays only its own calls", set: duration(&c.PortalTimeout)},
		{name: "webhook", env: "OLBOT_WEBHOOK", help: "incoming webhook URL https://PORTAL/rest/USER/SECRET/ (webhook mode)", secret: true, set: text(&c.Webhook)},
		{name: "client-id", env: "OLBOT_CLIENT_ID", help: "the imbot CLIENT_ID chosen at registration (webhook mode)", secret: true, set: text(&c.ClientID)},
		{name: "bot-code", env: "OLBOT_BOT_CODE", def: "olbot", help: "imbot.v2 bot code (--webhook without --client-id: fetch mode); registered once, found again by it at every start", set: text(&c.BotCode)},
		{name: "bot-name", env: "OLBOT_BOT_NAME", def: "olbot", help: "imbot.v2 bot name as operators and clients see it (fetch mode)", set: text(&c.BotName)},
		{name: "bot-token", env: "OLBOT_BOT_TOKEN", help: "imbot.v2 botToken, at most 40 characters (fetch mode; default: generated once and kept in the store)", secret: true, set: text(&c.BotToken)},
		{name: "poll-interval", env: "OLBOT_POLL_INTERVAL", def: "2s", help: "fetch mode: time between polls while chats are active or more events wait (the docs ask for at least 2s)", set: duration(&c.PollInterval)},
		{name: "poll-idle", env: "OLBOT_POLL_IDLE", def: "5s", help: "fetch mode: time between polls when no chat was active for a minute (the docs ask for 5-30s)", set: duration(&c.PollIdle)},
		{name: "poll-lease", env: "OLBOT_POLL_LEASE", def: "15s", help: "fetch mode with several replicas: how long the polling replica's lease lasts; another replica takes polling over within it after the poller died", set: duration(&c.PollLease)},
		{name: "app-token", env: "OLBOT_APP_TOKEN", help: "application token events must carry (auth[application_token])", secret: true, set: text(&c.AppToken)},
		{name: "handler-secret", env: "OLBOT_HANDLER_SECRET", help: "secret k of the handler URL …/bitrix24/events?k=SECRET (printed by olbot register)", secret: true, set: text(&c.HandlerSecret)},
		{name: "admin-token", env: "OLBOT_ADMIN_TOKEN", help: "bearer token for the /v1 routes; required to listen beyond loopback", secret: true, set: text(&c.AdminToken)},
		{name: "public-host", env: "OLBOT_PUBLIC_HOST", help: "host name olbot is reached under through a proxy or tunnel; on loopback only localhost, 127.0.0.1, [::1] and this name are served", set: c.setPublicHost},
		{name: "app-client-id", env: "OLBOT_APP_CLIENT_ID", help: "local application's client_id (token refresh)", set: text(&c.AppClientID)},
		{name: "app-client-secret", env: "OLBOT_APP_CLIENT_SECRET", help: "local application's client_secret (token refresh)", secret: true, set: text(&c.AppClientSecret)},
		{name: "bot-api", env: "OLBOT_BOT_API", def: "auto", help: "local application: the bot platform an install registers its bot with: v2 (imbot.v2.Bot.register), v1 (imbot.register), or auto: v2 for a first install, a portal installed with v1 stays v1", set: c.setBotAPI},
		{name: "events", env: "OLBOT_EVENTS", def: "webhook", help: "local application's imbot.v2 bot: webhook (events posted to /bitrix24/events at once) or fetch (olbot polls imbot.v2.Event.get; no inbound event traffic)", set: c.setEvents},
		{name: "oauth-url", env: "OLBOT_OAUTH_URL", def: bitrix24.DefaultTokenURL, help: "OAuth server that proves installs and refreshes tokens", set: text(&c.OAuthURL)},
		{name: "portals", env: "OLBOT_PORTALS", help: "comma-separated portal domains allowed to install the application (empty: any)", set: list(&c.Portals)},
		{name: "rate", env: "OLBOT_RATE", def: rate{outbox.DefaultRate, outbox.DefaultBurst}.String(), help: "portal requests per second and burst, per portal (a batch of up to 50 calls is one request); the default leaves 5 of the portal's bucket of 50 unused, e.g. 5,240 on Enterprise", set: c.setRate},
		{name: "allow-reinstall", env: "OLBOT_ALLOW_REINSTALL", def: "false", help: "let a proven install or update move a known portal to another address (client_endpoint)", boolean: true, set: boolean(&c.AllowReinstall)},
		{name: "pprof", env: "OLBOT_PPROF", def: "false", help: "serve Go's profiler at /debug/pprof/ (behind the admin token) for performance investigations", boolean: true, set: boolean(&c.Pprof)},
		{name: "edit", env: "OLBOT_EDIT", def: "false", help: "let the playground's editor save scenario files while listening beyond loopback (always allowed on loopback; needs the admin token)", boolean: true, set: boolean(&c.Edit)},
		{name: "retention", env: "OLBOT_RETENTION", def: "90d", help: "how long a finished or handed-off dialog (its record, collected fields and calls) is kept after it ended, e.g. 90d or 36h; 0 keeps dialogs for ever (playground dialogs go after a day regardless)", set: period(&c.Retention)},
		{name: "uninstall-grace", env: "OLBOT_UNINSTALL_GRACE", def: "7d", help: "how long an uninstalled portal's dialogs are kept in case it comes back; an uninstall with \"clear application data\" (CLEAN) erases them at once; 0: at once always", set: period(&c.UninstallGrace)},
		{name: "log-level", env: "OLBOT_LOG_LEVEL", def: "info", help: "debug, info, warn or error", set: c.setLogLevel},
		{name: "log-format", env: "OLBOT_LOG_FORMAT", def: "text", help: "text or json", set: c.setLogFormat},
	}
}

// loadServeConfig applies the defaults, then the config file, then the
// OLBOT_* variables, then the flags; every value goes through its option's
// parser, and an error names where the value came from.
func loadServeConfig(args []string, getenv func(string) string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	opts := c.options()
	fs := newFlags("serve", "serve [flags]", stderr)
	configFile := fs.String("config", getenv("OLBOT_CONFIG"), "optional YAML config file with the same settings (keys with _ instead of -); env OLBOT_CONFIG")
	var flagged []func() error // applied last, in the order given
	for _, o := range opts {
		usage := o.help + " (env " + o.env + ")"
		if o.def != "" && !o.boolean {
			usage += " (default " + o.def + ")"
		}
		record := func(v string) error {
			flagged = append(flagged, func() error { return from("--"+o.name, o.set(v)) })
			return nil
		}
		if o.boolean {
			fs.BoolFunc(o.name, usage, record)
		} else {
			fs.Func(o.name, usage, record)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (serve takes only flags)", fs.Arg(0))
	}
	for _, o := range opts {
		if o.def == "" {
			continue
		}
		if err := from("default of --"+o.name, o.set(o.def)); err != nil {
			return nil, err
		}
	}
	if *configFile != "" {
		if err := c.readFile(*configFile, opts); err != nil {
			return nil, err
		}
	}
	for _, o := range opts {
		if v := getenv(o.env); v != "" {
			if err := from(o.env, o.set(v)); err != nil {
				return nil, err
			}
		}
	}
	for _, apply := range flagged {
		if err := apply(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// from prefixes an error with where its value came from.
func from(where string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", where, err)
}

// readFile sets the options the YAML file names; a key no option has is an
// error naming it. A list (portals) may be a YAML sequence.
func (c *serveConfig) readFile(path string, opts []option) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	byKey := map[string]option{}
	keys := make([]string, 0, len(opts))
	for _, o := range opts {
		byKey[o.key()] = o
		keys = append(keys, o.key())
	}
	for k, node := range doc {
		if k == "endpoints" {
			if c.Endpoints, err = lookup.Parse(path, &node); err != nil {
				return err
			}
			continue
		}
		o, ok := byKey[k]
		if !ok {
			return fmt.Errorf("config file %s:%d: unknown key %q (keys: %s, endpoints)", path, node.Line, k, strings.Join(keys, ", "))
		}
		v := node.Value
		if node.Kind == yaml.SequenceNode {
			parts := make([]string, 0, len(node.Content))
			for _, n := range node.Content {
				parts = append(parts, n.Value)
			}
			v = strings.Join(parts, ",")
		} else if node.Kind != yaml.ScalarNode {
			return fmt.Errorf("config file %s:%d: %s: want a value", path, node.Line, k)
		}
		if err := from(fmt.Sprintf("config file %s:%d: %s", path, node.Line, k), o.set(v)); err != nil {
			return err
		}
	}
	return nil
}

// readEndpoints reads only the endpoints: of a config file (olbot check
// and olbot chat); nil when it has none.
func readEndpoints(path string) (lookup.Endpoints, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	node, ok := doc["endpoints"]
	if !ok {
		return lookup.Endpoints{}, nil
	}
	return lookup.Parse(path, &node)
}

func newLogger(level slog.Level, format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
