// Package indextemplate reconciles IndexTemplate specs into composable index
// templates (PUT _index_template/<name>) of Elasticsearch 8.x or OpenSearch
// 2.x.
//
// Requests are go-elasticsearch esapi requests sent through a bare
// elastic-transport client (see internal/esclient for why not the
// top-level go-elasticsearch client: it refuses OpenSearch).
//
// Engines normalise what they store (settings gain an "index" level and
// string values, defaults appear), so comparing the live template with the
// spec field by field would see a difference on every pass. Instead the
// reconciler stores a hash of the body it PUTs in the template's _meta
// (key "logpipe.io/spec-hash"), next to the user's own _meta, and re-PUTs
// when the live template is missing or carries another hash, as kubectl
// compares against its last-applied annotation. A template changed behind
// logpipe's back without that hash is put back on the next resync.
//
// Outcomes: a 2xx is Ready=True; a 4xx is the engine's verdict on the spec
// (a malformed mapping, say): Ready=False with reason Rejected and the
// engine's own error type and reason, not retried until the spec changes;
// connection errors and 5xx are Ready=False with reason EngineUnavailable and
// are retried with backoff.
package indextemplate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/store"
)

// HashKey is the _meta key holding the hash of the body logpipe applied.
const HashKey = "logpipe.io/spec-hash"

// Reconciler reconciles IndexTemplate specs, keyed by name.
type Reconciler struct {
	store  *store.Store
	engine esapi.Transport
	now    func() time.Time
	logger *slog.Logger
}

// New returns a Reconciler reading specs from st and writing templates
// through engine. A nil logger means slog.Default().
func New(st *store.Store, engine esapi.Transport, logger *slog.Logger) *Reconciler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Reconciler{store: st, engine: engine, now: time.Now, logger: logger}
}

var _ reconciler.Reconciler = (*Reconciler)(nil)

// Reconcile makes the engine hold the template of name as specified, or acts
// on the spec's deletion.
func (r *Reconciler) Reconcile(ctx context.Context, name string) (reconciler.Result, error) {
	obj, err := r.store.Get(ctx, api.KindIndexTemplate, name)
	if errors.Is(err, store.ErrNotFound) {
		return reconciler.Result{}, r.deleted(ctx, name)
	}
	if err != nil {
		return reconciler.Result{}, err
	}
	t := obj.(*api.IndexTemplate)
	old := t.Status
	st := t.Status
	st.ObservedGeneration = t.Metadata.Generation

	cond, rerr := r.sync(ctx, t, &st)
	api.SetCondition(&st.Conditions, cond, r.now())
	if !reflect.DeepEqual(old, st) {
		if err := r.store.SetStatus(ctx, api.KindIndexTemplate, name, st); err != nil && !errors.Is(err, store.ErrNotFound) {
			return reconciler.Result{}, errors.Join(rerr, fmt.Errorf("write status of index template %q: %w", name, err))
		}
	}
	return reconciler.Result{}, rerr
}

func (r *Reconciler) sync(ctx context.Context, t *api.IndexTemplate, st *api.IndexTemplateStatus) (api.Condition, error) {
	name := t.Metadata.Name
	body, hash, err := Body(t)
	if err != nil {
		// The spec passed validation, so this is a bug, not the user's fault.
		return api.NotReady(api.ReasonRejected, err.Error()), reconciler.Terminal(err)
	}
	live, err := r.liveHash(ctx, name)
	if err != nil {
		st.Applied = false
		return api.NotReady(api.ReasonEngineUnavailable, err.Error()), err
	}
	if live == hash {
		st.Applied = true
		return api.Ready(api.ReasonReconciled, "template applied"), nil
	}
	resp, err := esapi.IndicesPutIndexTemplateRequest{Name: name, Body: bytes.NewReader(body)}.Do(ctx, r.engine)
	if err != nil {
		st.Applied = false
		err = fmt.Errorf("put index template %q: %w", name, err)
		return api.NotReady(api.ReasonEngineUnavailable, err.Error()), err
	}
	defer drain(resp)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		st.Applied = true
		st.LastAppliedTime = r.now().UTC().Truncate(time.Second)
		r.logger.Info("applied index template", "template", name, "generation", t.Metadata.Generation)
		return api.Ready(api.ReasonReconciled, "template applied"), nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout:
		st.Applied = false
		msg := engineError(resp)
		return api.NotReady(api.ReasonRejected, msg), reconciler.Terminal(fmt.Errorf("index template %q rejected: %s", name, msg))
	default:
		st.Applied = false
		msg := engineError(resp)
		return api.NotReady(api.ReasonEngineUnavailable, msg), fmt.Errorf("put index template %q: %s", name, msg)
	}
}

