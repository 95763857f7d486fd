// Package checkpoint keeps the agent's file positions in its data directory,
// so that a restart resumes every file where Kafka's acknowledgements ended
// and no line is lost or given a new event ID.
//
// # The model
//
// A Position is one file of one CollectEntry: the FileID it was given when
// first seen (random, never changed, part of every event ID), the Identity
// that recognises it again (device, inode, fingerprint of its first bytes;
// see tail.Identity), and the Offset before which every line was
// acknowledged by Kafka. The manager asks Lookup for a file's Position, or
// Register for a file never seen; it reports acknowledged progress with
// Advance (see Watermark for computing it) and drops files with Forget.
//
// # On disk
//
// The directory holds
//
//	checkpoints.json          the newest generation
//	checkpoints.json.1        the generation before it
//	checkpoints.json.corrupt  a newest generation that could not be read (kept for inspection)
//
// Each generation is a whole JSON document, {"version": 1, "written": ...,
// "positions": [...]}, written by Flush as promtail and Beats' memlog do:
// the state is copied under the lock and written outside it, to a temporary
// file in the same directory that is fsynced, then the current file is
// hard-linked to checkpoints.json.1 (through a temporary name and a rename,
// so .1 is never missing) and the temporary file is renamed over
// checkpoints.json, and the directory is fsynced. At every instant both
// names hold complete documents.
//
// # What survives a crash
//
// Register writes synchronously: when it returns, the FileID is on disk, so
// lines shipped under it can never be re-read under another ID after a
// crash. Advance only changes memory; Run writes every second (and on
// shutdown), so a crash loses at most the last second of progress and
// re-sends those lines, with the same event IDs, which the index
// overwrites. Open reads the newest generation that parses, warning when it
// had to fall back; it fails only for an I/O error or a file written by a
// newer agent (version > 1), which it refuses to overwrite. If both
// generations are damaged it starts empty, with a warning: files are then
// read again from their start under new FileIDs.
package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logpipe/logpipe/agent/tail"
)

// File names in the data directory.
const (
	FileName    = "checkpoints.json"
	PrevName    = FileName + ".1"
	CorruptName = FileName + ".corrupt"
	tempPrefix  = FileName + ".tmp"
)

// Version is the format version Store writes and reads.
const Version = 1

// ErrVersion reports a checkpoint file of a format version this agent does
// not know: written by a newer agent. Open refuses it rather than overwrite
// the positions it holds.
var ErrVersion = errors.New("checkpoint: unsupported format version")

// Position is where one file of one CollectEntry stands.
type Position struct {
	// Entry is the CollectEntry's name.
	Entry string
	// FileID is the file's ID: 16 hex digits from crypto/rand, assigned by
	// Register and never changed.
	FileID string
	// Path is the path the file was last seen at.
	Path string
	// Identity recognises the file (see tail.Identity); its fingerprint may
	// be extended as the file grows (Update), its FileID stays.
	Identity tail.Identity
	// Offset is the checkpoint: every line before it was acknowledged.
	Offset int64
	// Size is the file's last known size, for bytes-behind figures.
	Size int64
	// Updated is when the position last changed.
	Updated time.Time
}

// Store holds the positions of every file the agent tails. Its methods are
// safe for concurrent use.
type Store struct {
	dir string
	log *slog.Logger

	mu      sync.Mutex
	entries map[string]map[string]*Position // entry → FileID → position
	gen     uint64                          // bumped by every change
	written uint64                          // gen of the state on disk

	writeMu sync.Mutex // one write at a time, in generation order
}

