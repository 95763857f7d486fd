package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// StdinSource is the Source of documents read from standard input.
const StdinSource = "<stdin>"

// KindList is the kind of a document that wraps several objects in its
// items, as "logpipectl get -o yaml" prints them. It is not a resource kind:
// New rejects it and Kinds leaves it out.
const KindList Kind = "List"

// listAPIVersions are the apiVersions a List may carry: this API's, and the
// "v1" kubectl writes, so that lists edited by habit still decode.
var listAPIVersions = []string{APIVersion, "v1"}

// Document is one object decoded from a source.
type Document struct {
	// Source is the file path, or StdinSource.
	Source string
	// Index is the 1-based number of the document within the source; see
	// Decode for how documents are counted.
	Index int
	// Item is the 1-based position of the object within a List's items or
	// a top-level array, and 0 when the document is the object itself.
	Item int
	// Object is the decoded object, defaulted and valid.
	Object Object
}

// Location returns where the document is, as errors name it:
// "specs/web.yaml: document 2", or "all.json: document 1: item 3".
func (d Document) Location() string { return location(d.Source, d.Index, d.Item) }

func location(source string, index, item int) string {
	s := source
	if index > 0 {
		s += ": document " + strconv.Itoa(index)
	}
	if item > 0 {
		s += ": item " + strconv.Itoa(item)
	}
	return s
}

// DocumentError is a problem with one document, or with a whole source
// when Index is 0 (a file that cannot be read, a directory without spec
// files).
type DocumentError struct {
	// Source, Index and Item locate the problem as in Document; Index is 0
	// for a problem with the whole source, and Source is empty for one
	// with the input as a whole (no paths given).
	Source string
	Index  int
	Item   int
	// Err is a *ValidationError for problems with an object's fields, or a
	// syntax, read or duplicate error.
	Err error
}

