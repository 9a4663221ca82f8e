package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/funnel"
	"github.com/olbot/olbot/lines"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/retention"
	"github.com/olbot/olbot/scenarios"
)

// Wiring is what a test replica is built from, beside the server's Config:
// the parts cmd/olbot wires, with the tests' knobs.
type Wiring struct {
	Store    engine.Store
	Registry *scenarios.Registry
	Logger   *slog.Logger
	Now      func() time.Time
	Outbox   outbox.Config
	Sender   outbox.Sender
	Backoff  func(attempt int) time.Duration // default 20ms
	Idle     time.Duration                   // idle sweep interval; default an hour
	// Retention is the retention and erasure settings; the zero value
	// keeps for ever with no uninstall grace (an uninstall erases at once).
	Retention retention.Config
}

// Replica is one replica under test: the server and the parts behind it.
type Replica struct {
	*Server
	Outbox  *outbox.Outbox
	Dialogs *dialogs.Processor
	Funnel  *funnel.Book
	// Retention sweeps and erases (its Sweep runs a sweep now).
	Retention *retention.Sweeper
}

// Assemble wires a replica the way cmd/olbot's serve does; Open starts it.
func Assemble(tb testing.TB, cfg Config, w Wiring) *Replica {
	tb.Helper()
	r, err := assemble(cfg, w)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func assemble(cfg Config, w Wiring) (*Replica, error) {
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
	if w.Backoff == nil {
		w.Backoff = func(int) time.Duration { return 20 * time.Millisecond }
	}
	if w.Idle <= 0 {
		w.Idle = time.Hour
	}
	reg := prometheus.NewRegistry()
	proc, err := dialogs.New(dialogs.Options{Store: w.Store, Registry: w.Registry, Logger: w.Logger, Now: w.Now, Metrics: reg})
	if err != nil {
		return nil, err
	}
	ob, err := outbox.New(w.Outbox, outbox.Options{Store: w.Store, Health: proc, Locks: proc, Logger: w.Logger, Now: w.Now, Metrics: reg, Sender: w.Sender, Backoff: w.Backoff})
	if err != nil {
		return nil, err
	}
	proc.SetPortal(ob)
	proc.SetLines(lines.New(ob.Portals(), lines.Options{Logger: w.Logger, Now: w.Now}))
	book := funnel.New(w.Store, w.Registry, w.Logger, w.Now)
	proc.Observe(book)
	reg.MustRegister(book.Collector())
	idle := w.Idle
	sweep := retention.New(w.Store, w.Retention, ob.Portals(), w.Logger, w.Now)
	srv, err := New(cfg, Options{Store: w.Store, Registry: w.Registry, Dialogs: proc, Portals: ob.Portals(), Registrar: ob, Funnel: book,
		Eraser: sweep, Workers: []Worker{ob, book, WorkerFunc(func(ctx context.Context) { proc.RunIdle(ctx, idle) }), WorkerFunc(sweep.Run)},
		Metrics: reg, Logger: w.Logger, Now: w.Now})
	if err != nil {
		return nil, err
	}
	return &Replica{Server: srv, Outbox: ob, Dialogs: proc, Funnel: book, Retention: sweep}, nil
}
