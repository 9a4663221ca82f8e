package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// drainConfirm is how long after the run a zero pending gauge must still be
// read before the outbox counts as drained: longer than the delivery loop's
// idle tick (250ms), so the gauge was refreshed after the run's last commit.
const drainConfirm = 300 * time.Millisecond

// pollEvery is how often /metrics is read while waiting for the outbox.
const pollEvery = 50 * time.Millisecond

// Run performs a load run and returns its report. It returns an error only
// when the run could not be set up (bad config, target unreachable, no
// admin token, the fake portal not installed); failed events are in the
// report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := newDriver(&cfg)
	defer d.closeIdle()
	rep := &Report{Mode: cfg.Mode, Target: cfg.Target, RunID: cfg.RunID, Script: cfg.Script.Name, Dialogs: cfg.Dialogs,
		Steps: len(cfg.Script.Steps), Concurrency: cfg.Concurrency, Rate: cfg.Rate}
	if cfg.Events > 0 && cfg.Events < cfg.Dialogs*len(cfg.Script.Steps) {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("--events %d caps each phase below %d dialogs × %d events", cfg.Events, cfg.Dialogs, len(cfg.Script.Steps)))
	}

	if err := d.preflight(ctx); err != nil {
		return nil, err
	}
	baseline := cfg.Baseline && cfg.Mode != ModeNoop && cfg.Mode != ModeBotFramework
	if cfg.Baseline && cfg.Mode == ModeBotFramework {
		rep.Warnings = append(rep.Warnings, "no baseline in botframework mode: a Bot Framework bot has no noop route")
	}
	if cfg.Mode == ModeBotFramework {
		d.warmupPath(ctx, http.MethodGet, "/healthz", "", nil)
	}
	if cfg.Mode == ModeNoop || cfg.Mode == ModeJSON || baseline {
		if err := d.checkAdmin(ctx); err != nil {
			return nil, err
		}
		d.warmup(ctx)
	}

	var portal *fakeportal.Portal
	if cfg.Mode == ModeBitrix24 {
		p, closePortal, err := d.setupPortal(ctx)
		if err != nil {
			return nil, err
		}
		defer closePortal()
		portal = p
	}

	if baseline {
		ph := d.noopPhase(cfg.Mode, portal)
		d.logf("baseline: noop route, %d dialogs × %d events, concurrency %d, flat out", cfg.Dialogs, len(cfg.Script.Steps), cfg.Concurrency)
		m := startCPU(cfg.ServerPID)
		res, _ := d.run(ctx, ph, 0)
		m.stop(&res)
		rep.Baseline = &res
		if ctx.Err() != nil {
			return rep, nil
		}
	}

	var ph phase
	var leads []int
	switch cfg.Mode {
	case ModeNoop:
		ph = d.noopPhase(ModeJSON, nil)
	case ModeJSON:
		ph = d.jsonPhase()
	case ModeBotFramework:
		ph = d.botPhase()
	case ModeBitrix24:
		leads = make([]int, cfg.Dialogs)
		ph = d.bitrixPhase(portal, leads)
	}
	var before metricsText
	var beforeErr error
	if cfg.Mode != ModeNoop && cfg.Mode != ModeBotFramework {
		before, beforeErr = d.scrape(ctx)
	}
	callsBefore := 0
	if portal != nil {
		callsBefore = len(portal.Calls())
	}
	d.logf("run: %s, %d dialogs × %d events, concurrency %d, %s", cfg.Mode, cfg.Dialogs, len(cfg.Script.Steps), cfg.Concurrency, fmtRate(cfg.Rate))
	var res PhaseResult
	var pl played
	m := startCPU(cfg.ServerPID)
	if cfg.Open {
		res, pl = d.runOpen(ctx, ph, cfg.Rate)
	} else {
		res, pl = d.run(ctx, ph, cfg.Rate)
	}
	m.stop(&res)
	rep.Run = res
	if rep.Baseline != nil && rep.Baseline.Throughput > 0 {
		rep.Ratio = res.Throughput / rep.Baseline.Throughput
	}
	if cfg.Mode == ModeNoop || cfg.Mode == ModeBotFramework || ctx.Err() != nil {
		return rep, nil
	}

	var portalDone func(parked int) bool
	if portal != nil {
		portalDone = func(parked int) bool { return countReceived(portal, callsBefore)+parked >= res.PortalCalls }
	}
	d.logf("waiting up to %s for the outbox to drain", cfg.DrainTimeout)
	rep.Outbox = d.drain(ctx, res.Start, res.End, before, beforeErr, portalDone)
	if portal != nil {
		rep.Portal = portalStats(portal, callsBefore, res, pl, d.chatBase(), leads)
		if !rep.Outbox.Drained && rep.Outbox.Pending > 0 {
			rep.Warnings = append(rep.Warnings, "the outbox did not drain in time; if the target runs with the default portal rate limit (olbot serve --rate: 2 calls/s, burst 50), that limit paces it: start it with --rate 1000000,1000000 for a load test")
		}
	}
	return rep, nil
}

