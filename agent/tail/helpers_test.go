package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitFor bounds every wait of these tests: long enough for a loaded
// machine, short enough that a hang fails fast.
const waitFor = 10 * time.Second

// fastPoll keeps tests that rely on polling (and the removal grace) quick.
const fastPoll = 5 * time.Millisecond

// run is a Tailer running in its own goroutine, its events copied to a
// channel.
type run struct {
	t      *testing.T
	tl     *Tailer
	events chan Event
	done   chan error
	cancel context.CancelFunc
}

// startTailer starts a Tailer on cfg. Its goroutine ends when the test does
// (or earlier, when Run returns).
func startTailer(t *testing.T, cfg Config) *run {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = fastPoll
	}
	tl, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{t: t, tl: tl, events: make(chan Event, 1<<16), done: make(chan error, 1), cancel: cancel}
	go func() {
		r.done <- tl.Run(ctx, func(evs []Event) error {
			for _, ev := range evs {
				ev.Data = bytes.Clone(ev.Data) // the Tailer reuses its buffers
				select {
				case r.events <- ev:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(waitFor):
			t.Errorf("Run did not return after cancel")
		}
	})
	return r
}

// next returns the next n events, failing the test if they do not come.
func (r *run) next(n int) []Event {
	r.t.Helper()
	out := make([]Event, 0, n)
	deadline := time.After(waitFor)
	for len(out) < n {
		select {
		case ev := <-r.events:
			out = append(out, ev)
		case err := <-r.done:
			r.done <- err
			// Run has returned: what it emitted is all in the channel.
			for len(out) < n && len(r.events) > 0 {
				out = append(out, <-r.events)
			}
			if len(out) < n {
				r.t.Fatalf("Run returned %v after %d of %d events: %s", err, len(out), n, describe(out))
			}
		case <-deadline:
			r.t.Fatalf("got %d of %d events in %v: %s", len(out), n, waitFor, describe(out))
		}
	}
	return out
}

// waitOffset waits until Offset reaches want: the Tailer stores it once
// emit returns, just after the events were received.
func (r *run) waitOffset(want int64) {
	r.t.Helper()
	deadline := time.Now().Add(waitFor)
	for r.tl.Offset() != want {
		if time.Now().After(deadline) {
			r.t.Fatalf("Offset() = %d after %v, want %d", r.tl.Offset(), waitFor, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// end waits for Run to return and for every event emitted before; it fails
// the test on a deadline.
func (r *run) end() ([]Event, error) {
	r.t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		var rest []Event
		for {
			select {
			case ev := <-r.events:
				rest = append(rest, ev)
			default:
				return rest, err
			}
		}
	case <-time.After(waitFor):
		r.t.Fatalf("Run did not return in %v", waitFor)
		return nil, nil
	}
}

// endWith waits for Run to return want, and returns the events emitted
// before it.
func (r *run) endWith(want error) []Event {
	r.t.Helper()
	evs, err := r.end()
	if !errors.Is(err, want) {
		r.t.Fatalf("Run returned %v, want %v", err, want)
	}
	return evs
}

func describe(evs []Event) string {
	var b strings.Builder
	for i, ev := range evs {
		if i == 8 {
			fmt.Fprintf(&b, " … (%d more)", len(evs)-i)
			break
		}
		fmt.Fprintf(&b, " {%d-%d %q lines=%d trunc=%v skip=%v}", ev.Offset, ev.End, ev.Data, ev.Lines, ev.Truncated, ev.Skip)
	}
	return b.String()
}

// ev is an expected event.
func ev(off, end int64, data string) Event {
	return Event{Offset: off, End: end, Data: []byte(data), Lines: 1}
}

func checkEvents(t *testing.T, got, want []Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d\n got:%s\nwant:%s", len(got), len(want), describe(got), describe(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || g.End != w.End || !bytes.Equal(g.Data, w.Data) || g.Lines != w.Lines || g.Truncated != w.Truncated || g.Skip != w.Skip {
			t.Fatalf("event %d:\n got {%d-%d %q lines=%d trunc=%v skip=%v}\nwant {%d-%d %q lines=%d trunc=%v skip=%v}",
				i, g.Offset, g.End, g.Data, g.Lines, g.Truncated, g.Skip, w.Offset, w.End, w.Data, w.Lines, w.Truncated, w.Skip)
		}
	}
}

// numbered returns lines "<prefix> 0000\n" … for i in [from, to).
func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s %04d\n", prefix, i)
	}
	return b.String()
}

// checkNumbered checks that evs are exactly the lines numbered(prefix,
// from, to), contiguous from offset base.
func checkNumbered(t *testing.T, evs []Event, prefix string, from, to int, base int64) {
	t.Helper()
	if len(evs) != to-from {
		t.Fatalf("got %d events, want %d (%s %d..%d):%s", len(evs), to-from, prefix, from, to-1, describe(evs))
	}
	off := base
	for i, e := range evs {
		want := fmt.Sprintf("%s %04d", prefix, from+i)
		if string(e.Data) != want || e.Offset != off || e.End != off+int64(len(want))+1 {
			t.Fatalf("event %d = {%d-%d %q}, want {%d-%d %q}", i, e.Offset, e.End, e.Data, off, off+int64(len(want))+1, want)
		}
		off = e.End
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

func tempFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.log")
	writeFile(t, path, content)
	return path
}
