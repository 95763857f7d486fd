//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestHotReload adds, changes and deletes CollectEntries of a running agent
// while lines are being written to the files of all of them. The agent
// touches only the entry that changed: the untouched entry's lines are
// indexed with no gap, and Kafka got each of them exactly once (no replay:
// its tailers were not restarted). The added entry ships its file from the
// start, the changed one carries its new field, and the deleted one ships
// nothing written after the deletion.
func TestHotReload(t *testing.T) {
	t.Parallel()
	p := newPipe(t, "reload")
	p.setup(3)
	p.startTransfer("transfer")
	agent := p.startAgent("agent")
	keepYAML := p.entryYAML("keep", []string{"keep-*.log"}, "")
	changeYAML := p.entryYAML("change", []string{"change-*.log"}, "")
	p.apply("entries.yaml", keepYAML+"---\n"+changeYAML+"---\n"+p.entryYAML("gone", []string{"gone-*.log"}, ""))

	l := &ledger{}
	keep := []*writer{p.newWriter(l, "keep0", "keep-0.log", "keep"), p.newWriter(l, "keep1", "keep-1.log", "keep")}
	change := p.newWriter(l, "change", "change-0.log", "change")
	gone := p.newWriter(l, "gone", "gone-0.log", "gone")
	late := p.newWriter(l, "late", "late-0.log", "late")
	const rate = 150
	ss := startStreams(rate, keep...)
	changeS, goneS := startStream(change, rate), startStream(gone, rate)
	lateS := startStream(late, rate) // written before its entry exists
	start := time.Now()
	sleep(t, 3*time.Second)

	lateLines := 0
	for _, w := range l.snapshot() {
		if w.entry == "late" {
			lateLines++
		}
	}
	p.apply("late.yaml", p.entryYAML("late", []string{"late-*.log"}, ""))
	t.Logf("%v: added CollectEntry late, whose file has %d lines already", time.Since(start).Round(time.Millisecond), lateLines)
	sleep(t, 3*time.Second)

	p.apply("change.yaml", changeYAML+"  fields: {version: \"2\"}\n")
	changed := time.Now()
	eventually(t, 15*time.Second, "the agent reports CollectEntry change at generation 2", func(context.Context) error {
		es, err := p.entries()
		if err != nil {
			return err
		}
		for _, a := range es["change"].Status.Agents {
			if a.ObservedGeneration == 2 {
				return nil
			}
		}
		return fmt.Errorf("status %+v", es["change"].Status)
	})
	observed := time.Now()
	t.Logf("%v: changed CollectEntry change (fields.version: \"2\"); the agent reports generation 2 %v later",
		changed.Sub(start).Round(time.Millisecond), observed.Sub(changed).Round(time.Millisecond))
	sleep(t, 3*time.Second)

	// Stop writing gone's file and let its lines reach Kafka, so that what
	// the deletion stops is exactly the lines written after it.
	goneS.stop(t)
	if err := p.waitShipped("gone", gone.path, gone.off); err != nil {
		t.Fatal(err)
	}
	tailed, err := agent.metric(p.ctx(), "logpipe_agent_files_tailed")
	if err != nil {
		t.Fatal(err)
	}
	p.mustCtl("delete", "collectentry", "gone")
	deleted := time.Now()
	eventually(t, 15*time.Second, "the agent stops tailing gone's file", func(ctx context.Context) error {
		v, err := agent.metric(ctx, "logpipe_agent_files_tailed")
		if err == nil && v != tailed-1 {
			err = fmt.Errorf("logpipe_agent_files_tailed %v, want %v", v, tailed-1)
		}
		return err
	})
	t.Logf("%v: deleted CollectEntry gone after its %d lines were shipped; the agent tails %v files instead of %v %v later",
		deleted.Sub(start).Round(time.Millisecond), gone.seq, tailed-1, tailed, time.Since(deleted).Round(time.Millisecond))
	afterDelete := &ledger{}
	gone.l = afterDelete
	if err := gone.write(300); err != nil {
		t.Fatal(err)
	}
	sleep(t, 3*time.Second)
	ss.stop(t)
	changeS.stop(t)
	lateS.stop(t)
	ended := time.Now()

	want := l.snapshot()
	t.Logf("wrote %s to be shipped, and then %d lines into gone's file after its entry was deleted", l, len(afterDelete.snapshot()))
	p.waitIndexed(t, len(want), 60*time.Second)
	ic := p.checkIndex(t, "after adding, changing and deleting entries", want, l)

	// The untouched entry: no pause in its lines' read times.
	var keepDocs []doc
	for _, w := range want {
		if w.entry == "keep" {
			keepDocs = append(keepDocs, ic.byKey[w.key])
		}
	}
	gap, at := maxGap(keepDocs, start.Add(time.Second), ended.Add(-time.Second))
	t.Logf("entry keep: %d lines; its read times show no pause longer than %v (at %s)", len(keepDocs), gap.Round(time.Millisecond), at.Format("15:04:05.000"))
	if gap > 2*time.Second {
		t.Errorf("entry keep: the agent paused %v at %s", gap, at.Format(time.RFC3339Nano))
	}

	// The changed entry: the lines written after the agent took the change
	// carry the new field.
	var withField, without, lateWithout int
	for _, w := range want {
		if w.entry != "change" {
			continue
		}
		if ic.byKey[w.key].str("fields.version") == "2" {
			withField++
		} else {
			without++
			if w.at.After(observed.Add(time.Second)) {
				lateWithout++
			}
		}
	}
	t.Logf("entry change: %d documents with fields.version 2, %d without (%d of those written more than 1 s after the agent took the change)", withField, without, lateWithout)
	if withField == 0 || lateWithout > 0 {
		t.Errorf("entry change: the change did not reach the lines written after it")
	}

	// No replay of the untouched entry in Kafka: each of its lines was
	// produced exactly once.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	recs, err := p.readTopic(ctx, p.topicName)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, w := range want {
		count[w.entry]++
	}
	for _, entry := range []string{"keep", "change", "late", "gone"} {
		rc := countReplays(recs, entry)
		t.Logf("Kafka: entry %s has %d records of %d distinct event IDs for %d lines", entry, rc.records, rc.distinct, count[entry])
		if entry == "keep" && (rc.records != count[entry] || rc.distinct != count[entry]) {
			t.Errorf("entry keep, untouched, was replayed: %d records of %d distinct IDs for %d lines", rc.records, rc.distinct, count[entry])
		}
	}
}
