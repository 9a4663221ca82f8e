// Package server is olbot's HTTP service (Echo v4): the routes, handlers,
// request and response types and middleware. Bitrix24 events, API and
// playground events go to package dialogs, which steps and commits them;
// package outbox delivers the portal calls; both run as Workers beside the
// HTTP server, started by Open and stopped by Close.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/funnel"
	"github.com/olbot/olbot/history"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/pull"
	"github.com/olbot/olbot/scenarios"
)

// Defaults of Config: cmd/olbot's configuration table shows these, and a
// zero value in Config means them.
const (
	DefaultListen        = "127.0.0.1:8080"
	DefaultBodyLimit     = 1 << 20
	DefaultShutdownGrace = 10 * time.Second
	DefaultReadTimeout   = 10 * time.Second
	DefaultWriteTimeout  = 30 * time.Second
	DefaultIdleTimeout   = 120 * time.Second
)

// Config is the server's configuration; zero values mean the defaults.
type Config struct {
	Listen     string // default 127.0.0.1:8080
	AdminToken string // bearer token for /v1/*; required to listen beyond loopback
	BodyLimit  int64  // request body limit in bytes; default 1 MiB
	// PublicHost is the host name olbot is reached under through a proxy or
	// tunnel: while it listens on loopback it serves only loopback names
	// and this one (DNS rebinding), and trusts the pages of this name.
	PublicHost string

	Debounce      time.Duration // scenario folder debounce; default scenarios.DefaultDebounce
	ShutdownGrace time.Duration // drain time on Close; default 10s
	// Pprof serves net/http/pprof under /debug/pprof/, behind the admin
	// token: off by default, since profiles reveal internals and cost CPU.
	Pprof bool
	// Edit lets the playground's editor save scenario files while olbot
	// listens beyond loopback (on loopback it may always, behind the admin
	// token when one is set).
	Edit bool

	Bitrix24 Bitrix24Config

	ReadTimeout, WriteTimeout, IdleTimeout time.Duration // HTTP timeouts; defaults 10s, 30s, 120s
}

// Bitrix24Config says which portal events are accepted.
type Bitrix24Config struct {
	// AppToken is the application token events must carry when no install
	// record is known for the portal (webhook mode); HandlerSecret is the k
	// parameter of the handler URL that `olbot register` prints. An event
	// passes if either matches.
	AppToken      string
	HandlerSecret string
	Portals       []string // domains allowed to install; empty allows any
	// AllowReinstall lets an install of a known portal move it to another
	// address (domain, client_endpoint), proven by the OAuth server.
	AllowReinstall bool
	PublicURL      string // olbot's public base URL for imbot.register on install; default from the request
	// BotAPI is the bot platform a local application's install registers
	// its bot with: "" or "v1" (imbot.register), "v2"
	// (imbot.v2.Bot.register; a portal installed with v1 gets a v2 bot
	// beside it at its next install or update) or "auto" (olbot serve's
	// default): v2 for a first install, and a portal installed with v1
	// stays v1.
	BotAPI string
	// Events is the v2 bot's eventMode: "webhook" (the default: events
	// posted to /bitrix24/events) or "fetch" (polled).
	Events string
}

func (c *Config) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.BodyLimit <= 0 {
		c.BodyLimit = DefaultBodyLimit
	}
	set(&c.Debounce, scenarios.DefaultDebounce)
	set(&c.ShutdownGrace, DefaultShutdownGrace)
	set(&c.ReadTimeout, DefaultReadTimeout)
	set(&c.WriteTimeout, DefaultWriteTimeout)
	set(&c.IdleTimeout, DefaultIdleTimeout)
}

// Dialogs applies events to dialogs (package dialogs).
type Dialogs interface {
	Apply(ctx context.Context, in dialogs.Input) (dialogs.Outcome, error)
	// Ready returns why the store cannot serve, or "".
	Ready(ctx context.Context) string
	// Wait waits until no event is being applied.
	Wait()
	// LineWarnings are the warnings about scenario name against its
	// lines' bot timeouts.
	LineWarnings(name string) []string
}

