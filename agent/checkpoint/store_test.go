package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/logpipe/logpipe/agent/tail"
)

// warnCounter is a slog.Handler that counts warnings.
type warnCounter struct{ n *atomic.Int32 }

func (h warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}
func (h warnCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warnCounter) WithGroup(string) slog.Handler      { return h }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestOpenScenarios runs Open on each on-disk state under testdata (each
// directory's README.md says what it is) and checks the positions loaded,
// the warnings, and the files left in the directory against expected.json.
func TestOpenScenarios(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		t.Run(d.Name(), func(t *testing.T) {
			src := filepath.Join("testdata", d.Name())
			var want struct {
				Error     string    `json:"error"`
				Warnings  int32     `json:"warnings"`
				Files     []string  `json:"files"`
				Positions []filePos `json:"positions"`
			}
			raw, err := os.ReadFile(filepath.Join(src, "expected.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			files, _ := os.ReadDir(src)
			for _, f := range files {
				if f.Name() == "README.md" || f.Name() == "expected.json" {
					continue
				}
				b, err := os.ReadFile(filepath.Join(src, f.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f.Name()), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}

			var warns atomic.Int32
			s, err := Open(dir, slog.New(warnCounter{&warns}))
			switch {
			case want.Error == "ErrVersion":
				if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "has version 2, this agent reads 1; run a newer agent") {
					t.Fatalf("Open error = %v, want ErrVersion naming both versions and the remedy", err)
				}
			case err != nil:
				t.Fatalf("Open: %v", err)
			default:
				var got []filePos
				for _, p := range s.snapshot() {
					got = append(got, toFilePos(p))
				}
				if diff := cmp.Diff(want.Positions, got, cmpEmpty); diff != "" {
					t.Errorf("positions (-want +got):\n%s", diff)
				}
			}
			if got := warns.Load(); got != want.Warnings {
				t.Errorf("%d warnings, want %d", got, want.Warnings)
			}
			if diff := cmp.Diff(want.Files, dirNames(t, dir), cmpEmpty); diff != "" {
				t.Errorf("files after Open (-want +got):\n%s", diff)
			}
		})
	}
}

// cmpEmpty makes nil and empty slices equal.
var cmpEmpty = cmp.FilterValues(func(a, b any) bool {
	return isEmptySlice(a) && isEmptySlice(b)
}, cmp.Ignore())

func isEmptySlice(v any) bool {
	switch s := v.(type) {
	case []filePos:
		return len(s) == 0
	case []string:
		return len(s) == 0
	}
	return false
}

func toFilePos(p Position) filePos {
	return filePos{
		Entry: p.Entry, FileID: p.FileID, Path: p.Path,
		Dev: p.Identity.Dev, Inode: p.Identity.Inode, FingerprintLen: p.Identity.FingerprintLen,
		Fingerprint: fmt.Sprintf("%016x", p.Identity.Fingerprint),
		Offset:      p.Offset, Size: p.Size, Updated: p.Updated,
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	slices.Sort(names)
	return names
}

func logFile(t *testing.T, content string) (string, tail.Identity) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	id, _, err := tail.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, id
}

func mustOpen(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustLookup(t *testing.T, s *Store, entry, path string) (Position, bool) {
	t.Helper()
	id, _, err := tail.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	p, ok, err := s.Lookup(entry, path, id)
	if err != nil {
		t.Fatal(err)
	}
	return p, ok
}

// TestRegisterSurvivesCrash: a Store abandoned right after Register (no
// Flush, no Run: a SIGKILL) still has the file's ID on disk.
func TestRegisterSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	path, id := logFile(t, "first line\n")
	s := mustOpen(t, dir)
	p, err := s.Register("web", path, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.FileID) != 16 || strings.Trim(p.FileID, "0123456789abcdef") != "" {
		t.Errorf("FileID %q, want 16 hex digits", p.FileID)
	}

	after := mustOpen(t, dir) // s is abandoned: nothing else was written
	got, ok := mustLookup(t, after, "web", path)
	if !ok || got.FileID != p.FileID || got.Offset != 0 || got.Path != path {
		t.Fatalf("after a crash Lookup = %+v, %v; want FileID %s at offset 0", got, ok, p.FileID)
	}
}

// TestRegisterDeferredSharesOneWrite: positions registered deferred are in
// memory only until a written func runs; one write then holds all of them,
// and the later funcs find their generation written.
func TestRegisterDeferredSharesOneWrite(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	var paths []string
	var ps []Position
	var writes []func() error
	for i := range 3 {
		path, id := logFile(t, fmt.Sprintf("line of file %d\n", i))
		p, written, err := s.RegisterDeferred("web", path, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		paths, ps, writes = append(paths, path), append(ps, p), append(writes, written)
	}
	if _, ok := mustLookup(t, mustOpen(t, dir), "web", paths[0]); ok {
		t.Fatal("a deferred registration is on disk before its written func ran")
	}
	if err := writes[2](); err != nil {
		t.Fatal(err)
	}
	before := modTime(t, filepath.Join(dir, FileName))
	for _, w := range writes[:2] {
		if err := w(); err != nil {
			t.Fatal(err)
		}
	}
	if after := modTime(t, filepath.Join(dir, FileName)); !after.Equal(before) {
		t.Errorf("earlier registrations wrote again (%v → %v); the last write held them", before, after)
	}
	after := mustOpen(t, dir)
	for i, path := range paths {
		got, ok := mustLookup(t, after, "web", path)
		if !ok || got.FileID != ps[i].FileID {
			t.Errorf("after the write, Lookup(%s) = %+v, %v; want FileID %s", path, got, ok, ps[i].FileID)
		}
	}
}

func modTime(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func TestAdvanceFlushReopen(t *testing.T) {
	dir := t.TempDir()
	path, id := logFile(t, strings.Repeat("line\n", 400))
	s := mustOpen(t, dir)
	p, err := s.Register("web", path, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Advance("web", p.FileID, 1234, 2000)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Advance("web", p.FileID, 1500, 2000) // not flushed: lost in a crash

	got, ok := mustLookup(t, mustOpen(t, dir), "web", path)
	if !ok || got.FileID != p.FileID || got.Offset != 1234 || got.Size != 2000 {
		t.Fatalf("after reopen: %+v, %v; want FileID %s, offset 1234, size 2000", got, ok, p.FileID)
	}
}

func TestAdvanceNeverMovesBack(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	path, id := logFile(t, "x\n")
	p, err := s.Register("web", path, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Advance("web", p.FileID, 100, 200)
	s.Advance("web", p.FileID, 50, 300)
	s.Advance("web", "unknown", 500, 500)
	got := s.Positions("web")
	if len(got) != 1 || got[0].Offset != 100 || got[0].Size != 300 {
		t.Fatalf("Positions = %+v; want one at offset 100, size 300", got)
	}
}

func TestFlushKeepsPreviousGeneration(t *testing.T) {
	dir := t.TempDir()
	path, id := logFile(t, "x\n")
	s := mustOpen(t, dir)
	p, err := s.Register("web", path, id, 0) // generation 1: offset 0
	if err != nil {
		t.Fatal(err)
	}
	s.Advance("web", p.FileID, 2, 2)
	if err := s.Flush(); err != nil { // generation 2: offset 2
		t.Fatal(err)
	}
	read := func(name string) int64 {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		ps, err := decode(b)
		if err != nil || len(ps) != 1 {
			t.Fatalf("%s: %v, %d positions", name, err, len(ps))
		}
		return ps[0].Offset
	}
	if cur, prev := read(FileName), read(PrevName); cur != 2 || prev != 0 {
		t.Errorf("offsets: %s %d, %s %d; want 2 and 0", FileName, cur, PrevName, prev)
	}
	if diff := cmp.Diff([]string{FileName, PrevName}, dirNames(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}

	// Nothing changed: Flush writes nothing.
	if err := os.Remove(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Flush without changes wrote %s (%v)", FileName, err)
	}
}

// TestLookupRecognisesGrownFile: a file registered while 11 bytes long is
// the same file after it grew past FingerprintBytes, though a fresh
// identity's fingerprint covers 1024 bytes.
func TestLookupRecognisesGrownFile(t *testing.T) {
	path, id := logFile(t, "first line\n")
	s := mustOpen(t, t.TempDir())
	p, err := s.Register("web", path, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(strings.Repeat("later line\n", 300))
	f.Close()
	got, ok := mustLookup(t, s, "web", path)
	if !ok || got.FileID != p.FileID {
		t.Fatalf("Lookup after growth = %+v, %v; want FileID %s", got, ok, p.FileID)
	}
	if _, ok := mustLookup(t, s, "other-entry", path); ok {
		t.Error("Lookup found the file under another entry")
	}
}

// TestLookupRefusesOtherContent: the same device and inode holding other
// first bytes (an inode reused after a delete; here a rewrite in place,
// which keeps the inode for certain) is not the recorded file.
func TestLookupRefusesOtherContent(t *testing.T) {
	for _, tc := range []struct{ name, before, after string }{
		{"fingerprints of the same length", strings.Repeat("a", 2000), strings.Repeat("b", 2000)},
		{"recorded short, the new file longer", "aaaa\n", strings.Repeat("b", 3000)},
		{"shorter than the recorded prefix", strings.Repeat("a", 2000), "a\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, id := logFile(t, tc.before)
			s := mustOpen(t, t.TempDir())
			if _, err := s.Register("web", path, id, int64(len(tc.before))); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.after), 0o644); err != nil {
				t.Fatal(err)
			}
			if p, ok := mustLookup(t, s, "web", path); ok {
				t.Fatalf("Lookup = %+v for a file with other content", p)
			}
		})
	}
}

func TestRegisterReplacesSameInode(t *testing.T) {
	path, id := logFile(t, "old content\n")
	s := mustOpen(t, t.TempDir())
	old, err := s.Register("web", path, id, 12)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("new content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nid, _, err := tail.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := s.Register("web", path, nid, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Positions("web")
	if len(got) != 1 || got[0].FileID != fresh.FileID || fresh.FileID == old.FileID {
		t.Fatalf("Positions = %+v; want only the new file ID %s", got, fresh.FileID)
	}
}

func TestUpdate(t *testing.T) {
	path, id := logFile(t, "short\n")
	s := mustOpen(t, t.TempDir())
	p, err := s.Register("web", path, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	grown := id
	grown.FingerprintLen, grown.Fingerprint = 1024, 42
	if err := s.Update("web", p.FileID, path+".1", grown); err != nil {
		t.Fatal(err)
	}
	got := s.Positions("web")[0]
	if got.Path != path+".1" || got.Identity != grown || got.FileID != p.FileID {
		t.Errorf("after Update: %+v", got)
	}
	other := grown
	other.Inode++
	if err := s.Update("web", p.FileID, path, other); err == nil {
		t.Error("Update accepted another inode")
	}
	if err := s.Update("web", p.FileID, path, id); err == nil {
		t.Error("Update accepted a shorter fingerprint")
	}
}

func TestForget(t *testing.T) {
	dir := t.TempDir()
	path, id := logFile(t, "x\n")
	s := mustOpen(t, dir)
	p, err := s.Register("web", path, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Forget("web", p.FileID)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := mustOpen(t, dir).Positions("web"); len(got) != 0 {
		t.Errorf("Positions after Forget and reopen = %+v", got)
	}
}

func TestRunWritesPeriodicallyAndOnShutdown(t *testing.T) {
	dir := t.TempDir()
	path, id := logFile(t, "x\n")
	s := mustOpen(t, dir)
	p, err := s.Register("web", path, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, 5*time.Millisecond) }()

	s.Advance("web", p.FileID, 1, 2)
	deadline := time.Now().Add(10 * time.Second)
	for { // the periodic write
		if ps := mustOpen(t, dir).Positions("web"); len(ps) == 1 && ps[0].Offset == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not write the advanced offset")
		}
		time.Sleep(5 * time.Millisecond)
	}

	s.Advance("web", p.FileID, 2, 2)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after its final write", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if ps := mustOpen(t, dir).Positions("web"); len(ps) != 1 || ps[0].Offset != 2 {
		t.Fatalf("after shutdown: %+v; want offset 2", ps)
	}
}

func TestConcurrentRegister(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	const n = 32
	paths := make([]string, n)
	ids := make([]tail.Identity, n)
	for i := range n {
		paths[i], ids[i] = logFile(t, fmt.Sprintf("file %d\n", i))
	}
	var wg sync.WaitGroup
	fileIDs := make([]string, n)
	for i := range n {
		wg.Go(func() {
			p, err := s.Register("web", paths[i], ids[i], 0)
			if err != nil {
				t.Error(err)
				return
			}
			fileIDs[i] = p.FileID
		})
	}
	wg.Wait()
	after := mustOpen(t, dir)
	for i := range n {
		if p, ok := mustLookup(t, after, "web", paths[i]); !ok || p.FileID != fileIDs[i] {
			t.Errorf("file %d after reopen: %+v, %v; want %s", i, p, ok, fileIDs[i])
		}
	}
}
