package transfer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers the transfer adds to a dead-letter record, besides the original
// record's headers.
const (
	// HeaderErrorStatus is the HTTP status the engine gave the document.
	HeaderErrorStatus = "logpipe.error.status"
	// HeaderErrorType is the engine's error type (mapper_parsing_exception).
	HeaderErrorType = "logpipe.error.type"
	// HeaderErrorReason is the engine's reason, in its words.
	HeaderErrorReason = "logpipe.error.reason"
	// HeaderErrorIndex is the index the document was meant for.
	HeaderErrorIndex = "logpipe.error.index"
	// HeaderSourceTopic, HeaderSourcePartition and HeaderSourceOffset say
	// where the record was read.
	HeaderSourceTopic     = "logpipe.source.topic"
	HeaderSourcePartition = "logpipe.source.partition"
	HeaderSourceOffset    = "logpipe.source.offset"
)

// item is one polled record on its way to the index.
type item struct {
	rec   *kgo.Record
	part  *partition
	seq   int64 // in part.wm
	topic *topicConfig
	size  int64 // budget charged
	est   int   // estimated document bytes, for batch sizing

	action Action
	result Result // the last failed attempt's answer
}

// batch is a bulk request's worth of items of one pipeline.
type batch struct {
	items    []*item
	bytes    int
	pipeline string
}

