package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/olbot/olbot/loadtest"
)

const loadUsage = `load [--target URL] [--mode json|bitrix24|noop|botframework] [--dialogs N] [--concurrency C] [--rate R] [flags]

Plays --dialogs concurrent dialogs of a scenario against a running olbot on a
loopback address and prints throughput, latency percentiles (p50/p90/p99/max),
errors and how long the outbox took to deliver the portal calls.

  json      POST /v1/events (dialog keys api:load-RUN-N)
  bitrix24  POST /bitrix24/events as a portal posts them: the tool runs a fake
            portal (--portal-listen), installs it into the target (ONAPPINSTALL),
            and counts the REST calls olbot makes to it. Start the target with a
            high portal rate (olbot serve --rate 1000000,1000000) or the outbox
            is paced at the default 2 calls/s, and with --bot-api v1: the events
            are the v1 bot's (ONIMBOT*).
  noop      POST /v1/noop only: the server's plain-HTTP ceiling
  botframework
            POST /api/messages of a Bot Framework bot (not olbot): the
            botbuilder-js peer of the benchmark (bench/botbuilder), activities
            with deliveryMode expectReplies so the replies come in the answer;
            no baseline, no outbox

With --baseline (default), the noop route is played first with the same dialogs,
events and concurrency, flat out, and the run's throughput is shown as a ratio
to it. With --rate, events start on a fixed schedule shared by all workers and
latency is measured from each event's scheduled start (no coordinated omission).
With --open as well, the schedule is open-loop: each event is sent at its due
time on its own goroutine whatever the earlier answers did (the arrivals of many
independent users), --concurrency only caps the requests in flight, and new
dialogs are opened whenever no open one is ready for its next event.
With --find-rate P99, the tool searches for the highest open-loop rate at which
p99 stays within P99 with no failed event: probes of --probe each, from
--rate (default 1000) doubling up to --max-rate, then bisecting to within 5%.
Exit status: 0 when every event was answered as expected, 1 when some were not,
2 on bad usage or when the run could not start.

Flags:`

// runLoad is `olbot load`.
func runLoad(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlags("load", loadUsage, stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "base URL of the olbot to load (loopback addresses only)")
	mode := fs.String("mode", "json", "json, bitrix24, noop or botframework")
	dialogs := fs.Int("dialogs", 200, "dialogs to play")
	conc := fs.Int("concurrency", 32, "dialogs in flight at once")
	rate := fs.Float64("rate", 0, "events per second across all dialogs; 0 = flat out")
	open := fs.Bool("open", false, "with --rate: an open-loop schedule (each event on its own goroutine at its due time)")
	findRate := fs.Duration("find-rate", 0, "search for the highest open-loop rate whose p99 is within this (e.g. 10ms)")
	probe := fs.Duration("probe", 5*time.Second, "--find-rate: length of each probe")
	probeEvents := fs.Int("probe-events", 2000, "--find-rate: a probe at a low rate runs until it has sent this many events (a p99 of fewer is one or two slow events)")
	maxRate := fs.Float64("max-rate", 100000, "--find-rate: the highest rate to try")
	duration := fs.Duration("duration", 60*time.Second, "cap: no event starts later than this after a phase began")
	events := fs.Int("events", 0, "cap on events per phase (0: dialogs × steps)")
	token := fs.String("admin-token", os.Getenv("OLBOT_ADMIN_TOKEN"), "the server's admin token for /v1 (env OLBOT_ADMIN_TOKEN)")
	line := fs.Int("scenario-line", 1, "Open Line id of the dialogs (picks the scenario)")
	scenario := fs.String("scenario", "", "json mode: scenario name to use instead of the line's")
	script := fs.String("script", "support", "conversation to play: "+strings.Join(slices.Sorted(maps.Keys(loadtest.Scripts)), ", "))
	baseline := fs.Bool("baseline", true, "first play the noop route with the same dialogs and concurrency, and report ratios to it")
	portalListen := fs.String("portal-listen", "127.0.0.1:0", "bitrix24 mode: where the tool's fake portal listens")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	drain := fs.Duration("drain-timeout", 30*time.Second, "how long to wait for the outbox to drain after the run")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	serverPID := fs.Int("server-pid", 0, "the server's process id (same machine): report its CPU per event (/proc/PID/stat)")
	cpuProfile := fs.String("cpuprofile", "", "write the load tool's own CPU profile to this file (where the tool's share of the machine goes)")
	runID := fs.String("run-id", "", "dialog keys of this run (default random); reuse it to play the same dialogs again (a soak)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "olbot load: unexpected argument %q (load takes only flags)\n", fs.Arg(0))
		return 2
	}
	mk, ok := loadtest.Scripts[*script]
	if !ok {
		fmt.Fprintf(stderr, "olbot load: unknown --script %q (have: %s)\n", *script, strings.Join(slices.Sorted(maps.Keys(loadtest.Scripts)), ", "))
		return 2
	}
	if *dialogs < 1 || *conc < 1 || *duration <= 0 || *timeout <= 0 || *drain <= 0 {
		fmt.Fprintln(stderr, "olbot load: --dialogs, --concurrency, --duration, --timeout and --drain-timeout must be positive")
		return 2
	}
	cfg := loadtest.Config{
		Target: *target, Mode: loadtest.Mode(*mode), Dialogs: *dialogs, Concurrency: *conc, Rate: *rate,
		Duration: *duration, Events: *events, AdminToken: *token, Line: *line, Scenario: *scenario,
		Script: mk(), Baseline: *baseline, PortalListen: *portalListen, Timeout: *timeout, DrainTimeout: *drain,
		RunID: *runID, Open: *open, ServerPID: *serverPID,
	}
	if !*quiet {
		cfg.Log = stderr
	}
	if pct, _ := loadGCTarget(os.LookupEnv); pct > 0 {
		debug.SetGCPercent(pct)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "olbot load:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "olbot load: --cpuprofile:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if *findRate > 0 {
		startRate := *rate
		if startRate <= 0 {
			startRate = 1000
		}
		cfg.Log = stderr // the probes are the progress
		s, err := loadtest.FindRate(ctx, cfg, *findRate, startRate, *maxRate, *probe, *probeEvents)
		if err != nil {
			fmt.Fprintln(stderr, "olbot load:", err)
			return 2
		}
		fmt.Fprintf(stdout, "rate search: p99 ≤ %s, probes of %s, at most %d requests in flight\n", *findRate, *probe, *conc)
		for _, p := range s.Probes {
			fmt.Fprintf(stdout, "  %8.0f events/s  p50 %-9s p99 %-9s sent %d, errors %d, late %d  %s\n", p.Rate, p.P50.Round(10*time.Microsecond), p.P99.Round(10*time.Microsecond), p.Sent, p.Errors, p.Late, map[bool]string{true: "pass", false: "fail"}[p.Pass])
		}
		fmt.Fprintf(stdout, "highest rate with p99 ≤ %s: %.0f events/s\n", *findRate, s.Best)
		if s.Best == 0 && len(s.Probes) > 0 {
			low := s.Probes[len(s.Probes)-1]
			fmt.Fprintf(stdout, "no rate passed, down to %.0f events/s (p99 %s, %d errors): a tail that stays when the load is this low is not the load's; look at the errors, and at the disk's fsync latency and other work on the machine\n",
				low.Rate, low.P99.Round(10*time.Microsecond), low.Errors)
		}
		return 0
	}
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "olbot load:", err)
		return 2
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "olbot load:", err)
		return 2
	}
	if rep.Failed() {
		return 1
	}
	return 0
}
