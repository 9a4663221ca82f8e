package pull

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/olbot/olbot/engine"
)

// NSPull is the key-value namespace of the offsets KVCursors keeps: the
// one in which bolt and memory keep the cursors of commits.
const NSPull = engine.NSCursor

// KVCursors keeps each bot's offset in a store's key-value space, fenced
// by an in-process lease: the Cursors of a single-process store (bolt,
// memory), which survive a restart; replicas use the PostgreSQL store's
// own (postgres.Store.Pull), whose lease every replica sees.
type KVCursors struct {
	KV    engine.KV
	Lease *Memory // the lease the poller holds
}

var _ Cursors = KVCursors{}

// Offset implements Cursors.
func (c KVCursors) Offset(ctx context.Context, key string) (int64, error) {
	b, err := c.KV.Get(ctx, NSPull, key)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("pull: read offset %s: %w", key, err)
	}
	n, err := engine.ParseCursor(key, b)
	if err != nil {
		return 0, fmt.Errorf("pull: offset: %w", err)
	}
	return n, nil
}

// Guard implements Cursors: the store keeps the commits' cursors but has
// no lease table, so the in-process lease guards them.
func (c KVCursors) Guard(ctx context.Context, f Fence, commit func() error) error {
	return c.Lease.Guard(ctx, f, commit)
}

// Advance implements Cursors: the fence check and the write happen under
// the lease's lock, so a lapsed fence writes nothing.
func (c KVCursors) Advance(ctx context.Context, f Fence, next int64) error {
	return c.Lease.Commit(ctx, f, next, func() error {
		if err := c.KV.Put(ctx, NSPull, f.Key, []byte(strconv.FormatInt(next, 10))); err != nil {
			return fmt.Errorf("pull: write offset %s: %w", f.Key, err)
		}
		return nil
	})
}
