package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// The outcomes Run reports when the file, not the caller, ended the run.
var (
	// ErrRemoved: the file was deleted or is no longer at a watched path
	// (Config.Removed), and everything in it has been emitted, including
	// an unterminated last line. Offset is the file's size.
	ErrRemoved = errors.New("tail: file removed")
	// ErrInactive: the file did not grow for Config.CloseInactive, and the
	// Tailer closed it. A partial last line and an open multiline event
	// were not emitted: resume at Offset when the file grows.
	ErrInactive = errors.New("tail: file inactive")
	// ErrTruncated: the file shrank below what was read, or its first
	// bytes changed (truncated and rewritten, as copytruncate does). What
	// was read before has been emitted. Its offsets now hold other lines:
	// read it again from 0 under a new file ID, since event IDs are
	// derived from (file ID, offset).
	ErrTruncated = errors.New("tail: file truncated")
)

// Defaults of Config's zero fields.
const (
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultMaxPollInterval bounds the backed-off poll of a watched file.
	DefaultMaxPollInterval = 10 * time.Second
	DefaultMaxBatch        = 1024
	DefaultMaxLineBytes    = int(api.DefaultMaxLineBytes)
)

const (
	// readSize is the read buffer's usual size. A 64 KiB pread returns
	// about 330 lines of 200 bytes, so syscalls cost little per line.
	readSize = 64 << 10
	// minRead is the least room worth reading into; with less free at the
	// end of the buffer, the unread rest moves to its start first.
	minRead = 16 << 10
	// arenaLimit bounds the bytes a batch holds outside the read buffer
	// (multiline events, heads of overlong lines) before it is emitted.
	arenaLimit = 1 << 20
)

// readBuffers lends read buffers of readSize to Tailers between reads, so
// that thousands of idle Tailers hold no buffer.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, readSize); return &b }}

// Config configures a Tailer. Path or File is required; every other field
// has a usable zero value.
type Config struct {
	// Path names the file, for logs, for Watcher subscriptions, and for
	// opening it when File is nil.
	Path string
	// File is an already open file to read (the caller's stat handle), so
	// that the file read is the one identified even if Path has been
	// replaced since. The Tailer takes it over: Run, or Close, closes it.
	File *os.File
	// Identity is the file's recorded identity, checked against the file
	// when Run starts and whenever the file grows (see ErrTruncated). Zero
	// means the identity the file has when New opens it.
	Identity Identity
	// Offset is the exact byte offset to resume at: 0 for the beginning,
	// the size for "start at the end", a checkpoint otherwise. It must be
	// the start of a line.
	Offset int64
	// MaxLineBytes is the longest line kept whole (without its newline).
	// A longer line is cut at this size and flagged Truncated, and the
	// rest of it up to its newline is skipped; it is never buffered
	// whole. Default DefaultMaxLineBytes (1 MiB).
	MaxLineBytes int
	// Multiline joins continuation lines into events; nil means one event
	// per line.
	Multiline *Multiline
	// Include, when not empty, keeps only events matching at least one of
	// its expressions; Exclude then drops events matching any of its.
	// They apply to whole events, after Multiline. Dropped events are
	// still emitted, as Skip events (see Event).
	Include, Exclude []*regexp.Regexp
	// CloseInactive makes Run return ErrInactive once the file has not
	// grown for this long, to free its descriptor. Zero never closes.
	CloseInactive time.Duration
	// PollInterval is how often the file is stat'ed when no Watcher event
	// woke the Tailer first. It is also the grace a removed file gets for
	// late writes before ErrRemoved. Default DefaultPollInterval (250ms).
	PollInterval time.Duration
	// MaxPollInterval is how far the poll backs off, doubling from
	// PollInterval, while a file with a Watcher subscription neither grows
	// nor sends events; any event or growth resets it. File events make
	// the poll a fallback only, and 10,000 idle files polled every 250ms
	// cost more than a core. Without a subscription the poll stays at
	// PollInterval. Default DefaultMaxPollInterval (10s).
	MaxPollInterval time.Duration
	// MaxBatch caps the events of one emit call. Default DefaultMaxBatch.
	MaxBatch int
	// Removed reports whether the file is gone from every watched path
	// (renamed to a path no glob matches, or deleted). It is called only
	// when the Tailer has read everything, from Run's goroutine, and should
	// be cheap. A deleted file (link count 0) counts as removed without it.
	Removed func() bool
	// Watcher, when set, wakes the Tailer on file events for Path, so that
	// new lines are read at once instead of at the next poll.
	Watcher *Watcher
	// Logger receives the Tailer's few diagnostics. Default: discarded.
	Logger *slog.Logger
}

