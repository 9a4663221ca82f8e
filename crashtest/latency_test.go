package crashtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olbot/olbot/bitrix24"
	"github.com/olbot/olbot/fakeportal"
)

// TestFetchLatency measures the fetch route's reply latency at the
// portal's real limit (the fake portal's leaky bucket of 50 requests
// draining 2 a second, and olbot's default --rate 2,50 and poll
// intervals 2s/5s): 20 busy clients write their next message 0.5–1.5 s
// after each reply for OLBOT_FETCH_LATENCY (a duration, e.g. 90s); then,
// after more than a minute without events (polling backs off to 5 s), 20
// new chats join at once. The latency is from the client's message
// reaching the portal to the bot's first reply reaching it (the portal's
// clock, this process's). It prints one FETCHLATENCY line a phase; the
// figures are in BENCHMARKS.md. Every chat must still get its whole
// transcript, once. Skipped unless OLBOT_FETCH_LATENCY is set: it takes
// minutes and measures, it does not test timing. OLBOT_FETCH_LATENCY_ARGS
// adds olbot flags.
func TestFetchLatency(t *testing.T) {
	env := os.Getenv("OLBOT_FETCH_LATENCY")
	if env == "" {
		t.Skip("a measurement: set OLBOT_FETCH_LATENCY=90s to run it")
	}
	busyFor, err := time.ParseDuration(env)
	if err != nil || busyFor <= 0 {
		t.Fatalf("OLBOT_FETCH_LATENCY=%q: want a duration such as 90s", env)
	}
	const clients = 20
	db := filepath.Join(t.TempDir(), "olbot.db")
	// OLBOT_FETCH_LATENCY_ARGS adds flags (e.g. "--rate 2,50"), to compare
	// settings in one run
	flags := append([]string{"--store", db}, strings.Fields(os.Getenv("OLBOT_FETCH_LATENCY_ARGS"))...)
	c := newFetchClusterWith(t, 1, fakeportal.Config{}, flags)
	var mu sync.Mutex
	lat := map[string][]time.Duration{}
	// The first message of a phase is a first message after a quiet
	// spell (service-2.md's second target): the 20 joins that open the
	// busy phase reach a poller that has seen no event yet and polls every
	// --poll-idle, as do the joins after the quiet spell. Every later
	// step of a chat is a message in an active chat (the first target).
	rec := func(phase string) func(int, int, time.Duration) {
		return func(chat, step int, d time.Duration) {
			p := phase
			switch {
			case phase == "busy" && chat == 0 && step == 0:
				p = "start"
			case phase == "quiet" && step > 0:
				p = "busy-after-quiet"
			}
			mu.Lock()
			lat[p] = append(lat[p], d)
			mu.Unlock()
		}
	}
	think := func() time.Duration { return 500*time.Millisecond + time.Duration(rand.Int64N(int64(time.Second))) }
	load := func() string { b, _ := os.ReadFile("/proc/loadavg"); return string(b) }

	loadBefore := load()
	ctx, cancel := context.WithTimeout(context.Background(), busyFor)
	c.driveWith(ctx, clients, client{think: think, record: rec("busy")})()
	cancel()
	time.Sleep(70 * time.Second) // a quiet spell: no event for over a minute
	c.driveWith(context.Background(), clients, client{think: think, record: rec("quiet"), once: true})()
	rep := c.verify()
	loadAfter := load()

	for _, phase := range []string{"start", "busy", "quiet", "busy-after-quiet"} {
		ds := lat[phase]
		if len(ds) == 0 {
			t.Fatalf("no %s latencies", phase)
		}
		slices.Sort(ds)
		pct := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))+0.999999)-1)] }
		line := fmt.Sprintf("FETCHLATENCY phase=%s clients=%d replies=%d p50=%s p95=%s p99=%s max=%s",
			phase, clients, len(ds), pct(0.50).Round(time.Millisecond), pct(0.95).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
		t.Log(line)
		fmt.Println(line)
	}
	polls := len(c.portal.CallsOf(bitrix24.MethodV2EventGet))
	fmt.Printf("FETCHLATENCY chats=%d messages=%d duplicates=%d polls=%d requests=%d peak_bucket=%.1f refused=%v load_before=%q load_after=%q\n",
		rep.Chats, rep.Replies, rep.Duplicates, polls, requests(c.portal), peakBucket(c.portal), refused(c.portal), loadBefore, loadAfter)
	fmt.Printf("FETCHLATENCY calls=%v\n", methods(c.portal))
	if rep.Duplicates != 0 {
		t.Fatalf("%d duplicate replies without a kill", rep.Duplicates)
	}
}

// requests counts the portal's HTTP requests: a batch and its sub-calls
// are one.
func requests(p *fakeportal.Portal) int {
	n := 0
	for _, c := range p.Calls() {
		if c.Batch == "" {
			n++
		}
	}
	return n
}

// refused counts the portal's error answers by code (e.g. the rate
// limit's QUERY_LIMIT_EXCEEDED), which explain a stall.
func refused(p *fakeportal.Portal) map[string]int {
	out := map[string]int{}
	for _, c := range p.Calls() {
		if c.Error != "" {
			out[c.Error]++
		}
	}
	return out
}

// peakBucket is the highest level the portal's leaky bucket (draining
// bitrix24.DefaultRate a second) reached: how close olbot came to the
// limit of bitrix24.DefaultBurst.
func peakBucket(p *fakeportal.Portal) float64 {
	var level, peak float64
	var last time.Time
	for _, c := range p.Calls() {
		if c.Batch != "" {
			continue
		}
		if !last.IsZero() {
			level = max(0, level-c.Time.Sub(last).Seconds()*bitrix24.DefaultRate)
		}
		last = c.Time
		level++
		peak = max(peak, level)
	}
	return peak
}

// methods counts the calls by method, a batch's sub-calls each on their
// own and the batches as "batch".
func methods(p *fakeportal.Portal) map[string]int {
	out := map[string]int{}
	for _, c := range p.Calls() {
		out[c.Method]++
	}
	return out
}
