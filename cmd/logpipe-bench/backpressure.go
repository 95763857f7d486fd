package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

const (
	backlogFiles   = 10
	backlogBytes   = 1 << 30
	backlogPerFile = backlogBytes / lineBytes / backlogFiles
	backlogLines   = backlogPerFile * backlogFiles
	backlogSettle  = 5 * time.Second
)

// runBackpressure stops the broker, appends 1 GB across 10 files while the
// agent runs, samples the agent's RSS every second, starts the broker
// again and times the drain, ending with an exact count.
func runBackpressure(ctx context.Context, e *env, r *report, runs int) error {
	const scenario = "Backpressure: broker stopped while 1 GB is appended across 10 files"
	var down, draining, drain, drainRate, extra []float64
	for i := range runs {
		res, err := backpressureRun(ctx, e, i)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		down = append(down, float64(res.downRSS)/(1<<20))
		draining = append(draining, float64(res.drainRSS)/(1<<20))
		drain = append(drain, res.drain.Seconds())
		drainRate = append(drainRate, float64(backlogLines)/res.drain.Seconds())
		extra = append(extra, float64(res.acked-res.want))
	}
	cse := fmt.Sprintf("%s lines of 200 bytes", thousands(backlogLines))
	r.add(scenario, cse, "logpipe agent", "highest RSS, sampled each second, broker down", "MiB", down).
		target("≤ 100 MiB", func(m float64) bool { return m <= 100 })
	r.add(scenario, cse, "logpipe agent", "highest RSS, sampled each second, draining", "MiB", draining)
	r.add(scenario, cse, "logpipe agent", "broker started → backlog acked", "s", drain)
	r.add(scenario, cse, "logpipe agent", "drain rate", "lines/s", drainRate)
	r.add(scenario, cse, "logpipe agent", "records in Kafka minus lines written", "", extra).
		target("0 (exact count)", func(m float64) bool { return m == 0 })
	return nil
}

type backpressureResult struct {
	downRSS     int64 // highest RSS sample while the broker was down
	drainRSS    int64 // highest RSS sample while the backlog drained
	drain       time.Duration
	acked, want int64
}

func backpressureRun(ctx context.Context, e *env, run int) (backpressureResult, error) {
	var res backpressureResult
	b, err := newBroker(3, "bp")
	if err != nil {
		return res, err
	}
	defer b.close()
	b.makeStoppable()
	dir := filepath.Join(e.dir, fmt.Sprintf("backpressure-%d", run))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	if err := e.reset(ctx); err != nil {
		return res, err
	}
	if err := e.apply(ctx, &api.CollectEntry{Metadata: api.ObjectMeta{Name: "bp"},
		Spec: api.CollectEntrySpec{Paths: []string{filepath.Join(dir, "*.log")}, Topic: "bp"}}); err != nil {
		return res, err
	}
	line := fixedLine(lineBytes)
	const warm = 1000
	if err := writeLines(filepath.Join(dir, "warm.log"), warm, line); err != nil {
		return res, err
	}
	agent, err := e.startLogpipe("agent", "agent", "--name", "bench", "--kafka-brokers", b.addr(),
		"--data-dir", filepath.Join(dir, "data"), "--allow-path", dir)
	if err != nil {
		return res, err
	}
	defer agent.stop()
	if _, err := b.waitAcked(ctx, "bp", warm, time.Minute); err != nil {
		return res, err
	}

	sampler := sampleRSS(agent.cmd.Process.Pid, time.Second)
	b.down.Store(true)
	for i := range backlogFiles {
		if err := writeLines(filepath.Join(dir, fmt.Sprintf("f%02d.log", i)), backlogPerFile, line); err != nil {
			b.down.Store(false)
			sampler.stop()
			return res, err
		}
	}
	// Time for the agent to read into whatever it would buffer.
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(backlogSettle):
	}
	if err := agent.exited(); err != nil {
		sampler.stop()
		return res, err
	}
	res.want = warm + backlogLines
	res.downRSS = slices.Max(append(sampler.stop(), agent.usage().rss))
	sampler = sampleRSS(agent.cmd.Process.Pid, time.Second)
	b.down.Store(false)
	start := time.Now()
	at, err := b.waitAcked(ctx, "bp", res.want, 3*time.Minute)
	res.drainRSS = slices.Max(sampler.stop())
	if err != nil {
		return res, err
	}
	res.drain = at.Sub(start)
	// Late duplicates would show within a moment of the drain.
	time.Sleep(time.Second)
	res.acked = b.acked(ctx, "bp")
	return res, nil
}
