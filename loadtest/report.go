package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// PhaseResult is one measured pass.
type PhaseResult struct {
	Name          string            // noop, json or bitrix24
	Rate          float64           // scheduled events per second; 0 = flat out
	Open          bool              // the rate was an open-loop arrival schedule (Config.Open)
	Sent          int               // events that got an answer or failed (not those cut by a cap)
	OK            int               // events answered as expected
	Errors        map[string]int    // by kind: "HTTP 503", "network", "timeout", "outcome ignored", "wrong end", …
	ErrorExamples map[string]string // the first message of each kind
	Duration      time.Duration     // from the phase's start to its last answer
	Throughput    float64           // OK events per second
	Latency       Latency           // of the OK events; at a fixed rate, from their scheduled start
	Late          int               // rate mode: events sent more than 5ms after their scheduled start
	MaxLate       time.Duration
	Stop          string    // why the phase ended: StopDone, StopDuration, StopEvents, StopInterrupted
	Start, End    time.Time // the phase's start and its last answer

	DialogsStarted   int
	DialogsCompleted int // every event answered as expected and (json) the end state reached
	DialogsFailed    int // an event failed or the end was wrong
	DialogsCut       int // stopped by a cap or an interruption
	PortalCalls      int // bitrix24: portal calls the server said it queued

	// ToolCPU is the CPU the load tool used during the phase (all of it:
	// sending, checking answers, the fake portal in bitrix24 mode);
	// ServerCPU the server's (Config.ServerPID), known when it could be read.
	ToolCPU        time.Duration
	ServerCPU      time.Duration
	ServerCPUKnown bool
}

// ErrorCount is the number of failed events.
func (p PhaseResult) ErrorCount() int {
	n := 0
	for _, v := range p.Errors {
		n += v
	}
	return n
}

// Outbox is what happened to the portal calls after the run.
type Outbox struct {
	Drained      bool          // pending reached 0 (and, bitrix24, the portal got every call) within the wait
	DrainTime    time.Duration // from the run's last answer until then
	Waited       time.Duration // how long the tool watched
	Pending      float64       // olbot_outbox_calls{state="pending"} at the end
	Parked       float64       // olbot_outbox_calls{state="parked"} at the end (dead letters; whole server)
	MaxPending   float64       // highest pending seen while waiting
	LagCount     float64       // deliveries observed by olbot_outbox_delivery_lag_seconds during the run
	LagP50       float64       // seconds, estimated from the histogram buckets
	LagP99       float64
	LagP50Over   bool // the estimate is the highest finite bucket bound: "more than"
	LagP99Over   bool
	MetricsError string // why /metrics could not be read, if it could not
}

// PortalStats is what the fake portal received in bitrix24 mode.
type PortalStats struct {
	URL           string
	MemberID      string
	Expected      int            // calls the server said it queued for the run
	Received      int            // REST calls received (sub-calls of a batch counted one by one)
	Failed        int            // of them answered with an error
	ByMethod      map[string]int // received, by method
	Finished      int            // run chats that got a successful session.finish
	Chats         int            // chats that should have (dialogs completed)
	LastCallAfter time.Duration  // the last call's arrival after the run's last answer
	// Lag is exact, per call: from the answer to the event that queued it to
	// the portal receiving it (0 when the call beat the answer).
	Lag Latency
}

// Report is a whole run.
type Report struct {
	Mode        Mode
	Target      string
	RunID       string
	Script      string
	Dialogs     int
	Steps       int
	Concurrency int
	Rate        float64
	Baseline    *PhaseResult
	Run         PhaseResult
	Ratio       float64 // Run.Throughput / Baseline.Throughput; 0 without a baseline
	Outbox      *Outbox
	Portal      *PortalStats
	Warnings    []string
}