// Open loads the positions kept in dir, creating dir if needed. See the
// package documentation for what it falls back to.
func Open(dir string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	s := &Store{dir: dir, log: logger, entries: make(map[string]map[string]*Position)}
	if err := s.removeTemps(); err != nil {
		return nil, err
	}
	newestBad := false
	for _, name := range []string{FileName, PrevName} {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		positions, err := decode(data)
		var v versionError
		if errors.As(err, &v) {
			return nil, fmt.Errorf("%w: %s has version %d, this agent reads %d; run a newer agent, or move the file away to start over (every file is then read again)",
				ErrVersion, path, int(v), Version)
		}
		if err != nil {
			s.log.Warn("checkpoint file unreadable; trying the previous generation", "path", path, "err", err)
			newestBad = newestBad || name == FileName
			continue
		}
		for _, p := range positions {
			s.put(p)
		}
		if newestBad {
			s.log.Warn("checkpoints restored from the previous generation; lines since it was written are sent again",
				"path", path, "positions", len(positions))
		}
		break
	}
	if newestBad {
		// Keep the damaged file for inspection, and out of the way: the next
		// write would otherwise link it over the good previous generation.
		if err := os.Rename(filepath.Join(dir, FileName), filepath.Join(dir, CorruptName)); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		if len(s.entries) == 0 {
			s.log.Warn("no readable checkpoint generation; files are read again from their start", "dir", dir)
		}
	}
	return s, nil
}

// removeTemps deletes temporary files a crash left mid-write: they were
// never renamed into place, so nothing relies on them.
func (s *Store) removeTemps() error {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), tempPrefix) {
			if err := os.Remove(filepath.Join(s.dir, de.Name())); err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
		}
	}
	return nil
}

func (s *Store) put(p Position) {
	m := s.entries[p.Entry]
	if m == nil {
		m = make(map[string]*Position)
		s.entries[p.Entry] = m
	}
	m[p.FileID] = &p
}

// Lookup returns the position of entry's file that the file at path, with
// the fresh identity id (from tail.Stat), is: same device and inode, and
// the same first bytes as recorded. When the recorded fingerprint covers
// fewer bytes than id's (the file was short when recorded and grew since),
// Lookup reads the file at path to compare the recorded prefix; the error
// is for that read. A file whose first bytes differ is another file in a
// reused inode, or one truncated and rewritten: not found.
func (s *Store) Lookup(entry, path string, id tail.Identity) (Position, bool, error) {
	s.mu.Lock()
	var candidates []Position
	for _, p := range s.entries[entry] {
		if p.Identity.SameInode(id) {
			candidates = append(candidates, *p)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(candidates, func(a, b Position) int { return b.Updated.Compare(a.Updated) })
	for _, p := range candidates {
		switch rec := p.Identity; {
		case rec.FingerprintLen == id.FingerprintLen:
			if rec.Fingerprint == id.Fingerprint {
				return p, true, nil
			}
		case rec.FingerprintLen < id.FingerprintLen:
			ok, err := matchesPath(rec, path)
			if err != nil {
				return Position{}, false, err
			}
			if ok {
				return p, true, nil
			}
		default:
			// The file is shorter than its recorded prefix: truncated.
		}
	}
	return Position{}, false, nil
}

func matchesPath(id tail.Identity, path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	return id.Matches(f)
}

// Register records a file seen for the first time, at path with identity
// id, reading from offset, and returns its new Position. It writes the
// store to disk before returning, so that no line is shipped under a FileID
// a crash could forget. Positions of entry recorded for the same device and
// inode are dropped: the caller registers because Lookup did not recognise
// the file, so that inode now holds other content. Concurrent calls share
// writes.
func (s *Store) Register(entry, path string, id tail.Identity, offset int64) (Position, error) {
	p, written, err := s.RegisterDeferred(entry, path, id, offset)
	if err != nil {
		return Position{}, err
	}
	if err := written(); err != nil {
		return Position{}, err
	}
	return p, nil
}

// RegisterDeferred records a file as Register does, in memory only, and
// returns with it written, which puts the store on disk (or finds that a
// write since did). The caller must call written, and see it succeed,
// before shipping any line under the new FileID. Files started together
// thus share a few writes of the whole store instead of one each: with
// thousands of files, one write per file costs minutes. A failed write
// forgets the position.
func (s *Store) RegisterDeferred(entry, path string, id tail.Identity, offset int64) (p Position, written func() error, err error) {
	fileID, err := newFileID()
	if err != nil {
		return Position{}, nil, err
	}
	p = Position{Entry: entry, FileID: fileID, Path: path, Identity: id, Offset: offset, Size: offset, Updated: time.Now().UTC()}
	s.mu.Lock()
	for fid, old := range s.entries[entry] {
		if old.Identity.SameInode(id) {
			delete(s.entries[entry], fid)
		}
	}
	s.put(p)
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	written = func() error {
		if err := s.writeUpTo(gen); err != nil {
			s.Forget(entry, fileID)
			return err
		}
		return nil
	}
	return p, written, nil
}

// Advance records that everything before offset in the file was
// acknowledged, and its current size. It changes memory only (Run and Flush
// write). Offsets never move back: a lower offset than recorded is ignored,
// and so is a FileID the store does not know (forgotten meanwhile).
func (s *Store) Advance(entry, fileID string, offset, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.entries[entry][fileID]
	if p == nil || (offset <= p.Offset && size == p.Size) {
		return
	}
	p.Offset = max(p.Offset, offset)
	p.Size = size
	p.Updated = time.Now().UTC()
	s.gen++
}

// Update records the path the file was last seen at and its identity with
// a fingerprint extended as it grew (tail.Tailer.Identity). It changes
// memory only. It refuses an identity of another device or inode, or with
// a shorter fingerprint than recorded, and ignores an unknown FileID.
func (s *Store) Update(entry, fileID, path string, id tail.Identity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.entries[entry][fileID]
	if p == nil {
		return nil
	}
	if !p.Identity.SameInode(id) || id.FingerprintLen < p.Identity.FingerprintLen {
		return fmt.Errorf("checkpoint: update of %s/%s: identity %+v is not that of the recorded %+v", entry, fileID, id, p.Identity)
	}
	if p.Path == path && p.Identity == id {
		return nil
	}
	p.Path, p.Identity, p.Updated = path, id, time.Now().UTC()
	s.gen++
	return nil
}

// Forget drops a file's position: the file is gone and fully shipped, or
// its entry was deleted. It changes memory only.
func (s *Store) Forget(entry, fileID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.entries[entry]
	if _, ok := m[fileID]; !ok {
		return
	}
	delete(m, fileID)
	if len(m) == 0 {
		delete(s.entries, entry)
	}
	s.gen++
}

// Positions returns entry's positions, sorted by path and FileID.
func (s *Store) Positions(entry string) []Position {
	s.mu.Lock()
	out := make([]Position, 0, len(s.entries[entry]))
	for _, p := range s.entries[entry] {
		out = append(out, *p)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Position) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.FileID, b.FileID)
	})
	return out
}

