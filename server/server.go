// Package server is olbot's HTTP service (Echo v4): Bitrix24 events in,
// dialogs stepped by the engine and committed with their portal calls to the
// store (transactional outbox), calls delivered to the portal by a worker,
// scenarios hot-reloaded from a folder.
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
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/scenarios"
)

// Config is the server's configuration; zero values mean the defaults.
type Config struct {
	Listen     string // default 127.0.0.1:8080
	AdminToken string // bearer token for /v1/*; required to listen beyond loopback
	BodyLimit  int64  // request body limit in bytes; default 1 MiB

	Debounce      time.Duration // scenario folder debounce; default 250ms
	IdleInterval  time.Duration // how often idle dialogs are swept; default 5s
	ShutdownGrace time.Duration // drain time on Close; default 10s
	// OutboxLease is how long a claimed outbox call stays reserved for this
	// replica: the calls of a replica that died go out from the others once
	// it ends. Longer than any one delivery; default 2m.
	OutboxLease time.Duration
	// Pprof serves net/http/pprof under /debug/pprof/, behind the admin
	// token: off by default, since profiles reveal internals and cost CPU.
	Pprof bool

	Bitrix24 Bitrix24Config

	ReadTimeout, WriteTimeout, IdleTimeout time.Duration // HTTP timeouts; defaults 10s, 30s, 120s
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.BodyLimit <= 0 {
		c.BodyLimit = 1 << 20
	}
	if c.Debounce <= 0 {
		c.Debounce = scenarios.DefaultDebounce
	}
	if c.IdleInterval <= 0 {
		c.IdleInterval = 5 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	if c.OutboxLease <= 0 {
		c.OutboxLease = 2 * time.Minute
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
}

// Server is one olbot replica.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    engine.Store
	registry *scenarios.Registry
	now      func() time.Time
	metrics  *metrics
	echo     *echo.Echo
	http     *http.Server
	ln       net.Listener
	locks    keyLocks
	portal   *portalSide
	health   storeHealth // whether the store takes writes (storehealth.go)
	pg       *playground // the playground page: reload news and the funnel (playground.go)

	reloadReq chan chan<- scenarios.ReloadOutcome
	ready     bool
	readyMu   sync.RWMutex
	lastLoad  scenarios.ReloadOutcome
	logged    map[string]string // file -> version last logged as loaded

	cancel   context.CancelFunc
	wg       sync.WaitGroup
	inFlight sync.WaitGroup
}

// Options are the server's collaborators.
type Options struct {
	Store    engine.Store
	Registry *scenarios.Registry
	Logger   *slog.Logger
	Now      func() time.Time // injectable clock; default time.Now
	// Sender delivers portal calls; nil logs the calls that would be made.
	Sender Sender
}

// New builds a server; Open starts it.
func New(cfg Config, opts Options) (*Server, error) {
	cfg.defaults()
	if opts.Store == nil || opts.Registry == nil {
		return nil, errors.New("server: a store and a scenario registry are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		cfg:       cfg,
		log:       opts.Logger,
		store:     opts.Store,
		registry:  opts.Registry,
		now:       opts.Now,
		metrics:   newMetrics(),
		reloadReq: make(chan chan<- scenarios.ReloadOutcome, 1),
	}
	s.locks.init()
	p, err := newPortalSide(s, cfg.Bitrix24, opts.Sender)
	if err != nil {
		return nil, err
	}
	s.portal = p
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
	s.playgroundOpen(bg)
	s.goBackground(func() {
		if err := scenarios.Watch(bg, s.registry, s.cfg.Debounce, s.log, s.reloadReq, s.reloaded); err != nil {
			s.log.Error("scenario watcher stopped; reload with SIGHUP or POST /v1/scenarios/reload", "err", err)
			s.manualReloads(bg)
		}
	})
	s.goBackground(func() { s.portal.deliver(bg) })
	s.goBackground(func() { s.sweepIdle(bg) })
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
	s.pg.reloaded(out) // tell open playground pages; never blocks
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

// Close stops accepting requests, drains in-flight events, flushes the outbox
// within the grace period, stops the background work, and releases the
// outbox calls it still holds to the other replicas (PostgreSQL).
func (s *Server) Close() error {
	s.setReady(false)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
	}
	s.inFlight.Wait()
	// Stop the delivery loop before flushing: both claim as the same owner,
	// and a call claimed twice by one owner would be sent twice.
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.portal.flush(ctx)
	s.portal.release()
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

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.handleReady)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
	e.POST("/bitrix24/events", s.handleBitrix24)

	v1 := e.Group("/v1", s.requireAdmin)
	v1.POST("/events", s.handleEvent)
	// noop reads the body and answers like /v1/events would, doing nothing
	// else: the load tool's baseline, the HTTP ceiling of this server.
	v1.POST("/noop", func(c echo.Context) error {
		_, _ = io.Copy(io.Discard, c.Request().Body)
		return c.JSON(http.StatusOK, map[string]bool{"ok": true})
	})
	v1.GET("/dialogs/:id", s.handleDialog)
	v1.GET("/scenarios", s.handleScenarios)
	v1.POST("/scenarios/reload", s.handleReload)
	v1.POST("/scenarios/check", s.handleDryRun)
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
	if p := s.probeStore(c.Request().Context()); p != "" {
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

// readyTimeout bounds the store probe of /readyz: a store that does not
// answer in time is not ready, whatever its driver's own timeouts are.
const readyTimeout = time.Second

// probeStore reads and, after a failed write, writes the store; it returns
// the problem, or "" when the store is fine. It never takes longer than
// readyTimeout, so orchestrators get an answer while the store hangs.
func (s *Server) probeStore(parent context.Context) string {
	ctx, cancel := context.WithTimeout(parent, readyTimeout)
	defer cancel()
	done := make(chan string, 1)
	go func() {
		if _, err := s.store.Dialog(ctx, "olbot:readyz"); err != nil && !errors.Is(err, engine.ErrNotFound) {
			done <- "store unreachable: " + err.Error()
		} else if err := s.storeWritable(ctx); err != nil {
			done <- "store refuses writes: " + err.Error()
		} else {
			done <- ""
		}
	}()
	select {
	case p := <-done:
		return p
	case <-ctx.Done():
		return fmt.Sprintf("store unreachable: no answer within %s", readyTimeout)
	}
}

// keyLocks serialises events of one dialog inside the process; events of
// different dialogs run in parallel. Entries are reference-counted and
// removed when unused, so idle dialogs cost no memory.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func (l *keyLocks) init() { l.m = map[string]*keyLock{} }

func (l *keyLocks) lock(key string) func() {
	l.mu.Lock()
	k := l.m[key]
	if k == nil {
		k = &keyLock{}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	k.mu.Lock()
	return func() {
		k.mu.Unlock()
		l.mu.Lock()
		k.refs--
		if k.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}
