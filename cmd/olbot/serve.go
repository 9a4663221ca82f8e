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
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/funnel"
	"github.com/olbot/olbot/lines"
	"github.com/olbot/olbot/lookup"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/postgres"
	"github.com/olbot/olbot/retention"
	"github.com/olbot/olbot/scenarios"
	"github.com/olbot/olbot/server"
)

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
	log := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err := serve(ctx, cfg, stdout, log); err != nil {
		log.Error("olbot serve stopped", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg *serveConfig, out io.Writer, log *slog.Logger) error {
	if st, err := os.Stat(cfg.Scenarios); err != nil || !st.IsDir() {
		return fmt.Errorf("scenario folder %q: not found (set --scenarios or OLBOT_SCENARIOS)", cfg.Scenarios)
	}
	store, storeDesc, err := openStore(ctx, cfg.Store, cfg.StoreSchema, log)
	if err != nil {
		return err
	}
	defer store.Close()
	gc := setGCTarget(cfg.Store, os.LookupEnv)
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	calls, err := newCalls(ctx, cfg, store)
	if err != nil {
		return err
	}
	var poll pollerFunc
	var v2 *v2Bot
	var rejected server.Rejected
	if cfg.fetchMode() {
		if v2, err = connectV2(ctx, cfg, store, out, log); err != nil {
			return err
		}
		rejected = v2.rejects(store)
		poll = func(proc *dialogs.Processor, ob *outbox.Outbox, reg prometheus.Registerer) (server.Worker, error) {
			return v2.poller(cfg, store, proc, ob, reg, log, func(err error) { stop(err) })
		}
	} else if cfg.AppClientID != "" {
		// a local application's imbot.v2 bots registered in fetch mode
		// (--events fetch, now or at an earlier start) are polled, and
		// their rejected events listed
		apps := newAppPollers(cfg, store, log)
		rejected = apps
		poll = func(proc *dialogs.Processor, ob *outbox.Outbox, reg prometheus.Registerer) (server.Worker, error) {
			apps.bind(proc, ob, reg)
			return server.WorkerFunc(apps.Run), nil
		}
	}
	srv, ob, err := wire(server.Config{
		Listen:     cfg.Listen,
		AdminToken: cfg.AdminToken,
		PublicHost: cfg.PublicHost,
		Pprof:      cfg.Pprof,
		Edit:       cfg.Edit,
		Bitrix24: server.Bitrix24Config{
			AppToken:       cfg.AppToken,
			HandlerSecret:  cfg.HandlerSecret,
			Portals:        cfg.Portals,
			AllowReinstall: cfg.AllowReinstall,
			BotAPI:         cfg.BotAPI,
			Events:         cfg.Events,
		},
	}, outbox.Config{
		Webhook:         cfg.Webhook,
		ClientID:        cfg.ClientID,
		V2:              v2.handle(),
		AppClientID:     cfg.AppClientID,
		AppClientSecret: cfg.AppClientSecret,
		OAuthURL:        cfg.OAuthURL,
		Rate:            cfg.Rate.PerSecond,
		Burst:           cfg.Rate.Burst,
		Lease:           cfg.OutboxLease,
		CallTimeout:     cfg.PortalTimeout,
	}, retention.Config{Keep: cfg.Retention, Playground: retention.DefaultPlayground, UninstallGrace: cfg.UninstallGrace},
		store, scenarios.NewRegistry(cfg.Scenarios, nil), log, poll, rejected, calls)
	if err != nil {
		return err
	}
	if cfg.BotAPI == "v2" && cfg.AppClientID != "" && !cfg.fetchMode() {
		// asked for: portals installed with v1 get their v2 bot now
		n, skipped, err := ob.QueueV2ForInstalled(ctx, cfg.Events)
		if err != nil {
			return fmt.Errorf("--bot-api v2: queueing the imbot.v2 bots of the installed portals: %w", err)
		}
		if n > 0 {
			log.Info("--bot-api v2: registering imbot.v2 bots beside the v1 bots of installed portals", "portals", n, "events", cfg.Events)
		}
		if len(skipped) > 0 {
			log.Warn("--bot-api v2: these portals were installed by an earlier olbot, which kept no handler URL; their v2 bot comes with their next install or update of the application", "portals", skipped)
		}
	}
	log.Info("olbot starting", "listen", cfg.Listen, "scenarios", cfg.Scenarios, "store", storeDesc, "portal", ob.Mode(),
		"admin_token", cfg.AdminToken != "", "retention", cfg.Retention, "uninstall_grace", cfg.UninstallGrace, "rate", cfg.Rate.PerSecond, "burst", cfg.Rate.Burst, "portal_timeout", cfg.PortalTimeout, "gc", gc)
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
			if cause := context.Cause(ctx); err == nil && !errors.Is(cause, context.Canceled) {
				err = cause // the poller stopped: a person must act
			}
			return err
		}
	}
}

