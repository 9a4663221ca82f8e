package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/postgres"
	"github.com/olbot/olbot/pull"
	"github.com/olbot/olbot/server"
)

// nsV2 is the key-value namespace of the fetch mode's bot tokens.
const nsV2 = "v2bot"

// docsMinPoll is the shortest pause between polls the docs allow.
const docsMinPoll = 2 * time.Second

// fetchMode reports whether serve connects through imbot.v2 in fetch
// mode: an incoming webhook without a v1 CLIENT_ID.
func (c *serveConfig) fetchMode() bool { return c.Webhook != "" && c.ClientID == "" }

// v2Bot is the bot fetch mode polls for.
type v2Bot struct {
	bot    *bitrix24.V2
	host   string // the portal's host (lower-case)
	portal string // its id in dialog keys (outbox.PortalIDIn): also the rate limit's and the poller's key
}

// connectV2 registers the imbot.v2 bot (idempotently, by code) with the
// botToken from --bot-token or the store (generated and kept there on the
// first start, and then printed once to out), and says what to do next. A
// refused webhook or a taken code is an error: olbot does not start.
func connectV2(ctx context.Context, cfg *serveConfig, kv engine.KV, out io.Writer, log *slog.Logger) (*v2Bot, error) {
	u, err := url.Parse(cfg.Webhook)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--webhook %q: not a URL https://PORTAL/rest/USER/SECRET/", redactURL(cfg.Webhook))
	}
	client, err := bitrix24.NewWebhook(cfg.Webhook, "")
	if err != nil {
		return nil, fmt.Errorf("--webhook: %w", err)
	}
	token, fresh, err := botToken(ctx, cfg, kv)
	generated := fresh && cfg.BotToken == ""
	keep := func() error {
		if err := kv.Put(ctx, nsV2, "token:"+cfg.BotCode, []byte(token)); err != nil {
			return fmt.Errorf("keeping the botToken of bot %q in the store: %w", cfg.BotCode, err)
		}
		return nil
	}
	if generated {
		// kept before the portal sees it: a crash after the registration
		// must not lose the only key to the bot
		if err := keep(); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	params := bitrix24.V2RegisterParams{Code: cfg.BotCode, Name: cfg.BotName, Token: token, EventMode: "fetch"}
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	info, err := client.V2Register(rctx, params)
	if err != nil {
		return nil, fmt.Errorf("registering the imbot.v2 bot %q on %s: %w", cfg.BotCode, u.Host, err)
	}
	if err := info.Matches(params); err != nil {
		return nil, err
	}
	if fresh && !generated {
		// a --bot-token the portal took replaces the kept one
		if err := keep(); err != nil {
			return nil, err
		}
	}
	if generated {
		fmt.Fprintf(out, "Registered the imbot.v2 bot %q (id %d) with botToken:\n  %s\n"+
			"Keep it (e.g. OLBOT_BOT_TOKEN): olbot keeps it in the store, but a bot whose token is lost cannot be managed any more.\n",
			cfg.BotCode, info.ID, token)
	}
	log.Info("imbot.v2 bot ready (fetch mode: no public address needed)", "bot_id", info.ID, "code", cfg.BotCode, "portal", u.Host,
		"next", "in Bitrix24: Contact Center → the Open Line → settings → Chat-bot: pick "+strconv.Quote(cfg.BotName))
	if cfg.PollInterval < docsMinPoll {
		log.Warn("--poll-interval is below the docs' 2s between polls: for tests against the fake portal only", "poll_interval", cfg.PollInterval)
	}
	// the dialog keys' id of the portal: the member id a v1 deployment's
	// store already uses for this host, so that its running dialogs go on
	// under the v2 bot; the host on a store that knows none
	portal, err := outbox.PortalIDIn(ctx, kv, log, client.Host(), "")
	if err != nil {
		return nil, fmt.Errorf("the dialog-key id of portal %s: %w", client.Host(), err)
	}
	return &v2Bot{bot: client.V2Bot(info.ID, token), host: client.Host(), portal: portal}, nil
}

