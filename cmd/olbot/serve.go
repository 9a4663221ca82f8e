package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/funnel"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/postgres"
	"github.com/olbot/olbot/scenarios"
	"github.com/olbot/olbot/server"
)

// serveConfig is everything `olbot serve` can be told, by flag, OLBOT_*
// variable or YAML config file (in that order of precedence).
type serveConfig struct {
	Listen          string `yaml:"listen"`
	Scenarios       string `yaml:"scenarios"`
	Store           string `yaml:"store"`
	StoreSchema     string `yaml:"store_schema"`
	OutboxLease     string `yaml:"outbox_lease"`
	PortalTimeout   string `yaml:"portal_timeout"`
	Webhook         string `yaml:"webhook"`
	ClientID        string `yaml:"client_id"`
	AppToken        string `yaml:"app_token"`
	HandlerSecret   string `yaml:"handler_secret"`
	AdminToken      string `yaml:"admin_token"`
	PublicHost      string `yaml:"public_host"`
	AppClientID     string `yaml:"app_client_id"`
	AppClientSecret string `yaml:"app_client_secret"`
	OAuthURL        string `yaml:"oauth_url"`
	Portals         string `yaml:"portals"`
	Rate            string `yaml:"rate"`
	AllowReinstall  bool   `yaml:"allow_reinstall"`
	Pprof           bool   `yaml:"pprof"`
	LogLevel        string `yaml:"log_level"`
	LogFormat       string `yaml:"log_format"`
}

// option describes one setting: its flag, its variable, its default and whether it is secret.
type option struct {
	name, env, def, help string
	secret               bool
	str                  *string
	boolean              *bool
}

func (c *serveConfig) options() []option {
	return []option{
		{name: "listen", env: "OLBOT_LISTEN", def: "127.0.0.1:8080", help: "address to listen on", str: &c.Listen},
		{name: "scenarios", env: "OLBOT_SCENARIOS", def: "examples", help: "folder of scenario files (watched and hot-reloaded)", str: &c.Scenarios},
		{name: "store", env: "OLBOT_STORE", def: bolt.DefaultPath, help: "dialog store: a bbolt file path, memory, or a postgres:// URL", str: &c.Store},
		{name: "store-schema", env: "OLBOT_STORE_SCHEMA", def: postgres.DefaultSchema, help: "PostgreSQL schema that holds olbot's tables (created when missing); replicas of one olbot share it", str: &c.StoreSchema},
		{name: "outbox-lease", env: "OLBOT_OUTBOX_LEASE", def: outbox.DefaultLease.String(), help: "how long a replica reserves a portal call it is delivering; the calls of a replica that died go out from the others after it", str: &c.OutboxLease},
		{name: "portal-timeout", env: "OLBOT_PORTAL_TIMEOUT", def: outbox.DefaultCallTimeout.String(), help: "how long one request to a portal may take; a portal that does not answer in time has the call retried later and delays only its own calls", str: &c.PortalTimeout},
		{name: "webhook", env: "OLBOT_WEBHOOK", help: "incoming webhook URL https://PORTAL/rest/USER/SECRET/ (webhook mode)", secret: true, str: &c.Webhook},
		{name: "client-id", env: "OLBOT_CLIENT_ID", help: "the imbot CLIENT_ID chosen at registration (webhook mode)", secret: true, str: &c.ClientID},
		{name: "app-token", env: "OLBOT_APP_TOKEN", help: "application token events must carry (auth[application_token])", secret: true, str: &c.AppToken},
		{name: "handler-secret", env: "OLBOT_HANDLER_SECRET", help: "secret k of the handler URL …/bitrix24/events?k=SECRET (printed by olbot register)", secret: true, str: &c.HandlerSecret},
		{name: "admin-token", env: "OLBOT_ADMIN_TOKEN", help: "bearer token for the /v1 routes; required to listen beyond loopback", secret: true, str: &c.AdminToken},
		{name: "public-host", env: "OLBOT_PUBLIC_HOST", help: "host name olbot is reached under through a proxy or tunnel; on loopback only localhost, 127.0.0.1, [::1] and this name are served", str: &c.PublicHost},
		{name: "app-client-id", env: "OLBOT_APP_CLIENT_ID", help: "local application's client_id (token refresh)", str: &c.AppClientID},
		{name: "app-client-secret", env: "OLBOT_APP_CLIENT_SECRET", help: "local application's client_secret (token refresh)", secret: true, str: &c.AppClientSecret},
		{name: "oauth-url", env: "OLBOT_OAUTH_URL", def: "https://oauth.bitrix.info/oauth/token/", help: "OAuth server used to refresh expired tokens", str: &c.OAuthURL},
		{name: "portals", env: "OLBOT_PORTALS", help: "comma-separated portal domains allowed to install the application (empty: any)", str: &c.Portals},
		{name: "rate", env: "OLBOT_RATE", def: fmt.Sprintf("%g,%d", outbox.DefaultRate, outbox.DefaultBurst), help: "portal requests per second and burst, per portal (a batch of up to 50 calls is one request), e.g. 2,50", str: &c.Rate},
		{name: "allow-reinstall", env: "OLBOT_ALLOW_REINSTALL", help: "accept a re-install of a known portal with a different application token", boolean: &c.AllowReinstall},
		{name: "pprof", env: "OLBOT_PPROF", help: "serve Go's profiler at /debug/pprof/ (behind the admin token) for performance investigations", boolean: &c.Pprof},
		{name: "log-level", env: "OLBOT_LOG_LEVEL", def: "info", help: "debug, info, warn or error", str: &c.LogLevel},
		{name: "log-format", env: "OLBOT_LOG_FORMAT", def: "text", help: "text or json", str: &c.LogFormat},
	}
}

