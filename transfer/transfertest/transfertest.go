// Package transfertest provides an in-process search engine for tests of
// the transfer: an httptest server that answers POST _bulk as Elasticsearch
// does, stores each document by index and _id (so a replay overwrites, as it
// would in the engine), and can refuse chosen items or whole requests. It
// also builds Kafka records with the headers the agent writes.
package transfertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logpipe/logpipe/internal/record"
)

// DocKey names a stored document.
type DocKey struct {
	Index, ID string
}

// Fault is an engine's answer to one item instead of storing it; the zero
// Fault stores it.
type Fault struct {
	// Status is the item's HTTP status, such as 429 or 400.
	Status int
	// Type and Reason are the item's error.
	Type, Reason string
}

// Engine is a fake search engine. Set its hooks before the first request.
type Engine struct {
	// ItemFault, when set, is asked about every item; attempt counts the
	// requests that carried this index and _id so far, from 1.
	ItemFault func(key DocKey, attempt int, doc []byte) Fault
	// RequestFault, when set, is asked about every bulk request (n counts
	// them from 1; body is the request's NDJSON) and refuses the whole
	// request with its status unless it returns 0.
	RequestFault func(n int, body []byte) int

	srv *httptest.Server

	mu       sync.Mutex
	docs     map[DocKey][]byte
	attempts map[DocKey]int
	writes   int
	requests int
	params   []string
	changed  chan struct{}
}

// NewEngine starts an Engine on 127.0.0.1 and stops it when the test ends.
func NewEngine(t testing.TB) *Engine {
	e := &Engine{docs: map[DocKey][]byte{}, attempts: map[DocKey]int{}, changed: make(chan struct{})}
	e.srv = httptest.NewServer(e)
	t.Cleanup(e.srv.Close)
	return e
}

// URL returns the engine's base URL.
func (e *Engine) URL() string { return e.srv.URL }

// Count returns the number of distinct documents stored.
func (e *Engine) Count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.docs)
}

// Writes returns how many item writes the engine accepted, overwrites
// included.
func (e *Engine) Writes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writes
}

// Requests returns how many bulk requests arrived.
func (e *Engine) Requests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

// Params returns the query strings of the bulk requests, in order.
func (e *Engine) Params() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.params...)
}

// Docs returns a copy of the stored documents.
func (e *Engine) Docs() map[DocKey][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[DocKey][]byte, len(e.docs))
	for k, v := range e.docs {
		out[k] = v
	}
	return out
}

// Doc returns the stored document of key, or nil.
func (e *Engine) Doc(key DocKey) []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.docs[key]
}

// WaitCount waits until at least n documents are stored, at most within,
// and returns the count then.
func (e *Engine) WaitCount(n int, within time.Duration) int {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		c, ch := len(e.docs), e.changed
		e.mu.Unlock()
		if c >= n {
			return c
		}
		select {
		case <-ch:
		case <-deadline.C:
			return e.Count()
		}
	}
}

type actionLine struct {
	Index  *actionMeta `json:"index"`
	Create *actionMeta `json:"create"`
}

type actionMeta struct {
	Index    string `json:"_index"`
	ID       string `json:"_id"`
	Pipeline string `json:"pipeline"`
}

