// Command logpipe-bench measures the logpipe binaries the way an operator
// would judge them: agent and transfer throughput in their own processes,
// end-to-end latency from the write to the document being searchable,
// reconciling 1,000 CollectEntries over 10,000 files, the agent's memory
// while the broker is down, and the same workload through rsyslog's
// imfile→omkafka when it is installed.
//
// It starts what it needs (an etcd server and a Kafka broker, kfake, in
// its own process; the daemons as child processes, whose CPU time and RSS
// are read from /proc), bounds every run in count and time, and writes
// report.md and report.json to --out. Every figure is the median of --runs
// runs with min and max beside it. `make bench` runs it; the figures in
// docs/benchmarks.md come from it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// scenario is one part of the report.
type scenario struct {
	name string
	run  func(ctx context.Context, e *env, r *report, runs int) error
}

var scenarios = []scenario{
	{"throughput", runThroughput},
	{"latency", runLatency},
	{"reconcile", runReconcile},
	{"backpressure", runBackpressure},
}

func main() {
	var (
		bin     = flag.String("logpipe", "bin/logpipe", "the logpipe binary to measure")
		ctlBin  = flag.String("logpipectl", "bin/logpipectl", "the logpipectl binary")
		out     = flag.String("out", "bench-results", "directory for report.md, report.json and the daemons' logs")
		runs    = flag.Int("runs", 3, "runs of every case; each figure is their median")
		only    = flag.String("only", "", "comma-separated scenarios to run (default all): "+scenarioNames())
		timeout = flag.Duration("timeout", 11*time.Minute, "bound on the whole run")
		osURL   = flag.String("opensearch-url", "", "an OpenSearch (or Elasticsearch) to measure latency against")
		osPrep  = flag.String("opensearch-prepare", "", "the e2e suite's prepare.sh: run it and start an OpenSearch node from the jars it fetches, to measure latency against")
	)
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err := run(*bin, *ctlBin, *out, *runs, *only, *timeout, *osURL, *osPrep); err != nil {
		fmt.Fprintln(os.Stderr, "logpipe-bench:", err)
		os.Exit(1)
	}
}

func scenarioNames() string {
	var names []string
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return strings.Join(names, ",")
}

func run(bin, ctlBin, out string, runs int, only string, timeout time.Duration, openSearchURL, openSearchPrepare string) error {
	if runs < 1 {
		return fmt.Errorf("--runs must be at least 1, not %d", runs)
	}
	var chosen []scenario
	for _, s := range scenarios {
		if only == "" || slices.Contains(strings.Split(only, ","), s.name) {
			chosen = append(chosen, s)
		}
	}
	if len(chosen) == 0 {
		return fmt.Errorf("--only %q names no scenario; want some of %s", only, scenarioNames())
	}
	for _, p := range []*string{&bin, &ctlBin} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("%s: %w (run make build first)", *p, err)
		}
		*p = abs
	}
	logDir := filepath.Join(out, "logs")
	if err := os.RemoveAll(logDir); err != nil {
		return err
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "logpipe-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	defer cancelTimeout()

	r := &report{Started: time.Now(), Command: strings.Join(append([]string{"logpipe-bench"}, os.Args[1:]...), " "), Machine: describeMachine()}
	e, err := newEnv(ctx, bin, ctlBin, scratch, logDir)
	if err != nil {
		return err
	}
	defer e.close()
	e.openSearchURL, e.openSearchPrepare = openSearchURL, openSearchPrepare

	var failed []string
	for _, s := range chosen {
		start := time.Now()
		slog.Info("scenario starting", "scenario", s.name)
		if err := e.reset(ctx); err != nil {
			return err
		}
		if err := s.run(ctx, e, r, runs); err != nil {
			failed = append(failed, s.name)
			r.note("scenario %s failed: %v", s.name, err)
			slog.Error("scenario failed", "scenario", s.name, "err", err)
		}
		slog.Info("scenario done", "scenario", s.name, "elapsed", time.Since(start).Round(time.Second))
	}
	r.Duration = time.Since(r.Started).Round(time.Second).String()
	r.Machine.LoadAtEnd = loadAverage()

	md := r.markdown()
	if err := os.WriteFile(filepath.Join(out, "report.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := r.writeJSON(filepath.Join(out, "report.json")); err != nil {
		return err
	}
	fmt.Print(md)
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s (logs in %s)", strings.Join(failed, ", "), logDir)
	}
	return nil
}