// idleEvery is how often the idle sweeper looks for silent dialogs.
const idleEvery = 5 * time.Second

// wire builds one replica: the event path (dialogs), the outbox that
// delivers its calls, the funnel that counts its steps, and the HTTP server
// that runs them all.
// pollerFunc builds the fetch mode's poller from the event path and the
// outbox (nil: no fetch mode); its metrics go to the registry.
type pollerFunc func(*dialogs.Processor, *outbox.Outbox, prometheus.Registerer) (server.Worker, error)

// callsConfig is how a replica makes the calls of call: states.
type callsConfig struct {
	Client *lookup.Client // nil: no endpoints configured
	Owner  string         // the name of this process in the calls' leases
	// Recover: this process alone uses its store, so it takes up at once
	// the calls its predecessor left.
	Recover bool
}

// newCalls builds the endpoints' client: ${VAR}s expanded from the
// environment, hosts resolved once (the addresses a call may connect to).
func newCalls(ctx context.Context, cfg *serveConfig, store engine.Store) (callsConfig, error) {
	cc := callsConfig{Owner: "local", Recover: true}
	if _, shared := store.(engine.LeaseReleaser); shared {
		host, _ := os.Hostname()
		cc.Owner, cc.Recover = fmt.Sprintf("%s:%d:%d", host, os.Getpid(), time.Now().UnixNano()), false
	}
	if len(cfg.Endpoints) == 0 {
		return cc, nil
	}
	if err := cfg.Endpoints.Expand(os.LookupEnv); err != nil {
		return cc, err
	}
	c, err := lookup.NewClient(ctx, cfg.Endpoints, nil)
	if err != nil {
		return cc, err
	}
	cc.Client = c
	return cc, nil
}

func wire(cfg server.Config, ocfg outbox.Config, rcfg retention.Config, store engine.Store, registry *scenarios.Registry, log *slog.Logger, poll pollerFunc, rejected server.Rejected, calls callsConfig) (*server.Server, *outbox.Outbox, error) {
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
	runner := lookup.NewRunner(lookup.Options{Client: calls.Client, Apply: proc, Owner: calls.Owner, Logger: log})
	proc.SetLookups(runner)
	// a run that starts takes its Open Line's language (LANGUAGE_ID), read
	// through the portal and cached per line
	proc.SetLines(lines.New(ob.Portals(), lines.Options{Logger: log}))
	book := funnel.New(store, registry, log, nil)
	proc.Observe(book)
	reg.MustRegister(book.Collector())
	sweep := retention.New(store, rcfg, ob.Portals(), log, nil)
	workers := []server.Worker{ob, book, server.WorkerFunc(func(ctx context.Context) { proc.RunIdle(ctx, idleEvery) }), server.WorkerFunc(sweep.Run),
		// refresh tokens die after 180 days unused: renew quiet portals' pairs
		server.WorkerFunc(func(ctx context.Context) { ob.Portals().RunRenewal(ctx, time.Hour) }),
		server.WorkerFunc(func(ctx context.Context) {
			if calls.Recover {
				if n, err := runner.Recover(ctx, store.ScanDialogs); err != nil {
					log.Warn("calls left by the previous process: scan failed; they are taken up when their lease runs out", "err", err)
				} else if n > 0 {
					log.Info("taking up the calls left by the previous process", "calls", n)
				}
			}
			runner.Run(ctx)
		})}
	if poll != nil {
		w, err := poll(proc, ob, reg)
		if err != nil {
			return nil, nil, err
		}
		workers = append(workers, w)
	}
	srv, err := server.New(cfg, server.Options{Store: store, Registry: registry, Dialogs: proc, Portals: ob.Portals(), Registrar: ob, Funnel: book, Eraser: sweep,
		Workers: workers, Rejected: rejected, Metrics: reg, Logger: log, Lookups: runner})
	return srv, ob, err
}
