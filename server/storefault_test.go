package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/scenarios"
)

// Fault modes of faultyStore.
const (
	storeOK          = iota
	storeReadOnly    // reads work, writes fail: a full disk, a read-only file
	storeUnreachable // everything fails: the database is down
)

// errInjected is the cause faultyStore gives; it must never reach a client.
var errInjected = errors.New("injected store failure at /secret/path/olbot.db")

// faultyStore wraps a memory store and fails on demand.
type faultyStore struct {
	*memstore.Store
	mode     atomic.Int32
	refusals atomic.Int64 // operations refused
}

func (f *faultyStore) fail(write bool) error {
	switch m := f.mode.Load(); {
	case m == storeUnreachable, m == storeReadOnly && write:
		f.refusals.Add(1)
		return errInjected
	}
	return nil
}

func (f *faultyStore) Dialog(ctx context.Context, key string) (engine.Dialog, error) {
	if err := f.fail(false); err != nil {
		return engine.Dialog{}, err
	}
	return f.Store.Dialog(ctx, key)
}

func (f *faultyStore) Commit(ctx context.Context, c engine.Commit) error {
	if err := f.fail(true); err != nil {
		return err
	}
	return f.Store.Commit(ctx, c)
}

func (f *faultyStore) Claim(ctx context.Context, owner string, limit int, now time.Time, lease time.Duration) ([]engine.Call, error) {
	if err := f.fail(false); err != nil {
		return nil, err
	}
	return f.Store.Claim(ctx, owner, limit, now, lease)
}

func (f *faultyStore) Done(ctx context.Context, id uint64) error {
	if err := f.fail(true); err != nil {
		return err
	}
	return f.Store.Done(ctx, id)
}

func (f *faultyStore) Retry(ctx context.Context, id uint64, next time.Time, errText string) error {
	if err := f.fail(true); err != nil {
		return err
	}
	return f.Store.Retry(ctx, id, next, errText)
}

func (f *faultyStore) Park(ctx context.Context, id uint64, errText string) error {
	if err := f.fail(true); err != nil {
		return err
	}
	return f.Store.Park(ctx, id, errText)
}

func (f *faultyStore) Calls(ctx context.Context, dialog string) ([]engine.Call, error) {
	if err := f.fail(false); err != nil {
		return nil, err
	}
	return f.Store.Calls(ctx, dialog)
}

func (f *faultyStore) Idle(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := f.fail(false); err != nil {
		return nil, err
	}
	return f.Store.Idle(ctx, before, limit)
}

func (f *faultyStore) Get(ctx context.Context, ns, key string) ([]byte, error) {
	if err := f.fail(false); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, ns, key)
}

func (f *faultyStore) Put(ctx context.Context, ns, key string, value []byte) error {
	if err := f.fail(true); err != nil {
		return err
	}
	return f.Store.Put(ctx, ns, key, value)
}

func (f *faultyStore) Delete(ctx context.Context, ns, key string) error {
	if err := f.fail(true); err != nil {
		return err
	}
	return f.Store.Delete(ctx, ns, key)
}

func (f *faultyStore) Depth(ctx context.Context) (int, int, error) {
	if err := f.fail(false); err != nil {
		return 0, 0, err
	}
	return f.Store.Depth(ctx)
}

