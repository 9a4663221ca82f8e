package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/bolt"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/outbox"
)

// lateAnswer serves the fake portal, but the first request's answer is
// held back until release is closed: the portal has done the calls, and
// its answer arrives after shutdown began. A request the client gives up
// on ends the wait (its answer then goes nowhere, as on a real network).
type lateAnswer struct {
	portal  *fakeportal.Portal
	once    sync.Once
	arrived chan struct{}
	release chan struct{}
}

func (l *lateAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	first := false
	l.once.Do(func() { first = true })
	if !first {
		l.portal.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	l.portal.ServeHTTP(rec, r)
	close(l.arrived)
	select {
	case <-l.release:
	case <-r.Context().Done():
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// TestShutdownLetsSendsFinish: a graceful shutdown while a request is in
// flight waits for the portal's answer and records it, so the next
// process does not send the calls again (a call cut off by shutdown whose
// portal had done it would be sent twice). It runs for a single call and
// for a batch, on bbolt, whose claim leases end with the process: the
// second process would claim every call not recorded done.
func TestShutdownLetsSendsFinish(t *testing.T) {
	for _, calls := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d calls", calls), func(t *testing.T) {
			p := fakeportal.New(fakeportal.Config{Burst: -1})
			late := &lateAnswer{portal: p, arrived: make(chan struct{}), release: make(chan struct{})}
			hs := httptest.NewServer(late)
			defer hs.Close()
			p.SetBaseURL(hs.URL)
			cfg := outbox.Config{Webhook: p.WebhookURL(), ClientID: "olbot.shutdown.test", Rate: 100, Burst: 100}
			path := filepath.Join(t.TempDir(), "olbot.db")
			log := slog.New(slog.NewTextHandler(io.Discard, nil))

			store, err := bolt.Open(path, bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i := range calls {
				params, _ := json.Marshal(bitrix24.LeadAddRequest(map[string]string{"NAME": fmt.Sprint("Anna ", i)}).Params)
				key := fmt.Sprintf("%sfakeportal-member-0001:chat%d", engine.KeyPortal, 1770+i)
				c := engine.Call{Portal: "fakeportal-member-0001", Method: bitrix24.MethodLeadAdd, Params: params, Created: time.Now()}
				if err := store.Commit(ctx, engine.Commit{Dialog: engine.Dialog{Key: key, Rev: 1, Updated: time.Now()}, Calls: []engine.Call{c}}); err != nil {
					t.Fatal(err)
				}
			}
			first, err := outbox.New(cfg, outbox.Options{Store: store, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			runCtx, shutdown := context.WithCancel(ctx)
			ran := make(chan struct{})
			go func() { first.Run(runCtx); close(ran) }()
			<-late.arrived // the portal has done the calls; its answer waits
			shutdown()     // as SIGTERM does: Run's context ends first
			close(late.release)
			<-ran
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			first.Drain(dctx)
			cancel()
			if pending, _, err := store.Depth(ctx); err != nil || pending != 0 {
				t.Errorf("after the shutdown: %d calls pending (%v), want every call recorded done", pending, err)
			}
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}

			// the next process claims whatever was not recorded done
			store, err = bolt.Open(path, bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			second, err := outbox.New(cfg, outbox.Options{Store: store, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			second.Flush(fctx)
			cancel()
			if got := len(p.CallsOf(bitrix24.MethodLeadAdd)); got != calls {
				t.Fatalf("the portal got crm.lead.add %d times, want %d (each call once)", got, calls)
			}
		})
	}
}