// liveHash returns the hash logpipe stored in the live template, "" when the
// template does not exist or carries none.
func (r *Reconciler) liveHash(ctx context.Context, name string) (string, error) {
	resp, err := esapi.IndicesGetIndexTemplateRequest{Name: name}.Do(ctx, r.engine)
	if err != nil {
		return "", fmt.Errorf("get index template %q: %w", name, err)
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get index template %q: %s", name, engineError(resp))
	}
	var got struct {
		IndexTemplates []struct {
			Name          string `json:"name"`
			IndexTemplate struct {
				Meta map[string]any `json:"_meta"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		return "", fmt.Errorf("get index template %q: decode answer: %w", name, err)
	}
	for _, it := range got.IndexTemplates {
		if it.Name == name {
			h, _ := it.IndexTemplate.Meta[HashKey].(string)
			return h, nil
		}
	}
	return "", nil
}

func (r *Reconciler) deleted(ctx context.Context, name string) error {
	obj, rev, err := r.store.Tombstone(ctx, api.KindIndexTemplate, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if obj.(*api.IndexTemplate).Spec.DeletionPolicy == api.DeletionDelete {
		resp, err := esapi.IndicesDeleteIndexTemplateRequest{Name: name}.Do(ctx, r.engine)
		if err != nil {
			return fmt.Errorf("delete index template %q: %w", name, err)
		}
		defer drain(resp)
		if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("delete index template %q: %s", name, engineError(resp))
		}
		r.logger.Info("deleted index template after its spec was deleted", "template", name)
	} else {
		r.logger.Info("spec deleted; index template retained", "template", name)
	}
	return r.store.DeleteTombstone(ctx, api.KindIndexTemplate, name, rev)
}

// Body returns the request body of PUT _index_template for t, with the hash
// of the spec in _meta, and that hash.
func Body(t *api.IndexTemplate) ([]byte, string, error) {
	spec, err := t.SpecJSON()
	if err != nil {
		return nil, "", fmt.Errorf("index template %q: encode spec: %w", t.Metadata.Name, err)
	}
	sum := sha256.Sum256(spec)
	hash := hex.EncodeToString(sum[:16])

	meta := map[string]any{}
	if len(t.Spec.Meta) > 0 {
		if err := json.Unmarshal(t.Spec.Meta, &meta); err != nil {
			return nil, "", fmt.Errorf("index template %q: spec.meta: %w", t.Metadata.Name, err)
		}
	}
	meta[HashKey] = hash

	body := map[string]any{
		"index_patterns": t.Spec.IndexPatterns,
		"_meta":          meta,
	}
	if t.Spec.Priority != nil {
		body["priority"] = *t.Spec.Priority
	}
	if t.Spec.Version != nil {
		body["version"] = *t.Spec.Version
	}
	if len(t.Spec.ComposedOf) > 0 {
		body["composed_of"] = t.Spec.ComposedOf
	}
	if len(t.Spec.DataStream) > 0 {
		body["data_stream"] = t.Spec.DataStream
	}
	tpl := map[string]json.RawMessage{}
	if len(t.Spec.Template.Settings) > 0 {
		tpl["settings"] = t.Spec.Template.Settings
	}
	if len(t.Spec.Template.Mappings) > 0 {
		tpl["mappings"] = t.Spec.Template.Mappings
	}
	if len(t.Spec.Template.Aliases) > 0 {
		tpl["aliases"] = t.Spec.Template.Aliases
	}
	if len(tpl) > 0 {
		body["template"] = tpl
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, "", fmt.Errorf("index template %q: encode body: %w", t.Metadata.Name, err)
	}
	return b, hash, nil
}

// engineCause is an engine error and the chain of its causes.
type engineCause struct {
	Type     string       `json:"type"`
	Reason   string       `json:"reason"`
	CausedBy *engineCause `json:"caused_by"`
}

// engineError renders the engine's error answer as "HTTP 400: type: reason",
// adding the deepest cause when it differs (OpenSearch wraps a mapping error
// three levels down in "template after composition is invalid"), and falls
// back to the status and the start of the body.
func engineError(resp *esapi.Response) string {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error engineCause `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Error.Type != "" {
		msg := e.Error.Type + ": " + e.Error.Reason
		root := &e.Error
		for depth := 0; root.CausedBy != nil && depth < 16; depth++ {
			root = root.CausedBy
		}
		if root != &e.Error && root.Reason != "" && root.Reason != e.Error.Reason {
			msg += " (caused by " + root.Type + ": " + root.Reason + ")"
		}
		return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, msg)
	}
	text := string(bytes.TrimSpace(raw))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	if text == "" {
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, text)
}

func drain(resp *esapi.Response) {
	if resp != nil && resp.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}
}
