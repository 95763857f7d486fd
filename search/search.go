package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Limits of a search request, as Elasticsearch's defaults.
const (
	DefaultSize = 10
	// MaxSize is Elasticsearch's index.max_result_window.
	MaxSize = 10000
)

// Request is one search.
type Request struct {
	// Index is an index name, a pattern such as "web-*", or a
	// comma-separated list of both; "", "*" and "_all" mean every index.
	Index string
	// Query is in query-string syntax (see ParseQuery).
	Query string
	// Size is the most hits returned: DefaultSize when zero, at most
	// MaxSize.
	Size int
	// Since, when positive, keeps only documents whose @timestamp is at
	// most this long before Now.
	Since time.Duration
	// Now is the time Since counts back from; zero means time.Now().
	Now time.Time
}

// Response is the answer to a search: how many documents match, and the
// newest Size of them: by @timestamp, then by log.offset (the later line of
// a file first), then by _id, each descending.
type Response struct {
	Total uint64 `json:"total"`
	Hits  []Hit  `json:"hits"`
}

// Hit is one matching document.
type Hit struct {
	Index  string          `json:"index"`
	ID     string          `json:"id"`
	Source json.RawMessage `json:"source"`
}

// RequestError is a search the engine refuses: a malformed query, an
// unknown index. Status is the HTTP status the API answers with.
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// Search runs r. A malformed request or an index name that matches no index
// is a *RequestError; a pattern that matches none gives no hits, as in
// Elasticsearch.
func (e *Engine) Search(ctx context.Context, r Request) (*Response, error) {
	size := r.Size
	switch {
	case size == 0:
		size = DefaultSize
	case size < 0 || size > MaxSize:
		return nil, badRequest("size %d: want 1 to %d", size, MaxSize)
	}
	if r.Since < 0 {
		return nil, badRequest("since %v: want a positive duration", r.Since)
	}
	q, err := ParseQuery(r.Query)
	if err != nil {
		return nil, &RequestError{Status: http.StatusBadRequest, Msg: err.Error()}
	}
	if r.Since > 0 {
		now := r.Now
		if now.IsZero() {
			now = time.Now()
		}
		start := now.Add(-r.Since)
		inclusive := true
		dr := query.NewDateRangeInclusiveQuery(start, time.Time{}, &inclusive, nil)
		dr.SetField(timestampField)
		q = query.NewConjunctionQuery([]query.Query{q, dr})
	}

	release, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	targets, err := e.resolve(r.Index)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return &Response{Hits: []Hit{}}, nil
	}
	indexes := make([]bleve.Index, len(targets))
	for i, ix := range targets {
		indexes[i] = ix.bi
	}
	req := bleve.NewSearchRequestOptions(q, size, 0, false)
	req.Fields = []string{sourceField}
	req.SortBy([]string{"-" + timestampField, "-log." + offsetField, "-_id"})
	res, err := bleve.NewIndexAlias(indexes...).SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	out := &Response{Total: res.Total, Hits: make([]Hit, 0, len(res.Hits))}
	for _, h := range res.Hits {
		src, _ := h.Fields[sourceField].(string)
		if src == "" {
			src = "{}"
		}
		out.Hits = append(out.Hits, Hit{Index: h.Index, ID: h.ID, Source: json.RawMessage(src)})
	}
	return out, nil
}

// resolve expands an index expression into open indexes. The caller holds
// the engine open.
func (e *Engine) resolve(expr string) ([]*index, error) {
	all := e.snapshot()
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == "*" || expr == "_all" {
		return all, nil
	}
	seen := map[string]bool{}
	var out []*index
	add := func(ix *index) {
		if !seen[ix.name] {
			seen[ix.name] = true
			out = append(out, ix)
		}
	}
	for part := range strings.SplitSeq(expr, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.ContainsAny(part, "*?[") {
			found := false
			for _, ix := range all {
				if ix.name == part {
					add(ix)
					found = true
				}
			}
			if !found {
				return nil, &RequestError{Status: http.StatusNotFound, Msg: fmt.Sprintf("no such index [%s]", part)}
			}
			continue
		}
		if _, err := path.Match(part, ""); err != nil {
			return nil, badRequest("index pattern %q: %v", part, err)
		}
		for _, ix := range all {
			if ok, _ := path.Match(part, ix.name); ok {
				add(ix)
			}
		}
	}
	return out, nil
}

// Handler returns the engine's HTTP API:
//
//	GET /api/v1/search?index=EXPR&q=QUERY&size=N&since=DURATION
//	GET /api/v1/indices
//
// Search answers a Response as JSON; since is a Go duration such as 15m or
// 2h30m (or a number of days such as 7d). Errors are {"error": "..."} with
// status 400 for a malformed request and 404 for an unknown index name.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/search", func(w http.ResponseWriter, r *http.Request) {
		req, err := searchRequest(r)
		if err != nil {
			writeError(w, err)
			return
		}
		res, err := e.Search(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /api/v1/indices", func(w http.ResponseWriter, _ *http.Request) {
		list, err := e.Indexes()
		if err != nil {
			writeError(w, err)
			return
		}
		if list == nil {
			list = []IndexInfo{}
		}
		writeJSON(w, http.StatusOK, list)
	})
	return mux
}

func searchRequest(r *http.Request) (Request, error) {
	v := r.URL.Query()
	req := Request{Index: v.Get("index"), Query: v.Get("q")}
	if s := v.Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return req, badRequest("size %q: want a number from 1 to %d", s, MaxSize)
		}
		req.Size = n
	}
	if s := v.Get("since"); s != "" {
		d, err := ParseSince(s)
		if err != nil {
			return req, badRequest("%v", err)
		}
		req.Since = d
	}
	return req, nil
}

// ParseSince reads a --since value: a Go duration (90s, 15m, 2h30m) or a
// whole number of days (7d).
func ParseSince(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("since %q: want a positive duration such as 90s, 15m, 2h or 7d", s)
	}
	return d, nil
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var re *RequestError
	switch {
	case errors.As(err, &re):
		status = re.Status
	case errors.Is(err, ErrClosed):
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
