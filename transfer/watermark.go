package transfer

import (
	"context"
	"sync"
)

// watermark tracks, for one partition, which polled records are finished
// (indexed or dead-lettered) and so how far the partition may be committed:
// up to, not including, the first record that is not finished. Records are
// added in offset order as they are polled and finished in any order.
//
// Offsets need not be contiguous (compaction and transaction markers leave
// gaps): the watermark is the offset of the first unfinished record, or one
// past the last added record when all are finished.
//
// It is safe for concurrent use.
type watermark struct {
	mu sync.Mutex
	// slots[head:] are the records from the first unfinished one on; seq
	// numbers the records in the order they were added, and slot i holds
	// seq base+i-head.
	slots []slot
	head  int
	base  int64 // seq of slots[head]
	next  int64 // seq the next added record gets
	// unfinished counts the records added and not finished.
	unfinished int
	// last is the offset and leader epoch of the last finished record
	// before the first unfinished one: what a commit carries.
	last      slot
	hasLast   bool
	lastAdded int64
	idle      chan struct{}
}

type slot struct {
	offset int64
	epoch  int32
	done   bool
}

// add records a polled record and returns its sequence number, which
// finish takes.
func (w *watermark) add(offset int64, epoch int32) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.head > 0 && w.head >= len(w.slots)/2 {
		// Compact: the finished prefix is no longer needed.
		n := copy(w.slots, w.slots[w.head:])
		clear(w.slots[n:])
		w.slots = w.slots[:n]
		w.head = 0
	}
	w.slots = append(w.slots, slot{offset: offset, epoch: epoch})
	w.unfinished++
	w.lastAdded = offset
	seq := w.next
	w.next++
	return seq
}

// finish marks the record seq finished. Finishing a record twice, or one
// never added, is ignored.
func (w *watermark) finish(seq int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finishLocked(seq)
}

// finishAll marks every record of seqs finished, taking the lock once.
func (w *watermark) finishAll(seqs []int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range seqs {
		w.finishLocked(s)
	}
}

func (w *watermark) finishLocked(seq int64) {
	i := int(seq-w.base) + w.head
	if seq < w.base || i >= len(w.slots) || w.slots[i].done {
		return
	}
	w.slots[i].done = true
	w.unfinished--
	for w.head < len(w.slots) && w.slots[w.head].done {
		w.last, w.hasLast = w.slots[w.head], true
		w.head++
		w.base++
	}
	if w.unfinished == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

// commitPoint returns the offset to commit (the next record to read, in
// Kafka's convention) and the leader epoch of the record before it, and ok
// false while no record has been finished in order yet.
func (w *watermark) commitPoint() (offset int64, epoch int32, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.hasLast {
		return 0, 0, false
	}
	if w.head < len(w.slots) {
		return w.slots[w.head].offset, w.last.epoch, true
	}
	return w.last.offset + 1, w.last.epoch, true
}

// pending returns how many added records are not finished.
func (w *watermark) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.unfinished
}

// waitIdle blocks until every added record is finished or ctx is done, and
// reports whether they all finished.
func (w *watermark) waitIdle(ctx context.Context) bool {
	w.mu.Lock()
	if w.unfinished == 0 {
		w.mu.Unlock()
		return true
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	ch := w.idle
	w.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}
