package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/olbot/olbot/fakeportal"
)

// lateThreshold is how far behind its scheduled start an event may go out
// before it counts as late (rate mode): more than timer jitter, so late
// events mean the workers (or the server) could not keep up.
const lateThreshold = 5 * time.Millisecond

// driver sends a run's requests.
type driver struct {
	cfg    *Config
	client *http.Client
	raw    *rawClient // plain http targets: the requests go through it, not client
}

func newDriver(cfg *Config) *driver {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: loopbackOnly}
	tr := &http.Transport{
		Proxy:               nil, // never through a proxy: loopback only
		DialContext:         dialer.DialContext,
		MaxIdleConns:        cfg.Concurrency + 16,
		MaxIdleConnsPerHost: cfg.Concurrency + 16,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		// A form event is ~4.2 KB: with the default 4 KB buffer its
		// headers and body go out in two writes (two syscalls), which
		// the tool pays on the cores it shares with the server.
		WriteBufferSize: 16 << 10,
	}
	return &driver{cfg: cfg, client: &http.Client{Transport: tr}, raw: newRawClient(cfg.Target, cfg.Timeout, dialer)}
}

// closeIdle closes the idle connections of the run.
func (d *driver) closeIdle() {
	d.client.CloseIdleConnections()
	if d.raw != nil {
		d.raw.closeIdle()
	}
}

// loopbackOnly refuses, at dial time, any address that is not loopback
// (whatever a host name resolved to).
func loopbackOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("loadtest: refusing to connect to %s: not a loopback address", address)
	}
	return nil
}

// answer is one HTTP exchange.
type answer struct {
	status int
	body   []byte
	err    error
}

