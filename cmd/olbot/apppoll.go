package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/postgres"
	"github.com/olbot/olbot/pull"
)

// appPollScan is how often the local application's install records are
// looked at for imbot.v2 bots in fetch mode that have no poller yet (a
// new install's bot, a restart).
const appPollScan = 5 * time.Second

// appPollers polls the imbot.v2 bots a local application registered in
// fetch mode (--events fetch): one poller per installed portal, with the
// portal's own OAuth pair (no botToken: the docs bind an OAuth bot to its
// application, and only the registering application may read its events).
// Its waiting calls go out through the outbox as usual, within the same
// --rate (the poll takes a slot of the portal's budget).
type appPollers struct {
	cfg   *serveConfig
	store engine.Store
	log   *slog.Logger
	lease pull.Lease
	curs  pull.Cursors

	mu      sync.Mutex
	proc    *dialogs.Processor // set by bind
	ob      *outbox.Outbox
	reg     prometheus.Registerer
	running map[string]bool // by lease key
}

// newAppPollers returns the pollers of the store's fetch-mode bots; bind
// gives them the dialogs and the outbox before Run.
func newAppPollers(cfg *serveConfig, store engine.Store, log *slog.Logger) *appPollers {
	a := &appPollers{cfg: cfg, store: store, log: log, running: map[string]bool{}}
	if pg, ok := store.(*postgres.Store); ok {
		p := pg.Pull() // every replica sees the lease: one of them polls each bot
		a.lease, a.curs = p, p
	} else {
		mem := &pull.Memory{}
		a.lease, a.curs = mem, pull.KVCursors{KV: store, Lease: mem}
	}
	return a
}

// bind gives the pollers what they apply events with and send through.
func (a *appPollers) bind(proc *dialogs.Processor, ob *outbox.Outbox, reg prometheus.Registerer) {
	a.mu.Lock()
	a.proc, a.ob, a.reg = proc, ob, reg
	a.mu.Unlock()
}

func (a *appPollers) outbox() *outbox.Outbox {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ob
}

// List implements server.Rejected: the rejected events kept for every
// fetch-mode bot of the install records (every replica on the store sees
// them, whichever replica polled), and of the bots this process polls.
func (a *appPollers) List(ctx context.Context) ([]pull.RejectedEvent, error) {
	ob := a.outbox()
	if ob == nil {
		return []pull.RejectedEvent{}, nil
	}
	list, err := ob.Portals().List(ctx)
	if err != nil {
		return nil, fmt.Errorf("the install records of the fetch-mode bots: %w", err)
	}
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, in := range list {
		if in.V2BotID > 0 && in.V2Events == "fetch" {
			key, _, err := a.key(ctx, in)
			if err != nil {
				return nil, err
			}
			add(key)
		}
	}
	a.mu.Lock()
	running := slices.Sorted(maps.Keys(a.running))
	a.mu.Unlock()
	for _, k := range running {
		add(k)
	}
	return pull.Rejects{KV: a.store, Keys: keys}.List(ctx)
}

// key is the poller key of in's bot (its lease, offset and rejected
// events) and the portal's id in the dialog keys.
func (a *appPollers) key(ctx context.Context, in outbox.Install) (key, portal string, err error) {
	portal, err = a.outbox().Portals().PortalID(ctx, in.Domain, in.MemberID)
	if err != nil {
		return "", "", fmt.Errorf("the dialog-key id of portal %s: %w", in.MemberID, err)
	}
	return engine.KeyPortal + portal + ":v2bot:" + strconv.Itoa(in.V2BotID), portal, nil
}

// Run starts a poller for every fetch-mode bot of the install records, now
// and whenever one appears, until ctx ends; it returns after they stopped.
func (a *appPollers) Run(ctx context.Context) {
	if a.outbox() == nil {
		a.log.Error("local application: the fetch-mode pollers were not bound to the outbox; nothing is polled")
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(appPollScan)
	defer tick.Stop()
	for {
		list, err := a.outbox().Portals().List(ctx)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("local application: could not read the install records for fetch-mode bots", "err", err)
		}
		for _, in := range list {
			if in.V2BotID > 0 && in.V2Events == "fetch" {
				a.start(ctx, &wg, in)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// start runs the poller of in's bot unless it runs already.
func (a *appPollers) start(ctx context.Context, wg *sync.WaitGroup, in outbox.Install) {
	key, portal, err := a.key(ctx, in)
	if err != nil {
		a.log.Warn("local application: cannot poll the imbot.v2 bot", "member", in.MemberID, "err", err)
		return
	}
	a.mu.Lock()
	if a.running[key] {
		a.mu.Unlock()
		return
	}
	a.running[key] = true
	a.mu.Unlock()
	p, err := pull.New(pull.Config{
		Key:    key,
		Holder: a.ob.Owner(),
		Portal: in.MemberID, // the outbox's calls to this portal take the same budget
		Source: appSource{portals: a.ob.Portals(), member: in.MemberID, bot: in.V2BotID},
		Sink: &pull.DialogSink{Portal: portal, Domain: in.Domain, Dialogs: memberApplier{a.proc, in.MemberID}, Cursors: a.curs, Log: a.log,
			OnDelete: func(ctx context.Context, ev bitrix24.V2Event) error {
				return a.ob.Portals().BotDeleted(ctx, in.MemberID, ev.Bot.ID)
			}},
		Lease:   a.lease,
		Rejects: pull.Rejects{KV: a.store}, // GET /v1/rejected lists them (List)
		Budget:  a.ob,
		// the portal's waiting calls travel in the poll's batch
		Rides:    a.ob.RidesOf(in.MemberID),
		Interval: a.cfg.PollInterval,
		Idle:     a.cfg.PollIdle,
		Log:      a.log.With("member", in.MemberID),
	})
	if err == nil {
		err = a.reg.Register(p)
	}
	if err != nil {
		a.log.Error("local application: cannot poll the imbot.v2 bot", "member", in.MemberID, "bot", in.V2BotID, "err", err)
		return // running stays set: the same error would come back at every scan
	}
	a.log.Info("local application: polling the imbot.v2 bot (fetch mode)", "domain", in.Domain, "bot", in.V2BotID)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := p.Run(ctx)
		a.reg.Unregister(p)
		if err != nil && ctx.Err() == nil {
			a.log.Error("local application: polling the imbot.v2 bot stopped; it is tried again at the next scan", "member", in.MemberID, "bot", in.V2BotID, "err", err)
		}
		a.mu.Lock()
		delete(a.running, key)
		a.mu.Unlock()
	}()
}

// appSource polls with the portal's current OAuth client, looked up at
// every poll, so that a reinstall's new pair is used at once.
type appSource struct {
	portals *outbox.Portals
	member  string
	bot     int
}

// Poll implements pull.Source.
func (s appSource) Poll(ctx context.Context, offset int64, limit int, waiting []bitrix24.Request) (bitrix24.V2Page, []bitrix24.BatchResult, error) {
	c, err := s.portals.Client(ctx, s.member)
	if err != nil {
		return bitrix24.V2Page{}, nil, fmt.Errorf("portal %s: %w", s.member, err)
	}
	return c.V2Bot(s.bot, "").Poll(ctx, offset, limit, waiting)
}

// memberApplier addresses a step's calls to the portal's install record
// (its member id), whatever id its dialog keys use.
type memberApplier struct {
	proc   *dialogs.Processor
	member string
}

// Apply implements pull.Applier.
func (m memberApplier) Apply(ctx context.Context, in dialogs.Input) (dialogs.Outcome, error) {
	in.Channel.Member = m.member
	return m.proc.Apply(ctx, in)
}