// Lookups is what the API and the playground need of package lookup.
type Lookups interface {
	// Wait waits for the answer of the dialog's call seq made in this
	// process, and returns that step; ok is false when ctx ended first.
	Wait(ctx context.Context, key string, seq int64) (dialogs.Outcome, bool)
}

// Portals is what the Bitrix24 handler needs of the portals' install
// records (package outbox).
type Portals interface {
	Get(ctx context.Context, member string) (outbox.Install, error)
	Install(ctx context.Context, in outbox.Install, allow func(old outbox.Install) error) (outbox.Install, error)
	Uninstall(ctx context.Context, member string) error
	BotDeleted(ctx context.Context, member string, bot int) error
	// Prove exchanges an install's refresh token at the OAuth server: the
	// answer names the portal (client_endpoint, member_id) and carries
	// the new pair; outbox.ErrNoApp without application credentials.
	Prove(ctx context.Context, refreshToken string) (bitrix24.Token, error)
	// PortalID is the portal's id in dialog keys, the same in every
	// connection mode (member: the member id when the event names it).
	PortalID(ctx context.Context, host, member string) (string, error)
	// ByDomain is the install record of the portal at domain, or
	// engine.ErrNotFound.
	ByDomain(ctx context.Context, domain string) (outbox.Install, error)
	// WebhookHost is the incoming webhook's host, "" without one.
	WebhookHost() string
}

// Registrar queues a portal's bot registration (package outbox).
type Registrar interface {
	QueueRegister(ctx context.Context, member, handler string) error
	// QueueRegisterV2 queues imbot.v2.Bot.register with the application's
	// tokens, eventMode events (webhook: posted to handler; fetch), code.
	QueueRegisterV2(ctx context.Context, member, handler, events, code string) error
	QueueBind(ctx context.Context, member, handler string) error
}

// Funnel shows the traffic counts of a scenario (package funnel).
type Funnel interface {
	View(ctx context.Context, scenario string) (funnel.Funnel, error)
}

// Rejected lists the polled events that fetch mode recorded as rejected
// (pull.Rejects): GET /v1/rejected.
type Rejected interface {
	List(ctx context.Context) ([]pull.RejectedEvent, error)
}

// Worker is background work beside the HTTP server (delivery, idle sweeps,
// funnel writes): Open starts Run, and Close cancels its ctx after the
// in-flight events drained and waits for it to return.
type Worker interface {
	Run(ctx context.Context)
}

// Drainer is a Worker with work left at shutdown (the outbox's unsent
// calls): Close calls Drain after Run returned, with what is left of the
// grace period.
type Drainer interface {
	Drain(ctx context.Context)
}

// Starter is a Worker with work to do before the first request (the
// funnel reads its counts): Open calls Start after the scenarios loaded.
type Starter interface {
	Start(ctx context.Context)
}

// WorkerFunc is a Worker of one function.
type WorkerFunc func(ctx context.Context)

// Run calls f.
func (f WorkerFunc) Run(ctx context.Context) { f(ctx) }

