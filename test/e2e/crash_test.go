//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestCrashes kills the daemons mid-stream with SIGKILL, which gives them no
// chance to flush, checkpoint or commit: the agent three times, then the
// transfer three times, then one of two transfers of one consumer group
// (the other takes its partitions over). After each, the index holds every
// line written exactly once: what the agent sends again after a restart,
// and what a transfer reads again, carries the same event IDs and
// overwrites.
func TestCrashes(t *testing.T) {
	t.Parallel()
	p := newPipe(t, "crash")
	p.setup(3)
	t1 := p.startTransfer("transfer-1")
	agent := p.startAgent("agent")
	p.apply("entry.yaml", p.entryYAML("crash", []string{"*.log"}, ""))

	l := &ledger{}
	var ws []*writer
	for i := range 3 {
		ws = append(ws, p.newWriter(l, fmt.Sprintf("f%d", i), fmt.Sprintf("app-%d.log", i), "crash"))
	}
	const rate = 200 // lines a second per file

	kafkaReport := func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		recs, err := p.readTopic(ctx, p.topicName)
		if err != nil {
			t.Fatal(err)
		}
		rc := countReplays(recs)
		t.Logf("Kafka topic %s holds %d records of %d distinct event IDs: %d records were sent again and overwrote their document",
			p.topicName, rc.records, rc.distinct, rc.records-rc.distinct)
	}

	step(t, "agent SIGKILL three times mid-stream", func(t *testing.T) {
		ss := startStreams(rate, ws...)
		for i := 1; i <= 3; i++ {
			sleep(t, 2500*time.Millisecond)
			pid := agent.Pid()
			if err := agent.Kill(); err != nil {
				t.Fatal(err)
			}
			written := len(l.snapshot())
			sleep(t, 500*time.Millisecond)
			agent.restart(t)
			agent.waitReady(t)
			t.Logf("kill %d: SIGKILL to the agent (pid %d) with %d lines written so far; restarted as pid %d", i, pid, written, agent.Pid())
		}
		sleep(t, 2*time.Second)
		ss.stop(t)
		want := l.snapshot()
		took := p.waitIndexed(t, len(want), 90*time.Second)
		t.Logf("all indexed %v after the writing stopped", took.Round(time.Millisecond))
		p.checkIndex(t, "after three agent kills", want, l)
		kafkaReport(t)
	})

	step(t, "transfer SIGKILL three times mid-stream", func(t *testing.T) {
		ss := startStreams(rate, ws...)
		for i := 1; i <= 3; i++ {
			// Kill it while it indexes: once it has indexed some records
			// since it (re)started, and had a second more.
			eventually(t, 45*time.Second, "the transfer indexes", func(ctx context.Context) error {
				n, err := t1.metricSum(ctx, "logpipe_transfer_docs_indexed_total")
				if err == nil && n < 500 {
					err = fmt.Errorf("%v documents indexed", n)
				}
				return err
			})
			sleep(t, time.Second)
			indexed, err := t1.metricSum(t.Context(), "logpipe_transfer_docs_indexed_total")
			if err != nil {
				t.Fatal(err)
			}
			pid := t1.Pid()
			if err := t1.Kill(); err != nil {
				t.Fatal(err)
			}
			written := len(l.snapshot())
			t1.restart(t)
			t.Logf("kill %d: SIGKILL to the transfer (pid %d) while it indexes (%v documents indexed since it started), with %d lines written so far; restarted as pid %d",
				i, pid, indexed, written, t1.Pid())
		}
		sleep(t, 2*time.Second)
		ss.stop(t)
		want := l.snapshot()
		took := p.waitIndexed(t, len(want), 90*time.Second)
		t.Logf("all indexed %v after the writing stopped", took.Round(time.Millisecond))
		p.checkIndex(t, "after three transfer kills", want, l)
		kafkaReport(t)
	})

	step(t, "two transfers in one group, one killed: the other takes over", func(t *testing.T) {
		ss := startStreams(rate, ws...)
		t2 := p.startTransfer("transfer-2")
		before := p.waitGroup(t, 2)
		t.Logf("started transfer-2 in group %s: members own %v partitions of %s", p.group, before, p.topicName)
		sleep(t, 3*time.Second)
		if err := t1.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		after := p.waitGroup(t, 1)
		t.Logf("SIGKILL to transfer-1 (pid %d); %v later the group has one member owning %v partitions (transfer-2, pid %d)",
			t1.Pid(), time.Since(killed).Round(time.Millisecond), after, t2.Pid())
		sleep(t, 3*time.Second)
		ss.stop(t)
		want := l.snapshot()
		took := p.waitIndexed(t, len(want), 90*time.Second)
		t.Logf("all indexed %v after the writing stopped", took.Round(time.Millisecond))
		p.checkIndex(t, "after the rebalance", want, l)
		kafkaReport(t)
	})
}

// waitGroup waits until the scenario's consumer group is stable with that
// many members that together own every partition of its topic, and returns
// how many partitions each owns.
func (p *pipe) waitGroup(t *testing.T, members int) []int {
	t.Helper()
	var owned []int
	eventually(t, 45*time.Second, fmt.Sprintf("group %s with %d members owning all partitions", p.group, members), func(ctx context.Context) error {
		st, err := p.topic(ctx, p.topicName)
		if err != nil {
			return err
		}
		groups, err := p.admin.DescribeGroups(ctx, p.group)
		if err != nil {
			return err
		}
		g, ok := groups[p.group]
		if !ok {
			return fmt.Errorf("no group %s", p.group)
		}
		if g.Err != nil {
			return g.Err
		}
		owned = owned[:0]
		total := 0
		for _, m := range g.Members {
			n := 0
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range a.Topics {
					if tp.Topic == p.topicName {
						n += len(tp.Partitions)
					}
				}
			}
			owned = append(owned, n)
			total += n
		}
		slices.Sort(owned)
		if g.State != "Stable" || len(g.Members) != members || total != st.partitions || slices.Contains(owned, 0) {
			return fmt.Errorf("group %s is %s with %d members owning %v of %d partitions", p.group, g.State, len(g.Members), owned, st.partitions)
		}
		return nil
	})
	return owned
}