// Event is one log event: a line, or the joined lines of a multiline event.
type Event struct {
	// Offset is the byte offset of the event's first byte.
	Offset int64
	// End is the offset just past the event's final newline: the
	// checkpoint, once this event and all before it are acknowledged. An
	// unterminated last line emitted at removal ends at the end of the file.
	End int64
	// Data is the event without its final "\n" or "\r\n"; the lines of a
	// multiline event are joined with "\n". The bytes are the file's,
	// valid UTF-8 or not. Data is nil for Skip events.
	Data []byte
	// Truncated is set when the event was cut: a line longer than
	// MaxLineBytes, or a multiline event beyond its MaxLines or MaxBytes.
	Truncated bool
	// Lines is the number of physical lines between Offset and End,
	// including any that truncation dropped from Data.
	Lines int
	// Skip marks lines that Include or Exclude filtered out: ship nothing,
	// but let the checkpoint pass End once everything before it is
	// acknowledged, so that a file of excluded lines is not read again
	// after every restart. Consecutive filtered events are merged into
	// one Skip event.
	Skip bool
}

// Tailer follows one open file from an offset and emits its complete events
// in file order. It follows the open descriptor, not the path: a file
// renamed away keeps being read until Removed reports it gone, and a new
// file at the old path is a new file with its own Tailer.
//
// A Tailer reads with pread into a reused buffer, so it makes no lseek and
// no allocation per line; Event.Data points into its buffers.
type Tailer struct {
	cfg     Config
	log     *slog.Logger
	f       *os.File
	maxLine int
	poll    time.Duration

	started   atomic.Bool
	closeOnce sync.Once

	offset atomic.Int64 // Offset
	size   atomic.Int64 // Size

	identMu sync.Mutex
	ident   Identity

	// Run's state.
	emit       func([]Event) error
	buf        []byte // buf[r:w] is read and not yet scanned into lines
	r, w       int
	pos        int64 // file offset of buf[r]
	skipping   bool  // discarding the rest of an overlong line
	longOff    int64 // offset of that line
	long       []byte
	join       *joiner
	pushJoined func(Event) error // push for the joiner's events, bound once
	batch      []Event
	arena      []byte // Data of batch events not in buf
}

