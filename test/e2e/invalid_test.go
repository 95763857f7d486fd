//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestInvalidSpecMidRun applies, while lines are being written, a file
// whose first document is a valid change of the running CollectEntry and
// whose others are invalid. logpipectl exits 1 naming each bad field, and
// writes nothing (not even the valid change); the pipeline does not notice:
// every line is indexed once, Kafka got each line once (no tailer was
// restarted), and the lines read around the apply show no pause.
func TestInvalidSpecMidRun(t *testing.T) {
	t.Parallel()
	p := newPipe(t, "invalid")
	p.setup(2)
	p.startTransfer("transfer")
	agent := p.startAgent("agent")
	entry := p.entryYAML("invalid", []string{"*.log"}, "")
	p.apply("entry.yaml", entry)
	before, err := p.entries()
	if err != nil {
		t.Fatal(err)
	}

	l := &ledger{}
	var ws []*writer
	for i := range 2 {
		ws = append(ws, p.newWriter(l, fmt.Sprintf("v%d", i), fmt.Sprintf("app-%d.log", i), "invalid"))
	}
	ss := startStreams(250, ws...)
	sleep(t, 4*time.Second)

	bad := entry + "  fields: {applied: \"yes\"}\n" + `---
apiVersion: logpipe.io/v1alpha1
kind: CollectEntry
metadata:
  name: invalid-too
spec:
  paths: ["relative/*.log"]
  topic: ` + p.topicName + `
  startAt: middle
---
apiVersion: logpipe.io/v1alpha1
kind: Topic
metadata:
  name: ` + p.topicName + `
spec:
  partitions: -4
  index:
    name: ` + p.index + `-{yyyy.MM.dd}
`
	applied := time.Now()
	code, stdout, stderr := p.ctlExit("apply", "-f", p.writeFile("bad.yaml", bad))
	t.Logf("logpipectl apply -f bad.yaml (a valid change of CollectEntry invalid, an invalid CollectEntry, an invalid Topic) exited %d; stdout %q; stderr:\n%s",
		code, stdout, indent(stderr))
	if code != 1 {
		t.Errorf("logpipectl apply of invalid specs exited %d, want 1", code)
	}
	for _, field := range []string{"spec.paths[0]", "spec.startAt", "spec.partitions"} {
		if !strings.Contains(stderr, field) {
			t.Errorf("logpipectl apply's errors do not name %s", field)
		}
	}
	sleep(t, 4*time.Second)
	ss.stop(t)

	after, err := p.entries()
	if err != nil {
		t.Fatal(err)
	}
	if g0, g1 := before["invalid"].Metadata.Generation, after["invalid"].Metadata.Generation; g0 != g1 {
		t.Errorf("CollectEntry invalid went from generation %d to %d: the bad file was half applied", g0, g1)
	}
	if _, ok := after["invalid-too"]; ok {
		t.Errorf("CollectEntry invalid-too was stored")
	}
	if st, err := p.topic(p.ctx(), p.topicName); err != nil || st.partitions != 2 {
		t.Errorf("topic %s has %d partitions (%v), want still 2", p.topicName, st.partitions, err)
	}
	t.Logf("etcd still has CollectEntry invalid at generation %d and no invalid-too; Kafka still has %s with 2 partitions",
		after["invalid"].Metadata.Generation, p.topicName)

	want := l.snapshot()
	p.waitIndexed(t, len(want), 60*time.Second)
	ic := p.checkIndex(t, "after the rejected apply", want, l)
	if !agentAlive(agent) {
		t.Fatalf("the agent exited")
	}

	// No document carries the field of the rejected change.
	for _, d := range ic.docs {
		if d.field("fields.applied") != nil {
			t.Fatalf("document %s has fields.applied: the rejected change reached the agent", d.ID)
		}
	}
	// Kafka got every line once: no tailer restarted and read again.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	recs, err := p.readTopic(ctx, p.topicName)
	if err != nil {
		t.Fatal(err)
	}
	rc := countReplays(recs)
	t.Logf("Kafka topic %s holds %d records of %d distinct event IDs for %d lines", p.topicName, rc.records, rc.distinct, len(want))
	if rc.records != len(want) || rc.distinct != len(want) {
		t.Errorf("the lines went to Kafka %d times (%d distinct), want exactly once each: the pipeline noticed", rc.records, rc.distinct)
	}
	// The lines' read times (@timestamp) show no pause around the apply.
	gap, at := maxGap(ic.docs, applied.Add(-2*time.Second), applied.Add(3*time.Second))
	t.Logf("from 2 s before the apply to 3 s after it the agent read lines without a pause longer than %v (at %s)", gap.Round(time.Millisecond), at.Format("15:04:05.000"))
	if gap > 2*time.Second {
		t.Errorf("the agent paused %v at %s, around the rejected apply", gap, at.Format(time.RFC3339Nano))
	}
}

// agentAlive says whether the daemon is still running.
func agentAlive(d *daemon) bool {
	exited, _ := d.Exited()
	return !exited
}

// maxGap returns the longest time between the @timestamps (the agent's read
// times) of consecutive documents in [from, to], and where it starts.
func maxGap(docs []doc, from, to time.Time) (time.Duration, time.Time) {
	var ts []time.Time
	for _, d := range docs {
		t, err := time.Parse(time.RFC3339Nano, d.str("@timestamp"))
		if err == nil && !t.Before(from) && !t.After(to) {
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	var gap time.Duration
	var at time.Time
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]); d > gap {
			gap, at = d, ts[i-1]
		}
	}
	return gap, at
}