// ServeHTTP answers POST /_bulk.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/_bulk") {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"type":"not_found","reason":"no handler for %s %s"},"status":404}`, r.Method, r.URL.Path)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.requests++
	n := e.requests
	e.params = append(e.params, r.URL.RawQuery)
	e.mu.Unlock()
	if e.RequestFault != nil {
		if status := e.RequestFault(n, body); status != 0 {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"type":"test_fault","reason":"request %d refused"},"status":%d}`, n, status)
			return
		}
	}
	filtered := r.URL.Query().Get("filter_path") != ""

	var out bytes.Buffer
	if !filtered {
		out.WriteString(`{"took":1,`)
	} else {
		out.WriteString(`{`)
	}
	var items bytes.Buffer
	anyErr := false
	e.mu.Lock()
	first := true
	for len(body) > 0 {
		var line, doc []byte
		line, body, _ = bytes.Cut(body, []byte("\n"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		doc, body, _ = bytes.Cut(body, []byte("\n"))
		var a actionLine
		if err := json.Unmarshal(line, &a); err != nil || (a.Index == nil) == (a.Create == nil) {
			e.mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"type":"illegal_argument_exception","reason":"malformed action line %q"},"status":400}`, line)
			return
		}
		op, meta := "index", a.Index
		if a.Create != nil {
			op, meta = "create", a.Create
		}
		key := DocKey{meta.Index, meta.ID}
		e.attempts[key]++
		var f Fault
		switch {
		case !json.Valid(doc) || len(doc) == 0 || doc[0] != '{':
			f = Fault{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse: not a JSON object"}
		case e.ItemFault != nil:
			f = e.ItemFault(key, e.attempts[key], doc)
		}
		if f.Status == 0 && op == "create" && e.docs[key] != nil {
			f = Fault{Status: 409, Type: "version_conflict_engine_exception", Reason: "[" + meta.ID + "]: version conflict, document already exists"}
		}
		if !first {
			items.WriteByte(',')
		}
		first = false
		if f.Status != 0 {
			anyErr = true
			fmt.Fprintf(&items, `{%q:{"_index":%q,"_id":%q,"status":%d,"error":{"type":%q,"reason":%q}}}`,
				op, meta.Index, meta.ID, f.Status, f.Type, f.Reason)
			continue
		}
		status := 201
		if e.docs[key] != nil {
			status = 200
		}
		e.docs[key] = bytes.Clone(doc)
		e.writes++
		fmt.Fprintf(&items, `{%q:{"_index":%q,"_id":%q,"status":%d}}`, op, meta.Index, meta.ID, status)
	}
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
	out.WriteString(`"errors":` + strconv.FormatBool(anyErr) + `,"items":[`)
	out.Write(items.Bytes())
	out.WriteString("]}")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out.Bytes())
}

// Line is one log event as the agent ships it.
type Line struct {
	Topic  string
	FileID string // the file's identity; with Offset it makes the event ID
	Path   string
	Offset int64
	Value  string
	Format string // "text" or "json"
	Time   time.Time
	Fields map[string]string
}

// Record returns the Kafka record the agent produces for l, with the
// headers of internal/record.
func Record(l Line) *kgo.Record {
	if l.Time.IsZero() {
		l.Time = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	}
	if l.Format == "" {
		l.Format = "text"
	}
	if l.Path == "" {
		l.Path = "/var/log/" + l.FileID + ".log"
	}
	hs := []kgo.RecordHeader{
		{Key: record.HeaderID, Value: []byte(record.EventID(l.FileID, l.Offset))},
		{Key: record.HeaderHost, Value: []byte("web-1")},
		{Key: record.HeaderAgent, Value: []byte("agent-web-1")},
		{Key: record.HeaderEntry, Value: []byte("web-app")},
		{Key: record.HeaderPath, Value: []byte(l.Path)},
		{Key: record.HeaderOffset, Value: []byte(strconv.FormatInt(l.Offset, 10))},
		{Key: record.HeaderFormat, Value: []byte(l.Format)},
		{Key: record.HeaderTime, Value: []byte(l.Time.UTC().Format(time.RFC3339Nano))},
	}
	for k, v := range l.Fields {
		hs = append(hs, kgo.RecordHeader{Key: record.HeaderFieldPrefix + k, Value: []byte(v)})
	}
	return &kgo.Record{
		Topic:   l.Topic,
		Key:     record.KeyOf("web-1", l.FileID),
		Value:   []byte(l.Value),
		Headers: hs,
	}
}

// Header returns the value of the header key of rec, or "".
func Header(rec *kgo.Record, key string) string {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
