//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// TestPartitionsRaisedLive raises the partitions of a Topic from 2 to 6
// while an agent writes to it. Then a second agent starts (another host
// joining), whose producer knows all 6 partitions from its first metadata
// request and so writes to the new ones at once, while the transfer that
// consumed the 2 old ones keeps running. Every line is indexed exactly
// once, including those in the new partitions.
func TestPartitionsRaisedLive(t *testing.T) {
	t.Parallel()
	p := newPipe(t, "partitions")
	p.setup(2)
	p.startTransfer("transfer")
	p.startAgent("agent-a", "--labels", "role=a")
	p.startAgent("agent-b", "--labels", "role=b")
	p.apply("entry-a.yaml", p.entryYAML("early", []string{"a-*.log"}, "  agentSelector: {matchLabels: {role: a}}\n"))

	l := &ledger{}
	var early, late []*writer
	for i := range 4 {
		early = append(early, p.newWriter(l, fmt.Sprintf("a%d", i), fmt.Sprintf("a-%d.log", i), "early"))
		late = append(late, p.newWriter(l, fmt.Sprintf("b%d", i), fmt.Sprintf("b-%d.log", i), "late"))
	}
	ss := startStreams(100, early...)
	sleep(t, 4*time.Second)

	p.apply("pipeline-6.yaml", p.topicYAML(6))
	raised := time.Now()
	eventuallyTopic(t, p.env, p.topicName, func(st topicState) bool { return st.partitions == 6 })
	t.Logf("applied partitions: 6 with %d lines written; Kafka has 6 partitions of %s %v later",
		len(l.snapshot()), p.topicName, time.Since(raised).Round(time.Millisecond))
	p.waitTopicStatus(t, p.topicName, 6)
	sleep(t, 3*time.Second)

	// agent-b's entry: its producer has never asked for the topic's
	// metadata before, so it sees 6 partitions.
	p.apply("entry-b.yaml", p.entryYAML("late", []string{"b-*.log"}, "  agentSelector: {matchLabels: {role: b}}\n"))
	ss = append(ss, startStreams(100, late...)...)
	sleep(t, 6*time.Second)
	ss.stop(t)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	counts, err := p.partitionCounts(ctx, p.topicName)
	if err != nil {
		t.Fatal(err)
	}
	var inNew int64
	for part, n := range counts {
		if part >= 2 {
			inNew += n
		}
	}
	t.Logf("records per partition of %s: %v; %d of them in the new partitions 2-5", p.topicName, countsString(counts), inNew)
	if inNew == 0 {
		t.Errorf("no record went to partitions 2-5: this run says nothing about consuming new partitions")
	}

	want := l.snapshot()
	took := p.waitIndexed(t, len(want), 60*time.Second)
	t.Logf("all indexed %v after the writing stopped", took.Round(time.Millisecond))
	p.checkIndex(t, "after raising partitions 2 to 6", want, l)
}

func countsString(m map[int32]int64) string {
	s := ""
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s += fmt.Sprintf(" %d:%d", k, m[k])
	}
	return "[" + s[min(1, len(s)):] + "]"
}
