package reconciler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics, labelled by controller name.
// One Metrics serves every controller of a process.
type Metrics struct {
	depth    *prometheus.GaugeVec
	duration *prometheus.HistogramVec
	total    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	panics   *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (which may be
// nil to leave them unregistered, as tests do).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logpipe_reconcile_queue_depth",
			Help: "Keys waiting to be reconciled.",
		}, []string{"controller"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logpipe_reconcile_duration_seconds",
			Help:    "Time taken by one reconcile.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30},
		}, []string{"controller"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_reconcile_total",
			Help: "Reconciles run.",
		}, []string{"controller"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_reconcile_errors_total",
			Help: "Reconciles that returned an error (terminal or not).",
		}, []string{"controller"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_reconcile_panics_total",
			Help: "Reconciles that panicked (also counted as errors).",
		}, []string{"controller"}),
	}
	if reg != nil {
		reg.MustRegister(m.depth, m.duration, m.total, m.errors, m.panics)
	}
	return m
}

func (m *Metrics) setDepth(controller string, n int) {
	if m != nil {
		m.depth.WithLabelValues(controller).Set(float64(n))
	}
}

func (m *Metrics) observe(controller string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.total.WithLabelValues(controller).Inc()
	m.duration.WithLabelValues(controller).Observe(d.Seconds())
	if err != nil {
		m.errors.WithLabelValues(controller).Inc()
	}
}

func (m *Metrics) panicked(controller string) {
	if m != nil {
		m.panics.WithLabelValues(controller).Inc()
	}
}
