package loadtest

import (
	"math"
	"testing"
	"time"
)

func durs(ns ...int) []time.Duration {
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = time.Duration(n)
	}
	return out
}

func oneTo(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i + 1)
	}
	return out
}

func ones(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value p50", durs(7), 50, 7},
		{"one value p99", durs(7), 99, 7},
		{"two values p50 is the lower", durs(1, 2), 50, 1},
		{"two values p51 is the upper", durs(1, 2), 51, 2},
		{"1..100 p50", oneTo(100), 50, 50},
		{"1..100 p90", oneTo(100), 90, 90},
		{"1..100 p99", oneTo(100), 99, 99},
		{"1..100 p100", oneTo(100), 100, 100},
		{"1..100 p0 is the minimum", oneTo(100), 0, 1},
		{"1..10 p99 is the maximum", oneTo(10), 99, 10},
		{"1..10 p90", oneTo(10), 90, 9},
		{"1..10 p91 rounds up", oneTo(10), 91, 10},
		{"1..1000 p99", oneTo(1000), 99, 990},
		{"1..1000 p99.9", oneTo(1000), 99.9, 999},
		// 0.29*100 is 29.000000000000004 in float64: still rank 29
		{"1..100 p29 despite float error", oneTo(100), 29, 29},
		{"above 100 clamps", oneTo(5), 150, 5},
		{"ties", durs(1, 1, 1, 5), 75, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %g) = %v, want %v", tt.sorted, tt.p, int64(got), int64(tt.want))
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		want    Latency
	}{
		{"empty", nil, Latency{}},
		{"unsorted input is sorted", durs(30, 10, 20), Latency{N: 3, Mean: 20, P50: 20, P90: 30, P99: 30, Max: 30}},
		{"1..100", oneTo(100), Latency{N: 100, Mean: 50, P50: 50, P90: 90, P99: 99, Max: 100}}, // mean 50.5 truncated
		{"an outlier shows only at max", append(ones(99), 1000), Latency{N: 100, Mean: 10, P50: 1, P90: 1, P99: 1, Max: 1000}},
		{"two outliers reach p99", append(ones(98), 1000, 1000), Latency{N: 100, Mean: 20, P50: 1, P90: 1, P99: 1000, Max: 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.samples); got != tt.want {
				t.Errorf("Summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	// 100 observations: 10 ≤ 0.001, 50 in (0.001, 0.01], 30 in (0.01, 0.1], 10 in (0.1, +Inf)
	b := []Bucket{{0.001, 10}, {0.01, 60}, {0.1, 90}, {inf, 100}}
	tests := []struct {
		name     string
		q        float64
		buckets  []Bucket
		limit    float64
		want     float64
		over, ok bool
	}{
		{"no buckets", 0.5, nil, 0, 0, false, false},
		{"no observations", 0.5, []Bucket{{1, 0}, {inf, 0}}, 0, 0, false, false},
		{"in the first bucket, from 0", 0.05, b, 0, 0.0005, false, true},
		{"p50 interpolated", 0.5, b, 0, 0.001 + 0.009*40.0/50, false, true},
		{"p60 is the bucket's top", 0.6, b, 0, 0.01, false, true},
		{"p90", 0.9, b, 0, 0.1, false, true},
		{"p99 in +Inf: more than the last bound", 0.99, b, 0, 0.1, true, true},
		{"p99 in +Inf with a limit interpolates to it", 0.99, b, 0.2, 0.1 + 0.1*9.0/10, false, true},
		{"a limit inside a wide bucket caps its top", 0.5, []Bucket{{1, 0}, {5, 10}, {inf, 10}}, 2, 1.5, false, true},
		{"a limit below the bucket's floor", 0.5, []Bucket{{1, 0}, {5, 10}, {inf, 10}}, 0.5, 1, false, true},
		{"unsorted buckets", 0.5, []Bucket{{inf, 100}, {0.1, 90}, {0.001, 10}, {0.01, 60}}, 0, 0.001 + 0.009*40.0/50, false, true},
		{"empty buckets are skipped", 0.5, []Bucket{{0.001, 0}, {0.01, 0}, {0.1, 4}, {inf, 4}}, 0, 0.01 + 0.09*2/4, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, over, ok := HistogramQuantile(tt.q, tt.buckets, tt.limit)
			if math.Abs(got-tt.want) > 1e-12 || over != tt.over || ok != tt.ok {
				t.Errorf("HistogramQuantile(%g) = %g, over %v, ok %v; want %g, %v, %v", tt.q, got, over, ok, tt.want, tt.over, tt.ok)
			}
		})
	}
}

func TestHistogramDelta(t *testing.T) {
	inf := math.Inf(1)
	before := []Bucket{{0.01, 5}, {0.1, 7}, {inf, 8}}
	after := []Bucket{{0.01, 15}, {0.1, 27}, {inf, 28}}
	got := HistogramDelta(before, after)
	want := []Bucket{{0.01, 10}, {0.1, 20}, {inf, 20}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bucket %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP olbot_outbox_calls Portal calls in the outbox: pending or parked (dead letters).
# TYPE olbot_outbox_calls gauge
olbot_outbox_calls{state="parked"} 2
olbot_outbox_calls{state="pending"} 17
# TYPE olbot_outbox_delivery_lag_seconds histogram
olbot_outbox_delivery_lag_seconds_bucket{le="0.001"} 3
olbot_outbox_delivery_lag_seconds_bucket{le="0.005"} 9
olbot_outbox_delivery_lag_seconds_bucket{le="+Inf"} 12
olbot_outbox_delivery_lag_seconds_sum 0.5
olbot_outbox_delivery_lag_seconds_count 12
go_goroutines 42
olbot_events_total{outcome="applied",type="start"} 1e+06
`
	m := parseMetrics(text)
	if v, ok := m.value("olbot_outbox_calls", map[string]string{"state": "pending"}); !ok || v != 17 {
		t.Errorf("pending = %v, %v", v, ok)
	}
	if v, ok := m.value("olbot_outbox_calls", map[string]string{"state": "parked"}); !ok || v != 2 {
		t.Errorf("parked = %v, %v", v, ok)
	}
	if v, ok := m.value("go_goroutines", nil); !ok || v != 42 {
		t.Errorf("go_goroutines = %v, %v", v, ok)
	}
	if v, ok := m.value("olbot_events_total", map[string]string{"type": "start", "outcome": "applied"}); !ok || v != 1e6 {
		t.Errorf("events = %v, %v", v, ok)
	}
	if _, ok := m.value("olbot_outbox_calls", map[string]string{"state": "nope"}); ok {
		t.Error("found a series that is not there")
	}
	h := m.histogram("olbot_outbox_delivery_lag_seconds")
	want := []Bucket{{0.001, 3}, {0.005, 9}, {math.Inf(1), 12}}
	if len(h) != len(want) {
		t.Fatalf("histogram = %v", h)
	}
	for i := range want {
		if h[i] != want[i] {
			t.Errorf("bucket %d = %v, want %v", i, h[i], want[i])
		}
	}
}

func TestPacerSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	p := &pacer{start: start, rate: 4}
	for i, want := range []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond, time.Second} {
		if got := p.next().Sub(start); got != want {
			t.Errorf("slot %d at +%v, want +%v", i, got, want)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
		{"http://[::1]:8080", true},
		{"https://127.0.0.2", true},
		{"http://10.0.0.1:8080", false},
		{"http://example.com", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
	} {
		if err := checkLoopbackURL(tt.url); (err == nil) != tt.ok {
			t.Errorf("checkLoopbackURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
	if err := loopbackOnly("tcp", "93.184.216.34:80", nil); err == nil {
		t.Error("the dialer would connect to a public address")
	}
	if err := loopbackOnly("tcp", "127.0.0.1:80", nil); err != nil {
		t.Errorf("the dialer refuses loopback: %v", err)
	}
}
