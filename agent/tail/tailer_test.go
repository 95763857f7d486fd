package tail

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestResumeAtExactOffset(t *testing.T) {
	path := tempFile(t, "a\nbb\nccc\n")
	r := startTailer(t, Config{Path: path, Offset: 2})
	checkEvents(t, r.next(2), []Event{ev(2, 5, "bb"), ev(5, 9, "ccc")})
	r.waitOffset(9)
}

func TestPartialLineWaitsForNewline(t *testing.T) {
	path := tempFile(t, "one\ntw")
	r := startTailer(t, Config{Path: path})
	// "one" and the partial "tw" come in one read; only "one" is complete.
	checkEvents(t, r.next(1), []Event{ev(0, 4, "one")})
	appendFile(t, path, "o\nthree\n")
	// Had "tw" been emitted, it would come first.
	checkEvents(t, r.next(2), []Event{ev(4, 8, "two"), ev(8, 14, "three")})
}

func TestUnterminatedLastLineEmittedOnRemoval(t *testing.T) {
	path := tempFile(t, "a\nlast")
	var gone atomic.Bool
	r := startTailer(t, Config{Path: path, Removed: gone.Load})
	checkEvents(t, r.next(1), []Event{ev(0, 2, "a")})
	gone.Store(true)
	checkEvents(t, r.endWith(ErrRemoved), []Event{ev(2, 6, "last")})
	if got := r.tl.Offset(); got != 6 {
		t.Errorf("Offset() = %d, want the size 6", got)
	}
}

// TestRenameRotation is logrotate's default: the old file is renamed, the
// application writes a few more lines into it before reopening, and a new
// file appears at the path. The manager keeps the old file's Tailer (it
// follows the descriptor) and starts one at 0 on the new file.
func TestRenameRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString(numbered("line", 0, 100)); err != nil {
		t.Fatal(err)
	}
	var renamedAway atomic.Bool
	old := startTailer(t, Config{Path: path, Removed: renamedAway.Load})
	first := old.next(100)

	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(numbered("line", 100, 150)); err != nil { // late writes to the old file
		t.Fatal(err)
	}
	w.Close()
	writeFile(t, path, numbered("line", 150, 300))
	renamedAway.Store(true)

	rest := old.endWith(ErrRemoved)
	checkNumbered(t, append(first, rest...), "line", 0, 150, 0)
	fresh := startTailer(t, Config{Path: path})
	checkNumbered(t, fresh.next(150), "line", 150, 300, 0)
}

func TestCopyTruncate(t *testing.T) {
	path := tempFile(t, numbered("old", 0, 100))
	r := startTailer(t, Config{Path: path})
	checkNumbered(t, r.next(100), "old", 0, 100, 0)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("new", 0, 10))
	if evs := r.endWith(ErrTruncated); len(evs) != 0 {
		t.Fatalf("the old tailer emitted after the truncation:%s", describe(evs))
	}
	again := startTailer(t, Config{Path: path})
	checkNumbered(t, again.next(10), "new", 0, 10, 0)
}

