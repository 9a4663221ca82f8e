package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, on a registry of their own so
// that several servers (tests) can run in one process.
type metrics struct {
	reg *prometheus.Registry

	events        *prometheus.CounterVec // type, outcome
	stepSeconds   prometheus.Histogram   // engine step + commit
	dialogs       *prometheus.CounterVec // event: started, finished, handed_off
	handoffs      *prometheus.CounterVec // reason
	invalid       prometheus.Counter     // validation failures
	reloads       *prometheus.CounterVec // result: success, failure
	reloadOK      prometheus.Gauge       // last reload successful (0/1)
	reloadSuccess prometheus.Gauge       // last successful reload, unix seconds
	scenarios     prometheus.Gauge       // live scenarios
	portalCalls   *prometheus.CounterVec // method, result: ok, retry, parked, done_already, logged
	portalErrors  *prometheus.CounterVec // code
	retries       prometheus.Counter     // delivery retries
	outbox        *prometheus.GaugeVec   // state: pending, parked
	deliveryLag   prometheus.Histogram   // commit -> delivered
	portalReqs    *prometheus.CounterVec // kind: single, batch (HTTP requests, each one against the rate limit)
	templateMiss  prometheus.Counter     // template fields rendered empty
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_events_total", Help: "Dialog events by type and outcome (applied, ignored, duplicate, rejected, error)."}, []string{"type", "outcome"})
	m.stepSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "olbot_step_duration_seconds", Help: "Time to apply one event: read, engine step and durable commit.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}})
	m.dialogs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_dialogs_total", Help: "Dialogs started, finished and handed off."}, []string{"event"})
	m.handoffs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_handoffs_total", Help: "Handoffs to operators by reason (scenario, retries, command, client_zero, no_scenario, scenario_removed)."}, []string{"reason"})
	m.invalid = prometheus.NewCounter(prometheus.CounterOpts{Name: "olbot_validation_failures_total", Help: "Answers that failed validation."})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_scenario_reloads_total", Help: "Scenario reloads by result."}, []string{"result"})
	m.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "olbot_scenario_last_reload_successful", Help: "Whether the last scenario reload loaded every file (1) or kept some at their last good version (0)."})
	m.reloadSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: "olbot_scenario_last_reload_success_timestamp_seconds", Help: "Unix time of the last fully successful scenario reload."})
	m.scenarios = prometheus.NewGauge(prometheus.GaugeOpts{Name: "olbot_scenarios_loaded", Help: "Scenarios being served."})
	m.portalCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_portal_calls_total", Help: "Portal calls by method and result (ok, retry, parked, logged)."}, []string{"method", "result"})
	m.portalErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_portal_call_errors_total", Help: "Portal call errors by error code."}, []string{"code"})
	m.retries = prometheus.NewCounter(prometheus.CounterOpts{Name: "olbot_portal_call_retries_total", Help: "Portal calls scheduled for another attempt."})
	m.outbox = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "olbot_outbox_calls", Help: "Portal calls in the outbox: pending or parked (dead letters)."}, []string{"state"})
	m.deliveryLag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "olbot_outbox_delivery_lag_seconds", Help: "Time from commit to successful delivery of a portal call.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 60, 300, 3600}})
	m.portalReqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_portal_requests_total", Help: "REST requests sent to portals by the outbox: single calls and batches (up to 50 calls each); each counts once against the portal's rate limit."}, []string{"kind"})
	m.templateMiss = prometheus.NewCounter(prometheus.CounterOpts{Name: "olbot_template_fields_missing_total", Help: "Template fields rendered empty because the dialog had no value (possible after a reload)."})
	for _, c := range []prometheus.Collector{m.events, m.stepSeconds, m.dialogs, m.handoffs, m.invalid, m.reloads, m.reloadOK, m.reloadSuccess, m.scenarios, m.portalCalls, m.portalErrors, m.retries, m.outbox, m.deliveryLag, m.portalReqs, m.templateMiss} {
		f(c)
	}
	return m
}