// loadServeConfig applies defaults, then the config file, then OLBOT_*
// variables, then flags.
func loadServeConfig(args []string, getenv func(string) string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	opts := c.options()
	fs := newFlags("serve", "serve [flags]", stderr)
	configFile := fs.String("config", getenv("OLBOT_CONFIG"), "optional YAML config file with the same settings (keys with _ instead of -); env OLBOT_CONFIG")
	set := map[string]bool{}
	for _, o := range opts {
		usage := o.help + " (env " + o.env + ")"
		if o.boolean != nil {
			fs.BoolVar(o.boolean, o.name, false, usage)
		} else {
			fs.StringVar(o.str, o.name, o.def, usage)
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (serve takes only flags)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	flagged := map[string]string{}
	for _, o := range opts {
		if set[o.name] {
			if o.boolean != nil {
				flagged[o.name] = strconv.FormatBool(*o.boolean)
			} else {
				flagged[o.name] = *o.str
			}
		}
	}
	// reset to defaults, then layer: file < env < flags
	*c = serveConfig{}
	opts = c.options()
	for _, o := range opts {
		if o.str != nil {
			*o.str = o.def
		}
	}
	if *configFile != "" {
		b, err := os.ReadFile(*configFile)
		if err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config file %s: %w", *configFile, err)
		}
	}
	for _, o := range opts {
		v, fromEnv := getenv(o.env), true
		if f, ok := flagged[o.name]; ok {
			v, fromEnv = f, false
		}
		if v == "" && fromEnv {
			continue
		}
		if o.boolean != nil {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not true or false", o.env, v)
			}
			*o.boolean = b
		} else {
			*o.str = v
		}
	}
	return c, nil
}

// parseRate reads "2,50" (calls per second, burst) or "2".
func parseRate(s string) (float64, int, error) {
	rate, burst, _ := strings.Cut(s, ",")
	r, err := strconv.ParseFloat(strings.TrimSpace(rate), 64)
	if err != nil || r <= 0 {
		return 0, 0, fmt.Errorf("rate %q: want calls per second and burst, e.g. 2,50", s)
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

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

// openStore opens the store a --store value names.
func openStore(ctx context.Context, spec, schema string, log *slog.Logger) (engine.Store, string, error) {
	switch {
	case spec == "memory":
		return memstore.New(), "memory (nothing survives a restart)", nil
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		s, err := postgres.Open(ctx, spec, postgres.Options{Schema: schema, Logger: log})
		if err != nil {
			return nil, "", err
		}
		return s, "PostgreSQL " + s.Name() + " schema " + s.Schema(), nil
	default:
		s, err := bolt.Open(spec, bolt.Options{})
		if err != nil {
			return nil, "", err
		}
		return s, "bbolt file " + spec, nil
	}
}

// redactURL hides the password of a URL for logs.
func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return s
	}
	userinfo := s[scheme+3 : at]
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return s[:scheme+3] + user + ":***" + s[at:]
	}
	return s
}