// Failed reports whether any event failed or any dialog that ran to its end
// did not reach it (cut dialogs and an undrained outbox do not count).
func (r *Report) Failed() bool {
	if r.Run.ErrorCount() > 0 || r.Run.DialogsFailed > 0 {
		return true
	}
	if r.Baseline != nil && r.Baseline.ErrorCount() > 0 {
		return true
	}
	return r.Portal != nil && r.Outbox != nil && r.Outbox.Drained && r.Portal.Finished < r.Portal.Chats
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// jsonPhase is PhaseResult on the wire: durations in ms or s.
type jsonPhaseOut struct {
	Name             string            `json:"name"`
	Rate             float64           `json:"rate_per_s"`
	Open             bool              `json:"open_loop,omitempty"`
	Sent             int               `json:"sent"`
	OK               int               `json:"ok"`
	Errors           map[string]int    `json:"errors"`
	ErrorExamples    map[string]string `json:"error_examples,omitempty"`
	DurationS        float64           `json:"duration_s"`
	Throughput       float64           `json:"throughput_per_s"`
	Latency          latencyOut        `json:"latency_ms"`
	Late             int               `json:"late"`
	MaxLateMS        float64           `json:"max_late_ms"`
	Stop             string            `json:"stop"`
	DialogsStarted   int               `json:"dialogs_started"`
	DialogsCompleted int               `json:"dialogs_completed"`
	DialogsFailed    int               `json:"dialogs_failed"`
	DialogsCut       int               `json:"dialogs_cut"`
	PortalCalls      int               `json:"portal_calls_queued,omitempty"`
	ToolCPUUS        float64           `json:"tool_cpu_us_per_event"`
	ServerCPUUS      *float64          `json:"server_cpu_us_per_event,omitempty"`
}

func (p *PhaseResult) wire() *jsonPhaseOut {
	if p == nil {
		return nil
	}
	out := &jsonPhaseOut{
		Name: p.Name, Rate: p.Rate, Open: p.Open, Sent: p.Sent, OK: p.OK, Errors: p.Errors, ErrorExamples: p.ErrorExamples,
		DurationS: round(p.Duration.Seconds(), 4), Throughput: round(p.Throughput, 1),
		Latency: latencyWire(p.Latency),
		Late:    p.Late, MaxLateMS: ms(p.MaxLate), Stop: p.Stop,
		DialogsStarted: p.DialogsStarted, DialogsCompleted: p.DialogsCompleted, DialogsFailed: p.DialogsFailed, DialogsCut: p.DialogsCut,
		PortalCalls: p.PortalCalls, ToolCPUUS: round(perEvent(p.ToolCPU, p), 1),
	}
	if p.ServerCPUKnown {
		v := round(perEvent(p.ServerCPU, p), 1)
		out.ServerCPUUS = &v
	}
	return out
}

// latencyOut is Latency on the wire, in milliseconds.
type latencyOut struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

func latencyWire(l Latency) latencyOut {
	return latencyOut{N: l.N, Mean: ms(l.Mean), P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max)}
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	type outboxOut struct {
		Drained      bool     `json:"drained"`
		DrainS       float64  `json:"drain_s"`
		WaitedS      float64  `json:"waited_s"`
		Pending      float64  `json:"pending"`
		MaxPending   float64  `json:"max_pending"`
		Parked       float64  `json:"parked"`
		LagCount     float64  `json:"lag_count"`
		LagP50S      *float64 `json:"lag_p50_s,omitempty"`
		LagP99S      *float64 `json:"lag_p99_s,omitempty"`
		LagP50Over   bool     `json:"lag_p50_over,omitempty"`
		LagP99Over   bool     `json:"lag_p99_over,omitempty"`
		MetricsError string   `json:"metrics_error,omitempty"`
	}
	type portalOut struct {
		URL            string         `json:"url"`
		MemberID       string         `json:"member_id"`
		Expected       int            `json:"expected"`
		Received       int            `json:"received"`
		Failed         int            `json:"failed"`
		ByMethod       map[string]int `json:"by_method"`
		Finished       int            `json:"finished"`
		Chats          int            `json:"chats"`
		LastCallAfterS float64        `json:"last_call_after_s"`
		LagMS          latencyOut     `json:"lag_ms"`
	}
	out := struct {
		Mode        Mode          `json:"mode"`
		Target      string        `json:"target"`
		RunID       string        `json:"run_id"`
		Script      string        `json:"script"`
		Dialogs     int           `json:"dialogs"`
		Steps       int           `json:"steps"`
		Concurrency int           `json:"concurrency"`
		Rate        float64       `json:"rate_per_s"`
		Failed      bool          `json:"failed"`
		Baseline    *jsonPhaseOut `json:"baseline,omitempty"`
		Run         *jsonPhaseOut `json:"run"`
		Ratio       *float64      `json:"ratio_to_noop,omitempty"`
		Outbox      *outboxOut    `json:"outbox,omitempty"`
		Portal      *portalOut    `json:"portal,omitempty"`
		Warnings    []string      `json:"warnings,omitempty"`
	}{
		Mode: r.Mode, Target: r.Target, RunID: r.RunID, Script: r.Script, Dialogs: r.Dialogs, Steps: r.Steps,
		Concurrency: r.Concurrency, Rate: r.Rate, Failed: r.Failed(), Baseline: r.Baseline.wire(), Run: r.Run.wire(),
		Warnings: r.Warnings,
	}
	if r.Baseline != nil {
		v := round(r.Ratio, 4)
		out.Ratio = &v
	}
	if o := r.Outbox; o != nil {
		ob := &outboxOut{Drained: o.Drained, DrainS: round(o.DrainTime.Seconds(), 3), WaitedS: round(o.Waited.Seconds(), 3),
			Pending: o.Pending, MaxPending: o.MaxPending, Parked: o.Parked, LagCount: o.LagCount, MetricsError: o.MetricsError}
		if o.LagCount > 0 {
			p50, p99 := round(o.LagP50, 6), round(o.LagP99, 6)
			ob.LagP50S, ob.LagP99S, ob.LagP50Over, ob.LagP99Over = &p50, &p99, o.LagP50Over, o.LagP99Over
		}
		out.Outbox = ob
	}
	if p := r.Portal; p != nil {
		out.Portal = &portalOut{URL: p.URL, MemberID: p.MemberID, Expected: p.Expected, Received: p.Received, Failed: p.Failed,
			ByMethod: p.ByMethod, Finished: p.Finished, Chats: p.Chats, LastCallAfterS: round(p.LastCallAfter.Seconds(), 3), LagMS: latencyWire(p.Lag)}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func fmtSeconds(v float64, over bool) string {
	s := fmtDur(time.Duration(v * float64(time.Second)))
	if over {
		return "> " + s
	}
	return "≈ " + s
}

func fmtRate(r float64) string {
	if r <= 0 {
		return "flat out"
	}
	return fmt.Sprintf("%g events/s", r)
}

// WriteText writes the report as a small aligned table and a few lines.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "olbot load: %s → %s, script %s, %d dialogs × %d events, concurrency %d, %s (run %s)\n\n",
		r.Mode, r.Target, r.Script, r.Dialogs, r.Steps, r.Concurrency, fmtRate(r.Rate), r.RunID)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tevents\tok\terrors\tduration\tevents/s\tp50\tp90\tp99\tmax\tvs noop\t")
	row := func(p *PhaseResult, ratio string) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", p.Name, p.Sent, p.OK, p.ErrorCount(), fmtDur(p.Duration),
			p.Throughput, fmtDur(p.Latency.P50), fmtDur(p.Latency.P90), fmtDur(p.Latency.P99), fmtDur(p.Latency.Max), ratio)
	}
	if r.Baseline != nil {
		row(r.Baseline, "1.00×")
	}
	ratio := "-"
	if r.Baseline != nil && r.Baseline.Throughput > 0 {
		ratio = fmt.Sprintf("%.2f×", r.Ratio)
	}
	row(&r.Run, ratio)
	_ = tw.Flush()
	b.WriteString("\n")

	p := &r.Run
	fmt.Fprintf(&b, "dialogs:  %d completed of %d started", p.DialogsCompleted, p.DialogsStarted)
	if p.DialogsFailed > 0 {
		fmt.Fprintf(&b, ", %d failed", p.DialogsFailed)
	}
	if p.DialogsCut > 0 {
		fmt.Fprintf(&b, ", %d cut short", p.DialogsCut)
	}
	fmt.Fprintf(&b, " (stop: %s)\n", p.Stop)
	writeErrors(&b, "errors:  ", p)
	cpu := func(p *PhaseResult) string {
		s := fmt.Sprintf("load tool %.1f µs", perEvent(p.ToolCPU, p))
		if p.ServerCPUKnown {
			s = fmt.Sprintf("server %.1f µs, %s", perEvent(p.ServerCPU, p), s)
		}
		return s
	}
	fmt.Fprintf(&b, "cpu:      per event: %s", cpu(p))
	if r.Baseline != nil {
		fmt.Fprintf(&b, " (noop: %s)", cpu(r.Baseline))
	}
	b.WriteString("\n")
	if r.Baseline != nil && r.Baseline.ErrorCount() > 0 {
		writeErrors(&b, "noop errors:", r.Baseline)
	}
	if p.Rate > 0 && p.Open {
		fmt.Fprintf(&b, "schedule: open loop, %s, each event on its own goroutine (at most %d in flight); latency counts from each event's due time; %d of %d events went out >%s late (max %s)\n",
			fmtRate(p.Rate), r.Concurrency, p.Late, p.Sent, lateThreshold, fmtDur(p.MaxLate))
	} else if p.Rate > 0 {
		fmt.Fprintf(&b, "schedule: %s; latency counts from each event's scheduled start; %d of %d events went out >%s late (max %s)\n",
			fmtRate(p.Rate), p.Late, p.Sent, lateThreshold, fmtDur(p.MaxLate))
		if r.Baseline != nil {
			b.WriteString("          at a fixed rate, \"vs noop\" is the offered load's share of the noop ceiling\n")
		}
	}
	if o := r.Outbox; o != nil {
		switch {
		case o.MetricsError != "":
			fmt.Fprintf(&b, "outbox:   could not read /metrics: %s\n", o.MetricsError)
		case o.Drained:
			fmt.Fprintf(&b, "outbox:   drained %s after the last event (pending 0, parked %g)", fmtDur(o.DrainTime), o.Parked)
		default:
			fmt.Fprintf(&b, "outbox:   NOT drained after waiting %s: %g calls pending (max %g), parked %g", fmtDur(o.Waited), o.Pending, o.MaxPending, o.Parked)
		}
		if o.MetricsError == "" {
			if o.LagCount > 0 {
				fmt.Fprintf(&b, "; delivery lag p50 %s, p99 %s (%g calls)\n", fmtSeconds(o.LagP50, o.LagP50Over), fmtSeconds(o.LagP99, o.LagP99Over), o.LagCount)
			} else {
				b.WriteString("; no portal deliveries during the run\n")
			}
		}
	}
	if pt := r.Portal; pt != nil {
		fmt.Fprintf(&b, "portal:   %d REST calls received of %d expected", pt.Received, pt.Expected)
		if pt.Failed > 0 {
			fmt.Fprintf(&b, " (%d failed)", pt.Failed)
		}
		fmt.Fprintf(&b, ", session.finish for %d of %d chats, last call +%s after the last event\n", pt.Finished, pt.Chats, fmtDur(pt.LastCallAfter))
		if pt.Lag.N > 0 {
			fmt.Fprintf(&b, "          event answered → portal received (exact, %d calls): p50 %s, p90 %s, p99 %s, max %s\n",
				pt.Lag.N, fmtDur(pt.Lag.P50), fmtDur(pt.Lag.P90), fmtDur(pt.Lag.P99), fmtDur(pt.Lag.Max))
		}
		if len(pt.ByMethod) > 0 {
			b.WriteString("          ")
			for i, m := range slices.Sorted(maps.Keys(pt.ByMethod)) {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s %d", m, pt.ByMethod[m])
			}
			b.WriteString("\n")
		}
	}
	for _, wr := range r.Warnings {
		fmt.Fprintf(&b, "warning:  %s\n", wr)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeErrors(b *strings.Builder, label string, p *PhaseResult) {
	if p.ErrorCount() == 0 {
		if label == "errors:  " {
			fmt.Fprintf(b, "%s none\n", label)
		}
		return
	}
	fmt.Fprintf(b, "%s", label)
	for i, k := range slices.Sorted(maps.Keys(p.Errors)) {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(b, " %s: %d", k, p.Errors[k])
		if ex := p.ErrorExamples[k]; ex != "" {
			fmt.Fprintf(b, " (e.g. %s)", ex)
		}
	}
	b.WriteString("\n")
}
