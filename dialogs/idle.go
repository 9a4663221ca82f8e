package dialogs

import (
	"context"
	"errors"
	"time"

	"github.com/olbot/olbot/engine"
)

// idleBatch bounds how many idle dialogs one sweep handles.
const idleBatch = 500

// RunIdle moves dialogs whose idle time passed to on_idle, and hands
// calls whose lease ran out to the lookups, every interval,
// until ctx ends. The due time is on the stored record (Dialog.IdleAt), so
// sweeping survives restarts.
func (p *Processor) RunIdle(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := p.SweepIdle(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("idle sweep failed; will retry", "err", err)
			}
		}
	}
}

// SweepIdle sends an idle event to every dialog whose idle time has passed,
// and returns how many it handled.
func (p *Processor) SweepIdle(ctx context.Context) (int, error) {
	total := 0
	seen := map[string]bool{}
	for {
		now := p.now()
		keys, err := p.store.Idle(ctx, now, idleBatch)
		if err != nil {
			return total, err
		}
		fresh := 0
		for _, key := range keys {
			if seen[key] {
				continue // handled in this sweep and still due: leave it to the next one
			}
			seen[key], fresh = true, fresh+1
			in := Input{Key: key, Event: engine.Event{Type: engine.Idle, Time: now}}
			out, err := p.Apply(ctx, in)
			if err == nil && out.Dialog.Call != nil && p.lookups != nil {
				// a call's lease ran out (its due time stands in for idle)
				p.lookups.Overdue(ctx, key, *out.Dialog.Call)
			}
			if err != nil {
				var ie *InvalidError
				if errors.As(err, &ie) {
					p.log.Warn("idle event rejected", "dialog", key, "err", err)
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
