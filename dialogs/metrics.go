package dialogs

import "github.com/prometheus/client_golang/prometheus"

// metrics are the event path's Prometheus metrics.
type metrics struct {
	events       *prometheus.CounterVec // type, outcome
	stepSeconds  prometheus.Histogram   // engine step + commit
	dialogs      *prometheus.CounterVec // event: started, finished, handed_off
	handoffs     *prometheus.CounterVec // reason
	invalid      prometheus.Counter     // validation failures
	templateMiss prometheus.Counter     // template fields rendered empty
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_events_total", Help: "Dialog events by type and outcome (applied, ignored, duplicate, rejected, error)."}, []string{"type", "outcome"}),
		stepSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "olbot_step_duration_seconds", Help: "Time to apply one event: read, engine step and durable commit.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}),
		dialogs:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_dialogs_total", Help: "Dialogs started, finished and handed off."}, []string{"event"}),
		handoffs:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "olbot_handoffs_total", Help: "Handoffs to operators by reason (scenario, retries, command, client_zero, no_scenario, scenario_removed)."}, []string{"reason"}),
		invalid:      prometheus.NewCounter(prometheus.CounterOpts{Name: "olbot_validation_failures_total", Help: "Answers that failed validation."}),
		templateMiss: prometheus.NewCounter(prometheus.CounterOpts{Name: "olbot_template_fields_missing_total", Help: "Template fields rendered empty because the dialog had no value (possible after a reload)."}),
	}
	reg.MustRegister(m.events, m.stepSeconds, m.dialogs, m.handoffs, m.invalid, m.templateMiss)
	return m
}
