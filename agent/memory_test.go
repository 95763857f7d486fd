package agent

import (
	"runtime/debug"
	"testing"
)

// TestMemoryLimitFollowsOpenFiles: each open file raises the soft memory
// limit by TailerMemory, set in steps of at least 1 MiB, and closing files
// lowers it again.
func TestMemoryLimitFollowsOpenFiles(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	const base = 80 << 20
	a := &Agent{opts: Options{MemoryLimit: base}}
	limit := func() int64 { return debug.SetMemoryLimit(-1) }

	a.fileOpened()
	if got, want := limit(), int64(base+TailerMemory); got != want {
		t.Fatalf("one file open: limit %d, want %d", got, want)
	}
	for range 99 {
		a.fileOpened()
	}
	// Set at 65 files (1 MiB above the first setting), not since.
	if got, want := limit(), int64(base+65*TailerMemory); got != want {
		t.Errorf("100 files open: limit %d, want %d", got, want)
	}
	for range 100 {
		a.fileClosed()
	}
	if got := limit(); got > base+TailerMemory+1<<20 || got < base {
		t.Errorf("all files closed: limit %d, want within 1 MiB above %d", got, base)
	}

	off := &Agent{}
	debug.SetMemoryLimit(prev)
	off.fileOpened()
	if got := limit(); got != prev {
		t.Errorf("without MemoryLimit the limit moved: %d, want %d", got, prev)
	}
}
