package agent

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	shippedCount  atomic.Int64 // linesShipped, readable without a registry
	linesShipped  prometheus.Counter
	linesFiltered prometheus.Counter
	produceErrors prometheus.Counter
	truncations   prometheus.Counter
	filesTailed   prometheus.Gauge
	tailerStarts  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		linesShipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logpipe_agent_events_shipped_total",
			Help: "Events (lines or multiline events) acknowledged by Kafka.",
		}),
		linesFiltered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logpipe_agent_events_filtered_total",
			Help: "Events dropped by includeLines/excludeLines.",
		}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logpipe_agent_produce_errors_total",
			Help: "Records Kafka refused for good; their file is read again from its checkpoint.",
		}),
		truncations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logpipe_agent_truncations_total",
			Help: "Files found truncated (copytruncate) and read again from the start.",
		}),
		filesTailed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "logpipe_agent_files_tailed",
			Help: "Files open for tailing.",
		}),
		tailerStarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logpipe_agent_tailer_starts_total",
			Help: "Files opened for tailing: first reads, restarts of changed entries, reopened idle files.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.linesShipped, m.linesFiltered, m.produceErrors, m.truncations, m.filesTailed, m.tailerStarts)
	}
	return m
}

func (m *metrics) shipped() int64 { return m.shippedCount.Load() }