// Error returns one line per problem, each prefixed with the location:
// `specs/bad.yaml: document 2: CollectEntry "web-app": spec.paths[1]:
// malformed glob "[a"`. An error that already names the source, such as
// "open specs/x.yaml: no such file or directory", is not prefixed again.
func (e *DocumentError) Error() string {
	var pe *fs.PathError
	if e.Index == 0 && errors.As(e.Err, &pe) && pe.Path == e.Source {
		return e.Err.Error()
	}
	prefix := location(e.Source, e.Index, e.Item)
	if prefix == "" {
		return e.Err.Error()
	}
	lines := strings.Split(e.Err.Error(), "\n")
	for i, l := range lines {
		lines[i] = prefix + ": " + l
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns Err.
func (e *DocumentError) Unwrap() error { return e.Err }

// DecodeError lists every problem found in the input of Decode, DecodeFile
// or DecodePaths, in input order.
type DecodeError struct {
	Errors []*DocumentError
}

// Error returns one line per problem, joined by "\n".
func (e *DecodeError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, de := range e.Errors {
		lines[i] = de.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the document errors, so that errors.As finds a
// *ValidationError and errors.Is finds fs.ErrNotExist.
func (e *DecodeError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, de := range e.Errors {
		errs[i] = de
	}
	return errs
}

// Decode reads every document of r, which is named source in errors, and
// returns the objects, each defaulted and validated.
//
// Input starting with '{' or '[' is JSON: one or more top-level values, each
// a document. Anything else is YAML, split into documents at lines that
// start with "---". Documents are numbered from 1 in the order they appear,
// counting every chunk between separators, even an empty or comment-only
// one (which is then skipped), except what precedes the first "---" when it
// holds nothing but comments and blank lines. So a file that opens with
// "---" or with a comment header and "---" starts with document 1 after
// that separator, as a reader counts.
//
// A document may be one object, a List (kind List with items), or an array
// of objects; Item then numbers the objects in it. Every object needs
// apiVersion logpipe.io/v1alpha1 and a known kind. Decoding is strict:
// unknown fields, fields whose case differs, duplicate keys and values of
// the wrong type are errors with their field paths. status, generation,
// resourceVersion and creationTimestamp are accepted, so that the output of
// "logpipectl get -o yaml" decodes; unknown fields inside status are
// dropped. In YAML a number or boolean given for a string field is taken as
// its text. Each object is then defaulted and validated, and two objects of
// the same kind and name are an error.
//
// On any problem Decode returns no documents and a *DecodeError listing
// every problem. Empty input gives no documents and no error.
func Decode(r io.Reader, source string) ([]Document, error) {
	d := newDecoder()
	data, err := io.ReadAll(r)
	if err != nil {
		d.fail(source, 0, 0, fmt.Errorf("read: %w", err))
	} else {
		d.decode(data, source)
	}
	return d.result()
}

// DecodeFile decodes the file at path as Decode does, with path as the
// source.
func DecodeFile(path string) ([]Document, error) {
	d := newDecoder()
	d.file(path)
	return d.result()
}

// DecodePaths decodes every document of the given paths as Decode does, and
// also rejects two objects of the same kind and name anywhere in them.
//
// A path is a file (read whatever its name), "-" for stdin (at most once),
// or a directory, searched recursively for files ending in .yaml, .yml or
// .json (in any case) in lexical order; inside it, files and directories
// whose names start with "." are skipped (.git, Kubernetes' ..data), and
// symbolic links to files are followed while links to directories are
// not. A file reached twice is read once. A directory without any such
// file is an error.
//
// Every problem of every path is collected; on any problem DecodePaths
// returns no documents and a *DecodeError, so that callers never apply
// part of a broken input.
func DecodePaths(paths []string, stdin io.Reader) ([]Document, error) {
	d := newDecoder()
	if len(paths) == 0 {
		d.fail("", 0, 0, errors.New(`no input: want a file, a directory or "-" for standard input`))
	}
	stdinRead := false
	for _, p := range paths {
		if p != "-" {
			d.path(p)
			continue
		}
		switch {
		case stdinRead:
			d.fail(StdinSource, 0, 0, errors.New(`"-" given more than once: standard input can be read only once`))
		case stdin == nil:
			d.fail(StdinSource, 0, 0, errors.New("no standard input to read"))
		default:
			stdinRead = true
			data, err := io.ReadAll(stdin)
			if err != nil {
				d.fail(StdinSource, 0, 0, fmt.Errorf("read: %w", err))
				continue
			}
			d.decode(data, StdinSource)
		}
	}
	return d.result()
}

// decoder accumulates the documents and problems of one Decode call.
type decoder struct {
	docs  []Document
	errs  []*DocumentError
	seen  map[string]string // "Kind/name" → location of its first document
	files map[string]bool   // cleaned paths already read
}

func newDecoder() *decoder {
	return &decoder{seen: map[string]string{}, files: map[string]bool{}}
}

func (d *decoder) fail(source string, index, item int, err error) {
	d.errs = append(d.errs, &DocumentError{Source: source, Index: index, Item: item, Err: err})
}

func (d *decoder) result() ([]Document, error) {
	if len(d.errs) > 0 {
		return nil, &DecodeError{Errors: d.errs}
	}
	return d.docs, nil
}

var specExtensions = []string{".json", ".yaml", ".yml"}

func (d *decoder) path(p string) {
	f, err := os.Open(p)
	if err != nil {
		d.fail(p, 0, 0, err)
		return
	}
	info, err := f.Stat()
	f.Close()
	if err != nil {
		d.fail(p, 0, 0, err)
		return
	}
	if !info.IsDir() {
		d.file(p)
		return
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			d.fail(path, 0, 0, err)
			return nil
		}
		hidden := path != p && strings.HasPrefix(e.Name(), ".")
		if e.IsDir() {
			if hidden {
				return filepath.SkipDir
			}
			return nil
		}
		if hidden || !slices.Contains(specExtensions, strings.ToLower(filepath.Ext(path))) {
			return nil
		}
		if e.Type()&fs.ModeSymlink != 0 {
			target, err := os.Stat(path)
			if err != nil {
				d.fail(path, 0, 0, err)
				return nil
			}
			if !target.Mode().IsRegular() {
				return nil
			}
		} else if !e.Type().IsRegular() {
			return nil
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		d.fail(p, 0, 0, err)
	}
	if len(files) == 0 {
		d.fail(p, 0, 0, errors.New("no .json, .yaml or .yml files in directory"))
	}
	for _, f := range files {
		d.file(f)
	}
}

func (d *decoder) file(path string) {
	clean := filepath.Clean(path)
	if d.files[clean] {
		return
	}
	d.files[clean] = true
	data, err := os.ReadFile(path)
	if err != nil {
		d.fail(path, 0, 0, err)
		return
	}
	d.decode(data, path)
}

// decode decodes every document of one source.
func (d *decoder) decode(data []byte, source string) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		d.decodeJSON(data, source)
		return
	}
	for _, c := range splitYAML(data) {
		if !c.content {
			continue
		}
		// Blank lines in front make the parser's line numbers count from
		// the top of the file instead of the top of the document.
		padded := append(bytes.Repeat([]byte("\n"), c.line-1), c.text...)
		j, err := yaml.YAMLToJSONStrict(padded)
		if err != nil {
			d.fail(source, c.index, 0, yamlError(err))
			continue
		}
		v, err := readJSON(json.NewDecoder(bytes.NewReader(j)), nil)
		if err != nil {
			d.fail(source, c.index, 0, err)
			continue
		}
		d.document(v, source, c.index, true)
	}
}

func (d *decoder) decodeJSON(data []byte, source string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for index := 1; ; index++ {
		v, err := readJSON(dec, data)
		if err == io.EOF {
			return
		}
		if err != nil {
			// The stream cannot be resynchronised after a syntax error,
			// so the rest of the source is not read.
			d.fail(source, index, 0, err)
			return
		}
		d.document(v, source, index, false)
	}
}

// document decodes one top-level value: an object, a List or an array.
func (d *decoder) document(v any, source string, index int, fromYAML bool) {
	switch x := v.(type) {
	case nil:
		return
	case []any:
		for i, item := range x {
			d.object(item, source, index, i+1, fromYAML, false)
		}
		return
	case map[string]any:
		if x["kind"] == string(KindList) {
			d.list(x, source, index, fromYAML)
			return
		}
	}
	d.object(v, source, index, 0, fromYAML, true)
}

func (d *decoder) list(m map[string]any, source string, index int, fromYAML bool) {
	var fe fieldErrors
	switch v := m["apiVersion"].(type) {
	case nil:
		fe.add("apiVersion", "required: want %q", APIVersion)
	case string:
		if !slices.Contains(listAPIVersions, v) {
			fe.add("apiVersion", "unsupported version %q: want %q", v, APIVersion)
		}
	default:
		fe.add("apiVersion", "must be a string, got %s", describe(v))
	}
	for _, k := range sortedKeys(m) {
		switch k {
		case "apiVersion", "kind":
		case "metadata":
			if _, ok := m[k].(map[string]any); !ok && m[k] != nil {
				fe.add(k, "must be an object, got %s", describe(m[k]))
			}
		case "items":
		default:
			fe.add(k, "unknown field: want one of apiVersion, items, kind, metadata")
		}
	}
	items, ok := m["items"].([]any)
	if !ok && m["items"] != nil {
		fe.add("items", "must be an array, got %s", describe(m["items"]))
	}
	if len(fe) > 0 {
		d.fail(source, index, 0, fe.result(KindList, ""))
	}
	for i, item := range items {
		d.object(item, source, index, i+1, fromYAML, false)
	}
}

// object decodes, defaults and validates one object and records it.
func (d *decoder) object(v any, source string, index, item int, fromYAML, listAllowed bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(source, index, item, fmt.Errorf("want an object with apiVersion, kind, metadata and spec, got %s", describe(v)))
		return
	}
	name := nameOf(m)
	var header fieldErrors
	switch v := m["apiVersion"].(type) {
	case nil:
		header.add("apiVersion", "required: want %q", APIVersion)
	case string:
		if v != APIVersion {
			header.add("apiVersion", "unsupported version %q: want %q", v, APIVersion)
		}
	default:
		header.add("apiVersion", "must be a string, got %s", describe(v))
	}
	kinds := Kinds()
	if listAllowed {
		kinds = append(kinds, KindList)
	}
	var obj Object
	switch k := m["kind"].(type) {
	case nil:
		header.add("kind", "required: want one of %s", oneOf(kinds...))
	case string:
		if slices.Contains(Kinds(), Kind(k)) {
			obj, _ = New(Kind(k))
		} else {
			header.add("kind", "unknown kind %q: want one of %s", k, oneOf(kinds...))
		}
	default:
		header.add("kind", "must be a string, got %s", describe(k))
	}
	if obj == nil {
		d.fail(source, index, item, header.result("", name))
		return
	}
	kind := obj.ObjectKind()

	body := make(map[string]any, len(m))
	for k, v := range m {
		if k != "apiVersion" && k != "kind" {
			body[k] = v
		}
	}
	c := &strictChecker{yaml: fromYAML, errs: header}
	clean := c.check("", body, reflect.TypeOf(obj).Elem(), false)
	j, err := json.Marshal(clean)
	if err == nil {
		err = json.Unmarshal(j, obj)
	}
	if err != nil {
		// The checker lets through only what the types accept, so this
		// is a bug rather than a user's mistake; report it all the same.
		c.errs.add("", "cannot decode: %v", err)
	}
	obj.Default()
	fe := c.errs
	var ve *ValidationError
	if err := obj.Validate(); errors.As(err, &ve) {
		for _, e := range ve.Errors {
			if !covered(e.Field, c.rejected) {
				fe = append(fe, e)
			}
		}
	}
	if err := fe.result(kind, name); err != nil {
		d.fail(source, index, item, err)
		return
	}
	key := string(kind) + "/" + obj.Meta().Name
	here := location(source, index, item)
	if first, dup := d.seen[key]; dup {
		d.fail(source, index, item, fmt.Errorf("%s %q: already defined at %s", kind, obj.Meta().Name, first))
		return
	}
	d.seen[key] = here
	d.docs = append(d.docs, Document{Source: source, Index: index, Item: item, Object: obj})
}

// nameOf returns metadata.name when it is a string, for naming the object
// in errors even when the rest of it does not decode.
func nameOf(m map[string]any) string {
	meta, _ := m["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	return name
}

// covered reports whether a validation problem at field is a consequence of
// a decoding problem already reported at a rejected field or above it: a
// field that did not decode is left unset, and saying it is also
// "required" would only add noise.
func covered(field string, rejected []string) bool {
	for _, p := range rejected {
		if field == p || strings.HasPrefix(field, p+".") || strings.HasPrefix(field, p+"[") {
			return true
		}
	}
	return false
}

// yamlChunk is one "---"-separated document of a YAML stream.
type yamlChunk struct {
	index   int  // 1-based document number
	line    int  // 1-based line of the file where text starts
	content bool // whether text holds anything besides comments and blanks
	text    []byte
}

// splitYAML splits a YAML stream at lines starting with "---" followed by
// nothing or white space, numbering the documents as Decode documents it.
// Text after "--- " on the separator line belongs to the next document.
func splitYAML(data []byte) []yamlChunk {
	var chunks []yamlChunk
	cur := yamlChunk{index: 1, line: 1}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		body := line
		if rest, ok := bytes.CutPrefix(line, []byte("---")); ok {
			if t := bytes.TrimRight(rest, "\r\n"); len(t) == 0 || t[0] == ' ' || t[0] == '\t' {
				chunks = append(chunks, cur)
				// The marker stays at the top of the new document: the
				// parser reads it as an explicit document start, along
				// with anything after it such as "--- |".
				cur = yamlChunk{index: cur.index + 1, line: lineNo}
				body = rest
			}
		}
		cur.text = append(cur.text, line...)
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] != '#' {
			cur.content = true
		}
	}
	chunks = append(chunks, cur)
	// Comments and blank lines before the first separator are a preamble,
	// not a document.
	if len(chunks) > 1 && !chunks[0].content {
		chunks = chunks[1:]
		for i := range chunks {
			chunks[i].index--
		}
	}
	return chunks
}

