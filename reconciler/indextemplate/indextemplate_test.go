package indextemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/esclient"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/store"
)

// fakeEngine answers the composable index template API the way OpenSearch
// does (no X-Elastic-Product header), records every request, rejects
// mappings with an unknown field type, and can fail with 503.
type fakeEngine struct {
	mu          sync.Mutex
	templates   map[string]json.RawMessage
	requests    []string // "PUT /_index_template/web"
	unavailable int      // answer this many requests with 503
}

func (e *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, r.Method+" "+r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	if e.unavailable > 0 {
		e.unavailable--
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/1/state not recovered];"},"status":503}`)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/_index_template/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		body, ok := e.templates[name]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"type":"resource_not_found_exception","reason":"index template matching [%s] not found"},"status":404}`, name)
			return
		}
		fmt.Fprintf(w, `{"index_templates":[{"name":%q,"index_template":%s}]}`, name, body)
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), `"type":"nested-strange"`) {
			// OpenSearch's answer to a bad mapping in a composable template.
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"composable template [x] template after composition is invalid"}],"type":"illegal_argument_exception","reason":"composable template [x] template after composition is invalid","caused_by":{"type":"illegal_argument_exception","reason":"invalid composite mappings for [x]","caused_by":{"type":"mapper_parsing_exception","reason":"No handler for type [nested-strange] declared on field [code]"}}},"status":400}`)
			return
		}
		if strings.Contains(string(body), `"type":"strange"`) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"root_cause":[{"type":"mapper_parsing_exception","reason":"No handler for type [strange] declared on field [code]"}],"type":"mapper_parsing_exception","reason":"No handler for type [strange] declared on field [code]"},"status":400}`)
			return
		}
		e.templates[name] = body
		fmt.Fprint(w, `{"acknowledged":true}`)
	case http.MethodDelete:
		if _, ok := e.templates[name]; !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"type":"index_template_missing_exception","reason":"missing"},"status":404}`)
			return
		}
		delete(e.templates, name)
		fmt.Fprint(w, `{"acknowledged":true}`)
	}
}

// takeRequests returns the requests recorded since the last call.
func (e *fakeEngine) takeRequests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.requests
	e.requests = nil
	return r
}

type fixture struct {
	store  *store.Store
	engine *fakeEngine
	rec    *Reconciler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := etcdtest.Start(t)
	st := store.New(srv.Client(t), "")
	engine := &fakeEngine{templates: map[string]json.RawMessage{}}
	hs := httptest.NewServer(engine)
	t.Cleanup(hs.Close)
	opts := esclient.Options{URLs: []string{hs.URL}}
	tr, err := opts.Transport()
	if err != nil {
		t.Fatalf("transport: %v", err)
	}
	return &fixture{store: st, engine: engine, rec: New(st, tr, slog.New(slog.NewTextHandler(io.Discard, nil)))}
}

func template(name, codeType string) *api.IndexTemplate {
	tpl := &api.IndexTemplate{
		Metadata: api.ObjectMeta{Name: name},
		Spec: api.IndexTemplateSpec{
			IndexPatterns: []string{name + "-*"},
			Template: api.IndexTemplateBody{
				Mappings: json.RawMessage(`{"properties":{"code":{"type":"` + codeType + `"},"@timestamp":{"type":"date"}}}`),
			},
		},
	}
	tpl.Default()
	return tpl
}

func (f *fixture) apply(t *testing.T, objs ...api.Object) {
	t.Helper()
	if _, err := f.store.Apply(t.Context(), objs, store.ApplyOptions{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

func (f *fixture) status(t *testing.T, name string) (api.IndexTemplateStatus, api.Condition) {
	t.Helper()
	o, err := f.store.Get(t.Context(), api.KindIndexTemplate, name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	st := o.(*api.IndexTemplate).Status
	c := api.FindCondition(st.Conditions, api.ConditionReady)
	if c == nil {
		t.Fatalf("index template %s has no Ready condition", name)
	}
	return st, *c
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func TestPutOnceThenOnlyWhenSpecOrLiveTemplateChanges(t *testing.T) {
	f := newFixture(t)
	f.apply(t, template("web", "keyword"))

	if _, err := f.rec.Reconcile(t.Context(), "web"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if got, want := f.engine.takeRequests(), []string{"GET /_index_template/web", "PUT /_index_template/web"}; !equal(got, want) {
		t.Fatalf("requests = %q, want %q", got, want)
	}
	st, c := f.status(t, "web")
	if c.Status != api.ConditionTrue || !st.Applied || st.ObservedGeneration != 1 {
		t.Fatalf("status = %+v, want Ready=True, applied, observedGeneration 1", st)
	}

	// Nothing changed: a resync only reads.
	if _, err := f.rec.Reconcile(t.Context(), "web"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if got, want := f.engine.takeRequests(), []string{"GET /_index_template/web"}; !equal(got, want) {
		t.Fatalf("requests on resync = %q, want %q", got, want)
	}

	// Changed behind logpipe's back: put back.
	f.engine.mu.Lock()
	f.engine.templates["web"] = json.RawMessage(`{"index_patterns":["other-*"]}`)
	f.engine.mu.Unlock()
	if _, err := f.rec.Reconcile(t.Context(), "web"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if got, want := f.engine.takeRequests(), []string{"GET /_index_template/web", "PUT /_index_template/web"}; !equal(got, want) {
		t.Fatalf("requests after drift = %q, want %q", got, want)
	}
	f.engine.mu.Lock()
	live := string(f.engine.templates["web"])
	f.engine.mu.Unlock()
	if !strings.Contains(live, `"index_patterns":["web-*"]`) || !strings.Contains(live, HashKey) {
		t.Fatalf("live template after repair = %s, want the spec's body with its hash", live)
	}

	// Spec changed: put the new body.
	f.apply(t, template("web", "long"))
	if _, err := f.rec.Reconcile(t.Context(), "web"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if got, want := f.engine.takeRequests(), []string{"GET /_index_template/web", "PUT /_index_template/web"}; !equal(got, want) {
		t.Fatalf("requests after spec change = %q, want %q", got, want)
	}
	if st, _ := f.status(t, "web"); st.ObservedGeneration != 2 {
		t.Fatalf("observedGeneration = %d, want 2", st.ObservedGeneration)
	}
}

func TestRejectedTemplateIsTerminalAndOthersStayReady(t *testing.T) {
	f := newFixture(t)
	f.apply(t, template("good", "keyword"), template("bad", "strange"))

	if _, err := f.rec.Reconcile(t.Context(), "good"); err != nil {
		t.Fatalf("reconcile good: %v", err)
	}
	_, err := f.rec.Reconcile(t.Context(), "bad")
	if !errors.Is(err, reconciler.ErrTerminal) {
		t.Fatalf("reconcile bad = %v, want a terminal error (retrying cannot fix a mapping)", err)
	}
	st, c := f.status(t, "bad")
	want := "HTTP 400: mapper_parsing_exception: No handler for type [strange] declared on field [code]"
	if c.Status != api.ConditionFalse || c.Reason != api.ReasonRejected || c.Message != want || st.Applied {
		t.Fatalf("bad: Ready=%s reason=%s message=%q applied=%v; want False, Rejected, %q, false", c.Status, c.Reason, c.Message, st.Applied, want)
	}
	if _, c := f.status(t, "good"); c.Status != api.ConditionTrue {
		t.Fatalf("good: Ready=%s, want True", c.Status)
	}
}

func TestRejectionReportsTheDeepestCause(t *testing.T) {
	f := newFixture(t)
	f.apply(t, template("x", "nested-strange"))
	if _, err := f.rec.Reconcile(t.Context(), "x"); !errors.Is(err, reconciler.ErrTerminal) {
		t.Fatalf("reconcile = %v, want terminal", err)
	}
	_, c := f.status(t, "x")
	want := "HTTP 400: illegal_argument_exception: composable template [x] template after composition is invalid" +
		" (caused by mapper_parsing_exception: No handler for type [nested-strange] declared on field [code])"
	if c.Message != want {
		t.Fatalf("message = %q\nwant      %q", c.Message, want)
	}
}

func TestUnavailableEngineIsRetried(t *testing.T) {
	f := newFixture(t)
	f.apply(t, template("web", "keyword"))
	f.engine.mu.Lock()
	f.engine.unavailable = 1
	f.engine.mu.Unlock()

	_, err := f.rec.Reconcile(t.Context(), "web")
	if err == nil || errors.Is(err, reconciler.ErrTerminal) {
		t.Fatalf("reconcile against a 503 = %v, want a retryable error", err)
	}
	if _, c := f.status(t, "web"); c.Status != api.ConditionFalse || c.Reason != api.ReasonEngineUnavailable {
		t.Fatalf("Ready = %s/%s, want False/EngineUnavailable", c.Status, c.Reason)
	}
	if _, err := f.rec.Reconcile(t.Context(), "web"); err != nil {
		t.Fatalf("reconcile once the engine is back: %v", err)
	}
	if _, c := f.status(t, "web"); c.Status != api.ConditionTrue {
		t.Fatalf("Ready after recovery = %s, want True", c.Status)
	}
}

func TestDeletionFollowsPolicy(t *testing.T) {
	f := newFixture(t)
	kept := template("kept", "keyword")
	gone := template("gone", "keyword")
	gone.Spec.DeletionPolicy = api.DeletionDelete
	f.apply(t, kept, gone)
	for _, n := range []string{"kept", "gone"} {
		if _, err := f.rec.Reconcile(t.Context(), n); err != nil {
			t.Fatalf("reconcile %s: %v", n, err)
		}
	}
	f.engine.takeRequests()
	for _, n := range []string{"kept", "gone"} {
		if _, err := f.store.Delete(t.Context(), api.KindIndexTemplate, n); err != nil {
			t.Fatalf("delete %s: %v", n, err)
		}
		if _, err := f.rec.Reconcile(t.Context(), n); err != nil {
			t.Fatalf("reconcile deleted %s: %v", n, err)
		}
	}
	if got, want := f.engine.takeRequests(), []string{"DELETE /_index_template/gone"}; !equal(got, want) {
		t.Fatalf("requests after deletions = %q, want %q", got, want)
	}
	f.engine.mu.Lock()
	_, keptLive := f.engine.templates["kept"]
	f.engine.mu.Unlock()
	if !keptLive {
		t.Fatal("Retain template was removed from the engine")
	}
	if names, err := f.store.TombstoneNames(t.Context(), api.KindIndexTemplate); err != nil || len(names) != 0 {
		t.Fatalf("tombstones = %v, %v; want none", names, err)
	}
}

func TestBodyCarriesSpecAndHash(t *testing.T) {
	tpl := template("web", "keyword")
	prio := int64(200)
	tpl.Spec.Priority = &prio
	tpl.Spec.Meta = json.RawMessage(`{"owner":"web-team"}`)
	body, hash, err := Body(tpl)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"_meta":{"logpipe.io/spec-hash":"` + hash + `","owner":"web-team"},"index_patterns":["web-*"],"priority":200,` +
		`"template":{"mappings":{"properties":{"@timestamp":{"type":"date"},"code":{"type":"keyword"}}}}}`
	canon, _ := json.Marshal(got)
	if string(canon) != want {
		t.Fatalf("body =\n%s\nwant\n%s", canon, want)
	}
	// Whitespace in the spec's raw JSON is no change.
	spaced := template("web", "keyword")
	spaced.Spec.Priority = &prio
	spaced.Spec.Meta = json.RawMessage("{ \"owner\" : \"web-team\" }")
	if _, h2, _ := Body(spaced); h2 != hash {
		t.Fatalf("hash changed with whitespace only: %s vs %s", h2, hash)
	}
}
