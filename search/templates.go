package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// templatesFile holds the index templates, under the engine's directory.
const templatesFile = "_templates.json"

// storedTemplate is one composable index template as PUT.
type storedTemplate struct {
	Name string `json:"name"`
	// Body is the template as PUT; GET returns it as it is.
	Body json.RawMessage `json:"index_template"`

	patterns []string
	priority int64
	mappings json.RawMessage
}

// templateBody is the part of a PUT _index_template body the engine reads.
type templateBody struct {
	IndexPatterns json.RawMessage `json:"index_patterns"`
	Priority      *int64          `json:"priority"`
	Template      *struct {
		Mappings json.RawMessage `json:"mappings"`
	} `json:"template"`
}

func (t *storedTemplate) parse() error {
	var b templateBody
	if err := json.Unmarshal(t.Body, &b); err != nil {
		return fmt.Errorf("failed to parse template body: %v", err)
	}
	// index_patterns is a list or a single string.
	var one string
	switch {
	case len(b.IndexPatterns) == 0:
		return errors.New("index_patterns is missing")
	case json.Unmarshal(b.IndexPatterns, &one) == nil:
		t.patterns = []string{one}
	case json.Unmarshal(b.IndexPatterns, &t.patterns) != nil:
		return errors.New("index_patterns must be a string or a list of strings")
	}
	if len(t.patterns) == 0 {
		return errors.New("index_patterns must not be empty")
	}
	for _, p := range t.patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("index pattern %q: %v", p, err)
		}
	}
	if b.Priority != nil {
		t.priority = *b.Priority
	}
	if b.Template != nil {
		t.mappings = b.Template.Mappings
	}
	return nil
}

// matches reports whether the template applies to the index name.
func (t *storedTemplate) matches(name string) bool {
	for _, p := range t.patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// templateStore keeps the templates in memory and in one JSON file,
// replaced atomically on every change.
type templateStore struct {
	file   string
	mu     sync.Mutex
	byName map[string]*storedTemplate
}

func openTemplates(file string) (*templateStore, error) {
	s := &templateStore{file: file, byName: map[string]*storedTemplate{}}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("search: index templates: %w", err)
	}
	var list []*storedTemplate
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("search: index templates: %s: %w", file, err)
	}
	for _, t := range list {
		if err := t.parse(); err != nil {
			return nil, fmt.Errorf("search: index templates: %s: template %q: %w", file, t.Name, err)
		}
		s.byName[t.Name] = t
	}
	return s, nil
}

// match returns the template of highest priority (then first by name)
// that applies to the index name, or nil.
func (s *templateStore) match(name string) *storedTemplate {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *storedTemplate
	for _, t := range s.byName {
		if !t.matches(name) {
			continue
		}
		if best == nil || t.priority > best.priority || t.priority == best.priority && t.Name < best.Name {
			best = t
		}
	}
	return best
}

func (s *templateStore) get(name string) *storedTemplate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byName[name]
}

func (s *templateStore) put(t *storedTemplate) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.byName[t.Name]
	s.byName[t.Name] = t
	if err := s.save(); err != nil {
		if old != nil {
			s.byName[t.Name] = old
		} else {
			delete(s.byName, t.Name)
		}
		return err
	}
	return nil
}

func (s *templateStore) delete(name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byName[name]
	if !ok {
		return false, nil
	}
	delete(s.byName, name)
	if err := s.save(); err != nil {
		s.byName[name] = old
		return false, err
	}
	return true, nil
}

// save writes the templates to a temporary file and renames it over the
// old one, so a crash leaves the old or the new set, never half of one. The
// caller holds mu.
func (s *templateStore) save() error {
	list := make([]*storedTemplate, 0, len(s.byName))
	for _, t := range s.byName {
		list = append(list, t)
	}
	slices.SortFunc(list, func(a, b *storedTemplate) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.file), filepath.Base(s.file)+".tmp*")
	if err != nil {
		return fmt.Errorf("search: save index templates: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.file)
	}
	if err != nil {
		return fmt.Errorf("search: save index templates: %w", err)
	}
	return nil
}

// Templates returns a transport that answers the Elasticsearch index
// template requests (GET, PUT and DELETE /_index_template/NAME) from the
// engine, for the controller's IndexTemplate reconciler. A template applies
// to the indexes created after it, as in Elasticsearch. Every other request
// is answered 400.
func (e *Engine) Templates() esapi.Transport { return templateTransport{e.templates} }

type templateTransport struct{ s *templateStore }

// Perform answers one request.
func (tt templateTransport) Perform(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	name, ok := strings.CutPrefix(req.URL.Path, "/_index_template/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return esError(req, http.StatusBadRequest, "illegal_argument_exception",
			fmt.Sprintf("the embedded index answers only /_index_template/NAME, not %s %s", req.Method, req.URL.Path)), nil
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		t := tt.s.get(name)
		if t == nil {
			return esError(req, http.StatusNotFound, "resource_not_found_exception",
				fmt.Sprintf("index template matching [%s] not found", name)), nil
		}
		body, err := json.Marshal(map[string]any{"index_templates": []*storedTemplate{t}})
		if err != nil {
			return nil, err
		}
		return response(req, http.StatusOK, body), nil
	case http.MethodPut, http.MethodPost:
		var body []byte
		if req.Body != nil {
			b, err := io.ReadAll(req.Body)
			if err != nil {
				return nil, err
			}
			body = b
		}
		if !json.Valid(body) {
			return esError(req, http.StatusBadRequest, "parse_exception", "request body is not valid JSON"), nil
		}
		t := &storedTemplate{Name: name, Body: json.RawMessage(bytes.Clone(body))}
		if err := t.parse(); err != nil {
			return esError(req, http.StatusBadRequest, "illegal_argument_exception", err.Error()), nil
		}
		if _, err := buildMapping(t); err != nil {
			return esError(req, http.StatusBadRequest, "mapper_parsing_exception", err.Error()), nil
		}
		if err := tt.s.put(t); err != nil {
			return esError(req, http.StatusInternalServerError, "io_exception", err.Error()), nil
		}
		return response(req, http.StatusOK, []byte(`{"acknowledged":true}`)), nil
	case http.MethodDelete:
		found, err := tt.s.delete(name)
		if err != nil {
			return esError(req, http.StatusInternalServerError, "io_exception", err.Error()), nil
		}
		if !found {
			return esError(req, http.StatusNotFound, "resource_not_found_exception",
				fmt.Sprintf("index_template [%s] missing", name)), nil
		}
		return response(req, http.StatusOK, []byte(`{"acknowledged":true}`)), nil
	}
	return esError(req, http.StatusMethodNotAllowed, "illegal_argument_exception",
		fmt.Sprintf("method %s is not allowed on %s", req.Method, req.URL.Path)), nil
}

func response(req *http.Request, status int, body []byte) *http.Response {
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// esError answers as Elasticsearch does: {"error":{"type","reason"},"status"}.
func esError(req *http.Request, status int, typ, reason string) *http.Response {
	body, _ := json.Marshal(map[string]any{
		"error":  map[string]string{"type": typ, "reason": reason},
		"status": status,
	})
	return response(req, status, body)
}