// batcher groups items into batches, by pipeline, and hands a batch to the
// workers when it reaches BulkMaxBytes or BulkMaxDocs, FlushInterval after
// its first item, or when a revoke asks. It ends, after flushing, when the
// poll loop closes t.in.
func (t *Transfer) batcher() {
	defer close(t.batcherDone)
	defer close(t.ready)
	pending := map[string]*batch{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	flushAll := func() {
		for k, b := range pending {
			t.ready <- b
			delete(pending, k)
		}
		if armed {
			timer.Stop()
			armed = false
		}
	}
	for {
		select {
		case items, ok := <-t.in:
			if !ok {
				flushAll()
				return
			}
			for _, it := range items {
				b := pending[it.topic.pipeline]
				if b == nil {
					b = &batch{pipeline: it.topic.pipeline, items: make([]*item, 0, min(t.opts.BulkMaxDocs, 1024))}
					pending[it.topic.pipeline] = b
				}
				b.items = append(b.items, it)
				b.bytes += it.est
				if len(b.items) >= t.opts.BulkMaxDocs || b.bytes >= t.opts.BulkMaxBytes {
					t.ready <- b
					delete(pending, it.topic.pipeline)
				}
			}
			if len(pending) > 0 && !armed {
				timer.Reset(t.opts.FlushInterval)
				armed = true
			}
		case <-timer.C:
			armed = false
			flushAll()
		case done := <-t.flushReq:
			flushAll()
			close(done)
		}
	}
}

// flushNow asks the batcher to hand over its pending batches and waits for
// it, or for ctx.
func (t *Transfer) flushNow(ctx context.Context) {
	done := make(chan struct{})
	select {
	case t.flushReq <- done:
	case <-t.batcherDone:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// worker sends batches until the batcher closes t.ready. Once ctx is done
// (the shutdown timeout passed) it drops what is left: those records stay
// uncommitted.
func (t *Transfer) worker(ctx context.Context) {
	w := &worker{}
	for b := range t.ready {
		if ctx.Err() != nil {
			t.releaseItems(b.items)
			continue
		}
		t.process(ctx, w, b)
	}
}

// worker is one worker's scratch space, reused from batch to batch.
type worker struct {
	enc     encoder
	arena   []byte
	actions []Action
}

func (t *Transfer) process(ctx context.Context, w *worker, b *batch) {
	items := t.dropAbandoned(b.items)
	if len(items) == 0 {
		return
	}
	// The documents of one batch live in the worker's arena until the
	// batch is done; a Sink does not keep them after Bulk returns.
	w.arena = w.arena[:0]
	for _, it := range items {
		w.arena, it.action = w.enc.encode(w.arena, it.rec, it.topic)
	}
	t.send(ctx, w, items)
}

// send writes items until each is indexed, dead-lettered or abandoned, or
// ctx is done. Failed retryable items, and only those, are sent again after
// a backoff that grows without end; meanwhile their partitions' fetching is
// paused, so memory stays bounded while the engine pushes back.
func (t *Transfer) send(ctx context.Context, w *worker, items []*item) {
	var held []*item // items holding their partition paused
	defer func() { t.unhold(held) }()
	for attempt := 0; len(items) > 0; attempt++ {
		w.actions = w.actions[:0]
		for _, it := range items {
			w.actions = append(w.actions, it.action)
		}
		start := time.Now()
		results, err := t.opts.Sink.Bulk(ctx, w.actions)
		elapsed := time.Since(start).Seconds()

		var done, retry, dead []*item
		switch {
		case err != nil && ctx.Err() != nil:
			t.metrics.bulkSeconds.WithLabelValues("error").Observe(elapsed)
			return // shutting down: the items stay unfinished and uncommitted
		case err != nil && classifyRequest(err) == requestSplit:
			t.metrics.bulkSeconds.WithLabelValues("error").Observe(elapsed)
			if len(items) > 1 {
				t.log.Warn("search engine refused a bulk request as a whole; splitting it", "docs", len(items), "err", err)
				t.unhold(held)
				held = nil
				half := len(items) / 2
				t.send(ctx, w, items[:half])
				t.send(ctx, w, items[half:])
				return
			}
			var re *RequestError
			errors.As(err, &re)
			items[0].result = Result{Status: re.Status, ErrorType: re.Type, ErrorReason: re.Reason}
			dead = items
		case err != nil:
			t.metrics.bulkSeconds.WithLabelValues("error").Observe(elapsed)
			retry = items
			t.health.engineFailed(err)
		default:
			failed := 0
			for i, r := range results {
				it := items[i]
				switch classifyItem(r.Status, it.action.Create) {
				case outcomeDone:
					done = append(done, it)
				case outcomeRetry:
					it.result = r
					retry = append(retry, it)
					failed++
				default:
					it.result = r
					dead = append(dead, it)
					failed++
				}
			}
			result := "ok"
			if failed > 0 {
				result = "partial"
			}
			t.metrics.bulkSeconds.WithLabelValues(result).Observe(elapsed)
			if len(retry) > 0 {
				r := retry[0].result
				t.health.engineFailed(fmt.Errorf("%d of %d documents refused for now, first with HTTP %d: %s: %s",
					len(retry), len(items), r.Status, r.ErrorType, r.ErrorReason))
			} else {
				t.health.engineOK()
			}
		}
		t.finish(done, outcomeDone)
		if len(dead) > 0 {
			for _, it := range dead {
				it.topic.metrics.failed.Inc()
			}
			t.deadLetter(ctx, dead)
		}
		if len(retry) == 0 {
			return
		}
		for _, it := range retry {
			it.topic.metrics.failed.Inc()
		}
		// Hold the partitions of the new retry set before letting go of
		// the old one, so a partition in both is never resumed in between.
		t.hold(retry)
		t.unhold(held)
		held = retry
		d := backoff(t.opts.RetryBackoff, t.opts.MaxRetryBackoff, attempt+1)
		if attempt == 0 || d >= t.opts.MaxRetryBackoff {
			t.log.Warn("search engine refused documents; retrying them", "docs", len(retry), "of", len(items),
				"attempt", attempt+1, "retry_in", d.Round(time.Millisecond), "err", t.health.engineErr())
		}
		t.health.engineWaiting(1)
		ok := sleep(ctx, d)
		t.health.engineWaiting(-1)
		if !ok {
			return
		}
		items = t.dropAbandoned(retry)
		for _, it := range items {
			it.topic.metrics.retried.Inc()
		}
	}
}

// deadLetter writes items to their topics' dead-letter topics, with acks
// from all in-sync replicas, retrying for as long as it takes, and finishes
// each item once its write is acknowledged. It returns when all are written
// or abandoned, or ctx is done.
func (t *Transfer) deadLetter(ctx context.Context, items []*item) {
	var held []*item // the partitions of failed writes are paused while they wait
	defer func() { t.unhold(held) }()
	for attempt := 1; len(items) > 0; attempt++ {
		recs := make([]*kgo.Record, len(items))
		for i, it := range items {
			recs[i] = deadLetterRecord(it)
		}
		results := t.kcl.ProduceSync(ctx, recs...)
		var done, failed []*item
		var firstErr error
		for i, r := range results {
			if r.Err != nil {
				failed = append(failed, items[i])
				if firstErr == nil {
					firstErr = fmt.Errorf("dead-letter topic %s: %w", items[i].topic.deadLetter, r.Err)
				}
				continue
			}
			done = append(done, items[i])
		}
		t.finish(done, outcomeDeadLetter)
		if len(failed) == 0 {
			t.health.deadLetterOK(items[0].topic.deadLetter)
			return
		}
		if ctx.Err() != nil {
			return
		}
		t.health.deadLetterFailed(failed[0].topic.deadLetter, firstErr)
		t.hold(failed)
		t.unhold(held)
		held = failed
		d := backoff(t.opts.RetryBackoff, t.opts.MaxRetryBackoff, attempt)
		t.log.Warn("cannot write to the dead-letter topic; retrying", "records", len(failed),
			"attempt", attempt, "retry_in", d.Round(time.Millisecond), "err", firstErr)
		if !sleep(ctx, d) {
			return
		}
		items = t.dropAbandoned(failed)
	}
}

// deadLetterRecord is the dead-letter record of a rejected document: the
// original key, value and headers, plus the error and the source position.
func deadLetterRecord(it *item) *kgo.Record {
	rec := it.rec
	hs := make([]kgo.RecordHeader, 0, len(rec.Headers)+7)
	hs = append(hs, rec.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderErrorStatus, Value: []byte(strconv.Itoa(it.result.Status))},
		kgo.RecordHeader{Key: HeaderErrorType, Value: []byte(it.result.ErrorType)},
		kgo.RecordHeader{Key: HeaderErrorReason, Value: []byte(it.result.ErrorReason)},
		kgo.RecordHeader{Key: HeaderErrorIndex, Value: []byte(it.action.Index)},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(int(rec.Partition)))},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(rec.Offset, 10))},
	)
	return &kgo.Record{Topic: it.topic.deadLetter, Key: rec.Key, Value: rec.Value, Headers: hs}
}