func (d *driver) logf(format string, args ...any) {
	if d.cfg.Log != nil {
		fmt.Fprintf(d.cfg.Log, "olbot load: "+format+"\n", args...)
	}
}

// preflight checks that olbot answers at all.
func (d *driver) preflight(ctx context.Context) error {
	a := d.do(ctx, http.MethodGet, "/healthz", "", nil)
	if a.err != nil {
		return fmt.Errorf("olbot is not answering at %s (is `olbot serve` running there?): %w", d.cfg.Target, a.err)
	}
	if a.status != http.StatusOK {
		return fmt.Errorf("%s/healthz answered %d: %s", d.cfg.Target, a.status, snippet(a.body))
	}
	return nil
}

// checkAdmin makes sure /v1/noop exists and the admin token (if any) is right.
func (d *driver) checkAdmin(ctx context.Context) error {
	a := d.do(ctx, http.MethodPost, "/v1/noop", "application/json", []byte("{}"))
	switch {
	case a.err != nil:
		return fmt.Errorf("POST /v1/noop: %w", a.err)
	case a.status == http.StatusUnauthorized:
		return errors.New("the target needs the admin token for /v1 routes: pass --admin-token (or OLBOT_ADMIN_TOKEN)")
	case a.status == http.StatusNotFound || a.status == http.StatusMethodNotAllowed:
		return errors.New("the target has no POST /v1/noop route (an older olbot?): run with --baseline=false")
	case a.status != http.StatusOK:
		return fmt.Errorf("POST /v1/noop answered %d: %s", a.status, snippet(a.body))
	}
	return nil
}

// warmupRounds is how many noop requests each worker sends, unmeasured,
// before the first phase: the connections are open and the server's
// goroutines and buffers are warm when measuring starts.
const warmupRounds = 4

func (d *driver) warmup(ctx context.Context) {
	d.warmupPath(ctx, http.MethodPost, "/v1/noop", "application/json", []byte("{}"))
}

