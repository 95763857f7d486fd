package search

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/logpipe/logpipe/transfer"
)

func openEngine(t *testing.T, dir string) *Engine {
	t.Helper()
	e, err := Open(dir, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// doc returns an index action for a JSON document.
func doc(index, id string, fields string) transfer.Action {
	return transfer.Action{Index: index, ID: id, Doc: []byte(fields)}
}

func bulk(t *testing.T, e *Engine, actions ...transfer.Action) []transfer.Result {
	t.Helper()
	res, err := e.Bulk(context.Background(), actions)
	if err != nil {
		t.Fatalf("Bulk: %v", err)
	}
	if len(res) != len(actions) {
		t.Fatalf("Bulk: %d results for %d actions", len(res), len(actions))
	}
	return res
}

func statuses(res []transfer.Result) []int {
	out := make([]int, len(res))
	for i, r := range res {
		out[i] = r.Status
	}
	return out
}

func search(t *testing.T, e *Engine, index, q string) *Response {
	t.Helper()
	res, err := e.Search(context.Background(), Request{Index: index, Query: q, Size: MaxSize})
	if err != nil {
		t.Fatalf("Search(%q, %q): %v", index, q, err)
	}
	return res
}

func ids(res *Response) []string {
	out := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = h.ID
	}
	slices.Sort(out)
	return out
}

const ts = `"@timestamp":"2026-12-06T10:00:00.123456789Z"`

func TestBulkAnswersAsElasticsearch(t *testing.T) {
	e := openEngine(t, t.TempDir())
	res := bulk(t, e,
		doc("web-1", "a", `{`+ts+`,"msg":"one"}`),
		doc("web-1", "b", `{`+ts+`,"msg":"two"}`),
		doc("web-1", "a", `{`+ts+`,"msg":"one again"}`), // same batch, same _id
		doc("Web-1", "c", `{"msg":"bad index"}`),
		doc("web-1", "d", `{"_id":"x","msg":"metadata field"}`),
		doc("web-1", "e", `["not an object"]`),
		transfer.Action{Index: "web-1", ID: "b", Create: true, Doc: []byte(`{"msg":"create over b"}`)},
		transfer.Action{Index: "web-2", ID: "f", Create: true, Doc: []byte(`{` + ts + `,"msg":"created"}`)},
	)
	want := []int{201, 201, 200, 400, 400, 400, 409, 201}
	if got := statuses(res); !slices.Equal(got, want) {
		t.Fatalf("statuses = %v, want %v (results %+v)", got, want, res)
	}
	if res[3].ErrorType != "invalid_index_name_exception" || !strings.Contains(res[3].ErrorReason, "lowercase") {
		t.Errorf("bad index name: %+v", res[3])
	}
	if res[4].ErrorType != "mapper_parsing_exception" || !strings.Contains(res[4].ErrorReason, "[_id] is a metadata field") {
		t.Errorf("metadata field: %+v", res[4])
	}
	if res[6].ErrorType != "version_conflict_engine_exception" {
		t.Errorf("create over an existing _id: %+v", res[6])
	}

	// A replay overwrites: one document per _id, the last one written.
	res = bulk(t, e, doc("web-1", "b", `{`+ts+`,"msg":"two replayed"}`))
	if res[0].Status != 200 {
		t.Errorf("replay of b: status %d, want 200", res[0].Status)
	}
	got := search(t, e, "web-*", "*")
	if got.Total != 3 || !slices.Equal(ids(got), []string{"a", "b", "f"}) {
		t.Fatalf("every document: total %d, ids %v; want 3, [a b f]", got.Total, ids(got))
	}
	if r := search(t, e, "web-1", "_id:a"); r.Total != 1 || string(r.Hits[0].Source) != `{`+ts+`,"msg":"one again"}` {
		t.Errorf("_id:a = %+v, want the source of the last write", r)
	}
	if r := search(t, e, "web-1", `msg:"two replayed"`); r.Total != 1 || r.Hits[0].ID != "b" || r.Hits[0].Index != "web-1" {
		t.Errorf(`msg:"two replayed" = %+v, want b in web-1`, r)
	}
}

func TestIndexesSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir)
	bulk(t, e, doc("web-2026.12.06", "a", `{`+ts+`,"code":"500"}`), doc("app", "b", `{`+ts+`,"code":"200"}`))
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := e.Bulk(context.Background(), []transfer.Action{doc("app", "c", `{}`)}); err != ErrClosed {
		t.Fatalf("Bulk after Close: %v, want ErrClosed", err)
	}

	e = openEngine(t, dir)
	list, err := e.Indexes()
	if err != nil {
		t.Fatal(err)
	}
	if want := []IndexInfo{{"app", 1}, {"web-2026.12.06", 1}}; !slices.Equal(list, want) {
		t.Fatalf("Indexes after reopen = %v, want %v", list, want)
	}
	if r := search(t, e, "web-*", "code:500"); r.Total != 1 || r.Hits[0].ID != "a" {
		t.Fatalf("code:500 after reopen = %+v", r)
	}
	if res := bulk(t, e, doc("app", "b", `{`+ts+`,"code":"201"}`)); res[0].Status != 200 {
		t.Fatalf("overwrite after reopen: %d, want 200", res[0].Status)
	}
}

