package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// bulkFilterPath trims the bulk answer to what the transfer reads: whether
// any item failed, and each item's status and error. Without it most of the
// client's CPU goes to decoding _index, _version, _shards and result for
// every document.
var bulkFilterPath = []string{"errors", "items.*.status", "items.*.error"}

// ElasticSink is the Sink of Elasticsearch 8.x and OpenSearch 2.x: one
// POST _bulk per call, through any esapi.Transport (normally the
// elastic-transport client of internal/esclient, which does not insist on
// the X-Elastic-Product header that OpenSearch never sends).
type ElasticSink struct {
	transport esapi.Transport
	bodies    sync.Pool
}

// NewElasticSink returns a Sink that writes through transport.
func NewElasticSink(transport esapi.Transport) *ElasticSink {
	return &ElasticSink{transport: transport}
}

var _ Sink = (*ElasticSink)(nil)

// Bulk sends actions as one bulk request. When all actions share a
// pipeline it is passed as the request's pipeline parameter; otherwise each
// action line names its own.
func (s *ElasticSink) Bulk(ctx context.Context, actions []Action) ([]Result, error) {
	if len(actions) == 0 {
		return nil, nil
	}
	bp, _ := s.bodies.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	pipeline := actions[0].Pipeline
	for _, a := range actions[1:] {
		if a.Pipeline != pipeline {
			pipeline = ""
			break
		}
	}
	body := (*bp)[:0]
	for _, a := range actions {
		body = appendActionLine(body, a, pipeline == "")
		body = append(body, a.Doc...)
		body = append(body, '\n')
	}
	*bp = body

	resp, err := esapi.BulkRequest{
		Body:       bytes.NewReader(body),
		Pipeline:   pipeline,
		FilterPath: bulkFilterPath,
	}.Do(ctx, s.transport)
	if err != nil {
		// The transport may still hold the body; let the pool go without it.
		return nil, fmt.Errorf("bulk request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("bulk request: read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, requestError(resp.StatusCode, raw)
	}
	// Only now is the body surely read to the end: the engine answered it.
	s.bodies.Put(bp)
	return parseBulkResponse(raw, actions)
}

func appendActionLine(dst []byte, a Action, withPipeline bool) []byte {
	if a.Create {
		dst = append(dst, `{"create":{"_index":`...)
	} else {
		dst = append(dst, `{"index":{"_index":`...)
	}
	dst = appendString(dst, a.Index)
	dst = append(dst, `,"_id":`...)
	dst = appendString(dst, a.ID)
	if withPipeline && a.Pipeline != "" {
		dst = append(dst, `,"pipeline":`...)
		dst = appendString(dst, a.Pipeline)
	}
	return append(dst, "}}\n"...)
}

// bulkItem is one element of a bulk answer's items, under its op name.
type bulkItem struct {
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error"`
}

type engineError struct {
	Type     string `json:"type"`
	Reason   string `json:"reason"`
	CausedBy *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"caused_by"`
}

// reason renders an engine error as its reason, with the cause when it
// says more.
func (e *engineError) reason() string {
	r := e.Reason
	if c := e.CausedBy; c != nil && c.Reason != "" && c.Reason != e.Reason {
		r += " (caused by " + c.Type + ": " + c.Reason + ")"
	}
	return r
}

// errorsFalse is how every fully successful filtered answer starts.
var errorsFalse = []byte(`{"errors":false`)

// parseBulkResponse turns a 2xx bulk answer into one Result per action. The
// common answer, no errors at all, is recognised without decoding items.
func parseBulkResponse(raw []byte, actions []Action) ([]Result, error) {
	results := make([]Result, len(actions))
	if bytes.HasPrefix(raw, errorsFalse) {
		for i := range results {
			results[i].Status = http.StatusOK
		}
		return results, nil
	}
	var body struct {
		Errors *bool                 `json:"errors"`
		Items  []map[string]bulkItem `json:"items"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("bulk request: decode answer: %w", err)
	}
	if body.Errors != nil && !*body.Errors {
		for i := range results {
			results[i].Status = http.StatusOK
		}
		return results, nil
	}
	if len(body.Items) != len(actions) {
		return nil, fmt.Errorf("bulk request: answer has %d items for %d actions", len(body.Items), len(actions))
	}
	for i, item := range body.Items {
		for _, it := range item { // one key: the op name
			results[i].Status = it.Status
			if len(it.Error) > 0 && string(it.Error) != "null" {
				var e engineError
				if json.Unmarshal(it.Error, &e) == nil {
					results[i].ErrorType, results[i].ErrorReason = e.Type, e.reason()
				} else {
					var s string
					_ = json.Unmarshal(it.Error, &s)
					results[i].ErrorReason = s
				}
			}
		}
	}
	return results, nil
}

// requestError reads a non-2xx bulk answer.
func requestError(status int, raw []byte) *RequestError {
	re := &RequestError{Status: status}
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && len(body.Error) > 0 {
		var e engineError
		if json.Unmarshal(body.Error, &e) == nil {
			re.Type, re.Reason = e.Type, e.reason()
			return re
		}
		var s string
		if json.Unmarshal(body.Error, &s) == nil {
			re.Reason = s
			return re
		}
	}
	text := string(bytes.TrimSpace(raw))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	re.Reason = text
	return re
}