// Flush writes the store to disk if it changed since the last write.
func (s *Store) Flush() error {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	return s.writeUpTo(gen)
}

// Run flushes every `every` (default 1s) while the store changed, until ctx
// is done; then it flushes a last time and returns that flush's error (nil
// when the positions are on disk). A failed periodic flush is logged and
// retried at the next tick.
func (s *Store) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.Flush()
		case <-tick.C:
			if err := s.Flush(); err != nil {
				s.log.Warn("writing checkpoints failed; retrying", "err", err)
			}
		}
	}
}

// writeUpTo makes sure the state of generation gen, or a later one, is on
// disk. Writers queue on writeMu; one that finds its generation written by
// the writer before it returns at once, so a burst of Registers costs a
// few writes, not one each.
func (s *Store) writeUpTo(gen uint64) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if s.written >= gen {
		s.mu.Unlock()
		return nil
	}
	snap, snapGen := s.snapshot(), s.gen
	s.mu.Unlock()

	if err := s.write(snap); err != nil {
		return err
	}
	s.mu.Lock()
	s.written = snapGen
	s.mu.Unlock()
	return nil
}

// snapshot copies every position, sorted, under s.mu.
func (s *Store) snapshot() []Position {
	var out []Position
	for _, m := range s.entries {
		for _, p := range m {
			out = append(out, *p)
		}
	}
	slices.SortFunc(out, func(a, b Position) int {
		if c := strings.Compare(a.Entry, b.Entry); c != 0 {
			return c
		}
		return strings.Compare(a.FileID, b.FileID)
	})
	return out
}

// write replaces checkpoints.json with positions, keeping the current one
// as checkpoints.json.1; see the package documentation.
func (s *Store) write(positions []Position) (err error) {
	data, err := encode(positions, time.Now().UTC())
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}

	cur := filepath.Join(s.dir, FileName)
	prevTmp := filepath.Join(s.dir, tempPrefix+"-prev")
	_ = os.Remove(prevTmp)
	switch err := os.Link(cur, prevTmp); {
	case err == nil:
		if err := os.Rename(prevTmp, filepath.Join(s.dir, PrevName)); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	case errors.Is(err, fs.ErrNotExist):
		// The first write: no generation to keep yet.
	default:
		return fmt.Errorf("checkpoint: keeping the previous generation: %w", err)
	}
	if err := os.Rename(tmp.Name(), cur); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync %s: %w", dir, err)
	}
	return nil
}

