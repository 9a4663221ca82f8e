package loadtest

import (
	"bufio"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Latency summarises a latency sample.
type Latency struct {
	N    int
	Mean time.Duration
	P50  time.Duration
	P90  time.Duration
	P99  time.Duration
	Max  time.Duration
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of an ascending
// sample by the nearest-rank method: the smallest value such that at least
// p% of the sample is less than or equal to it. It is always a value of the
// sample (no interpolation); 0 for an empty sample, the minimum for p ≤ 0.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	// p/100*n in floating point can land a hair above an integer (e.g.
	// 0.29*100 = 29.000000000000004); round to 1e-9 before the ceiling.
	rank := int(math.Ceil(math.Round(p/100*float64(n)*1e9) / 1e9))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Summarize sorts samples in place and returns their exact percentiles.
func Summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	return Latency{
		N:    len(samples),
		Mean: sum / time.Duration(len(samples)),
		P50:  Percentile(samples, 50),
		P90:  Percentile(samples, 90),
		P99:  Percentile(samples, 99),
		Max:  samples[len(samples)-1],
	}
}

// Bucket is one cumulative bucket of a Prometheus histogram: Count
// observations were ≤ LE. The last bucket's LE is +Inf.
type Bucket struct {
	LE    float64
	Count float64
}

// HistogramDelta returns after − before bucket by bucket (the observations
// made between two scrapes of the same cumulative histogram). Buckets are
// matched by bound; a bound missing from before counts as 0.
func HistogramDelta(before, after []Bucket) []Bucket {
	prev := map[float64]float64{}
	for _, b := range before {
		prev[b.LE] = b.Count
	}
	out := make([]Bucket, 0, len(after))
	for _, b := range after {
		out = append(out, Bucket{LE: b.LE, Count: b.Count - prev[b.LE]})
	}
	return out
}

// HistogramQuantile estimates the q-quantile (0 ≤ q ≤ 1) of cumulative
// buckets the way Prometheus' histogram_quantile does: find the bucket the
// rank falls in and interpolate linearly inside it (the first bucket's lower
// bound is 0). limit, when positive, is a known bound on every observation
// (e.g. the length of the window they were made in): it caps the top of the
// bucket interpolated in, which makes the estimate in a wide bucket less
// wrong. When the rank falls in the +Inf bucket and no limit is known, the
// estimate is the highest finite bound and over is true ("more than
// that"). ok is false when there are no observations.
func HistogramQuantile(q float64, buckets []Bucket, limit float64) (v float64, over, ok bool) {
	bs := slices.Clone(buckets)
	slices.SortFunc(bs, func(a, b Bucket) int {
		switch {
		case a.LE < b.LE:
			return -1
		case a.LE > b.LE:
			return 1
		}
		return 0
	})
	if len(bs) == 0 || bs[len(bs)-1].Count <= 0 {
		return 0, false, false
	}
	total := bs[len(bs)-1].Count
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.Count >= rank && b.Count > below {
			upper := b.LE
			if limit > 0 && upper > limit {
				upper = max(limit, lower)
			}
			if math.IsInf(upper, 1) {
				return lower, true, true
			}
			return lower + (upper-lower)*(rank-below)/(b.Count-below), false, true
		}
		lower, below = b.LE, b.Count
	}
	return lower, false, true
}

// metricsText is a scraped Prometheus text exposition.
type metricsText struct {
	series []series
}

type series struct {
	name   string
	labels map[string]string
	value  float64
}

// parseMetrics reads the Prometheus text format (the subset promhttp
// writes: one sample per line, optional labels, no timestamps needed).
func parseMetrics(text string) metricsText {
	var m metricsText
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var s series
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.name = line[:i]
			j := strings.Index(line[i:], "}")
			if j < 0 {
				continue
			}
			s.labels = parseLabels(line[i+1 : i+j])
			rest = strings.TrimSpace(line[i+j+1:])
		} else {
			name, r, ok := strings.Cut(line, " ")
			if !ok {
				continue
			}
			s.name, rest = name, strings.TrimSpace(r)
		}
		val, _, _ := strings.Cut(rest, " ") // drop an optional timestamp
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		s.value = v
		m.series = append(m.series, s)
	}
	return m
}

// parseLabels reads a="x",b="y" (values without escaped quotes suffice for
// the metrics read here).
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, "=\"")
		if !ok {
			break
		}
		v, rest, ok := strings.Cut(rest, "\"")
		if !ok {
			break
		}
		out[strings.TrimSpace(k)] = v
		s = strings.TrimPrefix(strings.TrimSpace(rest), ",")
	}
	return out
}

// value returns the sample of name whose labels include want.
func (m metricsText) value(name string, want map[string]string) (float64, bool) {
next:
	for _, s := range m.series {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

// histogram returns the cumulative buckets of a histogram by its base name.
func (m metricsText) histogram(name string) []Bucket {
	var out []Bucket
	for _, s := range m.series {
		if s.name != name+"_bucket" {
			continue
		}
		le, err := strconv.ParseFloat(s.labels["le"], 64) // ParseFloat reads "+Inf"
		if err != nil {
			continue
		}
		out = append(out, Bucket{LE: le, Count: s.value})
	}
	return out
}
