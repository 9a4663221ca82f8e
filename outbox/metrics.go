package outbox

import "github.com/prometheus/client_golang/prometheus"

// metrics are the outbox's Prometheus metrics.
type metrics struct {
	portalCalls  *prometheus.CounterVec // method, result: ok, retry, parked, logged
	portalErrors *prometheus.CounterVec // code
	retries      prometheus.Counter     // delivery retries
	depth        *prometheus.GaugeVec   // state: pending, parked
	deliveryLag  prometheus.Histogram   // commit -> delivered
	portalReqs   *prometheus.CounterVec // kind: single, batch, poll (HTTP requests, each one against the rate limit; poll: calls rode a fetch-mode poll)
	undone       prometheus.Gauge       // delivered calls whose done waits for the store
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		portalCalls:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_portal_calls_total", Help: "Portal calls by method and result (ok, retry, parked, logged)."}, []string{"method", "result"}),
		portalErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_portal_call_errors_total", Help: "Portal call errors by error code."}, []string{"code"}),
		retries:      prometheus.NewCounter(prometheus.CounterOpts{Name: "olbot_portal_call_retries_total", Help: "Portal calls scheduled for another attempt."}),
		depth:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "olbot_outbox_calls", Help: "Portal calls in the outbox: pending or parked (dead letters)."}, []string{"state"}),
		deliveryLag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "olbot_outbox_delivery_lag_seconds", Help: "Time from commit to successful delivery of a portal call.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 60, 300, 3600}}),
		undone:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "olbot_outbox_done_unrecorded", Help: "Calls the portal has done whose done could not be written yet (the store refused writes); this process does not send them again and records them when the store takes writes."}),
		portalReqs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_portal_requests_total", Help: "REST requests sent to portals by the outbox: single calls, batches (up to 50 calls each), and fetch-mode polls that carried waiting calls; each counts once against the portal's rate limit."}, []string{"kind"}),
	}
	reg.MustRegister(m.portalCalls, m.portalErrors, m.retries, m.depth, m.deliveryLag, m.portalReqs, m.undone)
	return m
}
