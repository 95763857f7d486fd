package search

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/transfer"
)

// ErrClosed is returned by the Engine's methods after Close.
var ErrClosed = errors.New("search: engine closed")

// sourceField holds each document's source as sent, stored and not
// indexed, so that a hit returns the document exactly as written. No
// document can have a field of that name: Elasticsearch reserves it.
const sourceField = "_source"

// metadataFields are Elasticsearch's own document fields, which a source
// may not hold at the top level.
var metadataFields = map[string]bool{
	"_id": true, "_index": true, "_routing": true, "_source": true, "_type": true,
	"_version": true, "_seq_no": true, "_primary_term": true, "_ignored": true,
	"_field_names": true, "_doc_count": true, "_tier": true, "_tsid": true,
	"_data_stream_timestamp": true, "_nested_path": true, "_ignored_source": true,
}

// Options configure an Engine.
type Options struct {
	// Logger receives the engine's events (an index created, an ingest
	// pipeline ignored). Default slog.Default().
	Logger *slog.Logger
}

// Engine is the embedded search engine: a set of bleve indexes under one
// directory. Open one with Open and Close it when done. It is safe for
// concurrent use.
type Engine struct {
	dir       string
	log       *slog.Logger
	templates *templateStore

	// life is held shared by every operation and exclusively by Close, so
	// that Close waits for them and no index is used after it is closed.
	life   sync.RWMutex
	closed bool

	mu      sync.Mutex // guards indexes
	indexes map[string]*index

	warned sync.Map // ingest pipelines already warned about
}

// index is one open bleve index.
type index struct {
	name string
	bi   bleve.Index
	// mu serialises writes, so that the existence check of op_type create
	// and the write that follows see the same documents.
	mu sync.Mutex
}

var _ transfer.Sink = (*Engine)(nil)

// Open opens (creating it if needed) the engine whose indexes live under
// dir, and every index already there.
func Open(dir string, opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	templates, err := openTemplates(filepath.Join(dir, templatesFile))
	if err != nil {
		return nil, err
	}
	e := &Engine{dir: dir, log: opts.Logger, templates: templates, indexes: map[string]*index{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	for _, de := range entries {
		name := de.Name()
		if !de.IsDir() || validIndexName(name) != nil {
			continue
		}
		path := filepath.Join(dir, name)
		if _, err := os.Stat(filepath.Join(path, "index_meta.json")); errors.Is(err, os.ErrNotExist) {
			// Creation stopped before bleve wrote the index's metadata:
			// nothing was ever written to it.
			if err := os.RemoveAll(path); err != nil {
				e.closeIndexes()
				return nil, fmt.Errorf("search: remove unfinished index %s: %w", name, err)
			}
			continue
		}
		bi, err := bleve.Open(path)
		if err != nil {
			e.closeIndexes()
			return nil, fmt.Errorf("search: open index %s: %w", name, err)
		}
		bi.SetName(name)
		e.indexes[name] = &index{name: name, bi: bi}
	}
	return e, nil
}

// Close closes every index, after waiting for the writes and searches under
// way. Later calls do nothing.
func (e *Engine) Close() error {
	e.life.Lock()
	defer e.life.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.closeIndexes()
}

func (e *Engine) closeIndexes() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for name, ix := range e.indexes {
		if err := ix.bi.Close(); err != nil {
			errs = append(errs, fmt.Errorf("search: close index %s: %w", name, err))
		}
	}
	e.indexes = map[string]*index{}
	return errors.Join(errs...)
}

// acquire holds the engine open for one operation; the caller calls the
// returned release.
func (e *Engine) acquire() (release func(), err error) {
	e.life.RLock()
	if e.closed {
		e.life.RUnlock()
		return nil, ErrClosed
	}
	return e.life.RUnlock, nil
}

// IndexInfo describes one index.
type IndexInfo struct {
	Name string `json:"name"`
	Docs uint64 `json:"docs"`
}

// Indexes lists the indexes, sorted by name.
func (e *Engine) Indexes() ([]IndexInfo, error) {
	release, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	var out []IndexInfo
	for _, ix := range e.snapshot() {
		n, err := ix.bi.DocCount()
		if err != nil {
			return nil, fmt.Errorf("search: count %s: %w", ix.name, err)
		}
		out = append(out, IndexInfo{Name: ix.name, Docs: n})
	}
	return out, nil
}

// snapshot returns the open indexes sorted by name.
func (e *Engine) snapshot() []*index {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*index, 0, len(e.indexes))
	for _, ix := range e.indexes {
		out = append(out, ix)
	}
	slices.SortFunc(out, func(a, b *index) int { return strings.Compare(a.name, b.name) })
	return out
}

// open returns the index called name, creating it with the mapping of the
// matching index template if it does not exist.
func (e *Engine) open(name string) (*index, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ix := e.indexes[name]; ix != nil {
		return ix, nil
	}
	tpl := e.templates.match(name)
	m, err := buildMapping(tpl)
	if err != nil {
		return nil, err
	}
	bi, err := bleve.New(filepath.Join(e.dir, name), m)
	if err != nil {
		return nil, fmt.Errorf("search: create index %s: %w", name, err)
	}
	bi.SetName(name)
	ix := &index{name: name, bi: bi}
	e.indexes[name] = ix
	if tpl != nil {
		e.log.Info("index created", "index", name, "template", tpl.Name)
	} else {
		e.log.Info("index created", "index", name, "template", "none (dynamic mapping)")
	}
	return ix, nil
}