// warmupPath is warmup with another request (a target without /v1/noop).
func (d *driver) warmupPath(ctx context.Context, method, path, ctype string, body []byte) {
	var wg sync.WaitGroup
	for range d.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range warmupRounds {
				if a := d.do(ctx, method, path, ctype, body); a.err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// setupPortal returns the fake portal (cfg.Portal, or one of its own on
// PortalListen), installed into the target with its bot registered.
func (d *driver) setupPortal(ctx context.Context) (*fakeportal.Portal, func(), error) {
	cfg := d.cfg
	p := cfg.Portal
	closer := func() {}
	if p == nil {
		ln, err := net.Listen("tcp", cfg.PortalListen)
		if err != nil {
			return nil, nil, fmt.Errorf("fake portal: %w", err)
		}
		p = fakeportal.New(fakeportal.Config{
			BaseURL:          "http://" + ln.Addr().String(),
			MemberID:         "olbot-load-" + cfg.RunID,
			ApplicationToken: "olbot-load-" + randomHex(12),
			Burst:            -1, // the portal's own limit off: measure olbot, not the fake
		})
		srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		closer = func() {
			// The portal goes away with the tool: uninstall it so that olbot
			// forgets it and drops (logs) calls still pending for it instead
			// of retrying them against a dead address for 24 hours.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			ev := &bitrix24.Event{Name: bitrix24.EventAppUninstall, Auth: p.EventAuth()}
			a := d.do(ctx, http.MethodPost, "/bitrix24/events", "application/x-www-form-urlencoded", []byte(ev.Form().Encode()))
			if a.err != nil || a.status != http.StatusOK {
				d.logf("could not uninstall the fake portal from the target (%v %d %s): olbot will retry its pending calls to %s", a.err, a.status, snippet(a.body), p.Config().BaseURL)
			} else {
				d.logf("uninstalled the fake portal %s from the target", p.Config().MemberID)
			}
			_ = srv.Close()
		}
		pc := p.Config()
		d.logf("fake portal on %s (member %s; token refresh, not needed for runs under an hour: --oauth-url %s --app-client-id %s --app-client-secret %s)",
			pc.BaseURL, pc.MemberID, p.TokenURL(), pc.ClientID, pc.ClientSecret)
	}
	fail := func(err error) (*fakeportal.Portal, func(), error) {
		closer()
		return nil, nil, err
	}
	a := d.do(ctx, http.MethodPost, "/bitrix24/events", "application/x-www-form-urlencoded", []byte(p.InstallEvent().Encode()))
	if a.err != nil {
		return fail(fmt.Errorf("install the fake portal (ONAPPINSTALL): %w", a.err))
	}
	if a.status != http.StatusOK {
		return fail(fmt.Errorf("install the fake portal (ONAPPINSTALL): olbot answered %d: %s", a.status, snippet(a.body)))
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	defer cancel()
	for len(p.Bots()) == 0 {
		if !sleepUntil(wctx, time.Now().Add(pollEvery)) {
			return fail(fmt.Errorf("the fake portal at %s got no imbot.register from olbot within %s: is the target started with --webhook (bitrix24 mode needs local-application mode or no portal at all)?",
				p.Config().BaseURL, cfg.SetupTimeout))
		}
	}
	d.logf("installed into %s/bitrix24/events; bot %d registered", cfg.Target, p.Bots()[0].ID)
	return p, closer, nil
}

func (d *driver) scrape(ctx context.Context) (metricsText, error) {
	a := d.do(ctx, http.MethodGet, "/metrics", "", nil)
	if a.err != nil {
		return metricsText{}, a.err
	}
	if a.status != http.StatusOK {
		return metricsText{}, fmt.Errorf("GET /metrics answered %d", a.status)
	}
	return parseMetrics(string(a.body)), nil
}

const (
	metricOutbox = "olbot_outbox_calls"
	metricLag    = "olbot_outbox_delivery_lag_seconds"
)

// drain polls /metrics until olbot_outbox_calls{state="pending"} is 0 (read
// at least drainConfirm after the run) and portalDone, or DrainTimeout, and
// estimates the delivery lag of the run's calls from the histogram.
// portalDone, when set, is told how many calls were parked during the run
// and says whether the portal has the rest.
func (d *driver) drain(ctx context.Context, phaseStart, runEnd time.Time, before metricsText, beforeErr error, portalDone func(parked int) bool) *Outbox {
	o := &Outbox{}
	if beforeErr != nil {
		o.MetricsError = beforeErr.Error()
		return o
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, d.cfg.DrainTimeout)
	defer cancel()
	var zeroSince time.Time
	var last metricsText
	for {
		m, err := d.scrape(wctx)
		now := time.Now()
		if err == nil {
			last = m
			pending, _ := m.value(metricOutbox, map[string]string{"state": "pending"})
			o.Pending = pending
			o.MaxPending = max(o.MaxPending, pending)
			parkedBefore, _ := before.value(metricOutbox, map[string]string{"state": "parked"})
			parkedNow, _ := m.value(metricOutbox, map[string]string{"state": "parked"})
			if pending == 0 && (portalDone == nil || portalDone(int(max(0, parkedNow-parkedBefore)))) {
				if zeroSince.IsZero() {
					zeroSince = now
				}
				if now.Sub(runEnd) >= drainConfirm {
					o.Drained, o.DrainTime = true, zeroSince.Sub(runEnd)
					break
				}
			} else {
				zeroSince = time.Time{}
			}
		} else if wctx.Err() == nil {
			o.MetricsError = err.Error()
		}
		if !sleepUntil(wctx, now.Add(pollEvery)) {
			break
		}
	}
	o.Waited = time.Since(start)
	if last.series == nil {
		if o.MetricsError == "" {
			o.MetricsError = "no answer from /metrics"
		}
		return o
	}
	o.MetricsError = ""
	o.Parked, _ = last.value(metricOutbox, map[string]string{"state": "parked"})
	lag := HistogramDelta(before.histogram(metricLag), last.histogram(metricLag))
	for _, b := range lag {
		o.LagCount = max(o.LagCount, b.Count) // the +Inf bucket: every observation
	}
	// every call of the run was committed after the phase began and delivered
	// before now: no lag is longer than that
	limit := time.Since(phaseStart).Seconds()
	o.LagP50, o.LagP50Over, _ = HistogramQuantile(0.5, lag, limit)
	o.LagP99, o.LagP99Over, _ = HistogramQuantile(0.99, lag, limit)
	return o
}

// isRESTCall tells the portal calls olbot's outbox makes from token
// refreshes and batch envelopes (whose sub-calls are recorded one by one).
func isRESTCall(c fakeportal.Call) bool {
	return c.Method != bitrix24.MethodBatch && c.Method != "oauth/token"
}

func countReceived(p *fakeportal.Portal, from int) int {
	n := 0
	calls := p.Calls()
	if from > len(calls) {
		return 0
	}
	for _, c := range calls[from:] {
		if isRESTCall(c) && c.OK() {
			n++
		}
	}
	return n
}

// portalStats counts the REST calls the portal received since call index
// from, the run's chats that got session.finish, and the exact portal lag of
// each call: from the answer to the event that queued it to its arrival.
// Calls are matched to events per chat (CHAT_ID, DIALOG_ID chatN, or the
// chat's lead id for crm.lead.*), in order, as the outbox delivers them.
func portalStats(p *fakeportal.Portal, from int, res PhaseResult, pl played, base int, leads []int) *PortalStats {
	cfg := p.Config()
	st := &PortalStats{URL: cfg.BaseURL, MemberID: cfg.MemberID, Expected: res.PortalCalls, ByMethod: map[string]int{}, Chats: len(pl.completed)}
	want := make(map[int]bool, len(pl.completed))
	for _, i := range pl.completed {
		want[base+i] = true
	}
	leadChat := make(map[int]int, len(leads))
	for i, l := range leads {
		if l > 0 {
			leadChat[l] = base + i
		}
	}
	due := map[int][]time.Time{} // by chat: when each expected call's event was answered
	for i, as := range pl.answers {
		for _, a := range as {
			for range a.calls {
				due[base+i] = append(due[base+i], a.at)
			}
		}
	}
	next := map[int]int{}
	var lags []time.Duration
	finished := map[int]bool{}
	calls := p.Calls()
	from = min(from, len(calls))
	for _, c := range calls[from:] {
		if !isRESTCall(c) {
			continue
		}
		st.Received++
		st.ByMethod[c.Method]++
		if !c.OK() {
			st.Failed++
			continue
		}
		if after := c.Time.Sub(res.End); after > st.LastCallAfter {
			st.LastCallAfter = after
		}
		chat := callChat(c, leadChat)
		if c.Method == bitrix24.MethodSessionFinish && want[chat] {
			finished[chat] = true
		}
		if k := next[chat]; k < len(due[chat]) {
			next[chat]++
			lags = append(lags, max(0, c.Time.Sub(due[chat][k])))
		}
	}
	st.Finished = len(finished)
	st.Lag = Summarize(lags)
	return st
}

// callChat is the chat a REST call is about, or 0.
func callChat(c fakeportal.Call, leadChat map[int]int) int {
	if id := c.Int("CHAT_ID"); id > 0 {
		return id
	}
	if d, ok := strings.CutPrefix(c.Str("DIALOG_ID"), "chat"); ok {
		if id, err := strconv.Atoi(d); err == nil {
			return id
		}
	}
	if strings.HasPrefix(c.Method, "crm.lead.") {
		return leadChat[c.Int("ID")]
	}
	return 0
}
