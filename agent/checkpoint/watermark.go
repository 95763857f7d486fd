package checkpoint

import (
	"fmt"
	"sort"
	"sync"
)

// Watermark computes one file's checkpoint from acknowledgements that may
// arrive out of order: Kafka acknowledges each partition's batches on their
// own, and retries reorder them. Add each event's End as it is handed to the
// producer, in file order; Ack it when Kafka acknowledged it (or at once,
// for a filtered event). Committed is then the End of the longest prefix of
// events all acknowledged: the offset safe to checkpoint.
//
// It keeps only the events in flight, so its memory is bounded by what the
// producer buffers. Its methods are safe for concurrent use.
type Watermark struct {
	mu        sync.Mutex
	committed int64
	last      int64      // the End most recently added
	pending   []inflight // in file order; pending[head:] are in flight
	head      int
}

// compactAfter is how many acknowledged entries may precede those in
// flight before Add moves the latter to the front.
const compactAfter = 64

type inflight struct {
	end   int64
	acked bool
}

// NewWatermark returns a Watermark for a file read from start: Committed
// is start until the first event is acknowledged.
func NewWatermark(start int64) *Watermark {
	return &Watermark{committed: start, last: start}
}

// Add records an event ending at end as handed over. Ends must increase
// from one Add to the next, and exceed the start; Add panics otherwise,
// since a checkpoint computed from events out of file order could pass a
// line never shipped.
func (w *Watermark) Add(end int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if end <= w.last {
		panic(fmt.Sprintf("checkpoint: Watermark.Add(%d) after %d: ends must increase", end, w.last))
	}
	w.last = end
	if w.head > 0 && w.head == len(w.pending) {
		w.pending, w.head = w.pending[:0], 0
	} else if w.head >= compactAfter && w.head*2 >= len(w.pending) {
		// Acknowledged events at the front take more room than those
		// still in flight: move the latter down. Each copy moves at most
		// as many entries as were acknowledged since the last one, and it
		// keeps the slice near twice what is in flight: with a hundred
		// files, a larger threshold let every file's slice grow to
		// thousands of entries, megabytes of the agent's heap in all.
		n := copy(w.pending, w.pending[w.head:])
		w.pending, w.head = w.pending[:n], 0
		if cap(w.pending) > 4*max(n, compactAfter) {
			// A burst in flight grew the slice; give the room back, or
			// every file keeps its highest burst's worth.
			w.pending = append(make([]inflight, 0, 2*max(n, compactAfter)), w.pending...)
		}
	}
	w.pending = append(w.pending, inflight{end: end})
}

// Ack records that the event ending at end was acknowledged, and reports
// whether it was in flight: false for an end never added, or acknowledged
// before.
func (w *Watermark) Ack(end int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pending[w.head:]
	i := sort.Search(len(p), func(i int) bool { return p[i].end >= end })
	if i == len(p) || p[i].end != end || p[i].acked {
		return false
	}
	p[i].acked = true
	for w.head < len(w.pending) && w.pending[w.head].acked {
		w.committed = w.pending[w.head].end
		w.head++
	}
	return true
}

// Committed returns the End of the longest prefix of added events that are
// all acknowledged, or the start offset while the first is not.
func (w *Watermark) Committed() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.committed
}

// InFlight returns how many added events are not yet part of the committed
// prefix.
func (w *Watermark) InFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending) - w.head
}