func TestSearchIndexesSinceAndOrder(t *testing.T) {
	e := openEngine(t, t.TempDir())
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) string {
		return `"@timestamp":"` + now.Add(-ago).Format(time.RFC3339Nano) + `"`
	}
	bulk(t, e,
		doc("web-a", "old", `{`+at(2*time.Hour)+`,"msg":"old"}`),
		doc("web-b", "new", `{`+at(time.Minute)+`,"msg":"new"}`),
		doc("api", "mid", `{`+at(10*time.Minute)+`,"msg":"mid"}`),
	)
	tests := []struct {
		index string
		since time.Duration
		want  []string // in order
	}{
		{"", 0, []string{"new", "mid", "old"}},
		{"web-*", 0, []string{"new", "old"}},
		{"web-a,api", 0, []string{"mid", "old"}},
		{"*", 15 * time.Minute, []string{"new", "mid"}},
		{"nothing-*", 0, []string{}},
	}
	for _, tt := range tests {
		res, err := e.Search(context.Background(), Request{Index: tt.index, Since: tt.since, Now: now})
		if err != nil {
			t.Errorf("Search(%q, since %v): %v", tt.index, tt.since, err)
			continue
		}
		var got []string
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			t.Errorf("Search(%q, since %v) = %v, want %v", tt.index, tt.since, got, tt.want)
		}
	}
	if _, err := e.Search(context.Background(), Request{Index: "missing"}); err == nil || !strings.Contains(err.Error(), "no such index [missing]") {
		t.Errorf("unknown index: %v, want no such index", err)
	}
	res, err := e.Search(context.Background(), Request{Size: 1})
	if err != nil || res.Total != 3 || len(res.Hits) != 1 {
		t.Errorf("size 1: %+v, %v; want total 3 and one hit", res, err)
	}

	// Lines read together share a timestamp: the later line of the file
	// comes first.
	bulk(t, e,
		doc("file", "z-first", `{`+ts+`,"log":{"offset":0}}`),
		doc("file", "a-second", `{`+ts+`,"log":{"offset":39}}`),
		doc("file", "m-third", `{`+ts+`,"log":{"offset":120}}`),
	)
	res = search(t, e, "file", "*")
	var got []string
	for _, h := range res.Hits {
		got = append(got, h.ID)
	}
	if want := []string{"m-third", "a-second", "z-first"}; !slices.Equal(got, want) {
		t.Errorf("same @timestamp: order %v, want %v (by log.offset, descending)", got, want)
	}
}

