package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/olbot/olbot/engine"
)

// NSPortalIDs is the key-value namespace of the portals' dialog-key ids,
// keyed by the portal's host (lower-case, as olbot reaches it).
const NSPortalIDs = "portalid"

// PortalID returns the id that the dialog keys of the portal at host use
// (b24:<id>:<DIALOG_ID>), the same in every connection mode, so that a
// line moved from one bot or mode to another keeps its running dialogs.
// member is the portal's member id when the mode knows it (a local
// application's install, a v1 event's auth[member_id]); fetch mode through
// an incoming webhook knows only the host — no method a webhook may call
// returns the member id (app.info needs an application context and has
// none; profile and server.time neither).
//
// The id is fixed the first time olbot sees the portal and kept in the
// store under the host: member when known; else the member id that the
// store already knows for the host (an install record with that domain,
// or, in a store from before this version, a dialog record of the host);
// else the host itself. v1 deployments therefore keep their keys
// (b24:<member_id>:…), a fetch-mode olbot started on their store adopts
// them, and a portal first seen in fetch mode keeps its host as its id
// when a local application is installed later.
func (p *Portals) PortalID(ctx context.Context, host, member string) (string, error) {
	host = strings.ToLower(strings.TrimSpace(host))
	if host == "" {
		return member, nil
	}
	p.mu.Lock()
	id, ok := p.ids[host]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	b, err := p.kv.Get(ctx, NSPortalIDs, host)
	switch {
	case err == nil:
		id = string(b)
	case !errors.Is(err, engine.ErrNotFound):
		return "", storeErr(fmt.Errorf("read the dialog-key id of portal %s: %w", host, err))
	default:
		if id = member; id == "" {
			if id, err = p.knownMember(ctx, host); err != nil {
				return "", storeErr(err)
			}
		}
		if id == "" {
			id = host
		}
		if err := p.kv.Put(ctx, NSPortalIDs, host, []byte(id)); err != nil {
			return "", storeErr(fmt.Errorf("keep the dialog-key id of portal %s: %w", host, err))
		}
		p.log.Info("portal's dialogs keyed", "portal", host, "id", id)
	}
	p.mu.Lock()
	p.ids[host] = id
	p.mu.Unlock()
	return id, nil
}

// PortalIDIn is Portals.PortalID for a caller that has no Outbox yet
// (fetch mode's start): the same choice, kept in store.
func PortalIDIn(ctx context.Context, store engine.KV, log *slog.Logger, host, member string) (string, error) {
	p := &Portals{kv: store, log: log, ids: map[string]string{}}
	return p.PortalID(ctx, host, member)
}

// knownMember finds the member id the store already uses for host: an
// install record of that domain, else a portal dialog whose channel names
// the host and whose key starts with its member id (dialogs of the v1
// webhook mode, which keeps no install record). "" when there is none.
func (p *Portals) knownMember(ctx context.Context, host string) (string, error) {
	members, err := p.members(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range members {
		in, err := p.Get(ctx, m)
		if errors.Is(err, engine.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		if strings.EqualFold(in.Domain, host) {
			return in.MemberID, nil
		}
	}
	ds, ok := p.kv.(engine.DialogStore)
	if !ok {
		return "", nil
	}
	found := ""
	errFound := errors.New("found")
	err = ds.ScanDialogs(ctx, func(d engine.Dialog) error {
		c := d.Channel
		if c.Member != "" && strings.EqualFold(c.Domain, host) && strings.HasPrefix(d.Key, engine.KeyPortal+c.Member+":") {
			found = c.Member
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return "", fmt.Errorf("look for the dialogs of portal %s: %w", host, err)
	}
	return found, nil
}