// runServe runs the server until SIGINT/SIGTERM; SIGHUP reloads scenarios.
func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := loadServeConfig(args, os.Getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "olbot serve:", err)
		return 2
	}
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "olbot serve:", err)
		return 2
	}
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("olbot serve stopped", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg *serveConfig, log *slog.Logger) error {
	rate, burst, err := parseRate(cfg.Rate)
	if err != nil {
		return err
	}
	if st, err := os.Stat(cfg.Scenarios); err != nil || !st.IsDir() {
		return fmt.Errorf("scenario folder %q: not found (set --scenarios or OLBOT_SCENARIOS)", cfg.Scenarios)
	}
	lease, err := time.ParseDuration(cfg.OutboxLease)
	if err != nil || lease <= 0 {
		return fmt.Errorf("outbox lease %q: want a positive duration, e.g. 2m", cfg.OutboxLease)
	}
	callTimeout, err := time.ParseDuration(cfg.PortalTimeout)
	if err != nil || callTimeout <= 0 {
		return fmt.Errorf("portal timeout %q: want a positive duration, e.g. 15s", cfg.PortalTimeout)
	}
	store, storeDesc, err := openStore(ctx, cfg.Store, cfg.StoreSchema, log)
	if err != nil {
		return err
	}
	defer store.Close()
	var portals []string
	for _, p := range strings.Split(cfg.Portals, ",") {
		if p = strings.TrimSpace(p); p != "" {
			portals = append(portals, p)
		}
	}
	srv, ob, err := wire(server.Config{
		Listen:     cfg.Listen,
		AdminToken: cfg.AdminToken,
		PublicHost: cfg.PublicHost,
		Pprof:      cfg.Pprof,
		Bitrix24: server.Bitrix24Config{
			AppToken:       cfg.AppToken,
			HandlerSecret:  cfg.HandlerSecret,
			Portals:        portals,
			AllowReinstall: cfg.AllowReinstall,
		},
	}, outbox.Config{
		Webhook:         cfg.Webhook,
		ClientID:        cfg.ClientID,
		AppClientID:     cfg.AppClientID,
		AppClientSecret: cfg.AppClientSecret,
		OAuthURL:        cfg.OAuthURL,
		Rate:            rate,
		Burst:           burst,
		Lease:           lease,
		CallTimeout:     callTimeout,
	}, store, scenarios.NewRegistry(cfg.Scenarios, nil), log)
	if err != nil {
		return err
	}
	log.Info("olbot starting", "listen", cfg.Listen, "scenarios", cfg.Scenarios, "store", storeDesc, "portal", ob.Mode(),
		"admin_token", cfg.AdminToken != "", "rate", rate, "burst", burst, "portal_timeout", callTimeout)
	if err := srv.Open(ctx); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reloading scenarios")
			srv.RequestReload()
		case <-ctx.Done():
			log.Info("shutting down: draining events and flushing the outbox")
			start := time.Now()
			err := srv.Close()
			log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
			return err
		}
	}
}

// idleEvery is how often the idle sweeper looks for silent dialogs.
const idleEvery = 5 * time.Second

// wire builds one replica: the event path (dialogs), the outbox that
// delivers its calls, the funnel that counts its steps, and the HTTP server
// that runs them all.
func wire(cfg server.Config, ocfg outbox.Config, store engine.Store, registry *scenarios.Registry, log *slog.Logger) (*server.Server, *outbox.Outbox, error) {
	reg := prometheus.NewRegistry()
	proc, err := dialogs.New(dialogs.Options{Store: store, Registry: registry, Logger: log, Metrics: reg})
	if err != nil {
		return nil, nil, err
	}
	ob, err := outbox.New(ocfg, outbox.Options{Store: store, Health: proc, Locks: proc, Logger: log, Metrics: reg})
	if err != nil {
		return nil, nil, err
	}
	proc.SetPortal(ob)
	book := funnel.New(store, registry, log, nil)
	proc.Observe(book)
	srv, err := server.New(cfg, server.Options{Store: store, Registry: registry, Dialogs: proc, Portals: ob.Portals(), Registrar: ob, Funnel: book,
		Workers: []server.Worker{ob, book, server.WorkerFunc(func(ctx context.Context) { proc.RunIdle(ctx, idleEvery) })},
		Metrics: reg, Logger: log})
	return srv, ob, err
}
