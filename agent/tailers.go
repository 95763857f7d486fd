package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logpipe/logpipe/agent/checkpoint"
	"github.com/logpipe/logpipe/agent/tail"
	"github.com/logpipe/logpipe/internal/record"
)

// drainTimeout bounds how long a stopping tailer waits for Kafka to
// acknowledge what it already handed over. What is not acknowledged by then
// is read again from the checkpoint next time, with the same event IDs.
const drainTimeout = 10 * time.Second

// Producer is the part of *kgo.Client the agent uses.
type Producer interface {
	// Produce sends r asynchronously and calls promise once Kafka
	// acknowledged it or it failed for good. It blocks while the
	// producer's buffer is full, until ctx is done.
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
}

var _ Producer = (*kgo.Client)(nil)

// runningTailer is one tailer and the records it has in flight.
type runningTailer struct {
	agent    *Agent
	entry    *entryState
	compiled *compiledEntry
	path     string
	fileID   string
	identity tail.Identity
	tailer   *tail.Tailer
	wm       *checkpoint.Watermark
	headers  []kgo.RecordHeader // the headers every record of the file shares
	key      []byte             // the record key of every record of the file

	present  atomic.Bool // the last scan found the file at a matched path
	inflight sync.WaitGroup
	failed   atomic.Pointer[error]
	size     atomic.Int64

	// registered, for a file seen for the first time, writes its FileID
	// to disk; the first batch waits for it, so that no event ID is
	// shipped that a crash could make the agent forget.
	registered func() error

	cancel context.CancelFunc
	done   chan struct{}
}

func (a *Agent) newRunningTailer(e *entryState, c *compiledEntry, path string, f *os.File, pos checkpoint.Position) (*runningTailer, error) {
	t := &runningTailer{
		agent:    a,
		entry:    e,
		compiled: c,
		path:     path,
		fileID:   pos.FileID,
		identity: pos.Identity,
		wm:       checkpoint.NewWatermark(pos.Offset),
		done:     make(chan struct{}),
	}
	t.present.Store(true)
	tl, err := tail.New(tail.Config{
		Path:          path,
		File:          f,
		Identity:      pos.Identity,
		Offset:        pos.Offset,
		MaxLineBytes:  c.maxLineBytes,
		Multiline:     c.multiline,
		Include:       c.include,
		Exclude:       c.exclude,
		CloseInactive: c.closeInactive,
		Removed:       func() bool { return !t.present.Load() },
		Logger:        a.log,
		Watcher:       a.watcher,
	})
	if err != nil {
		return nil, err
	}
	t.tailer = tl
	t.key = record.KeyOf(a.opts.Host, pos.FileID)
	t.headers = []kgo.RecordHeader{
		{Key: record.HeaderHost, Value: []byte(a.opts.Host)},
		{Key: record.HeaderAgent, Value: []byte(a.opts.Name)},
		{Key: record.HeaderEntry, Value: []byte(e.name)},
		{Key: record.HeaderPath, Value: []byte(path)},
		{Key: record.HeaderFormat, Value: []byte(c.format)},
	}
	for k, v := range c.fields {
		t.headers = append(t.headers, kgo.RecordHeader{Key: record.HeaderFieldPrefix + k, Value: []byte(v)})
	}
	return t, nil
}

func (t *runningTailer) setPresent(p bool) { t.present.Store(p) }

// start runs the tailer until it ends or stop is called.
func (t *runningTailer) start() {
	ctx, cancel := context.WithCancel(t.agent.runCtx)
	t.cancel = cancel
	a := t.agent
	a.metrics.filesTailed.Inc()
	a.metrics.tailerStarts.Inc()
	a.fileOpened()
	a.log.Debug("tailing", "entry", t.entry.name, "path", t.path, "file_id", t.fileID, "offset", t.tailer.Offset())
	go func() {
		defer close(t.done)
		defer a.fileClosed()
		defer a.metrics.filesTailed.Dec()
		err := t.tailer.Run(ctx, func(evs []tail.Event) error { return t.ship(ctx, evs) })
		t.finish(ctx, err)
	}()
}

// stop ends the tailer and waits up to timeout for its in-flight records.
func (t *runningTailer) stop(timeout time.Duration) {
	if t.cancel != nil {
		t.cancel()
	}
	select {
	case <-t.done:
	case <-time.After(timeout):
		t.agent.log.Warn("tailer did not stop in time", "entry", t.entry.name, "path", t.path)
	}
}

