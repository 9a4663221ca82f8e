// Package loadtest is the engine of `olbot load`: it plays many concurrent
// dialogs through a scenario against a running olbot and reports
// throughput, latency percentiles, errors and how long the outbox took to
// reach the portal.
//
// # Modes
//
//   - json: each event is a POST /v1/events (dialog keys api:load-RUN-I).
//   - bitrix24: each event is a POST /bitrix24/events in the portal's form
//     encoding, built by an in-process fake portal (package fakeportal) that
//     first installs itself into the target (ONAPPINSTALL with a member id
//     unique to the run), then receives every REST call olbot makes, and
//     uninstalls itself at the end (ONAPPUNINSTALL, so olbot drops what it
//     could not deliver instead of retrying a vanished portal). The events
//     are the v1 bot's (ONIMBOT*), so the target runs with --bot-api v1
//     (olbot serve's default registers an imbot.v2 bot on a first
//     install); it must not be in webhook mode; its portal rate limit (olbot serve
//     --rate, default 2/s, burst 50) paces the outbox, so load tests start
//     it with --rate 1000000,1000000. Tokens are not refreshed unless the
//     target is started with the fake portal's --oauth-url, --app-client-id
//     and --app-client-secret (printed; only needed past the 1h token TTL).
//   - noop: POST /v1/noop, a route of the same Echo server that reads the
//     body and answers without touching the engine or the store.
//   - botframework: each event is a Bot Framework activity POSTed to
//     /api/messages of a bot, not of olbot: the botbuilder-js peer of the
//     benchmark (bench/botbuilder). Activities ask for deliveryMode
//     expectReplies, so the bot answers with the turn's replies in the HTTP
//     response and a latency is the round trip, as in json mode; the tool
//     checks that every event got a reply and that the last one starts with
//     the script's EndReply. The bot has no noop route, so there is no
//     baseline (its ratio to olbot is taken across runs of scripts/bench.sh),
//     and no outbox.
//
// With Baseline set, a noop phase with the same dialogs, events and
// concurrency runs first, flat out, and every throughput is also given as a
// ratio to it: the share of the server's plain-HTTP ceiling (measured in the
// same run, on the same machine) that dialog processing leaves.
//
// # Scheduling and latency
//
// Events of one dialog are sequential (the next is sent when the previous
// one is answered); dialogs run concurrently, Concurrency at a time.
//
// Flat out (Rate 0), every worker sends its next event as soon as it has the
// previous answer, and an event's latency is its request's round trip.
//
// At a fixed Rate, one pacer shared by all workers hands out start times
// t0, t0+1/R, t0+2/R, … (a token bucket filling at R per second whose
// tokens are never lost). A worker takes the next start time when it is
// ready to send, waits for it if it is early, and the event's latency is
// measured from that scheduled time, not from when the request actually
// went out. So when the server (or the worker pool) falls behind, the time
// an event spent waiting for its turn counts as latency, as it would for a
// client that really arrived at that moment; a closed-loop measurement would
// hide exactly that stall ("coordinated omission"). Events that started more
// than 5ms after their scheduled time are counted as late.
//
// The Concurrency workers share the schedule, so each dialog's events are
// about Concurrency/Rate apart; a short Duration may end before any dialog
// finishes (those dialogs are counted as cut, not failed).
//
// Latencies are exact: every OK event's latency is kept and sorted
// (nearest-rank percentiles), 8 bytes an event.
//
// # Outbox
//
// After the run (json and bitrix24 modes) the tool polls GET /metrics until
// olbot_outbox_calls{state="pending"} is 0 in a reading taken at least 300ms
// after the last answer (the server refreshes the gauge on every delivery
// round, and at least every 250ms), and in bitrix24 mode until the portal
// has received every call the server said it queued (or they were parked).
// The drain time is from the last answer to the first zero reading of that
// final streak, to within the 50ms poll. The delivery lag p50/p99 are
// estimated from the change of olbot_outbox_delivery_lag_seconds' buckets
// over the run, interpolating inside a bucket like histogram_quantile, with
// the bucket's top capped by the run's length (no call of the run can lag
// more; calls queued before the run by others could). In bitrix24 mode the
// tool also measures the lag exactly: each REST call is matched, per chat
// and in order, to the event whose answer queued it.
//
// # Bounds
//
// Requests go only to loopback addresses (checked when dialling). A phase
// sends at most Dialogs × len(Script.Steps) events, at most Events when set,
// and starts none after Duration; each request has Timeout; the outbox wait
// is bounded by DrainTimeout.
package loadtest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/olbot/olbot/fakeportal"
)

// Mode is what a run sends.
type Mode string

