//go:build e2e

package e2e

import (
	"testing"
	"time"
)

// TestRotationUnderLoad rotates two files while lines are written to them
// at a steady rate: one by renaming it every MiB (and writing a few
// more lines to the renamed file, as an application does until it
// reopens its log), the other by copytruncate every MiB. The rotated
// copies do not match the entry's glob. Every line written is indexed
// exactly once, with the path it was written under and its offset in
// that generation of the file.
//
// copytruncate loses, for any shipper, what has not been read when the
// file is truncated; the writer therefore truncates once the agent reports
// the file shipped to its end, and the rename-rotated file keeps being
// written meanwhile.
func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	p := newPipe(t, "rotation")
	p.setup(2)
	p.startTransfer("transfer")
	agent := p.startAgent("agent")
	p.apply("entry.yaml", p.entryYAML("rotation", []string{"*.log"}, ""))

	const every = 1 << 20
	l := &ledger{}
	renamed := p.newWriter(l, "rename", "rename.log", "rotation")
	renamed.rotate, renamed.rotateBytes = renameRotation, every
	truncated := p.newWriter(l, "copy", "copy.log", "rotation")
	truncated.rotate, truncated.rotateBytes = copyTruncate, every
	var waits []time.Duration // written by the stream of truncated only
	truncated.beforeTruncate = func(w *writer) error {
		start := time.Now()
		err := p.waitShipped("rotation", w.path, w.off)
		waits = append(waits, time.Since(start).Round(time.Millisecond))
		return err
	}
	// About 900 KB a second in all.
	ss := startStreams(2500, renamed, truncated)
	start := time.Now()
	for renamed.rotations.Load() < 3 || truncated.rotations.Load() < 3 {
		if time.Since(start) > 60*time.Second {
			ss.stop(t)
			t.Fatalf("only %d rename rotations and %d copytruncates in %v", renamed.rotations.Load(), truncated.rotations.Load(), time.Since(start))
		}
		sleep(t, 100*time.Millisecond)
	}
	sleep(t, time.Second)
	ss.stop(t)
	t.Logf("in %v: %d rename rotations of %s and %d copytruncates of %s (waiting %v for the agent before each truncation)",
		time.Since(start).Round(time.Millisecond), renamed.rotations.Load(), renamed.path, truncated.rotations.Load(), truncated.path, waits)

	want := l.snapshot()
	took := p.waitIndexed(t, len(want), 90*time.Second)
	t.Logf("all indexed %v after the writing stopped", took.Round(time.Millisecond))
	p.checkIndex(t, "after rotations under load", want, l)
	if v, err := agent.metric(p.ctx(), "logpipe_agent_truncations_total"); err == nil {
		t.Logf("the agent counted %v truncations (logpipe_agent_truncations_total)", v)
	}
}