// Server is one olbot replica's HTTP side.
type Server struct {
	cfg       Config
	log       *slog.Logger
	store     engine.Store
	registry  *scenarios.Registry
	now       func() time.Time
	metrics   *metrics
	echo      *echo.Echo
	http      *http.Server
	ln        net.Listener
	dialogs   Dialogs
	portals   Portals
	registrar Registrar
	funnel    Funnel
	lookups   Lookups
	eraser    Eraser
	workers   []Worker
	rejected  Rejected
	pg        *playground // the playground page's reload news (playground.go)
	guard     *guard      // host, origin and media type checks (guard.go)
	history   *history.Log

	saveMu      sync.Mutex            // one editor save at a time (files.go)
	histMu      sync.Mutex            // guards editorSaves and recorded
	editorSaves map[string]editorSave // file → the editor's last save, not yet recorded
	recorded    map[string]string     // file → the version last put in the history

	reloadReq chan chan<- scenarios.ReloadOutcome
	ready     bool
	readyMu   sync.RWMutex
	lastLoad  scenarios.ReloadOutcome
	logged    map[string]string // file -> version last logged as loaded

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Options are the server's collaborators; cmd/olbot wires them.
type Options struct {
	Store     engine.Store // read by the API and the dry run
	Registry  *scenarios.Registry
	Dialogs   Dialogs
	Portals   Portals
	Registrar Registrar
	Funnel    Funnel
	Eraser    Eraser // erasure on request and after an uninstall (package retention)
	Workers   []Worker
	// Lookups makes the calls of call: states; the API and the playground
	// wait for a call's answer and show its messages with the request.
	// Nil: they show the call and not its answer.
	Lookups  Lookups
	Rejected Rejected // nil: no fetch mode, GET /v1/rejected lists nothing
	// Metrics is where every part registered its metrics; /metrics serves
	// it. Nil: a registry of the server's own.
	Metrics *prometheus.Registry
	Logger  *slog.Logger
	Now     func() time.Time // injectable clock; default time.Now
}

// New builds a server; Open starts it.
func New(cfg Config, opts Options) (*Server, error) {
	cfg.defaults()
	if opts.Store == nil || opts.Registry == nil || opts.Dialogs == nil || opts.Portals == nil || opts.Registrar == nil || opts.Funnel == nil || opts.Eraser == nil {
		return nil, errors.New("server: a store, a scenario registry, dialogs, portals, a registrar, a funnel and an eraser are required")
	}
	g, err := newGuard(cfg)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	s := &Server{
		cfg:       cfg,
		log:       opts.Logger,
		store:     opts.Store,
		registry:  opts.Registry,
		now:       opts.Now,
		metrics:   newMetrics(opts.Metrics),
		dialogs:   opts.Dialogs,
		portals:   opts.Portals,
		registrar: opts.Registrar,
		funnel:    opts.Funnel,
		lookups:   opts.Lookups,
		eraser:    opts.Eraser,
		workers:   opts.Workers,
		rejected:  opts.Rejected,
		pg:        newPlayground(),
		guard:     g,
		history:   history.New(opts.Store),

		editorSaves: map[string]editorSave{},
		recorded:    map[string]string{},
		reloadReq:   make(chan chan<- scenarios.ReloadOutcome, 1),
	}
	s.echo = s.routes()
	return s, nil
}

// Handler returns the HTTP handler, for tests that do not listen.
func (s *Server) Handler() http.Handler { return s.echo }

// Addr is the address the server listens on (after Open).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Open loads the scenarios, listens (so a bad address fails here, and :0
// works in tests) and starts serving, watching, delivering and sweeping.
func (s *Server) Open(ctx context.Context) error {
	if err := checkListen(s.cfg.Listen, s.cfg.AdminToken); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.reloaded(reloadNow(s.registry, "start"))
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.http = &http.Server{Handler: s.echo, ReadTimeout: s.cfg.ReadTimeout, ReadHeaderTimeout: min(5*time.Second, s.cfg.ReadTimeout), WriteTimeout: s.cfg.WriteTimeout, IdleTimeout: s.cfg.IdleTimeout, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.http.RegisterOnShutdown(s.pg.shutdown) // event streams end, so Close does not wait for them
	for _, w := range s.workers {
		if st, ok := w.(Starter); ok {
			st.Start(bg)
		}
	}
	s.goBackground(func() {
		if err := scenarios.Watch(bg, s.registry, s.cfg.Debounce, s.log, s.reloadReq, s.reloaded); err != nil {
			s.log.Error("scenario watcher stopped; reload with SIGHUP or POST /v1/scenarios/reload", "err", err)
			s.manualReloads(bg)
		}
	})
	for _, w := range s.workers {
		s.goBackground(func() { w.Run(bg) })
	}
	s.goBackground(func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	})
	s.setReady(true)
	s.log.Info("olbot serving", "addr", ln.Addr().String(), "scenarios", s.registry.Dir(), "loaded", len(s.registry.Current().Set.List))
	return nil
}

func (s *Server) goBackground(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// manualReloads serves reload requests when the watcher could not start.
func (s *Server) manualReloads(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case reply := <-s.reloadReq:
			out := reloadNow(s.registry, "request")
			s.reloaded(out)
			if reply != nil {
				reply <- out
			}
		}
	}
}

