// Package retention deletes what olbot no longer needs: every dialog that
// finished or was handed off longer ago than the retention period (its
// record with the collected fields and the processed event ids, and its
// pending and parked calls), on request one dialog's or one portal's data at
// once, and an uninstalled portal's data after a grace period. Funnel counts
// (aggregates without personal data) are never touched.
//
// The sweep runs beside the event path and never holds a dialog's lock: it
// lists a small batch of ended dialogs and erases each with a condition
// (engine.DialogStore.Erase with endedBefore), so a dialog that an event
// restarted since it was listed stays, and an event that read a record the
// sweep then erased loses its compare-and-set and starts a new dialog. Each
// erase is one small transaction; on PostgreSQL a batch is one statement
// that skips the rows another replica's sweep holds (engine.EndedSweeper).
package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/olbot/olbot/engine"
)

// Defaults of Config.
const (
	DefaultKeep           = 90 * 24 * time.Hour
	DefaultPlayground     = 24 * time.Hour
	DefaultUninstallGrace = 7 * 24 * time.Hour
	// DefaultEvery is how often the sweep runs.
	DefaultEvery = time.Minute
)

// DuplicateWindow is how long after a dialog ended its processed message
// ids (engine.Dialog.Recent, at most engine.RecentIDs) are kept to
// recognise an event delivered twice. A duplicate only comes from a
// retry of a delivery that already happened — a portal event the server
// did not acknowledge, /v1/events retried by its client, a fetch-mode
// poll read again after a restart — which comes within minutes; a day is
// ample. Afterwards the trim pass drops the ids from the record (the
// record itself stays until the retention period ends).
const DuplicateWindow = 24 * time.Hour

// trimEvery is how often the trim pass runs: it reads every record once
// (a scan), so not every minute; trimBatch bounds the records one pass
// rewrites.
const (
	trimEvery = time.Hour
	trimBatch = 10000
)

// batch is how many dialogs one list-and-erase round takes: small, so that
// no transaction of the sweep is big and events go between them.
const batch = 100

// Config says how long data is kept.
type Config struct {
	// Keep is how long a finished or handed-off portal or API dialog is
	// kept, counted from when it ended; 0 keeps it for ever.
	Keep time.Duration
	// Playground is how long a playground dialog is kept after it ended
	// (never longer than Keep when Keep is set).
	Playground time.Duration
	// UninstallGrace is how long an uninstalled portal's dialogs are kept
	// in case it comes back; an uninstall that asks to clean erases them
	// at once.
	UninstallGrace time.Duration
	// Every is how often the sweep runs; default DefaultEvery.
	Every time.Duration
}

// period is how long dialogs of key space space are kept; 0: for ever.
func (c Config) period(space string) time.Duration {
	if space == engine.KeyPlayground {
		if c.Keep > 0 && c.Keep < c.Playground {
			return c.Keep
		}
		return c.Playground
	}
	return c.Keep
}

// Portals forgets a portal's install record, which holds its tokens
// (package outbox).
type Portals interface {
	Uninstall(ctx context.Context, member string) error
	Installed(ctx context.Context, member string) (bool, error)
}

// Sweeper runs retention and erasure over one store.
type Sweeper struct {
	store   engine.Store
	cfg     Config
	portals Portals
	log     *slog.Logger
	now     func() time.Time

	pendingMu sync.Mutex // read-modify-write of the uninstalled list in this process
}

// New returns a sweeper. portals may be nil (no portal side): erasing a
// portal then erases its dialogs only.
func New(store engine.Store, cfg Config, portals Portals, log *slog.Logger, now func() time.Time) *Sweeper {
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	return &Sweeper{store: store, cfg: cfg, portals: portals, log: log, now: now}
}

// Report is what one sweep deleted.
type Report struct {
	Dialogs int `json:"dialogs"`
	Calls   int `json:"calls"`
	Portals int `json:"portals"` // uninstalled portals whose grace ended
	Trimmed int `json:"trimmed"` // records whose processed ids were dropped (TrimProcessed)
}

// FirstSweepDelay is how long the first start of a version with retention
// waits before its first sweep, after logging what it will delete: time
// to stop the server and set --retention.
const FirstSweepDelay = time.Hour

