package loadtest

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Probe is one open-loop run of a rate search.
type Probe struct {
	Rate   float64
	Sent   int
	Errors int
	Late   int
	P50    time.Duration
	P99    time.Duration
	Pass   bool // no errors, every due event sent, and p99 within the limit
}

// RateSearch is the outcome of FindRate.
type RateSearch struct {
	Limit  time.Duration // the p99 bound
	Best   float64       // the highest passing rate probed; 0 if none passed
	Probes []Probe       // in the order they ran
}

// FindRate looks for the highest open-loop rate (events/s) at which the
// p99 latency stays within limit, with no failed event: it probes from
// start, doubling while probes pass (up to ceiling), then halves the gap
// between the highest pass and the lowest failure until it is within 5%.
// Each probe is a fresh open-loop run of about probe long, with new dialogs
// (so it measures the same kind of traffic every time) and no baseline;
// cfg's Target, Mode, Concurrency (the cap on requests in flight), Script
// and the rest are used as given. A probe at a low rate runs longer, until
// it has sent at least minEvents (0: no minimum): the p99 of a few hundred
// events is their third or fourth worst, so one slow fsync on a shared disk
// would fail a rate that holds.
func FindRate(ctx context.Context, cfg Config, limit time.Duration, start, ceiling float64, probe time.Duration, minEvents int) (*RateSearch, error) {
	if limit <= 0 || start <= 0 || ceiling < start || probe <= 0 || minEvents < 0 {
		return nil, fmt.Errorf("rate search: want a positive p99 limit, 0 < start ≤ ceiling, a positive probe length and a minimum of events not below 0")
	}
	cfg.defaults()
	steps := len(cfg.Script.Steps)
	runID := cfg.RunID
	s := &RateSearch{Limit: limit}
	try := func(rate float64) (bool, error) {
		c := cfg
		c.Open, c.Rate, c.Baseline, c.Log = true, rate, false, nil
		length := probe
		if need := time.Duration(float64(minEvents) / rate * float64(time.Second)); need > length {
			length = need.Round(time.Millisecond)
		}
		c.Duration = length
		c.Dialogs = int(math.Ceil(rate*length.Seconds()/float64(steps))) + 1
		c.Events = 0
		c.RunID = fmt.Sprintf("%s-%d", runID, len(s.Probes))
		rep, err := Run(ctx, c)
		if err != nil {
			return false, err
		}
		r := rep.Run
		due := int(rate * length.Seconds())
		p := Probe{Rate: rate, Sent: r.Sent, Errors: r.ErrorCount(), Late: r.Late, P50: r.Latency.P50, P99: r.Latency.P99}
		p.Pass = p.Errors == 0 && r.Sent >= due && p.P99 <= limit
		s.Probes = append(s.Probes, p)
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "probe %.0f events/s: p50 %s, p99 %s, %d sent, %d errors, %d late: pass %v\n",
				rate, fmtDur(p.P50), fmtDur(p.P99), p.Sent, p.Errors, p.Late, p.Pass)
		}
		return p.Pass, ctx.Err()
	}
	lo, hi := 0.0, 0.0 // highest pass, lowest failure
	for r := start; ; r *= 2 {
		r = math.Min(r, ceiling)
		ok, err := try(r)
		if err != nil {
			return s, err
		}
		if !ok {
			hi = r
			break
		}
		lo = r
		if r >= ceiling {
			s.Best = lo
			return s, nil
		}
	}
	if lo == 0 { // the first probe failed: look below it
		for r := start / 2; r >= start/16; r /= 2 {
			ok, err := try(r)
			if err != nil {
				return s, err
			}
			if ok {
				lo = r
				break
			}
			hi = r
		}
		if lo == 0 {
			return s, nil
		}
	}
	for hi-lo > 0.05*lo {
		mid := math.Round((lo + hi) / 2)
		ok, err := try(mid)
		if err != nil {
			return s, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	s.Best = lo
	return s, nil
}