// yamlError puts the parser's message on one line.
func yamlError(err error) error {
	msg := strings.Replace(err.Error(), "unmarshal errors:\n  ", "", 1)
	return errors.New(strings.ReplaceAll(msg, "\n  ", "; "))
}

// readJSON reads one JSON value from dec into maps, slices, strings,
// json.Number, bools and nil, rejecting duplicate object keys, which
// encoding/json would silently resolve to the last. src, when not nil, is
// the whole input, for turning offsets into lines in errors. It returns
// io.EOF when no value is left.
func readJSON(dec *json.Decoder, src []byte) (any, error) {
	dec.UseNumber()
	v, err := readJSONValue(dec, src)
	if err != nil && err != io.EOF {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se) && src != nil:
			return nil, fmt.Errorf("%s: %v", position(src, se.Offset), se)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, errors.New("unexpected end of JSON input")
		}
	}
	return v, err
}

func readJSONValue(dec *json.Decoder, src []byte) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	delim, ok := t.(json.Delim)
	if !ok {
		return t, nil
	}
	switch delim {
	case '{':
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, unexpectedEOF(err)
			}
			k := kt.(string)
			if _, dup := m[k]; dup {
				where := "duplicate key"
				if src != nil {
					where = position(src, dec.InputOffset()) + ": duplicate key"
				}
				return nil, fmt.Errorf("%s %q", where, k)
			}
			v, err := readJSONValue(dec, src)
			if err != nil {
				return nil, unexpectedEOF(err)
			}
			m[k] = v
		}
		if _, err := dec.Token(); err != nil {
			return nil, unexpectedEOF(err)
		}
		return m, nil
	case '[':
		s := []any{}
		for dec.More() {
			v, err := readJSONValue(dec, src)
			if err != nil {
				return nil, unexpectedEOF(err)
			}
			s = append(s, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, unexpectedEOF(err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("unexpected %q", delim)
}

// unexpectedEOF turns io.EOF inside a value into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// position turns a byte offset of src into "line L, column C" (1-based).
func position(src []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(src)))
	before := src[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, col)
}