// Run sweeps every cfg.Every until ctx ends; on the first start with
// retention, after FirstSweepDelay (the notice says when).
func (s *Sweeper) Run(ctx context.Context) {
	first := s.cfg.Every
	if s.notice(ctx) {
		first = FirstSweepDelay
	}
	t := time.NewTimer(first)
	defer t.Stop()
	var trimmed time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.Reset(s.cfg.Every)
			if time.Since(trimmed) >= trimEvery {
				trimmed = time.Now()
				n, err := s.TrimProcessed(ctx)
				switch {
				case err != nil && ctx.Err() == nil:
					s.log.Warn("retention: dropping old processed message ids failed; will retry", "err", err, "trimmed", n)
				case n > 0:
					s.log.Info("retention: dropped the processed message ids of dialogs that ended over a day ago", "dialogs", n)
				}
			}
			r, err := s.Sweep(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Warn("retention sweep failed; will retry", "err", err, "deleted_dialogs", r.Dialogs)
			case r.Dialogs > 0 || r.Portals > 0:
				s.log.Info("retention sweep", "deleted_dialogs", r.Dialogs, "deleted_calls", r.Calls, "erased_portals", r.Portals)
			}
		}
	}
}

// Sweep deletes every dialog whose retention ran out and the data of every
// uninstalled portal whose grace ended.
func (s *Sweeper) Sweep(ctx context.Context) (Report, error) {
	var r Report
	now := s.now()
	for _, space := range engine.KeySpaces {
		keep := s.cfg.period(space)
		if keep <= 0 {
			continue
		}
		n, calls, err := s.sweepSpace(ctx, space, now.Add(-keep))
		r.Dialogs, r.Calls = r.Dialogs+n, r.Calls+calls
		if err != nil {
			return r, err
		}
	}
	n, err := s.sweepUninstalled(ctx, now)
	r.Portals = n
	return r, err
}

// sweepSpace erases the dialogs of one key space that ended not after
// before, batch by batch.
func (s *Sweeper) sweepSpace(ctx context.Context, space string, before time.Time) (dialogs, calls int, err error) {
	if sw, ok := s.store.(engine.EndedSweeper); ok {
		for ctx.Err() == nil {
			d, c, err := sw.SweepEnded(ctx, space, before, batch)
			dialogs, calls = dialogs+d, calls+c
			if err != nil || d < batch {
				return dialogs, calls, err
			}
		}
		return dialogs, calls, ctx.Err()
	}
	for ctx.Err() == nil {
		keys, err := s.store.Ended(ctx, space, before, batch)
		if err != nil {
			return dialogs, calls, err
		}
		d, c, err := s.eraseAll(ctx, keys, before)
		dialogs, calls = dialogs+d, calls+c
		if err != nil {
			return dialogs, calls, err
		}
		if len(keys) < batch || d == 0 {
			return dialogs, calls, nil
		}
	}
	return dialogs, calls, ctx.Err()
}

// erasers is how many erases of one batch run at once: each is its own
// small transaction, and on the embedded store concurrent ones share a
// group commit (one fsync) instead of paying one each.
const erasers = 8

// eraseAll erases keys (each only while ended not after before), erasers
// at a time, and returns how many dialogs and calls went.
func (s *Sweeper) eraseAll(ctx context.Context, keys []string, before time.Time) (dialogs, calls int, err error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan string)
	for range min(erasers, len(keys)) {
		wg.Go(func() {
			for key := range next {
				e, eerr := s.store.Erase(ctx, key, before)
				mu.Lock()
				if eerr != nil && err == nil {
					err = eerr
				}
				if e.Dialog {
					dialogs, calls = dialogs+1, calls+e.Calls
				}
				mu.Unlock()
			}
		})
	}
	for _, key := range keys {
		next <- key
	}
	close(next)
	wg.Wait()
	return dialogs, calls, err
}

