package tail

import (
	"fmt"
	"math"
	"regexp"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// Multiline is a compiled multiline rule: which lines continue an event.
// It holds no state, so one Multiline serves every Tailer of an entry.
//
// The semantics are Filebeat's "pattern" mode. A line matches when Pattern
// matches it, or, with Negate, when Pattern does not. With Match "after" a
// matching line is appended to the line before it (a stack trace's "\tat"
// lines, with Pattern `^\s`); with Match "before" a matching line is
// continued by the line after it (a line ending in a backslash), so an event
// ends at its first line that does not match. Lines are joined with "\n".
// An event keeps at most MaxLines lines and MaxBytes bytes; what does not
// fit is dropped from it (it is still read and checkpointed) and the event
// is flagged Truncated. An event that is still open (more lines may join it)
// is emitted once FlushTimeout has passed with no new line.
type Multiline struct {
	pattern      *regexp.Regexp
	negate       bool
	before       bool
	maxLines     int
	maxBytes     int
	flushTimeout time.Duration
}

// NewMultiline compiles m, taking unset fields from the api defaults
// (api.DefaultMultilineMaxLines and so on). A nil m gives a nil *Multiline,
// which means one event per line.
func NewMultiline(m *api.Multiline) (*Multiline, error) {
	if m == nil {
		return nil, nil
	}
	if m.Pattern == "" {
		return nil, fmt.Errorf("tail: multiline: empty pattern")
	}
	re, err := regexp.Compile(m.Pattern)
	if err != nil {
		return nil, fmt.Errorf("tail: multiline pattern: %w", err)
	}
	ml := &Multiline{
		pattern:      re,
		negate:       m.Negate,
		maxLines:     m.MaxLines,
		maxBytes:     int(min(m.MaxBytes, math.MaxInt32)),
		flushTimeout: api.DefaultMultilineFlushTimeout,
	}
	switch m.Match {
	case "", api.MultilineAfter:
	case api.MultilineBefore:
		ml.before = true
	default:
		return nil, fmt.Errorf("tail: multiline: unknown match %q: want %q or %q", m.Match, api.MultilineAfter, api.MultilineBefore)
	}
	if ml.maxLines <= 0 {
		ml.maxLines = api.DefaultMultilineMaxLines
	}
	if ml.maxBytes <= 0 {
		ml.maxBytes = int(api.DefaultMultilineMaxBytes)
	}
	if m.FlushTimeout != nil && m.FlushTimeout.Duration > 0 {
		ml.flushTimeout = m.FlushTimeout.Duration
	}
	return ml, nil
}

// joiner is one Tailer's multiline state: the event being assembled.
type joiner struct {
	ml          *Multiline
	open        bool      // an event is being assembled
	ev          Event     // its Offset, End, Lines and Truncated so far
	data        []byte    // its joined lines, reused from event to event
	kept        int       // lines of data
	lastMatched bool      // whether the event's last line matched
	lastAdd     time.Time // when a line last joined, for FlushTimeout
}

// add feeds one physical line and passes the events it completes to out,
// whose Data is valid only during the call.
func (j *joiner) add(line Event, now time.Time, out func(Event) error) error {
	matched := j.ml.pattern.Match(line.Data) != j.ml.negate
	if j.open {
		continues := matched
		if j.ml.before {
			continues = j.lastMatched
		}
		if !continues {
			if err := j.flush(out); err != nil {
				return err
			}
		}
	}
	if !j.open {
		j.open = true
		j.ev = Event{Offset: line.Offset}
		j.data = j.data[:0]
		j.kept = 0
	}
	j.append(line)
	j.lastMatched = matched
	j.lastAdd = now
	if j.ml.before && !matched {
		// A line that does not match ends its event in "before" mode:
		// whatever comes next starts a new one. Emitting it now, instead
		// of when the next line arrives as Filebeat does, gives the same
		// events sooner.
		return j.flush(out)
	}
	return nil
}

// append adds line to the open event within MaxLines and MaxBytes.
func (j *joiner) append(line Event) {
	j.ev.End = line.End
	j.ev.Lines += line.Lines
	j.ev.Truncated = j.ev.Truncated || line.Truncated
	if j.kept >= j.ml.maxLines {
		j.ev.Truncated = true
		return
	}
	sep := 0
	if j.kept > 0 {
		sep = 1
	}
	room := j.ml.maxBytes - len(j.data) - sep
	if room <= 0 {
		j.ev.Truncated = true
		return
	}
	d := line.Data
	if len(d) > room {
		d = d[:room]
		j.ev.Truncated = true
	}
	if sep == 1 {
		j.data = append(j.data, '\n')
	}
	j.data = append(j.data, d...)
	j.kept++
}

// flush closes the open event, if any, and passes it to out.
func (j *joiner) flush(out func(Event) error) error {
	if !j.open {
		return nil
	}
	j.open = false
	ev := j.ev
	ev.Data = j.data
	err := out(ev)
	if cap(j.data) > 1<<20 {
		j.data = nil // a huge event was here: do not keep its buffer
	}
	return err
}

// due reports when the open event is flushed for want of new lines; ok is
// false when no event is open.
func (j *joiner) due() (time.Time, bool) {
	if !j.open {
		return time.Time{}, false
	}
	return j.lastAdd.Add(j.ml.flushTimeout), true
}
