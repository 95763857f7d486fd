package transfer

import (
	"context"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestWatermarkNeverPassesAnUnfinishedRecord is the commit rule as a
// property: records with rising, gapped offsets finish in a random order,
// and after every step the commit point is exactly the first unfinished
// offset (one past the last record once all are finished): never beyond an
// unfinished record, and never behind the finished prefix.
func TestWatermarkNeverPassesAnUnfinishedRecord(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var w watermark
		n := rapid.IntRange(1, 300).Draw(t, "records")
		offsets := make([]int64, n)
		seqs := make([]int64, n)
		off := rapid.Int64Range(0, 1000).Draw(t, "first offset")
		for i := range n {
			off += rapid.Int64Range(1, 3).Draw(t, "gap") // compaction and markers leave gaps
			offsets[i] = off
			seqs[i] = w.add(off, int32(i))
		}
		finished := make([]bool, n)
		order := rapid.Permutation(seqs).Draw(t, "finish order")
		for step, seq := range order {
			// Some records are finished twice: a retry after an
			// abandoned attempt must not move the watermark.
			w.finish(seq)
			if rapid.Bool().Draw(t, "finish again") {
				w.finish(seq)
			}
			finished[seq] = true

			first := -1
			for i, f := range finished {
				if !f {
					first = i
					break
				}
			}
			got, _, ok := w.commitPoint()
			switch {
			case first == 0:
				if ok {
					t.Fatalf("step %d: commit point %d while the first record is unfinished", step, got)
				}
			case first > 0:
				if !ok || got != offsets[first] {
					t.Fatalf("step %d: commit point %d (ok %v), want %d, the first unfinished offset", step, got, ok, offsets[first])
				}
			default:
				if !ok || got != offsets[n-1]+1 {
					t.Fatalf("step %d: all finished: commit point %d, want %d", step, got, offsets[n-1]+1)
				}
			}
			if want := n - step - 1; w.pending() != want {
				t.Fatalf("step %d: pending %d, want %d", step, w.pending(), want)
			}
		}
	})
}

func TestWatermarkCompactsAndWaits(t *testing.T) {
	var w watermark
	// Far more records than ever wait at once: the slots are reused.
	for i := range int64(100_000) {
		seq := w.add(i, 7)
		w.finish(seq)
	}
	if off, epoch, ok := w.commitPoint(); !ok || off != 100_000 || epoch != 7 {
		t.Fatalf("commit point %d epoch %d ok %v, want 100000 epoch 7", off, epoch, ok)
	}
	if cap(w.slots) > 64 {
		t.Errorf("%d slots kept for 0 unfinished records", cap(w.slots))
	}

	a := w.add(100_000, 8)
	b := w.add(100_005, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if w.waitIdle(ctx) {
		t.Fatal("waitIdle returned true with two unfinished records")
	}
	cancel()
	done := make(chan bool)
	go func() { done <- w.waitIdle(context.Background()) }()
	w.finishAll([]int64{b, a})
	if !<-done {
		t.Fatal("waitIdle did not see the records finish")
	}
	if off, _, _ := w.commitPoint(); off != 100_006 {
		t.Fatalf("commit point %d, want 100006", off)
	}
}
