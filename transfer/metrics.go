package transfer

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the transfer's Prometheus metrics. One Metrics serves one
// Transfer; NewMetrics registers them.
type Metrics struct {
	indexed      *prometheus.CounterVec
	failed       *prometheus.CounterVec
	retried      *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	lag          *prometheus.GaugeVec
	bulkSeconds  *prometheus.HistogramVec
	inflight     prometheus.Gauge
	paused       prometheus.Gauge
	commits      *prometheus.CounterVec

	mu     sync.Mutex
	topics map[string]*topicMetrics
}

// topicMetrics caches one topic's counters, so the hot path adds to them
// without a label lookup.
type topicMetrics struct {
	indexed, failed, retried, deadLettered prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg, which may be
// nil to leave them unregistered (as tests and benchmarks do).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		indexed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_transfer_docs_indexed_total",
			Help: "Documents the search engine accepted (including 409 on create: already there).",
		}, []string{"topic"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_transfer_docs_failed_total",
			Help: "Document writes the search engine refused, retryable or not.",
		}, []string{"topic"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_transfer_docs_retried_total",
			Help: "Documents sent again after a retryable failure (429, 5xx, timeout).",
		}, []string{"topic"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_transfer_docs_dead_lettered_total",
			Help: "Records written to the dead-letter topic after the engine rejected their document.",
		}, []string{"topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logpipe_transfer_consumer_lag",
			Help: "Log end offset minus committed offset, summed over the partitions this transfer owns.",
		}, []string{"topic"}),
		bulkSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "logpipe_transfer_bulk_duration_seconds",
			Help:    "Latency of one bulk request, by result (ok, partial, error).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"result"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logpipe_transfer_inflight_bytes",
			Help: "Bytes of records polled and not yet finished (indexed or dead-lettered).",
		}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logpipe_transfer_paused_partitions",
			Help: "Partitions whose fetching is paused while their records wait for a retry.",
		}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logpipe_transfer_commits_total",
			Help: "Offset commits, by result (ok, error).",
		}, []string{"result"}),
		topics: map[string]*topicMetrics{},
	}
	if reg != nil {
		reg.MustRegister(m.indexed, m.failed, m.retried, m.deadLettered, m.lag, m.bulkSeconds, m.inflight, m.paused, m.commits)
	}
	return m
}

func (m *Metrics) topic(name string) *topicMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topics[name]
	if t == nil {
		t = &topicMetrics{
			indexed:      m.indexed.WithLabelValues(name),
			failed:       m.failed.WithLabelValues(name),
			retried:      m.retried.WithLabelValues(name),
			deadLettered: m.deadLettered.WithLabelValues(name),
		}
		m.topics[name] = t
	}
	return t
}

// forget drops a topic's lag gauge once the transfer no longer consumes it;
// its counters stay, as counters do.
func (m *Metrics) forget(name string) {
	m.lag.DeleteLabelValues(name)
}