// ship hands a batch of events to the producer. Producing blocks while the
// producer's buffer is full: that is the backpressure that keeps memory
// bounded while Kafka is slow or down.
func (t *runningTailer) ship(ctx context.Context, evs []tail.Event) error {
	if t.registered != nil {
		if err := t.registered(); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		t.registered = nil
	}
	now := []byte(time.Now().UTC().Format(time.RFC3339Nano))
	for len(evs) > 0 {
		n := min(len(evs), shipChunk)
		if err := t.shipChunk(ctx, evs[:n], now); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

// shipChunk is the number of events whose records are built at once. A
// tailer blocked in Produce holds the records of its chunk that the
// producer has not taken yet; with a hundred tailers waiting, whole
// batches of up to a thousand events would add tens of MiB to the
// producer's own bound.
const shipChunk = 64

func (t *runningTailer) shipChunk(ctx context.Context, evs []tail.Event, now []byte) error {
	a := t.agent
	// The chunk's records, headers and bytes (values: the tailer reuses its
	// buffers after emit returns; event IDs; offsets) are allocated in
	// three slabs instead of four allocations per event: at hundreds of
	// thousands of events a second, the garbage collector's work is what
	// limits throughput.
	size := 0
	for i := range evs {
		size += len(evs[i].Data) + 32 + 20
	}
	slab := make([]byte, 0, size)
	recs := make([]kgo.Record, len(evs))
	perRecord := len(t.headers) + 4
	hdrs := make([]kgo.RecordHeader, 0, len(evs)*perRecord)
	for i := range evs {
		ev := &evs[i]
		if err := t.failure(); err != nil {
			return err
		}
		end := ev.End
		t.wm.Add(end)
		if ev.Skip {
			// Filtered out: nothing to ship, but the checkpoint may pass it.
			t.ack(end)
			a.metrics.linesFiltered.Add(float64(ev.Lines))
			continue
		}
		start := len(slab)
		slab = append(slab, ev.Data...)
		value := slab[start:len(slab):len(slab)]
		slab = record.AppendEventID(slab, t.fileID, ev.Offset)
		id := slab[start+len(value) : len(slab) : len(slab)]
		slab = strconv.AppendInt(slab, ev.Offset, 10)
		offset := slab[start+len(value)+len(id) : len(slab) : len(slab)]
		h := t.appendHeaders(hdrs[len(hdrs):len(hdrs):len(hdrs)+perRecord], ev, id, offset, now)
		hdrs = hdrs[:len(hdrs)+len(h)]
		r := &recs[i]
		r.Topic, r.Key, r.Value, r.Headers = t.compiled.topic, t.key, value, h
		t.inflight.Add(1)
		a.opts.Producer.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer t.inflight.Done()
			if err != nil {
				t.fail(err)
				return
			}
			t.ack(end)
			a.metrics.linesShipped.Inc()
			a.metrics.shippedCount.Add(1)
			t.entry.addShipped(1)
		})
	}
	return t.failure()
}

// appendHeaders appends the headers of one event's record to h, which has
// room for them.
func (t *runningTailer) appendHeaders(h []kgo.RecordHeader, ev *tail.Event, id, offset, now []byte) []kgo.RecordHeader {
	h = append(h, kgo.RecordHeader{Key: record.HeaderID, Value: id})
	h = append(h, t.headers...)
	h = append(h,
		kgo.RecordHeader{Key: record.HeaderOffset, Value: offset},
		kgo.RecordHeader{Key: record.HeaderTime, Value: now},
	)
	switch {
	case ev.Truncated && ev.Lines > 1:
		h = append(h, kgo.RecordHeader{Key: record.HeaderFlags, Value: flagsTruncatedMultiline})
	case ev.Truncated:
		h = append(h, kgo.RecordHeader{Key: record.HeaderFlags, Value: flagsTruncated})
	case ev.Lines > 1:
		h = append(h, kgo.RecordHeader{Key: record.HeaderFlags, Value: flagsMultiline})
	}
	return h
}

var (
	flagsTruncated          = []byte(record.FlagTruncated)
	flagsMultiline          = []byte(record.FlagMultiline)
	flagsTruncatedMultiline = []byte(record.FlagTruncated + "," + record.FlagMultiline)
)

// ack records that everything up to end was acknowledged and advances the
// checkpoint to the end of the acknowledged prefix.
func (t *runningTailer) ack(end int64) {
	t.wm.Ack(end)
	t.agent.ckpt.Advance(t.entry.name, t.fileID, t.wm.Committed(), t.size.Load())
}

func (t *runningTailer) fail(err error) {
	t.failed.CompareAndSwap(nil, &err)
	t.agent.metrics.produceErrors.Inc()
	if t.cancel != nil {
		t.cancel()
	}
}

func (t *runningTailer) failure() error {
	if p := t.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// finish waits for the tailer's in-flight records and acts on how it ended.
func (t *runningTailer) finish(ctx context.Context, err error) {
	a, e := t.agent, t.entry
	t.waitInflight(drainTimeout)
	if ferr := t.failure(); ferr != nil {
		err = ferr
	}
	remove := func() {
		e.mu.Lock()
		if e.tailers[t.fileID] == t {
			delete(e.tailers, t.fileID)
		}
		e.mu.Unlock()
	}
	switch {
	case errors.Is(err, tail.ErrRemoved):
		remove()
		if t.wm.Committed() >= t.tailer.Offset() {
			a.ckpt.Forget(e.name, t.fileID)
		}
		a.log.Info("file drained and gone; closed", "entry", e.name, "path", t.path)
	case errors.Is(err, tail.ErrInactive):
		remove()
		e.mu.Lock()
		e.idle[t.fileID] = idleFile{size: t.tailer.Offset()}
		e.mu.Unlock()
		a.log.Debug("file inactive; closed", "entry", e.name, "path", t.path)
	case errors.Is(err, tail.ErrTruncated):
		remove()
		a.metrics.truncations.Inc()
		a.ckpt.Forget(e.name, t.fileID)
		a.log.Info("file truncated; reading it again from the start under a new file ID", "entry", e.name, "path", t.path)
		a.engine.Enqueue(e.name)
	case t.failure() != nil:
		remove()
		e.setError("produce to " + t.compiled.topic + ": " + t.failure().Error())
		a.log.Warn("produce failed; the file will be read again from its checkpoint",
			"entry", e.name, "path", t.path, "err", t.failure())
		a.engine.EnqueueAfter(e.name, 2*time.Second)
	case ctx.Err() != nil:
		// Stopped by the agent; the entry's state decides what comes next.
	case err != nil:
		remove()
		e.setError(t.path + ": " + err.Error())
		a.log.Warn("tailer failed", "entry", e.name, "path", t.path, "err", err)
		a.engine.EnqueueAfter(e.name, 2*time.Second)
	}
}

func (t *runningTailer) waitInflight(timeout time.Duration) {
	done := make(chan struct{})
	go func() { t.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

func (e *entryState) addShipped(n int64) {
	e.mu.Lock()
	e.shipped += n
	e.mu.Unlock()
}
