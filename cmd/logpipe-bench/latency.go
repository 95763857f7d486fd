package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/search"
)

// latencyCase is a write rate held for a time.
type latencyCase struct {
	rate     int // lines per second
	duration time.Duration
}

var latencyCases = []latencyCase{{10_000, 10 * time.Second}, {100_000, 5 * time.Second}}

const (
	warmupLines  = 100
	drainTimeout = 60 * time.Second
)

// runLatency writes JSON lines at a steady rate into a file the agent
// tails, through Kafka and the transfer, into a sink that notes when each
// document arrived: at once (the pipeline alone) or once the embedded
// search engine has indexed it (searchable).
func runLatency(ctx context.Context, e *env, r *report, runs int) error {
	const scenario = "End-to-end latency: write → searchable, 200-byte JSON lines, default flags"
	engine, err := search.Open(filepath.Join(e.dir, "index"), search.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer engine.Close()
	// The embedded engine indexes far fewer documents a second than these
	// rates (see BenchmarkBulk in search): one run shows by how much.
	r.note("latency: the embedded search engine is measured in one run per rate, since it does not keep up with them")
	sink, err := newBulkSink(nil)
	if err != nil {
		return err
	}
	embedded, err := newBulkSink(engine)
	if err != nil {
		sink.close()
		return err
	}
	dests := []struct {
		name string
		dest destination
		runs int
	}{{"bulk endpoint answering at once", sink, runs}, {"embedded search engine", embedded, 1}}
	if url, stop, err := e.openSearch(ctx); err != nil {
		r.note("latency: OpenSearch not measured: %v", err)
	} else {
		defer stop()
		name := "OpenSearch"
		if v, err := engineVersion(ctx, url); err == nil {
			name = v
		}
		r.note("latency, %s: a document counts as searchable when a search finds it; the harness searches every %v, and the index refreshes every second (the default)", name, searchPollEvery)
		dests = append(dests, struct {
			name string
			dest destination
			runs int
		}{name, newSearchWatcher(url, "bench-lat*"), runs})
	}
	defer func() {
		for _, d := range dests {
			d.dest.close()
		}
	}()
	for _, d := range dests {
		if err := latencyWith(ctx, e, r, scenario, d.name, d.dest, d.runs); err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
	}
	return nil
}

// destination is where the latency scenario's transfer writes, and what
// tells when each document arrived there.
type destination interface {
	endpoint() string
	onArrival(fn func(doc []byte, at time.Time))
	waitDocs(ctx context.Context, want int64, c *child, timeout time.Duration) error
	close()
}

func latencyWith(ctx context.Context, e *env, r *report, scenario, sinkName string, sink destination, runs int) error {
	b, err := newBroker(3, "lat")
	if err != nil {
		return err
	}
	defer b.close()
	dir := filepath.Join(e.dir, "latency")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.log")
	if err := e.reset(ctx); err != nil {
		return err
	}
	if err := e.apply(ctx, benchTopic("lat"), &api.CollectEntry{Metadata: api.ObjectMeta{Name: "lat"},
		Spec: api.CollectEntrySpec{Paths: []string{path}, Topic: "lat", Format: api.FormatJSON}}); err != nil {
		return err
	}
	agent, err := e.startLogpipe("agent", "agent", "--name", "bench", "--kafka-brokers", b.addr(),
		"--data-dir", filepath.Join(dir, "data"), "--allow-path", dir)
	if err != nil {
		return err
	}
	defer agent.stop()
	tr, err := e.startLogpipe("transfer", "transfer", "--kafka-brokers", b.addr(), "--es-urls", sink.endpoint(), "--group", "lat")
	if err != nil {
		return err
	}
	defer tr.stop()

	// The first lines wait for the consumer group to form; they are not
	// measured.
	if err := writeJSONLines(path, 0, warmupLines); err != nil {
		return err
	}
	if err := sink.waitDocs(ctx, warmupLines, tr, time.Minute); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	next := int64(warmupLines)
	sustained := true
	for _, lc := range latencyCases {
		var p50, p99, worst []float64
		cse := fmt.Sprintf("%s lines/s for %v, %s", thousands(int64(lc.rate)), lc.duration, sinkName)
		if !sustained {
			r.note("latency, %s: not run: at a lower rate the backlog grew (p99 longer than the run, or not drained)", cse)
		}
		for i := 0; i < runs && sustained; i++ {
			res, err := latencyRun(ctx, sink, tr, path, next, lc)
			next += int64(lc.rate) * int64(lc.duration/time.Second)
			if err != nil {
				r.note("latency, %s, run %d: %v", cse, i+1, err)
				sustained = false
				break
			}
			if res.p99 > lc.duration {
				// Lines waited longer than the run lasted: the backlog grew
				// all along, and a higher rate would only wait for the drain.
				sustained = false
			}
			p50 = append(p50, res.p50.Seconds()*1000)
			p99 = append(p99, res.p99.Seconds()*1000)
			worst = append(worst, res.max.Seconds()*1000)
			if res.duplicates > 0 {
				r.note("latency, %s, run %d: %d documents arrived twice (replays carry the same _id)", cse, i+1, res.duplicates)
			}
		}
		r.add(scenario, cse, "logpipe", "p50", "ms", p50)
		f := r.add(scenario, cse, "logpipe", "p99", "ms", p99)
		if lc.rate == 10_000 {
			f.target("≤ 1,000 ms", func(m float64) bool { return m <= 1000 })
		}
		r.add(scenario, cse, "logpipe", "max", "ms", worst)
	}
	return nil
}

type latencyResult struct {
	p50, p99, max time.Duration
	duplicates    int64
}

// latencyRun writes lc.rate lines a second for lc.duration, seq from
// first on, and waits until each has arrived at the sink.
func latencyRun(ctx context.Context, sink destination, tr *child, path string, first int64, lc latencyCase) (latencyResult, error) {
	n := int64(lc.rate) * int64(lc.duration/time.Second)
	written := make([]int64, n) // nanoseconds since origin
	arrived := make([]atomic.Int64, n)
	var seen, dups atomic.Int64
	origin := time.Now()
	sink.onArrival(func(doc []byte, at time.Time) {
		i := seqOf(doc) - first
		if i < 0 || i >= n {
			return
		}
		if arrived[i].CompareAndSwap(0, int64(at.Sub(origin))) {
			seen.Add(1)
		} else {
			dups.Add(1)
		}
	})
	defer sink.onArrival(nil)

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return latencyResult{}, err
	}
	defer f.Close()
	buf := make([]byte, 0, 1<<20)
	var done int64
	for done < n {
		due := min(n, int64(time.Since(origin).Seconds()*float64(lc.rate))+1)
		buf = buf[:0]
		for seq := done; seq < due; seq++ {
			buf = jsonLine(buf, first+seq)
		}
		if _, err := f.Write(buf); err != nil {
			return latencyResult{}, err
		}
		at := int64(time.Since(origin))
		for seq := done; seq < due; seq++ {
			written[seq] = at
		}
		done = due
		select {
		case <-ctx.Done():
			return latencyResult{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}

	deadline := time.Now().Add(drainTimeout)
	for seen.Load() < n {
		if err := tr.exited(); err != nil {
			return latencyResult{}, err
		}
		if time.Now().After(deadline) {
			return latencyResult{}, fmt.Errorf("%d of %d lines searchable %v after the last write: the rate is not sustained", seen.Load(), n, drainTimeout)
		}
		select {
		case <-ctx.Done():
			return latencyResult{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	lat := make([]time.Duration, n)
	for i := range n {
		lat[i] = time.Duration(arrived[i].Load() - written[i])
	}
	slices.Sort(lat)
	return latencyResult{
		p50:        lat[n/2],
		p99:        lat[n*99/100],
		max:        lat[n-1],
		duplicates: dups.Load(),
	}, nil
}