// TestTruncatedThenRewrittenPastOldSize is a copytruncate followed by a
// burst of writes, all before the Tailer looks again: the file is larger
// than what was read, and only its changed first bytes tell. The Tailer is
// held in emit (backpressure) while the file is rewritten, so it cannot
// look in between.
func TestTruncatedThenRewrittenPastOldSize(t *testing.T) {
	path := tempFile(t, numbered("old", 0, 200))
	tl, err := New(Config{Path: path, PollInterval: fastPoll})
	if err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	var got []Event
	done := make(chan error, 1)
	go func() {
		// t.Context ends the goroutine should the test fail early.
		done <- tl.Run(t.Context(), func(evs []Event) error {
			for _, e := range evs {
				e.Data = append([]byte(nil), e.Data...)
				got = append(got, e)
			}
			if len(got) == 200 {
				close(held)
				select {
				case <-release:
				case <-t.Context().Done():
				}
			}
			return nil
		})
	}()
	select {
	case <-held:
	case <-time.After(waitFor):
		t.Fatal("the first 200 lines did not come")
	}
	writeFile(t, path, numbered("new", 0, 600)) // O_TRUNC, then 5400 bytes
	close(release)
	select {
	case err := <-done:
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("Run = %v, want ErrTruncated", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Run did not notice the rewrite")
	}
	checkNumbered(t, got, "old", 0, 200, 0)
	again := startTailer(t, Config{Path: path})
	checkNumbered(t, again.next(600), "new", 0, 600, 0)
}

func TestDeletedWhileOpenIsDrained(t *testing.T) {
	// More than one read buffer, so that most of the file is still unread
	// when it is deleted.
	content := numbered("line", 0, 20000)
	path := tempFile(t, content)
	tl, err := New(Config{Path: path, PollInterval: fastPoll})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{})
	resume := make(chan struct{})
	var got []Event
	done := make(chan error, 1)
	go func() {
		// t.Context ends the goroutine should the test fail early.
		done <- tl.Run(t.Context(), func(evs []Event) error {
			if got == nil {
				close(first)
				select { // backpressure: hold the Tailer while the file is deleted
				case <-resume:
				case <-t.Context().Done():
				}
			}
			for _, e := range evs {
				e.Data = append([]byte(nil), e.Data...)
				got = append(got, e)
			}
			return nil
		})
	}()
	select {
	case <-first:
	case <-time.After(waitFor):
		t.Fatal("no first batch")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	close(resume)
	select {
	case err := <-done:
		if !errors.Is(err, ErrRemoved) {
			t.Fatalf("Run = %v, want ErrRemoved", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Run did not return after the file was deleted")
	}
	checkNumbered(t, got, "line", 0, 20000, 0)
	if tl.Offset() != int64(len(content)) {
		t.Errorf("Offset() = %d, want %d", tl.Offset(), len(content))
	}
}

func TestCloseInactive(t *testing.T) {
	path := tempFile(t, "a\nb\npart")
	r := startTailer(t, Config{Path: path, CloseInactive: 30 * time.Millisecond})
	checkEvents(t, r.next(2), []Event{ev(0, 2, "a"), ev(2, 4, "b")})
	if evs := r.endWith(ErrInactive); len(evs) != 0 {
		t.Fatalf("emitted at close:%s", describe(evs))
	}
	// The partial line was not emitted: resuming at Offset reads it whole.
	if got := r.tl.Offset(); got != 4 {
		t.Fatalf("Offset() = %d, want 4", got)
	}
	appendFile(t, path, "ial\n")
	again := startTailer(t, Config{Path: path, Offset: r.tl.Offset()})
	checkEvents(t, again.next(1), []Event{ev(4, 12, "partial")})
}

func TestOverlongLine(t *testing.T) {
	long := strings.Repeat("x", 100)
	path := tempFile(t, "short\n"+long+"\n"+"after\n")
	r := startTailer(t, Config{Path: path, MaxLineBytes: 10})
	want := []Event{
		ev(0, 6, "short"),
		{Offset: 6, End: 107, Data: []byte("xxxxxxxxxx"), Truncated: true, Lines: 1},
		ev(107, 113, "after"),
	}
	checkEvents(t, r.next(3), want)
}

func TestLineOfExactlyMaxBytesWithCRLFIsWhole(t *testing.T) {
	path := tempFile(t, "0123456789\r\n01234567890\r\n")
	r := startTailer(t, Config{Path: path, MaxLineBytes: 10})
	checkEvents(t, r.next(2), []Event{
		ev(0, 12, "0123456789"),
		{Offset: 12, End: 25, Data: []byte("0123456789"), Truncated: true, Lines: 1},
	})
}

// TestOverlongLineMemoryBounded writes a 5 MiB line: it is cut at
// MaxLineBytes, and the read buffer never grows past MaxLineBytes+2.
func TestOverlongLineMemoryBounded(t *testing.T) {
	const maxLine = 256 << 10
	huge := strings.Repeat("y", 5<<20)
	path := tempFile(t, huge+"\nnext\n")
	tl, err := New(Config{Path: path, MaxLineBytes: maxLine, PollInterval: fastPoll})
	if err != nil {
		t.Fatal(err)
	}
	var got []Event
	maxBuf := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err = tl.Run(ctx, func(evs []Event) error {
		maxBuf = max(maxBuf, len(tl.buf))
		for _, e := range evs {
			got = append(got, Event{Offset: e.Offset, End: e.End, Data: []byte(e.Data), Truncated: e.Truncated, Lines: e.Lines})
		}
		if len(got) == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	checkEvents(t, got, []Event{
		{Offset: 0, End: 5<<20 + 1, Data: []byte(huge[:maxLine]), Truncated: true, Lines: 1},
		ev(5<<20+1, 5<<20+6, "next"),
	})
	if maxBuf > maxLine+2 {
		t.Errorf("read buffer grew to %d bytes, want at most %d", maxBuf, maxLine+2)
	}
}

func TestCRLF(t *testing.T) {
	path := tempFile(t, "a\r\nb\r\n\r\nc\n\rd\n")
	r := startTailer(t, Config{Path: path})
	checkEvents(t, r.next(5), []Event{ev(0, 3, "a"), ev(3, 6, "b"), ev(6, 8, ""), ev(8, 10, "c"), ev(10, 13, "\rd")})
}

func TestInvalidUTF8PassesThrough(t *testing.T) {
	bad := "\xff\xfe\x00ok\xc3("
	path := tempFile(t, bad+"\n")
	r := startTailer(t, Config{Path: path, Include: []*regexp.Regexp{regexp.MustCompile("ok")}})
	checkEvents(t, r.next(1), []Event{ev(0, int64(len(bad))+1, bad)})
}

func TestIncludeExclude(t *testing.T) {
	content := "INFO a\nDEBUG b\nDEBUG c\nERROR d\nINFO health\nWARN e\n"
	path := tempFile(t, content)
	r := startTailer(t, Config{
		Path:    path,
		Include: []*regexp.Regexp{regexp.MustCompile(`^(INFO|ERROR)`)},
		Exclude: []*regexp.Regexp{regexp.MustCompile(`health`)},
	})
	checkEvents(t, r.next(4), []Event{
		ev(0, 7, "INFO a"),
		{Offset: 7, End: 23, Lines: 2, Skip: true}, // two DEBUG lines, merged
		ev(23, 31, "ERROR d"),
		{Offset: 31, End: 50, Lines: 2, Skip: true}, // excluded, then not included
	})
}

// TestAllLinesExcludedAdvanceOffset: a file whose lines are all filtered
// out must still let the checkpoint reach its end.
func TestAllLinesExcludedAdvanceOffset(t *testing.T) {
	content := numbered("noise", 0, 1000)
	path := tempFile(t, content)
	r := startTailer(t, Config{Path: path, Exclude: []*regexp.Regexp{regexp.MustCompile(`^noise`)}})
	evs := r.next(1)
	if !evs[0].Skip || evs[0].Offset != 0 || evs[0].Data != nil {
		t.Fatalf("got%s, want one Skip event from 0", describe(evs))
	}
	end, lines := evs[0].End, evs[0].Lines
	for end < int64(len(content)) {
		e := r.next(1)[0]
		if !e.Skip || e.Offset != end {
			t.Fatalf("got%s after %d", describe([]Event{e}), end)
		}
		end, lines = e.End, lines+e.Lines
	}
	if lines != 1000 {
		t.Errorf("Skip events cover %d lines, want 1000", lines)
	}
	r.waitOffset(int64(len(content)))
}

func TestMaxBatch(t *testing.T) {
	path := tempFile(t, numbered("l", 0, 10))
	tl, err := New(Config{Path: path, MaxBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	total := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_ = tl.Run(ctx, func(evs []Event) error {
		sizes = append(sizes, len(evs))
		if total += len(evs); total == 10 {
			cancel()
		}
		return nil
	})
	if want := []int{3, 3, 3, 1}; !equalInts(sizes, want) {
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
}

func TestEmitErrorStopsRunAndKeepsOffset(t *testing.T) {
	path := tempFile(t, "a\nb\n")
	tl, err := New(Config{Path: path, MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("kafka down")
	calls := 0
	err = tl.Run(context.Background(), func(evs []Event) error {
		if calls++; calls == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want %v", err, boom)
	}
	if got := tl.Offset(); got != 2 {
		t.Errorf("Offset() = %d, want 2 (the failed batch is not emitted)", got)
	}
}

func TestRunReturnsContextError(t *testing.T) {
	path := tempFile(t, "a\n")
	r := startTailer(t, Config{Path: path})
	r.next(1)
	r.cancel()
	r.endWith(context.Canceled)
}

func TestWatcherWakesTailer(t *testing.T) {
	w, err := NewWatcher(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	path := tempFile(t, "a\n")
	// An hour's poll: only the Watcher can deliver the second line in time.
	r := startTailer(t, Config{Path: path, Watcher: w, PollInterval: time.Hour})
	checkEvents(t, r.next(1), []Event{ev(0, 2, "a")})
	appendFile(t, path, "b\n")
	checkEvents(t, r.next(1), []Event{ev(2, 4, "b")})
}

func TestStartBeyondSizeIsTruncation(t *testing.T) {
	path := tempFile(t, "a\n")
	r := startTailer(t, Config{Path: path, Offset: 100})
	r.endWith(ErrTruncated)
}

func TestRecordedIdentityOfOtherContentIsTruncation(t *testing.T) {
	path := tempFile(t, "first content\n")
	id, _, err := Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "other content, longer than before\n") // same inode
	r := startTailer(t, Config{Path: path, Identity: id, Offset: 14})
	if evs := r.endWith(ErrTruncated); len(evs) != 0 {
		t.Fatalf("emitted%s", describe(evs))
	}
}

func TestIdentityExtendsAsFileGrows(t *testing.T) {
	path := tempFile(t, "a\n")
	r := startTailer(t, Config{Path: path})
	r.next(1)
	appendFile(t, path, strings.Repeat("b", 2000)+"\n")
	r.next(1)
	want, _, err := Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.tl.Identity(); got != want {
		t.Errorf("Identity() = %+v, want %+v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