// Bulk writes actions as Elasticsearch's _bulk would and returns one
// result per action, in order (see the package documentation for the
// statuses). Its only error is ErrClosed.
func (e *Engine) Bulk(ctx context.Context, actions []transfer.Action) ([]transfer.Result, error) {
	release, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	results := make([]transfer.Result, len(actions))
	var order []string
	byIndex := map[string][]int{}
	for i, a := range actions {
		if _, ok := byIndex[a.Index]; !ok {
			order = append(order, a.Index)
		}
		byIndex[a.Index] = append(byIndex[a.Index], i)
	}
	for _, name := range order {
		positions := byIndex[name]
		if err := validIndexName(name); err != nil {
			for _, i := range positions {
				results[i] = transfer.Result{Status: http.StatusBadRequest, ErrorType: "invalid_index_name_exception", ErrorReason: err.Error()}
			}
			continue
		}
		ix, err := e.open(name)
		if err != nil {
			e.log.Error("cannot create index", "index", name, "err", err)
			for _, i := range positions {
				results[i] = unavailable(err)
			}
			continue
		}
		e.write(ctx, ix, actions, positions, results)
	}
	return results, nil
}

func unavailable(err error) transfer.Result {
	return transfer.Result{Status: http.StatusServiceUnavailable, ErrorType: "embedded_index_exception", ErrorReason: err.Error()}
}

// pending is one action on its way into a batch.
type pending struct {
	pos int
	id  string
	doc map[string]any
}

// write indexes the actions at positions, all of them for ix, in one bleve
// batch, and fills in their results.
func (e *Engine) write(ctx context.Context, ix *index, actions []transfer.Action, positions []int, results []transfer.Result) {
	ix.mu.Lock()
	defer ix.mu.Unlock()

	var todo []pending
	for _, i := range positions {
		a := actions[i]
		if a.Pipeline != "" {
			if _, seen := e.warned.LoadOrStore(a.Pipeline, true); !seen {
				e.log.Warn("the embedded index does not run ingest pipelines; documents are indexed as sent", "pipeline", a.Pipeline)
			}
		}
		doc, err := decodeSource(a.Doc)
		if err != nil {
			results[i] = transfer.Result{Status: http.StatusBadRequest, ErrorType: "mapper_parsing_exception", ErrorReason: err.Error()}
			continue
		}
		doc[sourceField] = string(a.Doc)
		id := a.ID
		if id == "" {
			id = newID()
		}
		todo = append(todo, pending{pos: i, id: id, doc: doc})
	}
	if len(todo) == 0 {
		return
	}

	ids := make([]string, len(todo))
	for k, p := range todo {
		ids[k] = p.id
	}
	exists, err := existing(ctx, ix.bi, ids)
	if err != nil {
		for _, p := range todo {
			results[p.pos] = unavailable(err)
		}
		return
	}
	b := ix.bi.NewBatch()
	var written []int
	for _, p := range todo {
		a := actions[p.pos]
		if exists[p.id] && a.Create {
			results[p.pos] = transfer.Result{
				Status:      http.StatusConflict,
				ErrorType:   "version_conflict_engine_exception",
				ErrorReason: fmt.Sprintf("[%s]: version conflict, document already exists", p.id),
			}
			continue
		}
		if err := b.Index(p.id, p.doc); err != nil {
			results[p.pos] = transfer.Result{Status: http.StatusBadRequest, ErrorType: "mapper_parsing_exception", ErrorReason: err.Error()}
			continue
		}
		if exists[p.id] {
			results[p.pos].Status = http.StatusOK
		} else {
			results[p.pos].Status = http.StatusCreated
		}
		// A later action of the same batch finds this one's document.
		exists[p.id] = true
		written = append(written, p.pos)
	}
	if len(written) == 0 {
		return
	}
	if err := ix.bi.Batch(b); err != nil {
		e.log.Error("index write failed", "index", ix.name, "docs", len(written), "err", err)
		for _, i := range written {
			results[i] = unavailable(err)
		}
	}
}

// existing returns which of ids the index holds.
func existing(ctx context.Context, bi bleve.Index, ids []string) (map[string]bool, error) {
	found := make(map[string]bool, len(ids))
	req := bleve.NewSearchRequestOptions(query.NewDocIDQuery(ids), len(ids), 0, false)
	req.Score = "none"
	res, err := bi.SearchInContext(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("search: look up document IDs: %w", err)
	}
	for _, h := range res.Hits {
		found[h.ID] = true
	}
	return found, nil
}

// decodeSource parses a document source, which must be a JSON object
// without metadata fields.
func decodeSource(raw []byte) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return nil, errors.New("failed to parse: the source is not a JSON object")
	}
	for k := range doc {
		if metadataFields[k] {
			return nil, fmt.Errorf("field [%s] is a metadata field and cannot be added inside a document", k)
		}
	}
	return doc, nil
}

// newID returns a random document ID, as Elasticsearch makes one for a
// document sent without.
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validIndexName applies Elasticsearch's rules for index names, which also
// keep every name a plain directory name.
func validIndexName(name string) error {
	switch {
	case name == "":
		return errors.New("invalid index name [], must not be empty")
	case name == "." || name == "..":
		return fmt.Errorf("invalid index name [%s], must not be '.' or '..'", name)
	case len(name) > api.MaxIndexNameBytes:
		return fmt.Errorf("invalid index name [%s], index name is too long, (%d > %d)", name, len(name), api.MaxIndexNameBytes)
	case strings.ContainsAny(name[:1], "-_+"):
		return fmt.Errorf("invalid index name [%s], must not start with '_', '-', or '+'", name)
	case strings.ContainsAny(name, `\/*?"<>|,#: `):
		return fmt.Errorf(`invalid index name [%s], must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, #, :]`, name)
	case strings.ToLower(name) != name:
		return fmt.Errorf("invalid index name [%s], must be lowercase", name)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("invalid index name [%q], must not contain control characters", name)
	}
	return nil
}