// New opens the file (unless cfg.File is set) and prepares a Tailer. It
// reads nothing yet. If New fails, a cfg.File is left open for the caller.
func New(cfg Config) (*Tailer, error) {
	if cfg.File == nil && cfg.Path == "" {
		return nil, errors.New("tail: config needs Path or File")
	}
	if cfg.Offset < 0 {
		return nil, fmt.Errorf("tail: negative offset %d", cfg.Offset)
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.MaxPollInterval <= 0 {
		cfg.MaxPollInterval = DefaultMaxPollInterval
	}
	cfg.MaxPollInterval = max(cfg.MaxPollInterval, cfg.PollInterval)
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	f, opened := cfg.File, false
	if f == nil {
		var err error
		if f, err = os.Open(cfg.Path); err != nil {
			return nil, fmt.Errorf("tail: %w", err)
		}
		opened = true
	}
	if cfg.Path == "" {
		cfg.Path = f.Name()
	}
	ident, fi, err := Identify(f)
	if err != nil {
		if opened {
			f.Close()
		}
		return nil, err
	}
	if !cfg.Identity.IsZero() {
		ident = cfg.Identity // checked against the file when Run starts
	}
	t := &Tailer{
		cfg:     cfg,
		log:     cfg.Logger.With("path", cfg.Path),
		f:       f,
		maxLine: cfg.MaxLineBytes,
		poll:    cfg.PollInterval,
		ident:   ident,
		pos:     cfg.Offset,
	}
	if cfg.Multiline != nil {
		t.join = &joiner{ml: cfg.Multiline}
		t.pushJoined = func(ev Event) error { return t.push(ev, false) }
	}
	t.offset.Store(cfg.Offset)
	t.size.Store(fi.Size())
	return t, nil
}

// Offset returns where to resume reading: the End of the last event emit
// accepted, or the start offset. Everything before it has been emitted.
// It is safe to call from any goroutine.
func (t *Tailer) Offset() int64 { return t.offset.Load() }

// Size returns the file's size at the last look, for bytes-behind figures.
// It is safe to call from any goroutine.
func (t *Tailer) Size() int64 { return t.size.Load() }

// Identity returns the file's identity, its fingerprint extended as the
// file grew past the recorded length (see Identity.Extend). It is safe to
// call from any goroutine.
func (t *Tailer) Identity() Identity {
	t.identMu.Lock()
	defer t.identMu.Unlock()
	return t.ident
}

// Close closes the file of a Tailer whose Run was never called. Run closes
// it itself when it returns; Close after that does nothing. Do not call
// Close while Run runs: cancel its context.
func (t *Tailer) Close() error {
	var err error
	t.closeOnce.Do(func() { err = t.f.Close() })
	return err
}

// Run reads until ctx is done or the file ends for good, calling emit with
// batches of events in file order: at most MaxBatch events, or what was
// available. It calls emit from its own goroutine, one batch at a time, and
// never with an empty batch. The batch slice and the events' Data are
// reused once emit returns: copy what must outlive the call. emit may block
// for as long as it needs (that is backpressure: the Tailer waits and reads
// nothing meanwhile); an error from it ends Run with that error, the batch
// counting as not emitted.
//
// Run returns ctx's error when ctx is done; ErrRemoved, ErrInactive or
// ErrTruncated when the file ended the run (see each); or a read error. It
// works in the calling goroutine and starts none, closes the file (and its
// Watcher subscription) before returning, and may be called once.
func (t *Tailer) Run(ctx context.Context, emit func([]Event) error) error {
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("tail: Run called twice")
	}
	defer t.Close()
	t.emit = emit
	defer t.releaseBuffer()

	var wake <-chan struct{}
	if t.cfg.Watcher != nil {
		sub, err := t.cfg.Watcher.Subscribe(t.cfg.Path)
		if err != nil {
			t.log.Warn("no file events; polling", "err", err)
		} else {
			defer sub.Close()
			wake = sub.C
		}
	}
	timer := time.NewTimer(t.poll)
	defer timer.Stop()

	lastGrowth := time.Now()
	idlePoll := t.poll      // the next wait while nothing happens
	var removedAt time.Time // when the file was first seen removed and drained
	checked := false        // the identity was checked against the file
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := t.f.Stat()
		if err != nil {
			return fmt.Errorf("tail: stat %s: %w", t.cfg.Path, err)
		}
		size, end := fi.Size(), t.readEnd()
		t.size.Store(size)
		if size < end {
			t.log.Debug("file shrank below what was read", "size", size, "read", end)
			return t.finish(ErrTruncated)
		}
		if size > end || !checked {
			// Check the first bytes before reading past the old end: a
			// file truncated and rewritten beyond its old size between
			// two looks has grown, and only its prefix tells.
			if err := t.checkIdentity(fi); errors.Is(err, ErrFileChanged) {
				t.log.Debug("first bytes changed: truncated and rewritten", "size", size)
				return t.finish(ErrTruncated)
			} else if err != nil {
				return err
			}
			checked = true
		}
		if size > end {
			lastGrowth, removedAt, idlePoll = time.Now(), time.Time{}, t.poll
			n, err := t.readToEOF(ctx)
			if err != nil {
				return err
			}
			if n > 0 {
				continue // look again: it may have grown meanwhile
			}
			// The size promised bytes that a read did not return (a file
			// system updating sizes lazily): wait instead of spinning.
		}

		// Everything is read: emit what is complete, then decide whether
		// to stop or wait.
		now := time.Now()
		if due, ok := t.flushDue(); ok && !now.Before(due) {
			if err := t.join.flush(t.pushJoined); err != nil {
				return err
			}
		}
		if err := t.emitBatch(); err != nil {
			return err
		}
		t.releaseBuffer()
		if t.removed(fi) {
			if removedAt.IsZero() {
				removedAt = now
			}
			if now.Sub(removedAt) >= t.poll {
				return t.finish(ErrRemoved)
			}
		} else {
			removedAt = time.Time{}
			if t.cfg.CloseInactive > 0 && now.Sub(lastGrowth) >= t.cfg.CloseInactive {
				return ErrInactive
			}
		}

		d := t.poll
		if wake != nil {
			d, idlePoll = idlePoll, min(2*idlePoll, t.cfg.MaxPollInterval)
		}
		if due, ok := t.flushDue(); ok {
			d = min(d, due.Sub(now))
		}
		if !removedAt.IsZero() {
			d = min(d, removedAt.Add(t.poll).Sub(now))
		} else if t.cfg.CloseInactive > 0 {
			d = min(d, lastGrowth.Add(t.cfg.CloseInactive).Sub(now))
		}
		timer.Reset(max(d, time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
			idlePoll = t.poll
		case <-timer.C:
		}
	}
}

