package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logpipe/logpipe/search"
	"github.com/logpipe/logpipe/transfer"
)

// bulkSink is an Elasticsearch _bulk endpoint for the transfer to write
// to. Without an engine it answers success at once (the pipeline's own
// cost); with one it writes every document into the embedded search
// engine first, so that a document counts as arrived when it is
// searchable.
type bulkSink struct {
	engine *search.Engine
	srv    *http.Server
	url    string

	docs atomic.Int64
	mu   sync.Mutex
	// arrived is called with each document written and when; documents
	// of the same request share the time.
	arrived func(doc []byte, at time.Time)
	first   time.Time
	last    time.Time
}

func newBulkSink(engine *search.Engine) (*bulkSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &bulkSink{engine: engine, url: "http://" + l.Addr().String()}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *bulkSink) close() { _ = s.srv.Close() }

func (s *bulkSink) endpoint() string { return s.url }

// onArrival sets the function told of every document from now on.
func (s *bulkSink) onArrival(fn func(doc []byte, at time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived = fn
}

// span is the time from the first document to the last.
func (s *bulkSink) span() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.Sub(s.first)
}

func (s *bulkSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/_bulk") {
		http.Error(w, `{"error":"the benchmark's sink only answers POST /_bulk"}`, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	arrived := s.arrived
	s.mu.Unlock()
	var docs [][]byte
	answer := []byte(`{"errors":false}`)
	if s.engine == nil {
		// Answering at once: the documents are the body's even lines,
		// not decoded, so that the sink costs little of the machine the
		// transfer is measured on.
		docs = bulkDocs(body, arrived != nil)
	} else {
		actions, err := parseBulk(body)
		if err != nil {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, err.Error()), http.StatusBadRequest)
			return
		}
		results, err := s.engine.Bulk(r.Context(), actions)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		answer = bulkAnswer(actions, results)
		for i, a := range actions {
			if results[i].ErrorType == "" {
				docs = append(docs, a.Doc)
			}
		}
	}
	now := time.Now()
	s.mu.Lock()
	if s.first.IsZero() {
		s.first = now
	}
	s.last = now
	s.mu.Unlock()
	s.docs.Add(int64(len(docs)))
	if arrived != nil {
		for _, doc := range docs {
			arrived(doc, now)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(answer)
}

// bulkDocs returns the documents of a bulk body, every second line, as
// slices of it; with keep false only their number is right.
func bulkDocs(body []byte, keep bool) [][]byte {
	if !keep {
		return make([][]byte, bytes.Count(body, []byte("\n"))/2)
	}
	var docs [][]byte
	for len(body) > 0 {
		_, rest, _ := bytes.Cut(body, []byte("\n"))
		doc, rest, _ := bytes.Cut(rest, []byte("\n"))
		docs = append(docs, doc)
		body = rest
	}
	return docs
}

// parseBulk reads the NDJSON pairs of action and document the transfer
// sends (index or create; it sends no other kind).
func parseBulk(body []byte) ([]transfer.Action, error) {
	var actions []transfer.Action
	for len(body) > 0 {
		meta, rest, _ := bytes.Cut(body, []byte("\n"))
		doc, rest, ok := bytes.Cut(rest, []byte("\n"))
		if !ok && len(doc) == 0 {
			return nil, errors.New("bulk body ends after an action line")
		}
		body = rest
		var m map[string]struct {
			Index    string `json:"_index"`
			ID       string `json:"_id"`
			Pipeline string `json:"pipeline"`
		}
		if err := json.Unmarshal(meta, &m); err != nil {
			return nil, fmt.Errorf("bulk action line: %w", err)
		}
		a := transfer.Action{Doc: doc}
		if v, ok := m["create"]; ok {
			a.Create, a.Index, a.ID, a.Pipeline = true, v.Index, v.ID, v.Pipeline
		} else if v, ok := m["index"]; ok {
			a.Index, a.ID, a.Pipeline = v.Index, v.ID, v.Pipeline
		} else {
			return nil, fmt.Errorf("bulk action line %s: want index or create", meta)
		}
		actions = append(actions, a)
	}
	return actions, nil
}

// bulkAnswer is the _bulk answer as filtered by the transfer's
// filter_path: errors, and each item's status and error.
func bulkAnswer(actions []transfer.Action, results []transfer.Result) []byte {
	type itemError struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	type item struct {
		Status int        `json:"status"`
		Error  *itemError `json:"error,omitempty"`
	}
	var answer struct {
		Errors bool              `json:"errors"`
		Items  []map[string]item `json:"items"`
	}
	for i, res := range results {
		op := "index"
		if actions[i].Create {
			op = "create"
		}
		it := item{Status: res.Status}
		if res.ErrorType != "" {
			it.Error = &itemError{Type: res.ErrorType, Reason: res.ErrorReason}
			answer.Errors = true
		}
		answer.Items = append(answer.Items, map[string]item{op: it})
	}
	b, _ := json.Marshal(answer)
	return b
}

// seqOf reads the "seq" member of a benchmark document, or -1.
func seqOf(doc []byte) int64 {
	_, after, ok := bytes.Cut(doc, []byte(`"seq":`))
	if !ok {
		return -1
	}
	end := 0
	for end < len(after) && after[end] >= '0' && after[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(string(after[:end]), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// waitDocs waits until the sink has been sent want documents.
func (s *bulkSink) waitDocs(ctx context.Context, want int64, c *child, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for s.docs.Load() < want {
		if err := c.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the sink has %d of %d documents after %v", s.docs.Load(), want, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}