func (d *driver) do(ctx context.Context, method, path, ctype string, body []byte) answer {
	auth := ""
	if d.cfg.AdminToken != "" && strings.HasPrefix(path, "/v1/") {
		auth = "Bearer " + d.cfg.AdminToken
	}
	if d.raw != nil {
		return d.raw.do(ctx, method, path, ctype, auth, body)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.cfg.Target+path, rd)
	if err != nil {
		return answer{err: err}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return answer{status: resp.StatusCode, body: b, err: err}
}

// phase is one measured pass: the noop baseline or the real run.
type phase struct {
	name  string // noop, json, bitrix24
	path  string
	ctype string
	// open returns dialog i's body builder; check judges one answer (step
	// index, body) and reports an error kind and example, whether the
	// dialog reached its end (last step), and the portal calls it queued.
	open  func(i int) (func(step int) ([]byte, error), error)
	check func(step int, body []byte) (kind, example string, ended bool, calls int)
}

// Stop reasons.
const (
	StopDone        = "all dialogs played"
	StopDuration    = "duration cap"
	StopEvents      = "events cap"
	StopInterrupted = "interrupted"
)

// tally is one worker's results, merged at the end of a phase.
type tally struct {
	lat          []time.Duration
	sent, ok     int
	errors       map[string]int
	examples     map[string]string
	started      int
	completed    int
	failed       int
	cut          int
	calls        int
	late         int
	maxLate      time.Duration
	last         time.Time
	completedIDs []int      // dialogs that reached their end
	answers      []answerAt // answers that queued portal calls, in order per dialog
}

func (t *tally) fail(kind, example string) {
	if t.errors == nil {
		t.errors, t.examples = map[string]int{}, map[string]string{}
	}
	t.errors[kind]++
	if _, ok := t.examples[kind]; !ok {
		t.examples[kind] = example
	}
}

// answerAt is when an event of dialog was answered and how many portal
// calls it queued.
type answerAt struct {
	dialog int
	at     time.Time
	calls  int
}

// played is what a phase leaves for the checks after it.
type played struct {
	completed []int              // dialogs that reached their end
	answers   map[int][]answerAt // by dialog, in order: the answers that queued portal calls
}

// pacer hands out scheduled start times start + i/rate to all workers.
type pacer struct {
	start time.Time
	rate  float64
	n     atomic.Int64
}

func (p *pacer) next() time.Time {
	i := p.n.Add(1) - 1
	return p.start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
}

// sleepUntil waits until t or ctx's end; false when ctx ended.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// run plays cfg.Dialogs dialogs of the script through ph, Concurrency at a
// time, and returns the phase's result and the ids of the dialogs whose
// every event was answered as expected.
func (d *driver) run(ctx context.Context, ph phase, rate float64) (PhaseResult, played) {
	cfg := d.cfg
	steps := len(cfg.Script.Steps)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var nextDialog atomic.Int64
	var budget atomic.Int64
	budget.Store(int64(cfg.Events))
	var pc *pacer
	if rate > 0 {
		pc = &pacer{start: start, rate: rate}
	}
	var stopOnce sync.Once
	stopReason := StopDone
	var stopped atomic.Bool
	stop := func(why string) {
		stopOnce.Do(func() { stopReason = why; stopped.Store(true) })
	}
	tallies := make([]tally, cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func(t *tally) {
			defer wg.Done()
			for !stopped.Load() {
				i := int(nextDialog.Add(1) - 1)
				if i >= cfg.Dialogs {
					return
				}
				d.playDialog(ctx, ph, i, steps, deadline, pc, &budget, stop, t)
			}
		}(&tallies[w])
	}
	wg.Wait()
	if ctx.Err() != nil {
		stop(StopInterrupted)
	}
	res := PhaseResult{Name: ph.name, Errors: map[string]int{}, ErrorExamples: map[string]string{}, Stop: stopReason, Rate: rate}
	var lat []time.Duration
	pl := played{answers: map[int][]answerAt{}}
	end := start
	for _, t := range tallies {
		lat = append(lat, t.lat...)
		res.Sent += t.sent
		res.OK += t.ok
		for k, v := range t.errors {
			res.Errors[k] += v
			if _, ok := res.ErrorExamples[k]; !ok {
				res.ErrorExamples[k] = t.examples[k]
			}
		}
		res.DialogsStarted += t.started
		res.DialogsCompleted += t.completed
		res.DialogsFailed += t.failed
		res.DialogsCut += t.cut
		res.PortalCalls += t.calls
		res.Late += t.late
		res.MaxLate = max(res.MaxLate, t.maxLate)
		if t.last.After(end) {
			end = t.last
		}
		pl.completed = append(pl.completed, t.completedIDs...)
		for _, a := range t.answers {
			pl.answers[a.dialog] = append(pl.answers[a.dialog], a)
		}
	}
	res.Start, res.End = start, end
	res.Duration = end.Sub(start)
	if res.Duration > 0 {
		res.Throughput = float64(res.OK) / res.Duration.Seconds()
	}
	res.Latency = Summarize(lat)
	return res, pl
}

// playDialog sends dialog i's events one after another.
func (d *driver) playDialog(ctx context.Context, ph phase, i, steps int, deadline time.Time, pc *pacer, budget *atomic.Int64, stop func(string), t *tally) {
	body, err := ph.open(i)
	if err != nil {
		t.fail("client", err.Error())
		t.failed++
		return
	}
	t.started++
	for s := range steps {
		if ctx.Err() != nil {
			stop(StopInterrupted)
			t.cut++
			return
		}
		if d.cfg.Events > 0 && budget.Add(-1) < 0 {
			stop(StopEvents)
			t.cut++
			return
		}
		// the body is built before the wait: building it (a fake-portal
		// event takes the portal's lock) is the client's cost, not the server's
		b, err := body(s)
		if err != nil {
			t.fail("client", err.Error())
			t.failed++
			return
		}
		var sched time.Time
		if pc != nil {
			sched = pc.next()
			if sched.After(deadline) {
				stop(StopDuration)
				t.cut++
				return
			}
			if !sleepUntil(ctx, sched) {
				stop(StopInterrupted)
				t.cut++
				return
			}
		} else if time.Now().After(deadline) {
			stop(StopDuration)
			t.cut++
			return
		}
		sent := time.Now()
		if pc == nil {
			sched = sent
		} else if late := sent.Sub(sched); late > lateThreshold {
			t.late++
			t.maxLate = max(t.maxLate, late)
		}
		a := d.do(ctx, http.MethodPost, ph.path, ph.ctype, b)
		done := time.Now()
		t.last = done
		if a.err != nil && ctx.Err() != nil {
			// the run was interrupted: this request was cut, not failed
			stop(StopInterrupted)
			t.cut++
			return
		}
		t.sent++
		kind, example := "", ""
		ended, calls := false, 0
		switch {
		case a.err != nil:
			kind, example = netKind(a.err), a.err.Error()
		case a.status != http.StatusOK:
			kind, example = fmt.Sprintf("HTTP %d", a.status), snippet(a.body)
		default:
			kind, example, ended, calls = ph.check(s, a.body)
		}
		if kind != "" {
			t.fail(kind, example)
			t.failed++
			return
		}
		t.ok++
		t.calls += calls
		if calls > 0 {
			t.answers = append(t.answers, answerAt{dialog: i, at: done, calls: calls})
		}
		t.lat = append(t.lat, done.Sub(sched))
		if s == steps-1 {
			if !ended {
				t.fail("wrong end", example)
				t.failed++
				return
			}
			t.completed++
			t.completedIDs = append(t.completedIDs, i)
		}
	}
}

func netKind(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "network"
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// noopPhase posts the bodies of mode to /v1/noop.
func (d *driver) noopPhase(mode Mode, portal *fakeportal.Portal) phase {
	cfg := d.cfg
	ph := phase{name: string(ModeNoop), path: "/v1/noop", ctype: "application/json"}
	ph.check = func(step int, body []byte) (string, string, bool, int) { return "", "", true, 0 }
	if mode == ModeBitrix24 && portal != nil {
		// the same form bodies as the real run, built once from a spare chat
		chat := newChat(portal, cfg.Line, d.chatBase()+cfg.Dialogs+1, cfg.Script.Client)
		forms := make([][]byte, len(cfg.Script.Steps))
		for s, st := range cfg.Script.Steps {
			forms[s] = formBody(chat, st)
		}
		ph.ctype = "application/x-www-form-urlencoded"
		ph.open = func(int) (func(int) ([]byte, error), error) {
			return func(s int) ([]byte, error) { return forms[s], nil }, nil
		}
		return ph
	}
	ph.open = func(i int) (func(int) ([]byte, error), error) {
		id := fmt.Sprintf("noop-%s-%d", cfg.RunID, i)
		return func(s int) ([]byte, error) {
			return jsonBody(id, cfg.Line, cfg.Scenario, cfg.Script.Client, cfg.Script.Steps[s])
		}, nil
	}
	return ph
}

// DialogID is the /v1/events dialog id of dialog i of a run (its key is api:<id>).
func DialogID(runID string, i int) string { return fmt.Sprintf("load-%s-%d", runID, i) }

// jsonPhase plays the script through POST /v1/events.
func (d *driver) jsonPhase() phase {
	cfg := d.cfg
	last := len(cfg.Script.Steps) - 1
	return phase{
		name: string(ModeJSON), path: "/v1/events", ctype: "application/json",
		open: func(i int) (func(int) ([]byte, error), error) {
			id := DialogID(cfg.RunID, i)
			return func(s int) ([]byte, error) {
				return jsonBody(id, cfg.Line, cfg.Scenario, cfg.Script.Client, cfg.Script.Steps[s])
			}, nil
		},
		check: func(step int, body []byte) (string, string, bool, int) {
			// Only what is checked is decoded (not the actions, times and
			// fields), in one pass where it can be (decodeJSONAnswer).
			r, err := decodeJSONAnswer(body)
			if err != nil {
				return "bad answer", snippet(body), false, 0
			}
			if r.Outcome != "applied" {
				return "outcome " + r.Outcome, r.Reason, false, 0
			}
			if step == last && (r.Dialog.State != cfg.Script.EndState || r.Dialog.Status != cfg.Script.EndStatus) {
				return "", fmt.Sprintf("dialog %s ended in state %q, status %q", r.Dialog.Key, r.Dialog.State, r.Dialog.Status), false, 0
			}
			return "", "", true, 0
		},
	}
}

// bitrixAnswer is what POST /bitrix24/events answers.
type bitrixAnswer struct {
	OK      bool   `json:"ok"`
	Outcome string `json:"outcome"`
	Calls   int    `json:"calls"`
	Reason  string `json:"reason"`
	Ignored string `json:"ignored"`
}

// chatBase is the first chat id of the run's portal chats, distinct per run
// so that runs against one portal never share a dialog.
func (d *driver) chatBase() int {
	h := 0
	for _, c := range d.cfg.RunID {
		h = (h*31 + int(c)) % 9000
	}
	return (1 + h) * 100000
}

// bitrixPhase plays the script through POST /bitrix24/events, with chats
// of the fake portal.
// leads[i] gets dialog i's CRM lead id (each written by the one worker
// playing that dialog, read after the phase).
func (d *driver) bitrixPhase(portal *fakeportal.Portal, leads []int) phase {
	cfg := d.cfg
	base := d.chatBase()
	return phase{
		name: string(ModeBitrix24), path: "/bitrix24/events", ctype: "application/x-www-form-urlencoded",
		open: func(i int) (func(int) ([]byte, error), error) {
			chat := newChat(portal, cfg.Line, base+i, cfg.Script.Client)
			leads[i] = chat.LeadID
			return func(s int) ([]byte, error) { return formBody(chat, cfg.Script.Steps[s]), nil }, nil
		},
		check: func(step int, body []byte) (string, string, bool, int) {
			var r bitrixAnswer
			if err := json.Unmarshal(body, &r); err != nil || !r.OK {
				return "bad answer", snippet(body), false, 0
			}
			if r.Ignored != "" {
				return "outcome ignored", r.Ignored, false, 0
			}
			if r.Outcome != "applied" {
				return "outcome " + r.Outcome, r.Reason, false, r.Calls
			}
			return "", "", true, r.Calls
		},
	}
}
