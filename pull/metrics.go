package pull

import "github.com/prometheus/client_golang/prometheus"

// The poller's counters as Prometheus metrics, labelled by key: register
// a Poller on a registry (it is a prometheus.Collector).
var (
	descPolls    = prometheus.NewDesc("olbot_pull_polls_total", "Successful imbot.v2 Event.get polls.", []string{"key"}, nil)
	descErrors   = prometheus.NewDesc("olbot_pull_errors_total", "Failed polls and failed commits of a polled batch (each retried with backoff).", []string{"key"}, nil)
	descEvents   = prometheus.NewDesc("olbot_pull_events_total", "Polled events handed to the store (repeats after a crash included).", []string{"key"}, nil)
	descRejected = prometheus.NewDesc("olbot_pull_events_rejected_total", "Polled events that did not have the documented shape: recorded and skipped.", []string{"key"}, nil)
	descIgnored  = prometheus.NewDesc("olbot_pull_events_ignored_total", "Polled events of documented types olbot does not act on.", []string{"key"}, nil)
	descFenced   = prometheus.NewDesc("olbot_pull_fenced_total", "Commits refused because this replica's lease had lapsed or was taken over.", []string{"key"}, nil)
	descHolding  = prometheus.NewDesc("olbot_pull_lease_held", "Whether this replica holds the bot's polling lease (1) or not (0).", []string{"key"}, nil)
	descOffset   = prometheus.NewDesc("olbot_pull_offset", "The offset the next poll sends (every event below it is committed).", []string{"key"}, nil)
)

var _ prometheus.Collector = (*Poller)(nil)

// Describe implements prometheus.Collector.
func (p *Poller) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPolls, descErrors, descEvents, descRejected, descIgnored, descFenced, descHolding, descOffset} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p *Poller) Collect(ch chan<- prometheus.Metric) {
	s := p.Stats()
	held := 0.0
	if s.Holding {
		held = 1
	}
	for _, m := range []struct {
		d *prometheus.Desc
		t prometheus.ValueType
		v float64
	}{
		{descPolls, prometheus.CounterValue, float64(s.Polls)},
		{descErrors, prometheus.CounterValue, float64(s.Errors)},
		{descEvents, prometheus.CounterValue, float64(s.Events)},
		{descRejected, prometheus.CounterValue, float64(s.Rejected)},
		{descIgnored, prometheus.CounterValue, float64(s.Ignored)},
		{descFenced, prometheus.CounterValue, float64(s.Fenced)},
		{descHolding, prometheus.GaugeValue, held},
		{descOffset, prometheus.GaugeValue, float64(s.Offset)},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, m.t, m.v, p.cfg.Key)
	}
}