func reloadNow(r *scenarios.Registry, trigger string) scenarios.ReloadOutcome {
	res, err := r.Reload()
	return scenarios.ReloadOutcome{Trigger: trigger, Result: res, Err: err}
}

// Reload asks the reload goroutine to reload now and waits for the outcome.
func (s *Server) Reload(ctx context.Context) (scenarios.ReloadOutcome, error) {
	reply := make(chan scenarios.ReloadOutcome, 1)
	select {
	case s.reloadReq <- reply:
	case <-ctx.Done():
		return scenarios.ReloadOutcome{}, ctx.Err()
	}
	select {
	case out := <-reply:
		return out, nil
	case <-ctx.Done():
		return scenarios.ReloadOutcome{}, ctx.Err()
	}
}

// RequestReload asks for a reload without waiting (SIGHUP); a request already
// pending absorbs this one.
func (s *Server) RequestReload() {
	select {
	case s.reloadReq <- nil:
	default:
	}
}

// reloaded logs and counts one reload's outcome.
func (s *Server) reloaded(out scenarios.ReloadOutcome) {
	s.readyMu.Lock()
	s.lastLoad = out
	s.readyMu.Unlock()
	if out.Err == nil {
		s.recordHistory(out.Trigger) // before the news, so a page that asks sees the version
	}
	s.pg.reloaded(s.reloadStatus(), out) // tell open playground pages; never blocks
	snap := s.registry.Current()
	s.metrics.scenarios.Set(float64(len(snap.Set.List)))
	switch {
	case out.Err != nil:
		s.metrics.reloads.WithLabelValues("failure").Inc()
		s.metrics.reloadOK.Set(0)
		s.log.Error("scenario reload failed; the previous scenarios stay live", "trigger", out.Trigger, "err", out.Err)
	case len(out.Result.Problems) > 0:
		s.metrics.reloads.WithLabelValues("failure").Inc()
		s.metrics.reloadOK.Set(0)
		for _, p := range out.Result.Problems {
			s.log.Error("scenario file rejected; its last good version stays live", "trigger", out.Trigger, "problem", p.Error())
		}
	default:
		s.metrics.reloads.WithLabelValues("success").Inc()
		s.metrics.reloadOK.Set(1)
		s.metrics.reloadSuccess.Set(float64(s.now().Unix()))
		if out.Result.Changed {
			s.logLoaded(snap)
		}
	}
}

// logLoaded logs the files whose live version changed, with their warnings.
func (s *Server) logLoaded(snap *scenarios.Snapshot) {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	seen := make(map[string]string, len(snap.Files))
	for _, f := range snap.Files {
		seen[f.File] = f.Version
		if f.Version == "" || s.logged[f.File] == f.Version {
			continue
		}
		s.log.Info("scenario loaded", "file", f.File, "name", f.Name, "version", f.Version, "lines", f.Lines, "warnings", f.Warnings)
		for _, w := range f.Problems.Warnings() {
			s.log.Warn("scenario warning", "problem", w.Error())
		}
	}
	for f := range s.logged {
		if _, ok := seen[f]; !ok {
			s.log.Info("scenario file removed", "file", f)
		}
	}
	s.logged = seen
}

func (s *Server) setReady(v bool) {
	s.readyMu.Lock()
	s.ready = v
	s.readyMu.Unlock()
}