// finish marks items finished in their watermarks and returns their budget.
func (t *Transfer) finish(items []*item, how outcome) {
	if len(items) == 0 {
		return
	}
	var seqs []int64
	for i := 0; i < len(items); {
		// Items come in runs of one partition; finish a run under one lock.
		p := items[i].part
		seqs = seqs[:0]
		j := i
		for ; j < len(items) && items[j].part == p; j++ {
			seqs = append(seqs, items[j].seq)
		}
		p.wm.finishAll(seqs)
		i = j
	}
	var cur *topicConfig
	n := 0
	count := func() {
		if cur == nil {
			return
		}
		if how == outcomeDone {
			cur.metrics.indexed.Add(float64(n))
		} else {
			cur.metrics.deadLettered.Add(float64(n))
		}
	}
	for _, it := range items {
		if it.topic != cur {
			count()
			cur, n = it.topic, 0
		}
		n++
	}
	count()
	t.releaseItems(items)
}

// releaseItems returns the budget of items that are finished or given up.
func (t *Transfer) releaseItems(items []*item) {
	var n int64
	for _, it := range items {
		n += it.size
		it.size = 0
		it.rec = nil // the value may be large; do not keep it for the slab's sake
	}
	if n > 0 {
		t.budget.Release(n)
		t.inflight.Add(-n)
		t.metrics.inflight.Sub(float64(n))
	}
}

// dropAbandoned returns items without those of abandoned partitions, whose
// budget it returns.
func (t *Transfer) dropAbandoned(items []*item) []*item {
	kept := items[:0:0]
	var gone []*item
	for _, it := range items {
		if it.part.abandoned.Load() {
			gone = append(gone, it)
		} else {
			kept = append(kept, it)
		}
	}
	if len(gone) == 0 {
		return items
	}
	t.releaseItems(gone)
	return kept
}

// hold counts items as waiting in their partitions, pausing the fetching of
// a partition when its first record starts waiting.
func (t *Transfer) hold(items []*item) {
	t.adjustWaiting(items, 1)
}

// unhold undoes hold, resuming a partition when its last waiting record is
// done waiting.
func (t *Transfer) unhold(items []*item) {
	t.adjustWaiting(items, -1)
}

func (t *Transfer) adjustWaiting(items []*item, sign int) {
	for i := 0; i < len(items); {
		p := items[i].part
		j := i
		for ; j < len(items) && items[j].part == p; j++ {
		}
		p.mu.Lock()
		p.waiting += sign * (j - i)
		switch {
		case p.waiting > 0 && !p.paused && !p.abandoned.Load():
			t.kcl.PauseFetchPartitions(map[string][]int32{p.topic: {p.id}})
			p.paused = true
			t.metrics.paused.Inc()
		case p.waiting <= 0 && p.paused:
			t.kcl.ResumeFetchPartitions(map[string][]int32{p.topic: {p.id}})
			p.paused = false
			t.metrics.paused.Dec()
		}
		p.mu.Unlock()
		i = j
	}
}

// backoff returns the delay before attempt (1-based): base doubled per
// attempt, capped at max, with jitter in [d/2, d] so that many workers do
// not retry in step.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d or ctx and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
