package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// openDialog is one dialog of an open-loop phase: its body builder and the
// next step to send.
type openDialog struct {
	i    int
	body func(step int) ([]byte, error)
	step int
}

// runOpen is the open-loop schedule: the k-th event is due at start + k/rate
// whatever happened to the events before it. At each due time the next
// event goes to a dialog that is ready (its previous event answered),
// opening a new dialog when none is, and is sent on its own goroutine, so a
// slow answer delays nothing else. Latency counts from the due time; an
// event that could not go out on time (no dialog left to open and none
// ready, or Concurrency requests already in flight) waits, and the wait is
// part of its latency and counted as late. Nothing an answer does moves the
// schedule: this is the arrival process of many independent users, which a
// closed loop (a worker waits for its answer before the next send) cannot
// show ("coordinated omission").
func (d *driver) runOpen(ctx context.Context, ph phase, rate float64) (PhaseResult, played) {
	cfg := d.cfg
	steps := len(cfg.Script.Steps)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	maxEvents := cfg.Dialogs * steps
	if cfg.Events > 0 && cfg.Events < maxEvents {
		maxEvents = cfg.Events
	}

	var mu sync.Mutex // guards t
	var t tally
	ready := make(chan *openDialog, cfg.Dialogs)
	slots := make(chan struct{}, cfg.Concurrency)
	// live counts dialogs opened and not yet ended; allEnded is closed
	// when it drops to zero after the last dialog was opened
	var live atomic.Int64
	allEnded := make(chan struct{})
	var endOnce sync.Once
	var opened atomic.Int64
	end := func() {
		if live.Add(-1) == 0 && opened.Load() == int64(cfg.Dialogs) {
			endOnce.Do(func() { close(allEnded) })
		}
	}
	var wg sync.WaitGroup
	stopReason := StopDone

	send := func(od *openDialog, b []byte, sched time.Time) {
		defer wg.Done()
		defer func() { <-slots }()
		sent := time.Now()
		a := d.do(ctx, http.MethodPost, ph.path, ph.ctype, b)
		done := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if late := sent.Sub(sched); late > lateThreshold {
			t.late++
			t.maxLate = max(t.maxLate, late)
		}
		if done.After(t.last) {
			t.last = done
		}
		if a.err != nil && ctx.Err() != nil {
			t.cut++
			end()
			return
		}
		t.sent++
		kind, example, ended, calls := "", "", false, 0
		switch {
		case a.err != nil:
			kind, example = netKind(a.err), a.err.Error()
		case a.status != http.StatusOK:
			kind, example = fmt.Sprintf("HTTP %d", a.status), snippet(a.body)
		default:
			kind, example, ended, calls = ph.check(od.step, a.body)
		}
		if kind != "" {
			t.fail(kind, example)
			t.failed++
			end()
			return
		}
		t.ok++
		t.calls += calls
		if calls > 0 {
			t.answers = append(t.answers, answerAt{dialog: od.i, at: done, calls: calls})
		}
		t.lat = append(t.lat, done.Sub(sched))
		if od.step == steps-1 {
			if !ended {
				t.fail("wrong end", example)
				t.failed++
			} else {
				t.completed++
				t.completedIDs = append(t.completedIDs, od.i)
			}
			end()
			return
		}
		od.step++
		ready <- od // never blocks: the channel holds every dialog
	}

schedule:
	for k := 0; ; k++ {
		if k >= maxEvents {
			if k < cfg.Dialogs*steps {
				stopReason = StopEvents
			}
			break
		}
		sched := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
		if sched.After(deadline) {
			stopReason = StopDuration
			break
		}
		if !sleepUntil(ctx, sched) {
			stopReason = StopInterrupted
			break
		}
		var od *openDialog
		select {
		case od = <-ready:
		default:
			if n := int(opened.Load()); n < cfg.Dialogs {
				body, err := ph.open(n)
				live.Add(1)
				opened.Add(1)
				mu.Lock()
				if err != nil {
					t.fail("client", err.Error())
					t.failed++
					mu.Unlock()
					end()
					continue // this due time is spent; the next event keeps its own
				}
				t.started++
				mu.Unlock()
				od = &openDialog{i: n, body: body}
			} else {
				if live.Load() == 0 {
					break schedule // every dialog has ended
				}
				// every dialog is open: wait for one to be ready (late)
				select {
				case od = <-ready:
				case <-allEnded:
					break schedule
				case <-ctx.Done():
					stopReason = StopInterrupted
					break schedule
				}
			}
		}
		b, err := od.body(od.step)
		if err != nil {
			mu.Lock()
			t.fail("client", err.Error())
			t.failed++
			mu.Unlock()
			end()
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			stopReason = StopInterrupted
			break schedule
		}
		wg.Add(1)
		go send(od, b, sched)
	}
	wg.Wait()
	if ctx.Err() != nil {
		stopReason = StopInterrupted
	}
	// dialogs still waiting for their next event were cut by a cap
	for {
		select {
		case <-ready:
			t.cut++
			continue
		default:
		}
		break
	}
	res := PhaseResult{Name: ph.name, Errors: map[string]int{}, ErrorExamples: map[string]string{}, Stop: stopReason, Rate: rate, Open: true}
	for k, v := range t.errors {
		res.Errors[k] = v
		res.ErrorExamples[k] = t.examples[k]
	}
	res.Sent, res.OK = t.sent, t.ok
	res.DialogsStarted, res.DialogsCompleted, res.DialogsFailed, res.DialogsCut = t.started, t.completed, t.failed, t.cut
	res.PortalCalls, res.Late, res.MaxLate = t.calls, t.late, t.maxLate
	res.Start, res.End = start, start
	if t.last.After(start) {
		res.End = t.last
	}
	res.Duration = res.End.Sub(start)
	if res.Duration > 0 {
		res.Throughput = float64(res.OK) / res.Duration.Seconds()
	}
	res.Latency = Summarize(t.lat)
	pl := played{completed: t.completedIDs, answers: map[int][]answerAt{}}
	for _, a := range t.answers {
		pl.answers[a.dialog] = append(pl.answers[a.dialog], a)
	}
	return res, pl
}