// startFaulty starts a server like startEnv does, on a faultyStore.
func startFaulty(t *testing.T, p *fakeportal.Portal) (*env, *faultyStore) {
	t.Helper()
	e := newEnv(t, p, nil)
	fs := &faultyStore{Store: memstore.New()}
	e.store = fs
	srv := Assemble(t, e.cfg, Wiring{Store: fs, Registry: scenarios.NewRegistry(e.dir, nil), Outbox: e.ob, Backoff: e.backoff,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err := srv.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv, e.base = srv, "http://"+srv.Addr()
	return e, fs
}

// TestStoreFaults: while the store refuses writes (a full disk, a read-only
// file) or fails altogether (a database that is down), events get a 503
// with a JSON error that does not reveal the cause, nothing changes, the
// server says it is not ready (but alive), and delivery pauses instead of
// sending again and again a call whose delivery it cannot record. When the
// store is back, readiness returns by itself, with no event needed, and the
// refused events, sent again, are applied as if nothing had happened.
// (The crashtest package does the same to the real binary with a full
// tmpfs, an immutable file and a cut PostgreSQL connection.)
func TestStoreFaults(t *testing.T) {
	p := newPortal(t, fakeportal.Config{})
	e, fs := startFaulty(t, p)
	bot := e.install()
	for i, tc := range []struct {
		name string
		mode int32
	}{
		{"read-only store", storeReadOnly},
		{"unreachable store", storeUnreachable},
	} {
		func() {
			chat := e.chat(1, 8101+i, "Anna")
			flow := supportFlow(t, chat, bot, "Anna")
			events := supportEvents(chat, "Anna")
			e.send(chat, events[0]())
			e.settle()

			// a committed step whose calls the portal cannot take yet
			p.Down(true)
			e.send(chat, events[1]())
			waitFor(t, "a failed delivery attempt", func() (bool, string) {
				n := countErrors(p, "connection dropped")
				return n > 0, fmt.Sprint(n)
			})

			fs.mode.Store(tc.mode)
			p.Down(false)
			// the refused event: 503 with a JSON error, nothing changed
			before, err := fs.Store.Dialog(context.Background(), e.key(chat))
			if err != nil {
				t.Fatal(err)
			}
			refused := events[2]()
			resp, err := chat.Send(context.Background(), refused)
			if err != nil {
				t.Fatal(err)
			}
			status, body := decodeResp(t, resp)
			msg, _ := body["error"].(string)
			if status != http.StatusServiceUnavailable || body["code"] != EUnavailable || msg == "" {
				t.Fatalf("%s: event while the store fails: %d %v, want 503 with the JSON error", tc.name, status, body)
			}
			if strings.Contains(fmt.Sprint(body), "secret") {
				t.Fatalf("the 503 reveals the cause: %v", body)
			}
			if after, _ := fs.Store.Dialog(context.Background(), e.key(chat)); after.Rev != before.Rev || after.State != before.State {
				t.Fatalf("a refused event changed the dialog: rev %d→%d, state %s→%s", before.Rev, after.Rev, before.State, after.State)
			}
			waitFor(t, "readiness to go false", func() (bool, string) {
				status, body := e.request(http.MethodGet, "/readyz", "", nil, "")
				return status == http.StatusServiceUnavailable && strings.Contains(string(body), "store"), fmt.Sprintf("%d %s", status, body)
			})
			if status, _ := e.request(http.MethodGet, "/healthz", "", nil, ""); status != http.StatusOK {
				t.Fatalf("healthz %d while the store fails: want 200 (alive, nothing to restart)", status)
			}
			// delivery pauses: the pending call goes out at most once
			// before the failure shows, not once per round
			sendsOf := func() int { return len(delivered(p, about(chat))) }
			atFault := sendsOf()
			refusals := fs.refusals.Load()
			waitFor(t, "the delivery worker to try the store again", func() (bool, string) {
				n := fs.refusals.Load() - refusals
				return n >= 3, fmt.Sprintf("%d store operations refused", n)
			})
			if n := sendsOf() - atFault; n > 1 {
				t.Fatalf("%d deliveries while the store could not record them: want at most the one in flight", n)
			}

			fs.mode.Store(storeOK)
			waitFor(t, "readiness to come back by itself", func() (bool, string) {
				status, body := e.request(http.MethodGet, "/readyz", "", nil, "")
				return status == http.StatusOK, fmt.Sprintf("%d %s", status, body)
			})
			e.send(chat, refused) // the client's message again
			e.send(chat, events[3]())
			e.send(chat, events[4]())
			e.settle()
			got := delivered(p, about(chat))
			// at least once: a call delivered while its Done failed goes out again
			var dedup []string
			for i, c := range got {
				if i == 0 || c != got[i-1] {
					dedup = append(dedup, c)
				}
			}
			checkCalls(t, dedup, flow)
			if d := e.dialog(e.key(chat)); d.Status != "finished" || len(d.Calls) != 0 {
				t.Fatalf("dialog %+v: want finished with nothing pending or parked", d)
			}
			t.Logf("%s: %d calls delivered, %d of them again after the store came back", tc.name, len(got), len(got)-len(dedup))
		}()
	}
	if !strings.Contains(e.logs.String(), "secret/path") {
		t.Error("the cause of the store failure is not in the log")
	}
}
