// Package lines keeps what olbot knows of the portals' Open Lines — their
// settings as imopenlines.config.get reads them — cached per line, so the
// event path asks the portal at most once per line every few minutes and
// the engine's step stays pure (it gets the line's language in the event).
package lines

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/scenarios"
)

// Defaults of Options.
const (
	// DefaultFresh is how long a line's settings are used without asking
	// again: a line's language is changed rarely, and by hand.
	DefaultFresh = 10 * time.Minute
	// DefaultRetry is how long a failed read is not repeated: a portal
	// that refuses (no imopenlines scope, an outage) is not asked on every
	// event of every chat.
	DefaultRetry = time.Minute
	// DefaultTimeout bounds one read on the event path.
	DefaultTimeout = 3 * time.Second
)

// Reader reads one Open Line's settings from a portal (outbox.Portals).
type Reader interface {
	LineConfig(ctx context.Context, portal string, line int) (bitrix24.LineConfig, error)
}

// Options configure a Cache; zero values take the defaults.
type Options struct {
	Fresh, Retry, Timeout time.Duration
	Now                   func() time.Time
	Logger                *slog.Logger
}

// Cache is the per-line cache of Open Line settings. It is safe for
// concurrent use; concurrent reads of one uncached line ask the portal once.
type Cache struct {
	r    Reader
	opts Options

	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	cfg     bitrix24.LineConfig
	ok      bool      // cfg was read at least once
	until   time.Time // used without asking until then
	reading chan struct{}
	hours   *scenarios.Schedule // cfg.Worktime as a schedule; nil when not understood
}

// New returns a cache reading through r.
func New(r Reader, opts Options) *Cache {
	if opts.Fresh <= 0 {
		opts.Fresh = DefaultFresh
	}
	if opts.Retry <= 0 {
		opts.Retry = DefaultRetry
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Cache{r: r, opts: opts, entries: map[string]*entry{}}
}

// Language is a line's LANGUAGE_ID as the portal gives it ("" when it
// cannot be read: the dialog then starts in the scenario's default
// language, and the log says why). A line read before keeps its last known
// language while the portal cannot be reached.
func (c *Cache) Language(ctx context.Context, portal string, line int) string {
	cfg, _ := c.Config(ctx, portal, line)
	return cfg.LanguageID
}

// Config returns a line's settings: cached while fresh, else read from the
// portal (bounded by Options.Timeout). ok is false when they were never read.
func (c *Cache) Config(ctx context.Context, portal string, line int) (cfg bitrix24.LineConfig, ok bool) {
	if line <= 0 {
		return bitrix24.LineConfig{}, false
	}
	key := portal + ":" + strconv.Itoa(line)
	for {
		c.mu.Lock()
		e := c.entries[key]
		if e == nil {
			e = &entry{}
			c.entries[key] = e
		}
		if e.reading == nil && c.opts.Now().Before(e.until) {
			cfg, ok = e.cfg, e.ok
			c.mu.Unlock()
			return cfg, ok
		}
		if wait := e.reading; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				c.mu.Lock()
				cfg, ok = e.cfg, e.ok
				c.mu.Unlock()
				return cfg, ok
			}
		}
		e.reading = make(chan struct{})
		c.mu.Unlock()
		return c.read(ctx, e, portal, line)
	}
}

// read asks the portal for one line and updates its entry.
func (c *Cache) read(ctx context.Context, e *entry, portal string, line int) (bitrix24.LineConfig, bool) {
	rctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	got, err := c.r.LineConfig(rctx, portal, line)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	close(e.reading)
	e.reading = nil
	now := c.opts.Now()
	if err != nil {
		e.until = now.Add(c.opts.Retry)
		level := slog.LevelWarn
		if errors.Is(err, context.Canceled) {
			level = slog.LevelInfo
		}
		c.opts.Logger.Log(ctx, level, "open line settings not read: the dialog starts in the scenario's default language unless the line was read before",
			"portal", portal, "line", line, "known", e.ok, "language", e.cfg.LanguageID, "error", err)
		return e.cfg, e.ok
	}
	e.cfg, e.ok, e.until = got, true, now.Add(c.opts.Fresh)
	if e.hours, err = Schedule(got.Worktime); err != nil {
		c.opts.Logger.Warn("open line working time not understood: from_line hours count as open", "portal", portal, "line", line, "error", err)
	}
	return e.cfg, true
}
