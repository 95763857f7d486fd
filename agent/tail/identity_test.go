package tail

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestStat(t *testing.T) {
	small := "short file\n"
	large := strings.Repeat("0123456789abcdef", 200) // 3200 bytes
	for _, content := range []string{"", small, large} {
		path := tempFile(t, content)
		id, fi, err := Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		n := min(len(content), FingerprintBytes)
		if id.FingerprintLen != int64(n) || id.Fingerprint != xxhash.Sum64String(content[:n]) {
			t.Errorf("Stat of %d bytes: fingerprint (%d, %x), want (%d, %x)", len(content), id.FingerprintLen, id.Fingerprint, n, xxhash.Sum64String(content[:n]))
		}
		if fi.Size() != int64(len(content)) || id.Inode == 0 {
			t.Errorf("Stat of %d bytes: size %d, inode %d", len(content), fi.Size(), id.Inode)
		}
	}
}

// TestIdentityOfGrowingFile: a file first seen short is the same file once
// it grew, though a fresh identity covers more bytes; its file ID, kept by
// the caller, does not depend on the fingerprint at all.
func TestIdentityOfGrowingFile(t *testing.T) {
	path := tempFile(t, "first line\n")
	recorded, _, err := Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, strings.Repeat("more lines\n", 200))
	fresh, _, err := Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.FingerprintLen != FingerprintBytes {
		t.Fatalf("fresh FingerprintLen = %d, want %d", fresh.FingerprintLen, FingerprintBytes)
	}
	if recorded.SameFile(fresh) {
		t.Error("SameFile compared fingerprints of different lengths")
	}
	if !recorded.SameInode(fresh) {
		t.Error("SameInode = false for the same file")
	}
	f := open(t, path)
	if ok, err := recorded.Matches(f); !ok || err != nil {
		t.Errorf("Matches = %v, %v; want true", ok, err)
	}
	extended, err := recorded.Extend(f)
	if err != nil {
		t.Fatal(err)
	}
	if extended != fresh || !extended.SameFile(fresh) {
		t.Errorf("Extend = %+v, want %+v", extended, fresh)
	}
}

// TestIdentityRefusesOtherContent: the same device and inode with other
// first bytes is another file (an inode reused after a delete, or a file
// truncated and rewritten); the test rewrites in place, which keeps the
// inode for certain.
func TestIdentityRefusesOtherContent(t *testing.T) {
	for _, tc := range []struct{ name, before, after string }{
		{"same length", "aaaa\n", "bbbb\n"},
		{"recorded short, now longer", "aaaa\n", strings.Repeat("b", 3000)},
		{"recorded full, now longer", strings.Repeat("a", 2000), strings.Repeat("b", 3000)},
		{"shorter than recorded", strings.Repeat("a", 2000), "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempFile(t, tc.before)
			recorded, _, err := Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, tc.after)
			fresh, _, err := Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if !recorded.SameInode(fresh) {
				t.Fatal("rewriting in place changed the inode")
			}
			if recorded.SameFile(fresh) {
				t.Error("SameFile = true")
			}
			f := open(t, path)
			if ok, err := recorded.Matches(f); ok || err != nil {
				t.Errorf("Matches = %v, %v; want false, nil", ok, err)
			}
			if _, err := recorded.Extend(f); !errors.Is(err, ErrFileChanged) {
				t.Errorf("Extend error = %v, want ErrFileChanged", err)
			}
		})
	}
}

func TestIdentityRefusesOtherInode(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, a, "same content\n")
	writeFile(t, b, "same content\n")
	ida, _, err := Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	idb, _, err := Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	if ida.SameFile(idb) || ida.SameInode(idb) {
		t.Error("two files with the same content are the same file")
	}
	if ok, err := ida.Matches(open(t, b)); ok || err != nil {
		t.Errorf("Matches(other inode) = %v, %v", ok, err)
	}
}

func TestFingerprintAt(t *testing.T) {
	path := tempFile(t, "0123456789")
	f := open(t, path)
	got, err := FingerprintAt(f, 4)
	if err != nil || got != xxhash.Sum64String("0123") {
		t.Errorf("FingerprintAt(4) = %x, %v; want %x", got, err, xxhash.Sum64String("0123"))
	}
	if _, err := FingerprintAt(f, 11); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("FingerprintAt past the end: %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := FingerprintAt(f, FingerprintBytes+1); err == nil {
		t.Error("FingerprintAt beyond FingerprintBytes accepted")
	}
}
