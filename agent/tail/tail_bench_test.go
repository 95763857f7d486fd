package tail

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	nxtail "github.com/nxadm/tail"
)

// benchLines and benchLineBytes shape the file the read benchmarks read:
// 500,000 lines of 200 bytes (newline included), 100 MB, from the page
// cache.
const (
	benchLines     = 500_000
	benchLineBytes = 200
)

func writeBenchFile(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.log")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := bytes.Repeat([]byte("x"), benchLineBytes)
	line[benchLineBytes-1] = '\n'
	for i := range benchLines {
		copy(line, strconv.AppendInt([]byte("2026-11-26T10:00:00Z INFO request "), int64(i), 10))
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

func reportLines(b *testing.B, lines int) {
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkRead reads a 100 MB file of 200-byte lines from start to end:
// through a Tailer, through github.com/nxadm/tail v1.4.11 (following, as an
// agent would, with CompleteLines so that it does not split half-written
// lines), and with a bare bufio.Scanner as the floor.
func BenchmarkRead(b *testing.B) {
	path := writeBenchFile(b)
	b.Run("tailer", func(b *testing.B) {
		b.SetBytes(benchLines * benchLineBytes)
		for range b.N {
			tl, err := New(Config{Path: path})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			n := 0
			_ = tl.Run(ctx, func(evs []Event) error {
				n += len(evs)
				if n >= benchLines {
					cancel()
				}
				return nil
			})
			cancel()
			if n != benchLines {
				b.Fatalf("read %d lines, want %d", n, benchLines)
			}
		}
		reportLines(b, benchLines)
	})
	b.Run("nxadm", func(b *testing.B) {
		b.SetBytes(benchLines * benchLineBytes)
		for range b.N {
			t, err := nxtail.TailFile(path, nxtail.Config{
				Follow:        true,
				MustExist:     true,
				CompleteLines: true,
				Logger:        nxtail.DiscardingLogger,
			})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for range t.Lines {
				if n++; n == benchLines {
					break
				}
			}
			_ = t.Stop()
			t.Cleanup()
			if n != benchLines {
				b.Fatalf("read %d lines, want %d", n, benchLines)
			}
		}
		reportLines(b, benchLines)
	})
	b.Run("bufio", func(b *testing.B) {
		b.SetBytes(benchLines * benchLineBytes)
		for range b.N {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			s := bufio.NewScanner(f)
			s.Buffer(make([]byte, 64<<10), 1<<20)
			n := 0
			for s.Scan() {
				n++
			}
			f.Close()
			if n != benchLines || s.Err() != nil {
				b.Fatalf("read %d lines (%v), want %d", n, s.Err(), benchLines)
			}
		}
		reportLines(b, benchLines)
	})
}
