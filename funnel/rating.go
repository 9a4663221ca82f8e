package funnel

import (
	"math"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/olbot/olbot/answers"
	"github.com/olbot/olbot/engine"
	"github.com/olbot/olbot/scenarios"
)

// rating is the rating a move saved: a valid answer (answer, answer:…)
// leaving a `type: rating` question, read from the field it saved; false
// for any other move.
func rating(sc *scenarios.Scenario, m engine.Move, fields map[string]string) (int64, bool) {
	if sc == nil || (m.Event != scenarios.EdgeAnswer && !strings.HasPrefix(m.Event, scenarios.EdgeAnswer+":")) {
		return 0, false
	}
	st := sc.States[m.From]
	if st == nil || st.Ask == nil || st.Type != answers.Rating {
		return 0, false
	}
	n, err := strconv.ParseInt(fields[st.Save], 10, 64)
	if err != nil || n < 1 || n > 5 {
		return 0, false
	}
	return n, true
}

// RatingAverage is the average of the scenario's ratings, rounded to two
// decimals; 0 when there is none.
func (f Funnel) RatingAverage() float64 {
	if f.Ratings == 0 {
		return 0
	}
	return math.Round(float64(f.RatingSum)/float64(f.Ratings)*100) / 100
}

// Metrics of the ratings, per scenario, from the counts the book holds (the
// store's at the last read or flush, plus this replica's since): a client's
// rating reaches them at once, another replica's after its next flush.
var (
	ratingsDesc = prometheus.NewDesc("olbot_ratings_total",
		"Answers to the scenario's type: rating questions, all replicas (as of their last flush).", []string{"scenario"}, nil)
	ratingSumDesc = prometheus.NewDesc("olbot_rating_sum_total",
		"The sum of those answers (1-5): rate(olbot_rating_sum_total) / rate(olbot_ratings_total) is the average over a window.", []string{"scenario"}, nil)
	ratingAvgDesc = prometheus.NewDesc("olbot_rating_average",
		"The average of all the scenario's ratings (1-5), as on the funnel.", []string{"scenario"}, nil)
)

// Collector returns the book's rating metrics for a Prometheus registry.
func (b *Book) Collector() prometheus.Collector { return ratingCollector{b} }

type ratingCollector struct{ b *Book }

func (c ratingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- ratingsDesc
	ch <- ratingSumDesc
	ch <- ratingAvgDesc
}

// Collect reports the scenarios with ratings; it reads no store.
func (c ratingCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	b.mu.Lock()
	sums := map[string]*Funnel{}
	for _, m := range []map[string]*Funnel{b.base, b.flushing, b.delta} {
		for name, f := range m {
			if sums[name] == nil {
				sums[name] = newFunnel(name)
			}
			sums[name].Ratings += f.Ratings
			sums[name].RatingSum += f.RatingSum
		}
	}
	b.mu.Unlock()
	for name, f := range sums {
		if f.Ratings == 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(ratingsDesc, prometheus.CounterValue, float64(f.Ratings), name)
		ch <- prometheus.MustNewConstMetric(ratingSumDesc, prometheus.CounterValue, float64(f.RatingSum), name)
		ch <- prometheus.MustNewConstMetric(ratingAvgDesc, prometheus.GaugeValue, f.RatingAverage(), name)
	}
}
