package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

const (
	reconcileEntries = 1000
	filesPerEntry    = 10
	reconcileFiles   = reconcileEntries * filesPerEntry
	idleWindow       = 20 * time.Second
	applyChanges     = 3 // changed entries applied per run
)

// runReconcile gives one agent 1,000 CollectEntries of 10 files each and
// measures the time until every tailer runs and every line is acked, the
// time from `logpipectl apply` of one changed entry until its tailers
// restarted (and that no other tailer did), and the agent's CPU while the
// 10,000 files are idle.
func runReconcile(ctx context.Context, e *env, r *report, runs int) error {
	const scenario = "Reconcile at scale: 1,000 CollectEntries × 10 files on one agent"
	dir := filepath.Join(e.dir, "reconcile")
	defer os.RemoveAll(dir)
	line := fixedLine(lineBytes)
	for i := range reconcileEntries {
		d := filepath.Join(dir, entryName(i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for j := range filesPerEntry {
			if err := writeLines(filepath.Join(d, fmt.Sprintf("f%d.log", j)), 1, line); err != nil {
				return err
			}
		}
	}
	var allRunning, allAcked, idleCPU, effect, otherRestarts []float64
	for i := range runs {
		res, err := reconcileRun(ctx, e, dir, i)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		allRunning = append(allRunning, res.allRunning.Seconds())
		allAcked = append(allAcked, res.allAcked.Seconds())
		idleCPU = append(idleCPU, res.idleCPU*100)
		for _, d := range res.effects {
			effect = append(effect, d.Seconds()*1000)
		}
		otherRestarts = append(otherRestarts, float64(res.otherRestarts))
	}
	cse := fmt.Sprintf("%s entries, %s files of one line", thousands(reconcileEntries), thousands(reconcileFiles))
	r.add(scenario, cse, "logpipe agent", "agent start → every tailer running", "s", allRunning)
	r.add(scenario, cse, "logpipe agent", "agent start → every line acked", "s", allAcked)
	r.add(scenario, fmt.Sprintf("one entry's fields changed (%d per run)", applyChanges), "logpipe agent",
		"logpipectl apply → its 10 tailers restarted", "ms", effect).
		target("≤ 100 ms", func(m float64) bool { return m <= 100 })
	r.add(scenario, fmt.Sprintf("one entry's fields changed (%d per run)", applyChanges), "logpipe agent",
		"other tailers restarted", "", otherRestarts).
		target("0", func(m float64) bool { return m == 0 })
	r.add(scenario, fmt.Sprintf("%s idle files, %v window", thousands(reconcileFiles), idleWindow), "logpipe agent",
		"idle CPU", "% of a core", idleCPU).
		target("≤ 2 %", func(m float64) bool { return m <= 2 })
	return nil
}

func entryName(i int) string { return fmt.Sprintf("e%04d", i) }

func reconcileEntry(dir string, i int, fields map[string]string) *api.CollectEntry {
	return &api.CollectEntry{Metadata: api.ObjectMeta{Name: entryName(i)},
		Spec: api.CollectEntrySpec{Paths: []string{filepath.Join(dir, entryName(i), "*.log")}, Topic: "rec", Fields: fields}}
}

type reconcileResult struct {
	allRunning, allAcked time.Duration
	effects              []time.Duration
	otherRestarts        int
	idleCPU              float64 // cores
}

func reconcileRun(ctx context.Context, e *env, dir string, run int) (reconcileResult, error) {
	var res reconcileResult
	b, err := newBroker(3, "rec")
	if err != nil {
		return res, err
	}
	defer b.close()
	if err := e.reset(ctx); err != nil {
		return res, err
	}
	// A transaction holds at most store.MaxTxnOps objects.
	for from := 0; from < reconcileEntries; from += 50 {
		var objs []api.Object
		for i := from; i < min(from+50, reconcileEntries); i++ {
			objs = append(objs, reconcileEntry(dir, i, nil))
		}
		if err := e.apply(ctx, objs...); err != nil {
			return res, err
		}
	}
	start := time.Now()
	agent, err := e.startLogpipe("agent", "agent", "--name", "bench", "--kafka-brokers", b.addr(),
		"--data-dir", filepath.Join(e.dir, fmt.Sprintf("reconcile-data-%d", run)), "--allow-path", dir)
	if err != nil {
		return res, err
	}
	defer agent.stop()
	at, _, err := agent.waitMetric(ctx, "logpipe_agent_files_tailed", func(v float64) bool { return v >= reconcileFiles }, 5*time.Millisecond, 2*time.Minute)
	if err != nil {
		return res, err
	}
	res.allRunning = at.Sub(start)
	acked, err := b.waitAcked(ctx, "rec", reconcileFiles, 2*time.Minute)
	if err != nil {
		return res, err
	}
	res.allAcked = acked.Sub(start)

	// Idle: every line shipped, nothing written. The window spans two scan
	// intervals (10 s by default).
	time.Sleep(2 * time.Second)
	before := agent.usage().cpu
	idleStart := time.Now()
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(idleWindow):
	}
	res.idleCPU = (agent.usage().cpu - before).Seconds() / time.Since(idleStart).Seconds()

	for c := range applyChanges {
		i := 100 + run*applyChanges*37 + c*37 // a different entry each time
		d, restarted, err := applyChangedEntry(ctx, e, agent, dir, i, fmt.Sprintf("run%d-change%d", run, c))
		if err != nil {
			return res, err
		}
		res.effects = append(res.effects, d)
		res.otherRestarts += restarted - filesPerEntry
	}
	if v, err := agent.metric(ctx, "logpipe_agent_files_tailed"); err != nil || v != reconcileFiles {
		return res, fmt.Errorf("after the changes the agent tails %v files (%v), want %d", v, err, reconcileFiles)
	}
	return res, nil
}

// applyChangedEntry changes entry i's static fields with `logpipectl
// apply` and returns the time until the agent restarted its tailers, and
// how many tailers restarted in all by a second later.
func applyChangedEntry(ctx context.Context, e *env, agent *child, dir string, i int, value string) (time.Duration, int, error) {
	spec := filepath.Join(e.dir, "changed.yaml")
	doc := fmt.Sprintf(`apiVersion: %s
kind: CollectEntry
metadata:
  name: %s
spec:
  paths: [%q]
  topic: rec
  fields:
    change: %q
`, api.APIVersion, entryName(i), filepath.Join(dir, entryName(i), "*.log"), value)
	if err := os.WriteFile(spec, []byte(doc), 0o644); err != nil {
		return 0, 0, err
	}
	startsBefore, err := agent.metric(ctx, "logpipe_agent_tailer_starts_total")
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	out, err := exec.CommandContext(ctx, e.ctlBin, "apply", "-f", spec, "--etcd-endpoints", e.etcdURL).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("logpipectl apply: %v: %s", err, out)
	}
	at, _, err := agent.waitMetric(ctx, "logpipe_agent_tailer_starts_total",
		func(v float64) bool { return v >= startsBefore+filesPerEntry }, time.Millisecond, 30*time.Second)
	if err != nil {
		return 0, 0, err
	}
	effect := at.Sub(start)
	time.Sleep(time.Second) // any other restart would show by now
	startsAfter, err := agent.metric(ctx, "logpipe_agent_tailer_starts_total")
	if err != nil {
		return 0, 0, err
	}
	return effect, int(startsAfter - startsBefore), nil
}