// templates runs an esapi request against the engine's template transport.
func templates(t *testing.T, e *Engine, req esapi.Request) (int, string) {
	t.Helper()
	resp, err := req.Do(context.Background(), e.Templates())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestIndexTemplatesChooseFieldTypes(t *testing.T) {
	dir := t.TempDir()
	e := openEngine(t, dir)
	body := `{"index_patterns":["web-*"],"priority":200,"template":{"mappings":{
		"dynamic_templates":[{"strings_as_keyword":{"match_mapping_type":"string","mapping":{"type":"keyword"}}}],
		"properties":{"msg":{"type":"text"},"code":{"type":"keyword"},"bytes":{"type":"long"},
			"log":{"properties":{"file":{"properties":{"path":{"type":"keyword"}}}}}}}},
		"_meta":{"logpipe.io/spec-hash":"abc"}}`
	if code, out := templates(t, e, esapi.IndicesPutIndexTemplateRequest{Name: "web", Body: strings.NewReader(body)}); code != 200 {
		t.Fatalf("PUT template: %d %s", code, out)
	}
	code, out := templates(t, e, esapi.IndicesGetIndexTemplateRequest{Name: "web"})
	if code != 200 || !strings.Contains(out, `"logpipe.io/spec-hash":"abc"`) || !strings.Contains(out, `"name":"web"`) {
		t.Fatalf("GET template: %d %s", code, out)
	}
	if code, _ := templates(t, e, esapi.IndicesGetIndexTemplateRequest{Name: "other"}); code != 404 {
		t.Fatalf("GET missing template: %d, want 404", code)
	}
	if code, out := templates(t, e, esapi.IndicesPutIndexTemplateRequest{Name: "bad", Body: strings.NewReader(`{"priority":1}`)}); code != 400 || !strings.Contains(out, "index_patterns") {
		t.Fatalf("PUT template without patterns: %d %s, want 400", code, out)
	}

	line := `{` + ts + `,"msg":"Disk NOT ok","code":"5xx error","service":"Web Shop","bytes":512,"log":{"file":{"path":"/var/log/a.log"}}}`
	bulk(t, e, doc("web-1", "w", line), doc("other", "o", line))
	tests := []struct {
		q          string
		web, other uint64 // hits in the templated index and in the one without template
	}{
		{`msg:"not ok"`, 1, 1},       // text: words, lower-cased, no stop words
		{`code:5xx`, 0, 1},           // keyword: only the whole value
		{`code:"5xx error"`, 1, 1},   // the whole value
		{`service:"Web Shop"`, 1, 1}, // unmapped string: keyword through the dynamic template
		{`service:web`, 0, 1},
		{`bytes:>500`, 1, 1},
		{`log.file.path:"/var/log/a.log"`, 1, 1},
	}
	for _, tt := range tests {
		if got := search(t, e, "web-1", tt.q).Total; got != tt.web {
			t.Errorf("%s in the templated index: %d hits, want %d", tt.q, got, tt.web)
		}
		if got := search(t, e, "other", tt.q).Total; got != tt.other {
			t.Errorf("%s in the index without template: %d hits, want %d", tt.q, got, tt.other)
		}
	}

	// The templates survive a restart, so the controller finds its hash.
	e.Close()
	e = openEngine(t, dir)
	if code, out := templates(t, e, esapi.IndicesGetIndexTemplateRequest{Name: "web"}); code != 200 || !strings.Contains(out, "spec-hash") {
		t.Fatalf("GET template after reopen: %d %s", code, out)
	}
	if code, _ := templates(t, e, esapi.IndicesDeleteIndexTemplateRequest{Name: "web"}); code != 200 {
		t.Fatalf("DELETE template: %d", code)
	}
	if code, _ := templates(t, e, esapi.IndicesGetIndexTemplateRequest{Name: "web"}); code != 404 {
		t.Fatalf("GET deleted template: %d, want 404", code)
	}
}

func TestHandler(t *testing.T) {
	e := openEngine(t, t.TempDir())
	bulk(t, e, doc("web-1", "a", `{`+ts+`,"code":"500","msg":"not ok"}`), doc("web-1", "b", `{`+ts+`,"code":"200","msg":"ok"}`))
	h := e.Handler()
	get := func(url string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	code, body := get(`/api/v1/search?index=web-*&q=code:500+AND+msg:%22not+ok%22`)
	var res Response
	if err := json.Unmarshal([]byte(body), &res); code != 200 || err != nil {
		t.Fatalf("search: %d %s (%v)", code, body, err)
	}
	if res.Total != 1 || res.Hits[0].ID != "a" || res.Hits[0].Index != "web-1" || !strings.Contains(string(res.Hits[0].Source), `"msg":"not ok"`) {
		t.Fatalf("search: %s", body)
	}
	for _, tt := range []struct {
		url  string
		code int
		want string
	}{
		{`/api/v1/search?q=(code:500`, 400, `"error":"query: parenthesis at offset 0 is not closed"`},
		{`/api/v1/search?size=x`, 400, `size \"x\"`},
		{`/api/v1/search?since=soon`, 400, `since \"soon\"`},
		{`/api/v1/search?index=nope`, 404, `no such index [nope]`},
		{`/api/v1/indices`, 200, `[{"name":"web-1","docs":2}]`},
	} {
		code, body := get(tt.url)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s = %d %s, want %d and %s", tt.url, code, body, tt.code, tt.want)
		}
	}
}

func ExampleParseQuery() {
	for _, q := range []string{`code:500 AND msg:"not ok"`, `(code:500 OR code:502) AND NOT service:web`} {
		if _, err := ParseQuery(q); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println("ok:", q)
	}
	_, err := ParseQuery(`code:500 AND`)
	fmt.Println(err)
	// Output:
	// ok: code:500 AND msg:"not ok"
	// ok: (code:500 OR code:502) AND NOT service:web
	// query: missing clause at the end (after AND at offset 9)
}

func TestBulkIsSafeForConcurrentUse(t *testing.T) {
	e := openEngine(t, t.TempDir())
	const writers, batches, perBatch = 4, 10, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var actions []transfer.Action
				for i := range perBatch {
					id := fmt.Sprintf("w%d-b%d-%d", w, b, i)
					// Every writer also creates one shared ID: exactly one wins.
					actions = append(actions, doc("web-1", id, `{`+ts+`,"n":1}`),
						transfer.Action{Index: "web-1", ID: "shared", Create: true, Doc: []byte(`{` + ts + `}`)})
				}
				res, err := e.Bulk(context.Background(), actions)
				if err != nil {
					t.Error(err)
					return
				}
				for i, r := range res {
					if r.Status != 201 && !(actions[i].ID == "shared" && r.Status == 409) {
						t.Errorf("%s: %+v", actions[i].ID, r)
					}
				}
				_, _ = e.Search(context.Background(), Request{Index: "web-*", Query: "n:1"})
			}
		})
	}
	wg.Wait()
	if got := search(t, e, "web-1", "*").Total; got != writers*batches*perBatch+1 {
		t.Fatalf("%d documents, want %d", got, writers*batches*perBatch+1)
	}
}
