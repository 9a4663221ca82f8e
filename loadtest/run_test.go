package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/dialogs"
	"github.com/olbot/olbot/fakeportal"
	"github.com/olbot/olbot/funnel"
	"github.com/olbot/olbot/memstore"
	"github.com/olbot/olbot/outbox"
	"github.com/olbot/olbot/retention"
	"github.com/olbot/olbot/scenarios"
	"github.com/olbot/olbot/server"
)

// startServer runs a real olbot on 127.0.0.1:0 with the examples and a
// memory store.
func startServer(t *testing.T, cfg server.Config, ocfg outbox.Config) string {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	store := memstore.New()
	reg := scenarios.NewRegistry("../examples", nil)
	log := slog.New(slog.DiscardHandler)
	metrics := prometheus.NewRegistry()
	proc, err := dialogs.New(dialogs.Options{Store: store, Registry: reg, Logger: log, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.New(ocfg, outbox.Options{Store: store, Health: proc, Locks: proc, Logger: log, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	proc.SetPortal(ob)
	srv, err := server.New(cfg, server.Options{Store: store, Registry: reg, Dialogs: proc, Portals: ob.Portals(), Registrar: ob,
		Funnel: funnel.New(store, reg, log, nil), Eraser: retention.New(store, retention.Config{UninstallGrace: retention.DefaultUninstallGrace}, ob.Portals(), log, nil),
		Workers: []server.Worker{ob}, Metrics: metrics, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + srv.Addr()
}

func getDialog(t *testing.T, base, token, id string) server.DialogView {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/v1/dialogs/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/dialogs/%s: %s", id, resp.Status)
	}
	var v server.DialogView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func noErrors(t *testing.T, name string, p *PhaseResult) {
	t.Helper()
	if p.ErrorCount() != 0 || p.DialogsFailed != 0 {
		t.Errorf("%s: %d errors %v (e.g. %v), %d dialogs failed", name, p.ErrorCount(), p.Errors, p.ErrorExamples, p.DialogsFailed)
	}
}

func TestRunJSON(t *testing.T) {
	const token = "load-test-token"
	base := startServer(t, server.Config{AdminToken: token}, outbox.Config{})
	const dialogs = 20
	rep, err := Run(t.Context(), Config{Target: base, Mode: ModeJSON, Dialogs: dialogs, Concurrency: 4, Baseline: true, AdminToken: token, RunID: "tj"})
	if err != nil {
		t.Fatal(err)
	}
	steps := len(Support().Steps)
	noErrors(t, "run", &rep.Run)
	if rep.Run.Sent != dialogs*steps || rep.Run.OK != dialogs*steps || rep.Run.Latency.N != dialogs*steps {
		t.Errorf("run: sent %d, ok %d, latency samples %d; want %d each", rep.Run.Sent, rep.Run.OK, rep.Run.Latency.N, dialogs*steps)
	}
	if rep.Run.DialogsStarted != dialogs || rep.Run.DialogsCompleted != dialogs || rep.Run.Stop != StopDone {
		t.Errorf("run: %d started, %d completed, stop %q", rep.Run.DialogsStarted, rep.Run.DialogsCompleted, rep.Run.Stop)
	}
	if rep.Baseline == nil {
		t.Fatal("no baseline")
	}
	noErrors(t, "baseline", rep.Baseline)
	if rep.Baseline.OK != dialogs*steps {
		t.Errorf("baseline: %d ok, want %d", rep.Baseline.OK, dialogs*steps)
	}
	if rep.Ratio <= 0 {
		t.Errorf("ratio %g", rep.Ratio)
	}
	if rep.Outbox == nil || !rep.Outbox.Drained || rep.Outbox.MetricsError != "" {
		t.Errorf("outbox: %+v", rep.Outbox)
	}
	if rep.Failed() {
		t.Error("the report says failed")
	}
	// what the server has, independently of the tool's bookkeeping
	for i := range dialogs {
		d := getDialog(t, base, token, DialogID("tj", i))
		if d.State != "thanks" || d.Status != "finished" || d.Fields["name"] != "Anna" || d.Fields["email"] != "anna@example.com" {
			t.Errorf("dialog %d: state %q, status %q, fields %v", i, d.State, d.Status, d.Fields)
		}
	}

	var text, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"noop", "json", fmt.Sprintf("%d completed of %d", dialogs, dialogs), "errors:   none", "outbox:   drained"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Run struct {
			OK               int `json:"ok"`
			DialogsCompleted int `json:"dialogs_completed"`
		} `json:"run"`
		Baseline *struct {
			OK int `json:"ok"`
		} `json:"baseline"`
		Failed bool `json:"failed"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, js.String())
	}
	if back.Run.OK != dialogs*steps || back.Run.DialogsCompleted != dialogs || back.Baseline == nil || back.Baseline.OK != dialogs*steps || back.Failed {
		t.Errorf("JSON report: %+v", back)
	}
}

func TestRunNeedsTheAdminToken(t *testing.T) {
	base := startServer(t, server.Config{AdminToken: "secret"}, outbox.Config{})
	_, err := Run(t.Context(), Config{Target: base, Dialogs: 1, RunID: "tn"})
	if err == nil || !strings.Contains(err.Error(), "--admin-token") {
		t.Fatalf("Run without the token: %v", err)
	}
}

func TestRunBitrix24(t *testing.T) {
	portal, ps := fakeportal.NewServer(fakeportal.Config{Burst: -1})
	defer ps.Close()
	pc := portal.Config()
	base := startServer(t, server.Config{}, outbox.Config{
		OAuthURL: portal.TokenURL(), AppClientID: pc.ClientID, AppClientSecret: pc.ClientSecret, Rate: 1e6, Burst: 1e6,
	})
	const dialogs = 20
	rep, err := Run(t.Context(), Config{Target: base, Mode: ModeBitrix24, Portal: portal, Dialogs: dialogs, Concurrency: 4, Baseline: true, RunID: "tb"})
	if err != nil {
		t.Fatal(err)
	}
	steps := len(Support().Steps)
	noErrors(t, "run", &rep.Run)
	if rep.Run.OK != dialogs*steps || rep.Run.DialogsCompleted != dialogs {
		t.Errorf("run: %d ok of %d, %d dialogs completed", rep.Run.OK, dialogs*steps, rep.Run.DialogsCompleted)
	}
	if rep.Baseline == nil || rep.Baseline.OK != dialogs*steps {
		t.Errorf("baseline: %+v", rep.Baseline)
	}
	if rep.Outbox == nil || !rep.Outbox.Drained {
		t.Fatalf("outbox not drained: %+v", rep.Outbox)
	}
	if rep.Outbox.LagCount < float64(rep.Run.PortalCalls) {
		t.Errorf("delivery lag histogram saw %g deliveries, want at least %d", rep.Outbox.LagCount, rep.Run.PortalCalls)
	}
	p := rep.Portal
	if p == nil {
		t.Fatal("no portal stats")
	}
	if p.Expected == 0 || p.Received != p.Expected || p.Failed != 0 || p.Finished != dialogs || p.Chats != dialogs || p.Lag.N != p.Expected {
		t.Errorf("portal: %+v", p)
	}
	if rep.Failed() {
		t.Error("the report says failed")
	}

	// what the portal has, independently of the tool's bookkeeping: every
	// chat of the run finished once, through olbot's session.finish
	finished := map[int]int{}
	for _, c := range portal.CallsOf(bitrix24.MethodSessionFinish) {
		if c.OK() {
			finished[c.Int("CHAT_ID")]++
		}
	}
	if len(finished) != dialogs {
		t.Errorf("session.finish reached %d chats, want %d", len(finished), dialogs)
	}
	for chat, n := range finished {
		if n != 1 || portal.ChatState(chat) != fakeportal.StateFinished {
			t.Errorf("chat %d: %d session.finish calls, state %q", chat, n, portal.ChatState(chat))
		}
	}
}

func TestRunCapsAndRate(t *testing.T) {
	base := startServer(t, server.Config{}, outbox.Config{})
	t.Run("events cap", func(t *testing.T) {
		rep, err := Run(t.Context(), Config{Target: base, Dialogs: 50, Concurrency: 3, Events: 10, RunID: "tc"})
		if err != nil {
			t.Fatal(err)
		}
		noErrors(t, "run", &rep.Run)
		if rep.Run.Sent != 10 || rep.Run.OK != 10 || rep.Run.Stop != StopEvents || rep.Baseline != nil {
			t.Errorf("sent %d, ok %d, stop %q, baseline %v", rep.Run.Sent, rep.Run.OK, rep.Run.Stop, rep.Baseline)
		}
		if rep.Run.DialogsCompleted+rep.Run.DialogsCut != rep.Run.DialogsStarted {
			t.Errorf("%d started, %d completed, %d cut", rep.Run.DialogsStarted, rep.Run.DialogsCompleted, rep.Run.DialogsCut)
		}
		if rep.Failed() {
			t.Error("a capped run is not a failure")
		}
	})
	t.Run("fixed rate", func(t *testing.T) {
		rep, err := Run(t.Context(), Config{Target: base, Dialogs: 6, Concurrency: 2, Rate: 400, RunID: "tr"})
		if err != nil {
			t.Fatal(err)
		}
		noErrors(t, "run", &rep.Run)
		if rep.Run.OK != 24 || rep.Run.DialogsCompleted != 6 || rep.Run.Stop != StopDone || rep.Run.Rate != 400 {
			t.Errorf("ok %d, completed %d, stop %q, rate %g", rep.Run.OK, rep.Run.DialogsCompleted, rep.Run.Stop, rep.Run.Rate)
		}
		for i := range 6 {
			if d := getDialog(t, base, "", DialogID("tr", i)); d.Status != "finished" {
				t.Errorf("dialog %d: %q", i, d.Status)
			}
		}
	})
	t.Run("duration cap", func(t *testing.T) {
		// 4 events a second for 300ms: the schedule runs out long before the dialogs
		rep, err := Run(t.Context(), Config{Target: base, Dialogs: 10, Concurrency: 1, Rate: 4, Duration: 300 * time.Millisecond, RunID: "td"})
		if err != nil {
			t.Fatal(err)
		}
		noErrors(t, "run", &rep.Run)
		if rep.Run.Stop != StopDuration || rep.Run.Sent == 0 || rep.Run.Sent >= 40 || rep.Run.DialogsCompleted != 0 {
			t.Errorf("sent %d, completed %d, stop %q", rep.Run.Sent, rep.Run.DialogsCompleted, rep.Run.Stop)
		}
	})
	t.Run("noop mode", func(t *testing.T) {
		rep, err := Run(t.Context(), Config{Target: base, Mode: ModeNoop, Dialogs: 10, Concurrency: 2, RunID: "to"})
		if err != nil {
			t.Fatal(err)
		}
		noErrors(t, "run", &rep.Run)
		if rep.Run.OK != 40 || rep.Outbox != nil || rep.Baseline != nil {
			t.Errorf("ok %d, outbox %v, baseline %v", rep.Run.OK, rep.Outbox, rep.Baseline)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		rep, err := Run(ctx, Config{Target: base, Dialogs: 10, RunID: "ti"})
		if err == nil && rep.Run.Sent != 0 {
			t.Errorf("a cancelled run sent %d events", rep.Run.Sent)
		}
	})
}

func TestRunOpenLoop(t *testing.T) {
	base := startServer(t, server.Config{}, outbox.Config{})
	t.Run("every dialog played", func(t *testing.T) {
		rep, err := Run(t.Context(), Config{Target: base, Dialogs: 8, Concurrency: 50, Rate: 400, Open: true, RunID: "oa"})
		if err != nil {
			t.Fatal(err)
		}
		noErrors(t, "run", &rep.Run)
		if rep.Run.OK != 32 || rep.Run.DialogsStarted != 8 || rep.Run.DialogsCompleted != 8 || rep.Run.Stop != StopDone || !rep.Run.Open {
			t.Errorf("ok %d, started %d, completed %d, stop %q, open %v", rep.Run.OK, rep.Run.DialogsStarted, rep.Run.DialogsCompleted, rep.Run.Stop, rep.Run.Open)
		}
		if rep.Run.Latency.N != 32 {
			t.Errorf("%d latencies for 32 events", rep.Run.Latency.N)
		}
		for i := range 8 {
			if d := getDialog(t, base, "", DialogID("oa", i)); d.Status != "finished" {
				t.Errorf("dialog %d: %q", i, d.Status)
			}
		}
		var out strings.Builder
		if err := rep.WriteText(&out); err != nil || !strings.Contains(out.String(), "schedule: open loop, 400 events/s") {
			t.Errorf("text report (%v):\n%s", err, out.String())
		}
	})
	t.Run("events cap", func(t *testing.T) {
		rep, err := Run(t.Context(), Config{Target: base, Dialogs: 50, Concurrency: 50, Rate: 500, Open: true, Events: 10, RunID: "ob"})
		if err != nil {
			t.Fatal(err)
		}
		noErrors(t, "run", &rep.Run)
		if rep.Run.Sent != 10 || rep.Run.OK != 10 || rep.Run.Stop != StopEvents {
			t.Errorf("sent %d, ok %d, stop %q", rep.Run.Sent, rep.Run.OK, rep.Run.Stop)
		}
		if rep.Run.DialogsCompleted+rep.Run.DialogsCut != rep.Run.DialogsStarted {
			t.Errorf("%d started, %d completed, %d cut", rep.Run.DialogsStarted, rep.Run.DialogsCompleted, rep.Run.DialogsCut)
		}
	})
	t.Run("needs a rate", func(t *testing.T) {
		if _, err := Run(t.Context(), Config{Target: base, Open: true}); err == nil || !strings.Contains(err.Error(), "needs a rate") {
			t.Errorf("open loop without a rate: %v", err)
		}
	})
}

func TestFindRate(t *testing.T) {
	base := startServer(t, server.Config{}, outbox.Config{})
	t.Run("every probe within a generous bound", func(t *testing.T) {
		// a p99 bound of a minute holds for any answered event: the search
		// doubles from 50 to the ceiling of 100 and stops there
		s, err := FindRate(t.Context(), Config{Target: base, Concurrency: 50, RunID: "fa"}, time.Minute, 50, 100, 200*time.Millisecond, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s.Best != 100 || len(s.Probes) != 2 || s.Probes[0].Rate != 50 || s.Probes[1].Rate != 100 {
			t.Errorf("best %g, probes %+v", s.Best, s.Probes)
		}
		for _, p := range s.Probes {
			if !p.Pass || p.Errors != 0 || p.Sent < int(p.Rate/5) {
				t.Errorf("probe %+v", p)
			}
		}
	})
	t.Run("no rate meets an impossible bound", func(t *testing.T) {
		s, err := FindRate(t.Context(), Config{Target: base, Concurrency: 50, RunID: "fb"}, time.Nanosecond, 40, 100, 100*time.Millisecond, 0)
		if err != nil {
			t.Fatal(err)
		}
		// 40 fails, then 20, 10, 5, 2.5 below it
		if s.Best != 0 || len(s.Probes) != 5 {
			t.Errorf("best %g, probes %+v", s.Best, s.Probes)
		}
	})
	t.Run("a probe at a low rate runs until it has its events", func(t *testing.T) {
		// 100 ms at 50 events/s would be 5 events; the minimum of 30 makes
		// the probe 600 ms long
		s, err := FindRate(t.Context(), Config{Target: base, Concurrency: 50, RunID: "fc"}, time.Minute, 50, 50, 100*time.Millisecond, 30)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Probes) != 1 || s.Probes[0].Sent < 30 || !s.Probes[0].Pass {
			t.Errorf("probes %+v, want one passing probe of at least 30 events", s.Probes)
		}
	})
	t.Run("bad bounds", func(t *testing.T) {
		if _, err := FindRate(t.Context(), Config{Target: base}, time.Millisecond, 100, 50, time.Second, 0); err == nil {
			t.Error("a ceiling below the start was accepted")
		}
	})
}
