// Package record is the contract between the agent, which produces one Kafka
// record per log event, and the transfer, which indexes it: the names and
// formats of the record headers, and the event ID.
//
// A record's value is the event exactly as written in the file (one line, or
// the joined lines of a multiline event, without the final newline), so that
// kcat and any other consumer see the raw log. Everything else travels in
// headers:
//
//	logpipe.id         event ID: 32 lower-case hex digits (see EventID)
//	logpipe.host       host name of the agent's machine
//	logpipe.agent      agent name
//	logpipe.entry      CollectEntry name
//	logpipe.path       path of the file as the agent opened it
//	logpipe.offset     byte offset of the event's first byte in the file, decimal
//	logpipe.format     "text" or "json" (the entry's spec.format)
//	logpipe.time       when the agent read the event, RFC 3339 with nanoseconds, UTC
//	logpipe.flags      comma-separated flags: "truncated", "multiline"; absent when none
//	logpipe.field.<k>  the value of the entry's static field k
//
// The record key is KeyOf(host, fileID): all of one file's events land, in
// order, in one partition.
package record

import (
	"encoding/binary"
	"encoding/hex"

	"github.com/cespare/xxhash/v2"
)

// Header names.
const (
	HeaderID          = "logpipe.id"
	HeaderHost        = "logpipe.host"
	HeaderAgent       = "logpipe.agent"
	HeaderEntry       = "logpipe.entry"
	HeaderPath        = "logpipe.path"
	HeaderOffset      = "logpipe.offset"
	HeaderFormat      = "logpipe.format"
	HeaderTime        = "logpipe.time"
	HeaderFlags       = "logpipe.flags"
	HeaderFieldPrefix = "logpipe.field."
)

// Flags carried in HeaderFlags.
const (
	FlagTruncated = "truncated"
	FlagMultiline = "multiline"
)

// EventID returns the deterministic ID of the event that starts at offset in
// the file known as fileID: the same file and offset give the same ID on
// every replay, so the transfer's writes overwrite instead of duplicating.
// It is 128 bits (two xxhash64 digests with different seeds) written as 32
// hex digits, short enough for an _id and with no practical collisions.
func EventID(fileID string, offset int64) string {
	return string(AppendEventID(nil, fileID, offset))
}

// AppendEventID appends EventID(fileID, offset) to dst, without allocating
// when dst has room, for the agent's per-event hot path.
func AppendEventID(dst []byte, fileID string, offset int64) []byte {
	var off [8]byte
	binary.BigEndian.PutUint64(off[:], uint64(offset))
	var sum [16]byte
	d := xxhash.New()
	_, _ = d.WriteString(fileID)
	_, _ = d.Write(off[:])
	binary.BigEndian.PutUint64(sum[:8], d.Sum64())
	d.Reset()
	_, _ = d.Write(off[:])
	_, _ = d.WriteString("\x00logpipe\x00")
	_, _ = d.WriteString(fileID)
	binary.BigEndian.PutUint64(sum[8:], d.Sum64())
	return hex.AppendEncode(dst, sum[:])
}

// KeyOf returns the record key of a file's events.
func KeyOf(host, fileID string) []byte {
	var k [8]byte
	d := xxhash.New()
	_, _ = d.WriteString(host)
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(fileID)
	binary.BigEndian.PutUint64(k[:], d.Sum64())
	return k[:]
}