// The modes.
const (
	ModeJSON     Mode = "json"
	ModeBitrix24 Mode = "bitrix24"
	ModeNoop     Mode = "noop"
	// ModeBotFramework sends Bot Framework activities to POST /api/messages
	// of a bot (the botbuilder-js peer under bench/botbuilder), asking for
	// the replies in the answer (deliveryMode expectReplies).
	ModeBotFramework Mode = "botframework"
)

// Config is one load run.
type Config struct {
	Target      string  // olbot's base URL, e.g. http://127.0.0.1:8080 (loopback only)
	Mode        Mode    // json (default), bitrix24, noop or botframework
	Dialogs     int     // dialogs to play; default 200
	Concurrency int     // dialogs in flight; default 32
	Rate        float64 // events per second across all workers; 0 = flat out
	// Open makes Rate an open-loop arrival schedule: events are sent on
	// their own goroutines at their due times, Concurrency bounds only the
	// requests in flight (see the package comment).
	Open       bool
	Duration   time.Duration // no event starts later than this after a phase began; default 60s
	Events     int           // cap on events per phase; 0 = Dialogs × steps
	AdminToken string        // bearer token for /v1/*
	Line       int           // Open Line id of the dialogs; default 1
	Scenario   string        // json mode: explicit scenario name ("" = by line)
	Script     *Script       // the conversation; default Support
	Baseline   bool          // run the noop route first and report ratios to it
	Timeout    time.Duration // per request; default 10s

	// DrainTimeout bounds the wait for the outbox to empty after the run; default 30s.
	DrainTimeout time.Duration
	// SetupTimeout bounds the wait for the bot registration in bitrix24 mode; default 15s.
	SetupTimeout time.Duration

	// Portal is the fake portal of bitrix24 mode, already served at its
	// BaseURL (tests pass a fakeportal.NewServer one). Nil: Run starts its
	// own on PortalListen with a member id and application token unique to
	// the run and the rate limit off.
	Portal *fakeportal.Portal
	// PortalListen is where Run's own fake portal listens; default 127.0.0.1:0.
	PortalListen string

	// ServerPID, when set, is the server's process id: each phase reports
	// the CPU it used (/proc/PID/stat, 10ms ticks) per answered event.
	ServerPID int

	RunID string    // distinguishes this run's dialog keys; default random
	Log   io.Writer // progress lines; nil = none
}

func (c *Config) defaults() {
	if c.Mode == "" {
		c.Mode = ModeJSON
	}
	if c.Dialogs <= 0 {
		c.Dialogs = 200
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.Duration <= 0 {
		c.Duration = 60 * time.Second
	}
	if c.Line <= 0 {
		c.Line = 1
	}
	if c.Script == nil {
		c.Script = Support()
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 30 * time.Second
	}
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = 15 * time.Second
	}
	if c.PortalListen == "" {
		c.PortalListen = "127.0.0.1:0"
	}
	if c.RunID == "" {
		c.RunID = randomHex(4)
	}
	c.Target = strings.TrimRight(c.Target, "/")
}

func (c *Config) validate() error {
	switch c.Mode {
	case ModeJSON, ModeBitrix24, ModeNoop, ModeBotFramework:
	default:
		return fmt.Errorf("mode %q: want json, bitrix24, noop or botframework", c.Mode)
	}
	if err := checkLoopbackURL(c.Target); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if c.Rate < 0 {
		return errors.New("rate must be 0 (flat out) or more")
	}
	if c.Open && c.Rate <= 0 {
		return errors.New("an open-loop run needs a rate (events per second)")
	}
	if c.Events < 0 {
		return errors.New("events must be 0 (no cap) or more")
	}
	if err := c.Script.validate(); err != nil {
		return err
	}
	if c.Scenario != "" && c.Mode != ModeJSON {
		return errors.New("an explicit scenario applies to json mode only (bitrix24 events pick the scenario by line)")
	}
	if c.Mode == ModeBitrix24 && c.Portal == nil {
		if err := checkLoopbackHostPort(c.PortalListen); err != nil {
			return fmt.Errorf("portal listen address: %w", err)
		}
	}
	if c.Mode == ModeBitrix24 && c.Portal != nil {
		if err := checkLoopbackURL(c.Portal.Config().BaseURL); err != nil {
			return fmt.Errorf("fake portal: %w", err)
		}
	}
	return nil
}

// checkLoopbackURL accepts http(s) URLs on localhost or a loopback IP.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%q is not an http(s) URL like http://127.0.0.1:8080", raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%q is not a loopback address: the load tool only talks to 127.0.0.1, ::1 or localhost", raw)
	}
	return nil
}

func checkLoopbackHostPort(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("%q is not a loopback address", addr)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
