package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/olbot/olbot/engine"
)

// A refresh token lives 180 days (settings/oauth/index.md): a portal whose
// chats are quiet that long would lose olbot's access. RenewAfter is how old
// a pair may get before olbot refreshes it on its own.
const RenewAfter = 150 * 24 * time.Hour

// nsPortalIndex holds the list of installed portals (key indexKey), so that
// the renewal can visit portals that make no calls.
const (
	nsPortalIndex = "portal-index"
	indexKey      = "members"
)

func (p *Portals) members(ctx context.Context) ([]string, error) {
	b, err := p.kv.Get(ctx, nsPortalIndex, indexKey)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// index adds (or, with remove, drops) a member in the list of portals.
// Callers hold recMu.
func (p *Portals) index(ctx context.Context, member string, remove bool) error {
	list, err := p.members(ctx)
	if err != nil {
		return err
	}
	i := slices.Index(list, member)
	switch {
	case remove && i >= 0:
		list = slices.Delete(list, i, i+1)
	case !remove && i < 0:
		list = append(list, member)
	default:
		return nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	return p.kv.Put(ctx, nsPortalIndex, indexKey, b)
}

// RenewIdle refreshes the token pair of every installed portal whose pair
// is older than age (RefreshedAt, or InstalledAt for older records), and
// returns how many it renewed. A failure is logged and the portal tried
// again on the next round.
func (p *Portals) RenewIdle(ctx context.Context, age time.Duration) int {
	if p.webhook != nil || p.cfg.AppClientID == "" {
		return 0
	}
	list, err := p.members(ctx)
	if err != nil {
		p.log.Warn("token renewal: cannot read the list of portals", "err", err)
		return 0
	}
	n := 0
	for _, member := range list {
		in, err := p.Get(ctx, member)
		if err != nil {
			continue
		}
		since := in.RefreshedAt
		if since.IsZero() {
			since = in.InstalledAt
		}
		if p.now().Sub(since) < age {
			continue
		}
		if err := p.renew(ctx, member); err != nil {
			p.log.Warn("token renewal failed; will try again", "member", member, "err", err)
			continue
		}
		p.log.Info("token pair renewed before the refresh token's 180 days ran out", "member", member, "domain", in.Domain)
		n++
	}
	return n
}

func (p *Portals) renew(ctx context.Context, member string) error {
	if _, err := p.client(ctx, member); err != nil {
		return err
	}
	p.mu.Lock()
	src := p.tokens[member]
	p.mu.Unlock()
	if src == nil {
		return errors.New("no token source")
	}
	_, err := src.Refresh(ctx, src.Current().AccessToken)
	return err
}

// RunRenewal renews idle portals' pairs every interval until ctx ends.
func (p *Portals) RunRenewal(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p.RenewIdle(ctx, RenewAfter)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
