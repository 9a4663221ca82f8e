package server

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/olbot/olbot/engine"
)

// idleBatch bounds how many idle dialogs one sweep handles.
const idleBatch = 500

// sweepIdle moves dialogs whose idle time passed to on_idle. The due time is
// on the stored record (Dialog.IdleAt), so sweeping survives restarts.
func (s *Server) sweepIdle(ctx context.Context) {
	t := time.NewTicker(s.cfg.IdleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.SweepIdle(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("idle sweep failed; will retry", "err", err)
			}
		}
	}
}

// SweepIdle sends an idle event to every dialog whose idle time has passed,
// and returns how many it handled.
func (s *Server) SweepIdle(ctx context.Context) (int, error) {
	total := 0
	seen := map[string]bool{}
	for {
		now := s.now()
		keys, err := s.store.Idle(ctx, now, idleBatch)
		if err != nil {
			return total, err
		}
		fresh := 0
		for _, key := range keys {
			if seen[key] {
				continue // handled in this sweep and still due: leave it to the next one
			}
			seen[key], fresh = true, fresh+1
			in := input{Key: key, Event: engine.Event{Type: engine.Idle, Time: now}}
			if _, err := s.process(ctx, in); err != nil {
				var ae *Error
				if errors.As(err, &ae) && ae.Code == EInvalid {
					s.log.Warn("idle event rejected", "dialog", key, "err", err)
					continue
				}
				return total, err
			}
			total++
		}
		if len(keys) < idleBatch || fresh == 0 || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}

// portalKey reports whether a dialog key belongs to a portal chat.
func portalKey(key string) bool { return strings.HasPrefix(key, NSPortal) }
