package pull

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
)

// Applier applies one dialog step and commits it with the portal calls it
// produced; *dialogs.Processor implements it. It must apply an event id
// it has seen once only (the processor keeps each dialog's recent ids).
type Applier interface {
	Apply(ctx context.Context, in dialogs.Input) (dialogs.Outcome, error)
}

// Cursors keeps each bot's offset under its lease. Advance writes next as
// fence's key's offset only while fence holds the lease (ErrFenced
// otherwise, writing nothing). *Memory implements it.
type Cursors interface {
	Offset(ctx context.Context, key string) (int64, error)
	Advance(ctx context.Context, fence Fence, next int64) error
	// Guard runs commit, whose store commits carry a Cursor with fence's
	// key and number, so that they land only while fence holds the lease.
	// A lease table in the store (PostgreSQL) checks the fence inside each
	// commit's transaction, so Guard only runs commit; an in-process lease
	// checks it first and runs commit under its lock, so that nobody takes
	// the lease meanwhile (ErrFenced, running nothing, when it lapsed).
	Guard(ctx context.Context, fence Fence, commit func() error) error
}

// DialogSink is the Sink of the fetch route: each polled event becomes a
// dialog step (DialogInput) committed by the Applier, in poll order, with
// the offset past the event in the same commit (engine.Cursor, fenced);
// the page's nextOffset is written after its steps. A crash between two
// commits leaves the rest of the page unconfirmed: the next poll returns
// it from the last committed event on, and the Applier's per-dialog event
// ids (kept as a second line of defence) make any replay change nothing.
type DialogSink struct {
	Portal  string // the portal's stable id (member id, else host): the dialog keys' middle part
	Domain  string // the portal's host
	Dialogs Applier
	Cursors Cursors
	Now     func() time.Time // time.Now when nil
	Log     *slog.Logger     // slog.Default() when nil
	// OnDelete is called for ONIMBOTV2DELETE, the bot's last event (forget
	// the bot, tell a person); its error fails the page, to be retried.
	OnDelete func(ctx context.Context, ev bitrix24.V2Event) error
	// Hold, when set, is taken around a page's steps (PageWake.Hold), so
	// that the outbox sends the page's replies together.
	Hold func() (release func())
}

var _ Sink = (*DialogSink)(nil)

// Offset implements Sink.
func (s *DialogSink) Offset(ctx context.Context, key string) (int64, error) {
	return s.Cursors.Offset(ctx, key)
}

// Apply implements Sink. An event the processor refuses as invalid (it can
// never be applied, e.g. a button the menu does not have) is logged and
// skipped; a store failure fails the page, which the poller retries.
func (s *DialogSink) Apply(ctx context.Context, events []bitrix24.V2Event, next int64, fence Fence) error {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	release := func() {}
	if s.Hold != nil && len(events) > 0 {
		release = s.Hold()
	}
	err := s.Cursors.Guard(ctx, fence, func() error {
		for _, ev := range events {
			if err := s.apply(ctx, log, ev, now(), next, fence); err != nil {
				return err
			}
		}
		return nil
	})
	release()
	if err != nil {
		return err
	}
	return s.Cursors.Advance(ctx, fence, next)
}

// apply makes one event's step, committed with the offset past it.
func (s *DialogSink) apply(ctx context.Context, log *slog.Logger, ev bitrix24.V2Event, now time.Time, next int64, fence Fence) error {
	if ev.Type == bitrix24.EventV2Delete && s.OnDelete != nil {
		if err := s.OnDelete(ctx, ev); err != nil {
			return fmt.Errorf("pull: bot %d deleted: %w", ev.Bot.ID, err)
		}
		return nil
	}
	in, skip := DialogInput(s.Portal, s.Domain, ev, now)
	if skip != "" {
		log.DebugContext(ctx, "pull: event is no dialog step", "event", ev.ID, "type", ev.Type, "why", skip)
		return nil
	}
	in.Cursor = eventCursor(ev.ID, next, fence)
	out, err := s.Dialogs.Apply(ctx, in)
	var ie *dialogs.InvalidError
	switch {
	case errors.As(err, &ie):
		log.WarnContext(ctx, "pull: event refused by the dialog", "event", ev.ID, "dialog", in.Key, "field", ie.Field, "error", ie.Message)
	case err != nil:
		return fmt.Errorf("pull: event %d (%s): %w", ev.ID, in.Key, err)
	case out.Duplicate:
		log.InfoContext(ctx, "pull: event applied before (a replay)", "event", ev.ID, "dialog", in.Key)
	}
	return nil
}

// eventCursor is the offset that confirms event id and every event before
// it (the docs: offset N confirms the ids below N), never past the page's
// next; nil for an event without an id (the page's next covers it).
func eventCursor(id, next int64, fence Fence) *engine.Cursor {
	if id <= 0 {
		return nil
	}
	v := id + 1
	if next > 0 && v > next {
		v = next
	}
	return &engine.Cursor{Key: fence.Key, Value: v, Fence: fence.Number}
}

// Advance implements Cursors.
func (m *Memory) Advance(ctx context.Context, f Fence, next int64) error {
	return m.Commit(ctx, f, next, nil)
}

// Guard implements Cursors: commit runs under the lease's lock, only
// while f holds the lease (ErrFenced otherwise).
func (m *Memory) Guard(_ context.Context, f Fence, commit func() error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.init()
	if !m.holds(f) {
		return ErrFenced
	}
	return commit()
}

var _ Cursors = (*Memory)(nil)