// botToken returns --bot-token, else the one kept in the store for the
// code, else a new one (fresh: not kept yet).
func botToken(ctx context.Context, cfg *serveConfig, kv engine.KV) (token string, fresh bool, err error) {
	if len(cfg.BotToken) > bitrix24.MaxBotToken {
		return "", false, fmt.Errorf("--bot-token: %d characters, the portal accepts at most %d", len(cfg.BotToken), bitrix24.MaxBotToken)
	}
	b, err := kv.Get(ctx, nsV2, "token:"+cfg.BotCode)
	switch {
	case err == nil && cfg.BotToken == "":
		return string(b), false, nil
	case err == nil && cfg.BotToken == string(b):
		return cfg.BotToken, false, nil
	case err != nil && !errors.Is(err, engine.ErrNotFound):
		return "", false, fmt.Errorf("reading the botToken of bot %q from the store: %w", cfg.BotCode, err)
	case cfg.BotToken != "":
		return cfg.BotToken, true, nil
	}
	t, err := bitrix24.NewBotToken()
	return t, true, err
}

// poller builds the worker that polls the bot and applies its events
// through the dialogs; the outbox carries its waiting calls in the polls
// and shares its rate limit. fail stops serve with the poller's fatal
// error (a deleted webhook or bot).
func (b *v2Bot) poller(cfg *serveConfig, store engine.Store, proc *dialogs.Processor, ob *outbox.Outbox, reg prometheus.Registerer, log *slog.Logger, fail func(error)) (server.Worker, error) {
	var lease pull.Lease
	var cursors pull.Cursors
	if pg, ok := store.(*postgres.Store); ok {
		// every replica sees this lease: exactly one of them polls
		p := pg.Pull()
		lease, cursors = p, p
	} else {
		mem := &pull.Memory{}
		lease, cursors = mem, pull.KVCursors{KV: store, Lease: mem}
	}
	// the replies of a polled page go out together, in one request
	wake := &pull.PageWake{Portal: ob}
	proc.SetPortal(wake)
	p, err := pull.New(pull.Config{
		Key:    b.key(),
		Holder: ob.Owner(),
		Portal: b.portal,
		Source: ridesFinish{b.bot, cfg.PortalTimeout},
		Sink: &pull.DialogSink{Portal: b.portal, Domain: b.host, Dialogs: proc, Cursors: cursors, Log: log, Hold: wake.Hold,
			OnDelete: func(ctx context.Context, ev bitrix24.V2Event) error {
				log.Error("the imbot.v2 bot was deleted on the portal; restart olbot to register it again", "bot_id", ev.Bot.ID)
				return nil
			}},
		Lease:    lease,
		Rejects:  b.rejects(store),
		Budget:   ob,
		Rides:    ob,
		Interval: cfg.PollInterval,
		Idle:     cfg.PollIdle,
		LeaseTTL: cfg.PollLease,
		Log:      log,
	})
	if err != nil {
		return nil, err
	}
	if err := reg.Register(p); err != nil { // olbot_pull_* on /metrics
		return nil, fmt.Errorf("pull metrics: %w", err)
	}
	return server.WorkerFunc(func(ctx context.Context) {
		if err := p.Run(ctx); err != nil {
			fail(err)
		}
	}), nil
}

// key is the bot's poller key: its lease, offset and rejected events.
func (b *v2Bot) key() string {
	return engine.KeyPortal + b.portal + ":v2bot:" + strconv.Itoa(b.bot.ID())
}

// rejects keeps the bot's rejected events in the store, where GET
// /v1/rejected reads them (every replica on the store sees them).
func (b *v2Bot) rejects(store engine.KV) pull.Rejects {
	return pull.Rejects{KV: store, Keys: []string{b.key()}}
}

// ridesFinish is the bot as the poller's Source: a poll that carries
// waiting calls is not cut off by shutdown (only by timeout), so that the
// portal's answer to them is recorded; a cut request would leave calls the
// portal may have run to be sent again.
type ridesFinish struct {
	*bitrix24.V2
	timeout time.Duration
}

// Poll implements pull.Source.
func (s ridesFinish) Poll(ctx context.Context, offset int64, limit int, waiting []bitrix24.Request) (bitrix24.V2Page, []bitrix24.BatchResult, error) {
	if len(waiting) > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
	}
	return s.V2.Poll(ctx, offset, limit, waiting)
}

// handle is the bot's imbot.v2 handle, nil when there is no bot.
func (b *v2Bot) handle() *bitrix24.V2 {
	if b == nil {
		return nil
	}
	return b.bot
}