// Close stops accepting requests, drains in-flight events, stops the
// workers and lets them drain within the grace period (the outbox flushes
// and releases the calls it still holds to the other replicas).
func (s *Server) Close() error {
	s.setReady(false)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
	}
	s.dialogs.Wait()
	// Stop the workers before draining: the outbox's loop and its flush
	// claim as the same owner, and a call claimed twice by one owner would
	// be sent twice.
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.pg.shutdown()
	for _, w := range s.workers {
		if d, ok := w.(Drainer); ok {
			d.Drain(ctx)
		}
	}
	return err
}

// checkListen refuses to expose the admin routes beyond loopback without a token.
func checkListen(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if token != "" {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("listen address %q is not loopback: set an admin token (--admin-token or OLBOT_ADMIN_TOKEN) so the /v1 routes are not open to the network", addr)
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.httpError
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: fmt.Sprint(s.cfg.BodyLimit) + "B"}))
	e.Use(s.recoverer)
	e.Use(s.guard.middleware)

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.handleReady)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
	// The portal posts forms server to server: the one route that reads a
	// body a browser page could send without a preflight; it acts only on
	// events with the portal's token.
	e.POST("/bitrix24/events", s.handleBitrix24, accepts(mediaForm, mediaNone))

	// Every other POST names its body's media type (guard.go).
	v1 := e.Group("/v1", s.requireAdmin)
	v1.POST("/events", s.handleEvent, accepts(mediaJSON))
	// noop reads the body and answers like /v1/events would, doing nothing
	// else: the load tool's baseline, the HTTP ceiling of this server. It
	// takes the bodies of both event routes and changes nothing.
	v1.POST("/noop", func(c echo.Context) error {
		_, _ = io.Copy(io.Discard, c.Request().Body)
		return c.JSON(http.StatusOK, map[string]bool{"ok": true})
	}, accepts(mediaJSON, mediaForm))
	v1.GET("/dialogs/:id", s.handleDialog)
	v1.DELETE("/dialogs/:id", s.handleEraseDialog, accepts(mediaNone, mediaJSON))
	v1.DELETE("/portals/:member", s.handleErasePortal, accepts(mediaNone, mediaJSON))
	v1.GET("/backup", s.handleBackup)
	v1.GET("/scenarios", s.handleScenarios)
	v1.GET("/rejected", s.handleRejected)
	v1.POST("/scenarios/reload", s.handleReload, accepts(mediaNone, mediaJSON))
	v1.POST("/scenarios/check", s.handleDryRun, accepts(mediaYAML))
	s.fileRoutes(v1)
	if s.cfg.Pprof {
		dbg := e.Group("/debug/pprof", s.requireAdmin)
		dbg.GET("/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)))
		dbg.GET("/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
		dbg.GET("/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
		dbg.GET("/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
		dbg.GET("/*", echo.WrapHandler(http.HandlerFunc(pprof.Index)))
	}
	s.playgroundRoutes(e)
	return e
}

// recoverer turns a panic in a handler into a logged internal error.
func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic in handler", "path", c.Path(), "panic", fmt.Sprint(r))
				err = errorf(EInternal, "internal error")
			}
		}()
		return next(c)
	}
}

func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.cfg.AdminToken == "" {
			return next(c)
		}
		h := c.Request().Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) != 1 {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="olbot"`)
			return errorf(EUnauthorized, "this route needs the admin token: Authorization: Bearer <token>")
		}
		return next(c)
	}
}

func (s *Server) handleReady(c echo.Context) error {
	s.readyMu.RLock()
	ready := s.ready
	s.readyMu.RUnlock()
	problems := []string{}
	if !ready {
		problems = append(problems, "not serving (starting or shutting down)")
	}
	if p := s.dialogs.Ready(c.Request().Context()); p != "" {
		problems = append(problems, p)
	}
	if len(s.registry.Current().Set.List) == 0 {
		problems = append(problems, "no scenario loaded")
	}
	if len(problems) > 0 {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "not ready", "problems": problems})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
