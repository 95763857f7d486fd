package tail

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cespare/xxhash/v2"
)

// FingerprintBytes is how many leading bytes of a file its fingerprint
// covers at most. A kilobyte holds the first lines of nearly any log, which
// carry timestamps, so two different files almost never share it.
const FingerprintBytes = 1024

// ErrFileChanged reports that a file no longer starts with the bytes its
// Identity recorded, or that an open file is not the one the Identity names:
// its content at the recorded offsets is other content now.
var ErrFileChanged = errors.New("tail: file changed: it no longer starts with the recorded bytes")

// Identity tells one file from every other, across renames and restarts:
// the device and inode it lives in, and a fingerprint of its first bytes.
//
// Device and inode alone are not enough, because a file system reuses the
// inode of a deleted file for the next new one; the fingerprint tells the
// old content from the new. The fingerprint covers FingerprintLen bytes,
// min(size, FingerprintBytes) when it was computed, so a file that was 300
// bytes long when first seen is recorded with a 300-byte fingerprint, which
// stays valid as the file grows (logs are only appended to) and can be
// extended with Extend. A fingerprint computed over a different length is
// a different number: compare identities of the same length with SameFile,
// or an identity with the file itself with Matches.
//
// The zero Identity names no file.
type Identity struct {
	Dev, Inode     uint64
	FingerprintLen int64
	Fingerprint    uint64
}

// IsZero reports whether id is the zero Identity.
func (id Identity) IsZero() bool { return id == Identity{} }

// SameInode reports whether id and other name the same device and inode.
// That is exact while one of them is held open, as a running Tailer holds
// its file: the inode of an open file cannot be reused. For a file not held
// open (one known from a checkpoint) use SameFile or Matches, which also
// compare content.
func (id Identity) SameInode(other Identity) bool {
	return id.Dev == other.Dev && id.Inode == other.Inode
}

// SameFile reports whether other, computed over the same prefix length as
// id, names the same file: same device and inode, and the same first
// id.FingerprintLen bytes. Identities whose lengths differ are never the
// same by this test, because their fingerprints cover different bytes; when
// the file may have grown since id was recorded, ask Matches, which reads
// the file at id's length.
func (id Identity) SameFile(other Identity) bool {
	return id.SameInode(other) && id.FingerprintLen == other.FingerprintLen && id.Fingerprint == other.Fingerprint
}

// Matches reports whether the open file f is the file recorded as id: it
// lives in id's device and inode, and its first id.FingerprintLen bytes hash
// to id.Fingerprint. A file now shorter than the recorded prefix does not
// match (it was truncated). The error is for a failed stat or read only.
func (id Identity) Matches(f *os.File) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("tail: stat %s: %w", f.Name(), err)
	}
	dev, ino, _, err := inodeOf(fi)
	if err != nil {
		return false, err
	}
	if dev != id.Dev || ino != id.Inode {
		return false, nil
	}
	fp, err := FingerprintAt(f, id.FingerprintLen)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fp == id.Fingerprint, nil
}

// Extend returns id with its fingerprint recomputed over the first
// min(size, FingerprintBytes) bytes of f, after checking that f is still
// the file id names (see Matches). It returns ErrFileChanged when it is not.
// The Identity of a file that has reached FingerprintBytes comes back
// unchanged once checked.
func (id Identity) Extend(f *os.File) (Identity, error) {
	fi, err := f.Stat()
	if err != nil {
		return id, fmt.Errorf("tail: stat %s: %w", f.Name(), err)
	}
	return id.extend(f, fi)
}

// extend is Extend with f's FileInfo already at hand. It reads the prefix
// once, hashing the recorded length and the new length in one pass.
func (id Identity) extend(f *os.File, fi os.FileInfo) (Identity, error) {
	dev, ino, _, err := inodeOf(fi)
	if err != nil {
		return id, err
	}
	if dev != id.Dev || ino != id.Inode {
		return id, ErrFileChanged
	}
	var buf [FingerprintBytes]byte
	n, err := readPrefix(f, buf[:min(fi.Size(), FingerprintBytes)])
	if err != nil {
		return id, err
	}
	if n < id.FingerprintLen {
		return id, ErrFileChanged
	}
	d := xxhash.New()
	_, _ = d.Write(buf[:id.FingerprintLen])
	if d.Sum64() != id.Fingerprint {
		return id, ErrFileChanged
	}
	_, _ = d.Write(buf[id.FingerprintLen:n])
	id.FingerprintLen, id.Fingerprint = n, d.Sum64()
	return id, nil
}

// Identify returns the Identity of the open file f, its fingerprint covering
// min(size, FingerprintBytes) bytes, and f's FileInfo.
func Identify(f *os.File) (Identity, os.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return Identity{}, nil, fmt.Errorf("tail: stat %s: %w", f.Name(), err)
	}
	dev, ino, _, err := inodeOf(fi)
	if err != nil {
		return Identity{}, nil, err
	}
	var buf [FingerprintBytes]byte
	// A file that shrank since the stat gets the fingerprint of what is
	// left, which is what a later look at it will compute too.
	n, err := readPrefix(f, buf[:min(fi.Size(), FingerprintBytes)])
	if err != nil {
		return Identity{}, nil, err
	}
	return Identity{Dev: dev, Inode: ino, FingerprintLen: n, Fingerprint: xxhash.Sum64(buf[:n])}, fi, nil
}

// Stat opens the file at path and returns its Identity (see Identify) and
// FileInfo. It follows symbolic links, as opening for reading does.
func Stat(path string) (Identity, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return Identity{}, nil, fmt.Errorf("tail: %w", err)
	}
	defer f.Close()
	return Identify(f)
}

// FingerprintAt returns the fingerprint of the first n bytes of f, n at most
// FingerprintBytes: what an Identity with FingerprintLen n records. It reads
// with pread, leaving f's offset alone, and returns an error wrapping
// io.ErrUnexpectedEOF when f is shorter than n bytes.
func FingerprintAt(f *os.File, n int64) (uint64, error) {
	if n < 0 || n > FingerprintBytes {
		return 0, fmt.Errorf("tail: fingerprint length %d out of range [0, %d]", n, FingerprintBytes)
	}
	var buf [FingerprintBytes]byte
	got, err := readPrefix(f, buf[:n])
	if err != nil {
		return 0, err
	}
	if got < n {
		return 0, fmt.Errorf("tail: fingerprint of %s: %d of %d bytes: %w", f.Name(), got, n, io.ErrUnexpectedEOF)
	}
	return xxhash.Sum64(buf[:n]), nil
}

// readPrefix fills buf from offset 0 of f and returns how much it got; a
// file shorter than buf is not an error.
func readPrefix(f *os.File, buf []byte) (int64, error) {
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return int64(n), fmt.Errorf("tail: read %s: %w", f.Name(), err)
	}
	return int64(n), nil
}