func newFileID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("checkpoint: file ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// versionError is decode's report of a document from a newer agent.
type versionError int

func (v versionError) Error() string {
	return fmt.Sprintf("checkpoint: format version %d, this agent reads %d", int(v), Version)
}

func (v versionError) Is(target error) bool { return target == ErrVersion }

// fileDoc is the on-disk document. Its field names are the format: change
// them only with Version.
type fileDoc struct {
	Version   int       `json:"version"`
	Written   time.Time `json:"written"`
	Positions []filePos `json:"positions"`
}

type filePos struct {
	Entry          string    `json:"entry"`
	FileID         string    `json:"fileID"`
	Path           string    `json:"path"`
	Dev            uint64    `json:"dev"`
	Inode          uint64    `json:"inode"`
	FingerprintLen int64     `json:"fingerprintLen"`
	Fingerprint    string    `json:"fingerprint"` // 16 hex digits: JSON numbers lose 64-bit precision in many tools
	Offset         int64     `json:"offset"`
	Size           int64     `json:"size"`
	Updated        time.Time `json:"updated"`
}

func encode(positions []Position, now time.Time) ([]byte, error) {
	doc := fileDoc{Version: Version, Written: now, Positions: make([]filePos, len(positions))}
	for i, p := range positions {
		doc.Positions[i] = filePos{
			Entry: p.Entry, FileID: p.FileID, Path: p.Path,
			Dev: p.Identity.Dev, Inode: p.Identity.Inode,
			FingerprintLen: p.Identity.FingerprintLen,
			Fingerprint:    fmt.Sprintf("%016x", p.Identity.Fingerprint),
			Offset:         p.Offset, Size: p.Size, Updated: p.Updated,
		}
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode: %w", err)
	}
	return append(data, '\n'), nil
}

// decode parses a generation, refusing anything not exactly a valid
// document: a torn write must never pass for a short list of positions.
func decode(data []byte) ([]Position, error) {
	var doc fileDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if doc.Version > Version {
		return nil, versionError(doc.Version)
	}
	if doc.Version != Version {
		return nil, fmt.Errorf("decode: version %d", doc.Version)
	}
	if doc.Positions == nil {
		return nil, errors.New(`decode: no "positions"`)
	}
	out := make([]Position, 0, len(doc.Positions))
	seen := make(map[[2]string]bool, len(doc.Positions))
	for i, fp := range doc.Positions {
		fpr, err := strconv.ParseUint(fp.Fingerprint, 16, 64)
		switch {
		case err != nil || len(fp.Fingerprint) != 16:
			return nil, fmt.Errorf("decode: positions[%d].fingerprint %q: want 16 hex digits", i, fp.Fingerprint)
		case fp.Entry == "" || fp.FileID == "":
			return nil, fmt.Errorf("decode: positions[%d]: entry and fileID are required", i)
		case seen[[2]string{fp.Entry, fp.FileID}]:
			return nil, fmt.Errorf("decode: positions[%d]: %s/%s appears twice", i, fp.Entry, fp.FileID)
		case fp.Offset < 0 || fp.FingerprintLen < 0 || fp.FingerprintLen > tail.FingerprintBytes:
			return nil, fmt.Errorf("decode: positions[%d]: offset %d, fingerprintLen %d out of range", i, fp.Offset, fp.FingerprintLen)
		}
		seen[[2]string{fp.Entry, fp.FileID}] = true
		out = append(out, Position{
			Entry: fp.Entry, FileID: fp.FileID, Path: fp.Path,
			Identity: tail.Identity{Dev: fp.Dev, Inode: fp.Inode, FingerprintLen: fp.FingerprintLen, Fingerprint: fpr},
			Offset:   fp.Offset, Size: fp.Size, Updated: fp.Updated,
		})
	}
	return out, nil
}
