package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/olbot/olbot/engine"
)

// NSRejected is the key-value namespace of the rejected events Rejects
// keeps: under each poller key, the latest ones as a JSON list.
const NSRejected = "pull-rejected"

// DefaultKeepRejected is how many rejected events Rejects keeps per bot
// when Keep is 0.
const DefaultKeepRejected = 100

// RejectedEvent is a rejected event as it is kept and shown (GET
// /v1/rejected): which bot's poll brought it, the event's id and type
// when they could be read, the offending field and why.
type RejectedEvent struct {
	Key     string    `json:"key"`    // the poller key, b24:<portal>:v2bot:<id>
	Offset  int64     `json:"offset"` // the offset of the poll that brought it
	EventID int64     `json:"event_id,omitempty"`
	Type    string    `json:"type,omitempty"`
	Field   string    `json:"field,omitempty"`
	Reason  string    `json:"reason"` // the whole message, as logged
	Time    time.Time `json:"time"`
}

// RejectLog keeps rejected events; the poller records every one it skips.
type RejectLog interface {
	Record(ctx context.Context, r Rejection) error
}

// Rejects keeps the latest rejected events of each bot in a store's
// key-value space, so that they outlive the process and every replica on
// the store sees them. Only the lease holder polls, so one writer per key.
type Rejects struct {
	KV   engine.KV
	Keep int      // per key; DefaultKeepRejected when 0
	Keys []string // the poller keys List reads
}

var _ RejectLog = Rejects{}

// Record implements RejectLog: r joins its key's list, the oldest beyond
// Keep dropping out. An event already kept (the same event id, seen again
// when a failed page is polled again) is not kept twice.
func (k Rejects) Record(ctx context.Context, r Rejection) error {
	list, err := k.list(ctx, r.Key)
	if err != nil {
		return err
	}
	ev := RejectedEvent{Key: r.Key, Offset: r.Offset, Time: r.Time.UTC()}
	if r.Reason != nil {
		ev.EventID, ev.Type, ev.Field, ev.Reason = r.Reason.EventID, r.Reason.Type, r.Reason.Field, r.Reason.Error()
	}
	for _, old := range list {
		if ev.EventID != 0 && old.EventID == ev.EventID {
			return nil
		}
	}
	list = append(list, ev)
	keep := k.Keep
	if keep <= 0 {
		keep = DefaultKeepRejected
	}
	if len(list) > keep {
		list = list[len(list)-keep:]
	}
	b, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("pull: keep rejected event: %w", err)
	}
	if err := k.KV.Put(ctx, NSRejected, r.Key, b); err != nil {
		return fmt.Errorf("pull: keep rejected event of %s: %w", r.Key, err)
	}
	return nil
}

// List returns the kept rejected events of every key in Keys, each key's
// oldest first.
func (k Rejects) List(ctx context.Context) ([]RejectedEvent, error) {
	out := []RejectedEvent{}
	for _, key := range k.Keys {
		list, err := k.list(ctx, key)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	return out, nil
}

func (k Rejects) list(ctx context.Context, key string) ([]RejectedEvent, error) {
	b, err := k.KV.Get(ctx, NSRejected, key)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("pull: read rejected events of %s: %w", key, err)
	}
	var list []RejectedEvent
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("pull: rejected events of %s: stored value is not a list: %w", key, err)
	}
	return list, nil
}