// readEnd is the file offset of the next byte to read.
func (t *Tailer) readEnd() int64 { return t.pos + int64(t.w-t.r) }

// flushDue reports when an open multiline event is flushed for want of lines.
func (t *Tailer) flushDue() (time.Time, bool) {
	if t.join == nil {
		return time.Time{}, false
	}
	return t.join.due()
}

func (t *Tailer) removed(fi os.FileInfo) bool {
	if _, _, nlink, err := inodeOf(fi); err == nil && nlink == 0 {
		return true
	}
	return t.cfg.Removed != nil && t.cfg.Removed()
}

// checkIdentity checks that the file still starts with the recorded bytes
// and extends the recorded fingerprint while it is shorter than
// FingerprintBytes.
func (t *Tailer) checkIdentity(fi os.FileInfo) error {
	id := t.Identity()
	nid, err := id.extend(t.f, fi)
	if err != nil {
		return err
	}
	if nid != id {
		t.identMu.Lock()
		t.ident = nid
		t.identMu.Unlock()
	}
	return nil
}

// readToEOF reads and scans until a read comes back short, and returns how
// many bytes it read.
func (t *Tailer) readToEOF(ctx context.Context) (int64, error) {
	var total int64
	for {
		n, eof, err := t.fill()
		total += int64(n)
		if n > 0 {
			if serr := t.scan(); serr != nil {
				return total, serr
			}
		}
		if err != nil || eof {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// fill reads more of the file into buf. Events in the batch may point into
// buf[:r], so before bytes move or are overwritten the batch is emitted.
func (t *Tailer) fill() (n int, eof bool, err error) {
	if t.buf == nil {
		t.buf = *readBuffers.Get().(*[]byte)
	}
	if t.r == t.w && t.r > 0 {
		if err := t.emitBatch(); err != nil {
			return 0, false, err
		}
		t.r, t.w = 0, 0
	}
	if len(t.buf)-t.w < minRead && t.r > 0 {
		if err := t.emitBatch(); err != nil {
			return 0, false, err
		}
		t.compact()
	}
	if t.w == len(t.buf) {
		// One partial line fills the buffer: grow it, up to what it takes
		// to tell a line of MaxLineBytes from a longer one.
		grown := make([]byte, min(2*len(t.buf), t.maxLine+2))
		if len(grown) <= len(t.buf) {
			return 0, false, fmt.Errorf("tail: %s: internal error: read buffer full", t.cfg.Path)
		}
		copy(grown, t.buf[t.r:t.w])
		t.buf, t.w, t.r = grown, t.w-t.r, 0
	}
	n, err = t.f.ReadAt(t.buf[t.w:], t.readEnd())
	t.w += n
	if errors.Is(err, io.EOF) {
		return n, true, nil
	}
	if err != nil {
		return n, false, fmt.Errorf("tail: read %s: %w", t.cfg.Path, err)
	}
	return n, false, nil
}

// releaseBuffer returns the read buffer to the pool while it holds nothing
// unscanned and the batch (whose events may point into it) is empty.
func (t *Tailer) releaseBuffer() {
	if t.buf == nil || t.r != t.w || len(t.batch) > 0 {
		return
	}
	if len(t.buf) == readSize {
		buf := t.buf
		readBuffers.Put(&buf)
	}
	t.buf, t.r, t.w = nil, 0, 0
}

// compact moves the unscanned bytes to the start of buf, giving back a
// buffer grown for a long line once it is no longer needed.
func (t *Tailer) compact() {
	rest := t.w - t.r
	if len(t.buf) > readSize && rest < readSize/2 {
		small := *readBuffers.Get().(*[]byte)
		copy(small, t.buf[t.r:t.w])
		t.buf = small
	} else {
		copy(t.buf, t.buf[t.r:t.w])
	}
	t.r, t.w = 0, rest
}

// scan turns the complete lines in buf[r:w] into events.
func (t *Tailer) scan() error {
	now := time.Now()
	for t.r < t.w {
		data := t.buf[t.r:t.w]
		i := bytes.IndexByte(data, '\n')
		if t.skipping {
			if i < 0 {
				t.consume(len(data))
				return nil
			}
			t.consume(i + 1)
			t.skipping = false
			ev := Event{Offset: t.longOff, End: t.pos, Data: t.long, Truncated: true, Lines: 1}
			t.long = nil // copied by deliver; overlong lines are rare, memory is not
			if err := t.deliver(ev, false, now); err != nil {
				return err
			}
			continue
		}
		if i < 0 {
			// A line is overlong once more than MaxLineBytes+1 bytes
			// ("\r" of a "\r\n" included) came without a newline.
			if len(data) >= t.maxLine+2 {
				t.long = append([]byte(nil), data[:t.maxLine]...)
				t.longOff = t.pos
				t.skipping = true
				t.consume(len(data))
			}
			return nil
		}
		ev := Event{Offset: t.pos, End: t.pos + int64(i) + 1, Lines: 1}
		ev.Data, ev.Truncated = t.cut(data[:i])
		t.consume(i + 1)
		if err := t.deliver(ev, true, now); err != nil {
			return err
		}
	}
	return nil
}

// cut drops line's "\r" and cuts it at MaxLineBytes.
func (t *Tailer) cut(line []byte) ([]byte, bool) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) > t.maxLine {
		return line[:t.maxLine:t.maxLine], true
	}
	return line[:len(line):len(line)], false
}

func (t *Tailer) consume(n int) {
	t.r += n
	t.pos += int64(n)
}

// deliver passes one physical line through Multiline to the batch. inBuf
// says its Data points into buf, where it stays valid until the batch is
// emitted.
func (t *Tailer) deliver(ev Event, inBuf bool, now time.Time) error {
	if t.join != nil {
		return t.join.add(ev, now, t.pushJoined)
	}
	return t.push(ev, inBuf)
}

// push applies the filters and appends ev to the batch, copying its Data
// into the arena unless it is in buf. It emits a full batch.
func (t *Tailer) push(ev Event, inBuf bool) error {
	if !t.keep(ev.Data) {
		if n := len(t.batch); n > 0 && t.batch[n-1].Skip && t.batch[n-1].End == ev.Offset {
			t.batch[n-1].End = ev.End
			t.batch[n-1].Lines += ev.Lines
		} else {
			t.batch = append(t.batch, Event{Offset: ev.Offset, End: ev.End, Lines: ev.Lines, Skip: true})
		}
	} else {
		if !inBuf {
			start := len(t.arena)
			t.arena = append(t.arena, ev.Data...)
			ev.Data = t.arena[start:len(t.arena):len(t.arena)]
		}
		t.batch = append(t.batch, ev)
	}
	if len(t.batch) >= t.cfg.MaxBatch || len(t.arena) >= arenaLimit {
		return t.emitBatch()
	}
	return nil
}

func (t *Tailer) keep(data []byte) bool {
	if len(t.cfg.Include) > 0 {
		in := false
		for _, re := range t.cfg.Include {
			if re.Match(data) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	for _, re := range t.cfg.Exclude {
		if re.Match(data) {
			return false
		}
	}
	return true
}

// emitBatch hands the batch to emit and, once accepted, advances Offset.
func (t *Tailer) emitBatch() error {
	if len(t.batch) == 0 {
		return nil
	}
	if err := t.emit(t.batch); err != nil {
		return err
	}
	t.offset.Store(t.batch[len(t.batch)-1].End)
	clear(t.batch) // drop references to Data for the collector
	t.batch = t.batch[:0]
	if cap(t.arena) > 4*arenaLimit {
		t.arena = nil // a huge multiline event was here
	}
	t.arena = t.arena[:0]
	return nil
}

// finish emits everything read, since nothing more of this content will
// come: an unterminated last line (or the head of an overlong one) and an
// open multiline event. Then it returns reason.
func (t *Tailer) finish(reason error) error {
	switch {
	case t.skipping:
		t.skipping = false
		ev := Event{Offset: t.longOff, End: t.readEnd(), Data: t.long, Truncated: true, Lines: 1}
		if err := t.deliver(ev, false, time.Now()); err != nil {
			return err
		}
	case t.r < t.w:
		ev := Event{Offset: t.pos, End: t.readEnd(), Lines: 1}
		ev.Data, ev.Truncated = t.cut(t.buf[t.r:t.w])
		t.consume(t.w - t.r)
		if err := t.deliver(ev, true, time.Now()); err != nil {
			return err
		}
	}
	if t.join != nil {
		if err := t.join.flush(t.pushJoined); err != nil {
			return err
		}
	}
	if err := t.emitBatch(); err != nil {
		return err
	}
	return reason
}
