package transfer

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logpipe/logpipe/internal/esclient"
	"github.com/logpipe/logpipe/store"
)

func TestClassifyItem(t *testing.T) {
	tests := []struct {
		status int
		create bool
		want   outcome
	}{
		{200, false, outcomeDone},
		{201, false, outcomeDone},
		{201, true, outcomeDone},
		{409, true, outcomeDone},
		{409, false, outcomeDeadLetter},
		{400, false, outcomeDeadLetter},
		{404, false, outcomeDeadLetter},
		{413, false, outcomeDeadLetter},
		{408, false, outcomeRetry},
		{429, true, outcomeRetry},
		{500, false, outcomeRetry},
		{503, false, outcomeRetry},
		{0, false, outcomeRetry},
	}
	for _, tc := range tests {
		if got := classifyItem(tc.status, tc.create); got != tc.want {
			t.Errorf("classifyItem(%d, create=%v) = %v, want %v", tc.status, tc.create, got, tc.want)
		}
	}
}

func TestClassifyRequest(t *testing.T) {
	tests := []struct {
		err  error
		want requestOutcome
	}{
		{errors.New("dial tcp: connection refused"), requestRetry},
		{context.DeadlineExceeded, requestRetry},
		{&RequestError{Status: 429}, requestRetry},
		{&RequestError{Status: 503}, requestRetry},
		{&RequestError{Status: 408}, requestRetry},
		{&RequestError{Status: 401}, requestRetry},
		{&RequestError{Status: 403}, requestRetry},
		{&RequestError{Status: 404}, requestRetry},
		{&RequestError{Status: 413}, requestSplit},
		{&RequestError{Status: 400}, requestSplit},
	}
	for _, tc := range tests {
		if got := classifyRequest(tc.err); got != tc.want {
			t.Errorf("classifyRequest(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestBackoffGrowsWithJitterUpToTheCap(t *testing.T) {
	base, max := 100*time.Millisecond, 2*time.Second
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 5: 1600 * time.Millisecond, 6: 2 * time.Second, 60: 2 * time.Second} {
		for range 100 {
			if d := backoff(base, max, attempt); d < want/2 || d > want {
				t.Fatalf("backoff(attempt %d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

func TestParseBulkResponse(t *testing.T) {
	actions := make([]Action, 5)
	actions[3].Create = true
	raw := `{"errors":true,"items":[
		{"index":{"status":201}},
		{"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},
		{"index":{"status":400,"error":{"type":"document_parsing_exception","reason":"[1:10] failed to parse field [n]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"x\""}}}},
		{"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}},
		{"index":{"status":503,"error":"unavailable"}}]}`
	got, err := parseBulkResponse([]byte(raw), actions)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Status: 201},
		{Status: 429, ErrorType: "es_rejected_execution_exception", ErrorReason: "rejected execution"},
		{Status: 400, ErrorType: "document_parsing_exception", ErrorReason: `[1:10] failed to parse field [n] (caused by illegal_argument_exception: For input string: "x")`},
		{Status: 409, ErrorType: "version_conflict_engine_exception", ErrorReason: "document already exists"},
		{Status: 503, ErrorReason: "unavailable"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	outcomes := make([]outcome, len(got))
	for i, r := range got {
		outcomes[i] = classifyItem(r.Status, actions[i].Create)
	}
	if diff := cmp.Diff([]outcome{outcomeDone, outcomeRetry, outcomeDeadLetter, outcomeDone, outcomeRetry}, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}

	for _, ok := range []string{`{"errors":false,"items":[{"index":{"status":201}}]}`, `{"took":3,"errors":false,"items":[]}`} {
		got, err := parseBulkResponse([]byte(ok), actions[:2])
		if err != nil || len(got) != 2 || got[0].Status != 200 || got[1].Status != 200 {
			t.Errorf("parseBulkResponse(%s) = %v, %v; want two successes", ok, got, err)
		}
	}
	if _, err := parseBulkResponse([]byte(`{"errors":true,"items":[{"index":{"status":201}}]}`), actions); err == nil ||
		!strings.Contains(err.Error(), "1 items for 5 actions") {
		t.Errorf("an answer with too few items gave %v", err)
	}
	if _, err := parseBulkResponse([]byte(`<html>`), actions); err == nil {
		t.Error("an answer that is not JSON gave no error")
	}
}

// TestElasticSinkRequests checks what goes on the wire and how whole-request
// answers come back.
func TestElasticSinkRequests(t *testing.T) {
	var lastQuery url.Values
	var lastBody string
	status := http.StatusOK
	answer := `{"errors":false,"items":[{"index":{"status":201}},{"create":{"status":201}}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		lastQuery, lastBody = r.URL.Query(), string(b)
		if r.URL.Path != "/_bulk" || r.Method != http.MethodPost {
			t.Errorf("%s %s, want POST /_bulk", r.Method, r.URL.Path)
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	tr, err := (&esclient.Options{URLs: []string{srv.URL}}).Transport()
	if err != nil {
		t.Fatal(err)
	}
	sink := NewElasticSink(tr)
	actions := []Action{
		{Index: "web-2026.11.26", ID: "a1", Pipeline: "p", Doc: []byte(`{"message":"x"}`)},
		{Index: "logs-web", ID: "a\"2", Create: true, Pipeline: "p", Doc: []byte(`{"message":"y"}`)},
	}
	res, err := sink.Bulk(context.Background(), actions)
	if err != nil || len(res) != 2 {
		t.Fatalf("Bulk = %v, %v", res, err)
	}
	wantBody := `{"index":{"_index":"web-2026.11.26","_id":"a1"}}` + "\n" + `{"message":"x"}` + "\n" +
		`{"create":{"_index":"logs-web","_id":"a\"2"}}` + "\n" + `{"message":"y"}` + "\n"
	if lastBody != wantBody {
		t.Errorf("body\n%s\nwant\n%s", lastBody, wantBody)
	}
	if lastQuery.Get("pipeline") != "p" || lastQuery.Get("filter_path") != "errors,items.*.status,items.*.error" {
		t.Errorf("query %v, want pipeline=p and the filter_path", lastQuery)
	}

	// Different pipelines go into the action lines instead.
	actions[1].Pipeline = "q"
	if _, err := sink.Bulk(context.Background(), actions); err != nil {
		t.Fatal(err)
	}
	if lastQuery.Has("pipeline") || !strings.Contains(lastBody, `"_id":"a1","pipeline":"p"}}`) || !strings.Contains(lastBody, `"pipeline":"q"}}`) {
		t.Errorf("mixed pipelines: query %v body %s", lastQuery, lastBody)
	}

	status, answer = http.StatusRequestEntityTooLarge, `{"error":{"type":"content_too_long","reason":"request too large"},"status":413}`
	_, err = sink.Bulk(context.Background(), actions)
	var re *RequestError
	if !errors.As(err, &re) || *re != (RequestError{Status: 413, Type: "content_too_long", Reason: "request too large"}) {
		t.Errorf("413 answer gave %#v", err)
	}
	if classifyRequest(err) != requestSplit {
		t.Errorf("413 is not split")
	}
	status, answer = http.StatusBadGateway, `<html>bad gateway</html>`
	_, err = sink.Bulk(context.Background(), actions)
	if !errors.As(err, &re) || re.Status != 502 || re.Reason != "<html>bad gateway</html>" || classifyRequest(err) != requestRetry {
		t.Errorf("502 answer gave %#v", err)
	}

	srv.Close()
	_, err = sink.Bulk(context.Background(), actions)
	if err == nil || errors.As(err, &re) || classifyRequest(err) != requestRetry {
		t.Errorf("unreachable engine gave %v; want a retried transport error", err)
	}
}

func TestOptionsDefaultsAndChecks(t *testing.T) {
	base := Options{Name: "t", Store: &store.Store{}, Sink: NewElasticSink(nil), Kafka: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}}
	o, err := base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Group != DefaultGroup || o.BulkMaxBytes != DefaultBulkMaxBytes || o.BulkMaxDocs != DefaultBulkMaxDocs ||
		o.Workers != DefaultWorkers || o.MaxInflightBytes != DefaultMaxInflightBytes || o.FlushInterval != DefaultFlushInterval {
		t.Errorf("defaults not applied: %+v", o)
	}
	bad := base
	bad.BulkMaxBytes = 64 << 20
	if _, err := New(bad); err == nil || err.Error() != "transfer: max in-flight bytes 67108864 is below twice the bulk size 67108864: polling would stall behind one batch" {
		t.Errorf("New with a bulk as large as the budget: %v", err)
	}
	for name, o := range map[string]Options{"name": {Store: base.Store, Sink: base.Sink, Kafka: base.Kafka}, "store": {Name: "t", Sink: base.Sink, Kafka: base.Kafka},
		"sink": {Name: "t", Store: base.Store, Kafka: base.Kafka}, "Kafka": {Name: "t", Store: base.Store, Sink: base.Sink}} {
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), "no "+name) {
			t.Errorf("New without %s: %v", name, err)
		}
	}
}
