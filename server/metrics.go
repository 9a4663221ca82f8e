package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's own Prometheus metrics (scenario reloads), on
// the registry every part registers on (Options.Metrics), so that several
// servers (tests) can run in one process.
type metrics struct {
	reg *prometheus.Registry

	reloads       *prometheus.CounterVec // result: success, failure
	reloadOK      prometheus.Gauge       // last reload successful (0/1)
	reloadSuccess prometheus.Gauge       // last successful reload, unix seconds
	scenarios     prometheus.Gauge       // live scenarios
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{reg: reg,
		reloads:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_scenario_reloads_total", Help: "Scenario reloads by result."}, []string{"result"}),
		reloadOK:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "olbot_scenario_last_reload_successful", Help: "Whether the last scenario reload loaded every file (1) or kept some at their last good version (0)."}),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "olbot_scenario_last_reload_success_timestamp_seconds", Help: "Unix time of the last fully successful scenario reload."}),
		scenarios:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "olbot_scenarios_loaded", Help: "Scenarios being served."}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.reloads, m.reloadOK, m.reloadSuccess, m.scenarios)
	return m
}