// TrimProcessed drops the processed message ids of the dialogs that ended
// more than DuplicateWindow ago (at most trimBatch records per call) and
// returns how many records it rewrote. Each rewrite is a compare-and-set
// commit of the record without its ids: a dialog an event changed
// meanwhile is left for the next pass.
func (s *Sweeper) TrimProcessed(ctx context.Context) (int, error) {
	before := s.now().Add(-DuplicateWindow)
	var keys []string
	// ScanDialogs' fn must not call the store: collect, then rewrite.
	err := s.store.ScanDialogs(ctx, func(d engine.Dialog) error {
		if at := d.EndedAt(); len(d.Recent) > 0 && !at.IsZero() && !at.After(before) && len(keys) < trimBatch {
			keys = append(keys, d.Key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("find old processed ids: %w", err)
	}
	n := 0
	for _, key := range keys {
		d, err := s.store.Dialog(ctx, key)
		if errors.Is(err, engine.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if at := d.EndedAt(); len(d.Recent) == 0 || at.IsZero() || at.After(before) {
			continue // restarted since the scan
		}
		next := d.Clone()
		next.Recent = nil
		next.Rev++
		err = s.store.Commit(ctx, engine.Commit{Dialog: next, PrevRev: d.Rev})
		switch {
		case errors.Is(err, engine.ErrConflict):
			continue // an event came: the next pass looks again
		case err != nil:
			return n, err
		}
		n++
	}
	return n, nil
}

// EraseDialog deletes one dialog's record and calls at once, whatever its
// status.
func (s *Sweeper) EraseDialog(ctx context.Context, key string) (engine.Erased, error) {
	e, err := s.store.Erase(ctx, key, time.Time{})
	if err != nil {
		return e, err
	}
	s.log.Info("dialog erased", "dialog", key, "record", e.Dialog, "calls", e.Calls)
	return e, nil
}

// PortalErased is what ErasePortal deleted.
type PortalErased struct {
	Member  string `json:"member"`
	Dialogs int    `json:"dialogs"`
	Calls   int    `json:"calls"`
	Install bool   `json:"install"` // the install record (tokens) was deleted
}

// PortalKeyPrefix is the start of every dialog key of portal member.
// Keys of another portal may start with it too (a portal keyed by its
// host, 127.0.0.1, and one with a port, 127.0.0.1:8080): OfPortal tells
// them apart.
func PortalKeyPrefix(member string) string { return engine.KeyPortal + member + ":" }

// OfPortal reports whether dialog key belongs to portal member: it is
// b24:<member>:<DIALOG_ID>, the DIALOG_ID a chat's (chat<N>) or a user's
// id, which have no ':'. So a portal id may hold ':' itself (a host with
// its port, as the fake portal's and local setups' webhook portals are
// keyed) without its erasure taking the dialogs of another portal whose
// id starts the same.
func OfPortal(key, member string) bool {
	rest, ok := strings.CutPrefix(key, PortalKeyPrefix(member))
	return ok && rest != "" && !strings.Contains(rest, ":")
}

// CheckPortalID checks the id of a portal to erase: its id in the dialog
// keys, a member_id or (webhook modes without one) the portal's host,
// which may carry a port.
func CheckPortalID(member string) error {
	switch {
	case member == "":
		return fmt.Errorf("%w: the portal id is empty", engine.ErrInvalid)
	case strings.HasPrefix(member, ":") || strings.HasSuffix(member, ":") || strings.Contains(member, "::"):
		return fmt.Errorf("%w: portal id %q has an empty part around ':' (a portal id is a member_id, or a host such as portal.example:8443)", engine.ErrInvalid, member)
	case strings.ContainsAny(member, "/ \t\r\n"):
		return fmt.Errorf("%w: portal id %q may not contain '/' or spaces", engine.ErrInvalid, member)
	}
	return nil
}

// ErasePortal deletes every dialog of portal member (records and calls)
// and its install record at once. member is the portal's id in its
// dialog keys (CheckPortalID).
func (s *Sweeper) ErasePortal(ctx context.Context, member string) (PortalErased, error) {
	out := PortalErased{Member: member}
	if err := CheckPortalID(member); err != nil {
		return out, err
	}
	var keys []string
	// ScanDialogs' fn must not call the store: collect, then erase.
	err := s.store.ScanDialogs(ctx, func(d engine.Dialog) error {
		if OfPortal(d.Key, member) {
			keys = append(keys, d.Key)
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("list the dialogs of portal %s: %w", member, err)
	}
	for _, key := range keys {
		e, err := s.store.Erase(ctx, key, time.Time{})
		if err != nil {
			return out, fmt.Errorf("erase portal %s: %w", member, err)
		}
		if e.Dialog {
			out.Dialogs++
		}
		out.Calls += e.Calls
	}
	if s.portals != nil {
		installed, err := s.portals.Installed(ctx, member)
		if err != nil {
			return out, fmt.Errorf("erase portal %s: %w", member, err)
		}
		if installed {
			if err := s.portals.Uninstall(ctx, member); err != nil {
				return out, fmt.Errorf("erase portal %s: %w", member, err)
			}
			out.Install = true
		}
	}
	if err := s.dropUninstalled(ctx, member); err != nil {
		return out, err
	}
	s.log.Info("portal erased", "member", member, "dialogs", out.Dialogs, "calls", out.Calls, "install", out.Install)
	return out, nil
}

// The uninstalled portals waiting for their grace to end: one KV record
// (nsRetention/keyUninstalled) holding member_id → uninstall time. Within
// a process its read-modify-write is serialised; two replicas recording
// two uninstalls at the same instant may lose one, whose dialogs then go
// with the retention period instead.
const (
	nsRetention    = "retention"
	keyUninstalled = "uninstalled"
)

func (s *Sweeper) uninstalled(ctx context.Context) (map[string]time.Time, error) {
	b, err := s.store.Get(ctx, nsRetention, keyUninstalled)
	if errors.Is(err, engine.ErrNotFound) {
		return map[string]time.Time{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]time.Time{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the list of uninstalled portals: %w", err)
	}
	return m, nil
}

func (s *Sweeper) putUninstalled(ctx context.Context, m map[string]time.Time) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.store.Put(ctx, nsRetention, keyUninstalled, b)
}

func (s *Sweeper) dropUninstalled(ctx context.Context, member string) error {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	m, err := s.uninstalled(ctx)
	if err != nil {
		return err
	}
	if _, ok := m[member]; !ok {
		return nil
	}
	delete(m, member)
	return s.putUninstalled(ctx, m)
}

// Uninstalled records that portal member uninstalled the application: its
// dialogs are erased after the grace period, or at once when clean (the
// uninstall's CLEAN: "clear application data"). The install record is
// the caller's to forget.
func (s *Sweeper) Uninstalled(ctx context.Context, member string, clean bool) (PortalErased, error) {
	if clean || s.cfg.UninstallGrace <= 0 {
		return s.ErasePortal(ctx, member)
	}
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	m, err := s.uninstalled(ctx)
	if err != nil {
		return PortalErased{}, err
	}
	if _, ok := m[member]; !ok {
		m[member] = s.now().UTC()
	}
	return PortalErased{Member: member}, s.putUninstalled(ctx, m)
}

// sweepUninstalled erases the portals whose grace ended, unless they were
// installed again meanwhile.
func (s *Sweeper) sweepUninstalled(ctx context.Context, now time.Time) (int, error) {
	s.pendingMu.Lock()
	m, err := s.uninstalled(ctx)
	s.pendingMu.Unlock()
	if err != nil {
		return 0, err
	}
	n := 0
	for member, at := range m {
		if s.portals != nil {
			back, err := s.portals.Installed(ctx, member)
			if err != nil {
				return n, err
			}
			if back {
				if err := s.dropUninstalled(ctx, member); err != nil {
					return n, err
				}
				continue
			}
		}
		if now.Sub(at) < s.cfg.UninstallGrace {
			continue
		}
		if _, err := s.ErasePortal(ctx, member); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// keyNotice marks that the first start with retention logged what it
// would delete.
const keyNotice = "notice"

// notice logs, on the first start of a version with retention (an upgrade
// from one that kept everything, or a new store), how many dialogs the
// first sweep will delete and when, so that an operator who wanted to keep
// them can stop the server and set --retention before it runs
// (FirstSweepDelay later). It reports whether it logged; later starts log
// nothing.
func (s *Sweeper) notice(ctx context.Context) bool {
	if _, err := s.store.Get(ctx, nsRetention, keyNotice); err == nil || !errors.Is(err, engine.ErrNotFound) {
		return false // logged before, or the store cannot say: the sweep will log its own failure
	}
	now := s.now()
	first := now.Add(FirstSweepDelay)
	var due, later, total int
	err := s.store.ScanDialogs(ctx, func(d engine.Dialog) error {
		total++
		at := d.EndedAt()
		keep := s.cfg.period(engine.KeySpace(d.Key))
		switch {
		case at.IsZero() || keep <= 0:
		case !at.After(first.Add(-keep)):
			due++
		default:
			later++
		}
		return nil
	})
	if err != nil {
		s.log.Warn("retention: cannot count the dialogs the sweep would delete", "err", err)
		return false
	}
	keep := "forever (--retention 0)"
	if s.cfg.Keep > 0 {
		keep = s.cfg.Keep.String()
	}
	s.log.Warn("retention: olbot now deletes finished and handed-off dialogs (records, collected fields, pending and parked calls) after the retention period; stop the server and set --retention to keep them longer",
		"retention", keep, "playground", s.cfg.period(engine.KeyPlayground).String(),
		"dialogs", total, "deleted_at_first_sweep", due, "first_sweep", first.UTC().Format(time.RFC3339),
		"deleted_later_as_they_age", later)
	if err := s.store.Put(ctx, nsRetention, keyNotice, []byte(now.UTC().Format(time.RFC3339))); err != nil {
		s.log.Warn("retention: cannot record the notice; it will show again at the next start", "err", err)
	}
	return true
}
