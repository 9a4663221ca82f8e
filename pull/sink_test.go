package pull_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/pull"
	"github.com/olbot/olbot/scenarios"
)

const member = "fakeportal-member-0001"

// dialogRig is the fetch route's intake for real: the poller, DialogSink,
// the dialog processor with the examples' scenarios, the memory store and
// the outbox's call builder (not delivering).
type dialogRig struct {
	*env
	store *memstore.Store
	proc  *dialogs.Processor
	sink  *pull.DialogSink
}

func newDialogRig(t *testing.T) *dialogRig {
	t.Helper()
	e := newEnv(t)
	store := memstore.New()
	reg := scenarios.NewRegistry("../examples", nil)
	if _, err := reg.Reload(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	metrics := prometheus.NewRegistry()
	proc, err := dialogs.New(dialogs.Options{Store: store, Registry: reg, Logger: log, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.New(outbox.Config{Webhook: e.portal.WebhookURL(), ClientID: "olbot"}, outbox.Options{Store: store, Health: proc, Locks: proc, Logger: log, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	proc.SetPortal(ob)
	return &dialogRig{env: e, store: store, proc: proc,
		sink: &pull.DialogSink{Portal: member, Domain: "portal.example", Dialogs: proc, Cursors: e.sink.Memory, Now: e.clk.Now, Log: log}}
}

func (r *dialogRig) config(holder string) pull.Config {
	cfg := r.env.config(holder)
	cfg.Sink = r.sink
	return cfg
}

func (r *dialogRig) dialog(t *testing.T) engine.Dialog {
	t.Helper()
	d, err := r.store.Dialog(context.Background(), engine.KeyPortal+member+":chat1777")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDialogSinkConversation: a whole conversation polled from the fake
// portal runs the support scenario to its end; an operator's and a system
// message change nothing.
func TestDialogSinkConversation(t *testing.T) {
	r := newDialogRig(t)
	r.chat.Join()
	r.chat.Say("Leave a request")
	r.chat.OperatorSay(bitrix24.User{ID: 1, Name: "John Smith", FirstName: "John"}, "anna")
	r.chat.SystemSay("The dialog was transferred")
	r.chat.Say("anna")
	r.chat.Say("not an email")
	r.chat.Say("anna@example.com")
	_, stop, _ := start(t, r.config("a"))
	waitFor(t, "the conversation applied and confirmed", func() bool { return r.portal.V2Pending(r.bot.ID()) == 0 })
	stop()
	d := r.dialog(t)
	if d.Status != engine.Finished || d.Fields["name"] != "Anna" || d.Fields["email"] != "anna@example.com" {
		t.Fatalf("dialog %s, fields %v", d.Status, d.Fields)
	}
	if d.Channel.Bot != r.bot.ID() || d.Channel.Chat != 1777 || d.Channel.Dialog != "chat1777" {
		t.Fatalf("channel %+v", d.Channel)
	}
	calls, err := r.store.Calls(context.Background(), d.Key)
	if err != nil || len(calls) == 0 {
		t.Fatalf("outbox calls %d, %v", len(calls), err)
	}
}

// TestDialogSinkReplay: a replica killed after the steps were committed
// but before the offset was written leaves the page unconfirmed; the next
// replica gets it again and the replay changes nothing.
func TestDialogSinkReplay(t *testing.T) {
	r := newDialogRig(t)
	r.chat.Join()
	r.chat.Say("Leave a request")
	r.chat.Say("anna")
	ctx, kill := context.WithCancel(context.Background())
	cfg := r.config("a")
	cfg.Sink, cfg.Lease = &killAfterSteps{DialogSink: r.sink, kill: kill}, crashLease{r.env.sink.Memory}
	p, err := pull.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	before := r.dialog(t)
	calls, _ := r.store.Calls(context.Background(), before.Key)
	if before.State != "ask_email" || r.portal.V2Pending(r.bot.ID()) != 3 {
		t.Fatalf("state %q, %d pending after the crash", before.State, r.portal.V2Pending(r.bot.ID()))
	}
	_, stop, _ := start(t, r.config("b"))
	waitFor(t, "the replay confirmed", func() bool { return r.portal.V2Pending(r.bot.ID()) == 0 })
	stop()
	after := r.dialog(t)
	again, _ := r.store.Calls(context.Background(), after.Key)
	if after.Rev != before.Rev || after.State != before.State || len(again) != len(calls) {
		t.Fatalf("replay changed the dialog: rev %d→%d, state %q→%q, calls %d→%d", before.Rev, after.Rev, before.State, after.State, len(calls), len(again))
	}
}

// killAfterSteps commits a page's steps and dies before writing its offset.
type killAfterSteps struct {
	*pull.DialogSink
	kill func()
}

func (k *killAfterSteps) Apply(ctx context.Context, events []bitrix24.V2Event, next int64, f pull.Fence) error {
	cur := k.DialogSink.Cursors
	k.DialogSink.Cursors = noAdvance{cur}
	defer func() { k.DialogSink.Cursors = cur }()
	err := k.DialogSink.Apply(ctx, events, next, f)
	k.kill()
	if err == nil {
		err = context.Canceled
	}
	return err
}

type noAdvance struct{ pull.Cursors }

func (noAdvance) Advance(context.Context, pull.Fence, int64) error { return nil }

// TestDialogSinkCrashMidPage: each step commits the offset past its event
// with it (engine.Commit.Cursor). A replica killed after the first step of
// a page leaves that offset in the store: the next replica polls from it,
// so the first event is confirmed, not replayed, and the rest are applied
// once — the dialog ends as after a run without the crash.
func TestDialogSinkCrashMidPage(t *testing.T) {
	r := newDialogRig(t)
	cursors := pull.KVCursors{KV: r.store, Lease: r.env.sink.Memory}
	r.sink.Cursors = cursors
	first := r.chat.Join()
	r.chat.Say("Leave a request")
	r.chat.Say("anna")
	ctx, kill := context.WithCancel(context.Background())
	cfg := r.config("a")
	cfg.Lease = crashLease{r.env.sink.Memory}
	r.sink.Dialogs = &killAfter{Applier: r.proc, n: 1, kill: kill}
	p, err := pull.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if off, err := cursors.Offset(context.Background(), cfg.Key); err != nil || off != first+1 {
		t.Fatalf("offset after the crash %d (%v), want %d: past the one committed step", off, err, first+1)
	}
	if d := r.dialog(t); d.Rev != 1 {
		t.Fatalf("rev %d after the crash, want 1 (the join only)", d.Rev)
	}
	r.sink.Dialogs = r.proc
	_, stop, _ := start(t, r.config("b"))
	waitFor(t, "the rest applied and confirmed", func() bool { return r.portal.V2Pending(r.bot.ID()) == 0 })
	stop()
	d := r.dialog(t)
	if d.State != "ask_email" || d.Rev != 3 || d.Fields["name"] != "Anna" {
		t.Fatalf("after the crash: state %q, rev %d, fields %v; want ask_email at rev 3", d.State, d.Rev, d.Fields)
	}
	for _, id := range d.Recent {
		if id == "j"+strconv.FormatInt(first, 10) {
			return
		}
	}
	t.Fatalf("the join's id j%d not among the dialog's kept ids %v", first, d.Recent)
}

// killAfter applies n events, then dies before the next one commits.
type killAfter struct {
	pull.Applier
	n    int
	kill func()
}

func (k *killAfter) Apply(ctx context.Context, in dialogs.Input) (dialogs.Outcome, error) {
	if k.n == 0 {
		k.kill()
		return dialogs.Outcome{}, context.Canceled
	}
	k.n--
	return k.Applier.Apply(ctx, in)
}
