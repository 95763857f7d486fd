package v1alpha1

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	gotoken "go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pmezard/go-difflib/difflib"
)

// The -update flag rewrites docs/reference/specs.md instead of comparing it.
// It is registered only if no other test file of the package has done so.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the generated files with what the tests get")
	}
}

func refUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const (
	refSpecsPath  = "../../docs/reference/specs.md"
	refRegenerate = "go test ./api/... ./cmd/... -run Reference -update"
)

// refSource is what the package's doc comments say: the doc of every type
// and struct field, and the values of the string constants of each type
// (the enumerations).
type refSource struct {
	typeDoc  map[string]string
	fieldDoc map[string]map[string]string
	enums    map[string][]string
	consts   []*doc.Value
}

func refParse(t *testing.T) *refSource {
	t.Helper()
	fset := gotoken.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	pkg, err := doc.NewFromFiles(fset, files, "github.com/logpipe/logpipe/api/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	src := &refSource{typeDoc: map[string]string{}, fieldDoc: map[string]map[string]string{}, enums: map[string][]string{}, consts: pkg.Consts}
	for _, typ := range pkg.Types {
		src.typeDoc[typ.Name] = oneLine(typ.Doc)
		for _, spec := range typ.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok || ts.Name.Name != typ.Name {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			fields := map[string]string{}
			for _, f := range st.Fields.List {
				for _, n := range f.Names {
					fields[n.Name] = oneLine(f.Doc.Text())
				}
			}
			src.fieldDoc[typ.Name] = fields
		}
		for _, v := range typ.Consts {
			for _, spec := range v.Decl.Specs {
				for _, val := range spec.(*ast.ValueSpec).Values {
					if lit, ok := val.(*ast.BasicLit); ok && lit.Kind == gotoken.STRING {
						s, _ := strconv.Unquote(lit.Value)
						src.enums[typ.Name] = append(src.enums[typ.Name], s)
					}
				}
			}
		}
	}
	return src
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// refRow is one field of the reference.
type refRow struct {
	path, typ, def, doc string
	required            bool
	// goName is "TypeName.FieldName", to match the Default constants' docs.
	goName string
}

var (
	refDuration = reflect.TypeFor[Duration]()
	refTime     = reflect.TypeFor[time.Time]()
	refRaw      = reflect.TypeFor[json.RawMessage]()
)

// refWalk lists the fields of struct type typ under prefix, depth first,
// with the defaults found in def (the same struct after Default; invalid
// when the block is unset there).
func (src *refSource) refWalk(typ reflect.Type, def reflect.Value, prefix string, rows *[]refRow) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || f.Anonymous || opts == "inline" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		path := prefix + "." + name
		row := refRow{
			path:     path,
			goName:   typ.Name() + "." + f.Name,
			doc:      src.fieldDoc[typ.Name()][f.Name],
			required: !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero"),
		}
		if row.doc == "" {
			// An undocumented field is described by its struct's doc.
			row.doc = src.typeDoc[typ.Name()]
		}
		var fv reflect.Value
		if def.IsValid() {
			fv = def.Field(i)
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
			if fv.IsValid() {
				if fv.IsNil() {
					fv = reflect.Value{}
				} else {
					fv = fv.Elem()
				}
			}
		}
		var below func()
		switch {
		case ft == refDuration:
			row.typ = "duration"
			if fv.IsValid() && !fv.IsZero() {
				row.def = refDurationText(fv.Interface().(Duration).Duration)
			}
		case ft == refTime:
			row.typ = "time (RFC 3339)"
		case ft == refRaw:
			row.typ = "JSON object"
		case ft.Kind() == reflect.Struct:
			row.typ = "object"
			below = func() { src.refWalk(ft, fv, path, rows) }
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			row.typ = "[]object"
			below = func() { src.refWalk(ft.Elem(), reflect.Value{}, path+"[]", rows) }
		case ft.Kind() == reflect.Slice:
			row.typ = "[]" + refScalar(ft.Elem())
		case ft.Kind() == reflect.Map:
			row.typ = "map[" + refScalar(ft.Key()) + "]" + refScalar(ft.Elem())
		default:
			row.typ = refScalar(ft)
			if vals := src.enums[ft.Name()]; len(vals) > 0 && ft.Kind() == reflect.String {
				row.doc += " One of: `" + strings.Join(vals, "`, `") + "`."
			}
			if fv.IsValid() && !fv.IsZero() {
				row.def = refValueText(fv)
			}
		}
		*rows = append(*rows, row)
		if below != nil {
			below()
		}
	}
}

func refScalar(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

func refDurationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func refValueText(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		if n >= 1<<20 && n%(1<<20) == 0 {
			return fmt.Sprintf("%d (%d MiB)", n, n>>20)
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprint(v.Interface())
}

// refAllocBlocks sets every unset optional block (a pointer to a struct
// without a JSON form of its own, such as spec.multiline) to an empty one,
// so that Default fills in the defaults inside it too.
func refAllocBlocks(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		t := f.Type()
		switch {
		case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Elem() != refDuration && t.Elem() != refTime:
			if f.IsNil() {
				f.Set(reflect.New(t.Elem()))
			}
			refAllocBlocks(f.Elem())
		case t.Kind() == reflect.Struct && t != refDuration && t != refTime:
			refAllocBlocks(f)
		}
	}
}

// refKind describes one kind: who writes its status, and its Go type.
type refKind struct {
	kind          Kind
	statusWriters string
}

var refKinds = []refKind{
	{KindCollectEntry, "Every agent that tails the entry writes its own element of `status.agents` (on its lease, so it disappears when the agent stops)."},
	{KindTopic, "The controller writes the partitions, replication factor and conditions; every transfer that consumes the topic writes its own element of `status.consumers`."},
	{KindIndexTemplate, "The controller writes it."},
}

func refTable(b *bytes.Buffer, rows []refRow, withDefaults bool) {
	if withDefaults {
		b.WriteString("| Field | Type | Required | Default | Description |\n|---|---|---|---|---|\n")
	} else {
		b.WriteString("| Field | Type | Description |\n|---|---|---|\n")
	}
	for _, r := range rows {
		desc := strings.ReplaceAll(r.doc, "|", `\|`)
		if !withDefaults {
			fmt.Fprintf(b, "| `%s` | %s | %s |\n", r.path, r.typ, desc)
			continue
		}
		req, def := "", ""
		if r.required {
			req = "yes"
		}
		if r.def != "" {
			def = "`" + r.def + "`"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", r.path, r.typ, req, def, desc)
	}
	b.WriteString("\n")
}

// refGenerate writes the spec reference and returns the rows of every
// spec, for the checks of the Default constants.
func refGenerate(t *testing.T, src *refSource) ([]byte, map[string]refRow) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("<!-- Code generated by TestReferenceSpecFields in api/v1alpha1/reference_test.go; DO NOT EDIT. -->\n")
	b.WriteString("<!-- Regenerate: " + refRegenerate + " -->\n\n")
	b.WriteString("# Spec reference\n\n")
	b.WriteString("Every document has `apiVersion: " + APIVersion + "`, a `kind`, `metadata` and `spec`; " +
		"logpipe adds `status`. Documents are decoded strictly: an unknown field is an error. " +
		"**Required** fields must be set (inside their block, when the block is given). " +
		"**Default** is what logpipe fills in for an unset field, as `logpipectl get -o yaml` shows it. " +
		"Durations are Go duration strings such as `10s`, `5m` or `1h30m`.\n\n")
	for _, k := range refKinds {
		fmt.Fprintf(&b, "- [%s](#%s)\n", k.kind, strings.ToLower(string(k.kind)))
	}
	b.WriteString("- [metadata](#metadata)\n\n")

	specRows := map[string]refRow{}
	for _, k := range refKinds {
		obj, err := New(k.kind)
		if err != nil {
			t.Fatal(err)
		}
		obj.Meta().Name = "<name>"
		v := reflect.ValueOf(obj).Elem()
		spec := v.FieldByName("Spec")
		refAllocBlocks(spec)
		obj.Default()
		typ := v.Type()
		specField, _ := typ.FieldByName("Spec")
		statusField, _ := typ.FieldByName("Status")

		fmt.Fprintf(&b, "## %s\n\n%s\n\n", k.kind, src.typeDoc[typ.Name()])
		b.WriteString("### spec\n\n" + src.typeDoc[specField.Type.Name()] + "\n\n")
		var rows []refRow
		src.refWalk(specField.Type, spec, "spec", &rows)
		refTable(&b, rows, true)
		for _, r := range rows {
			specRows[r.goName] = r
		}
		b.WriteString("### status\n\n" + src.typeDoc[statusField.Type.Name()] + " " + k.statusWriters + "\n\n")
		rows = nil
		src.refWalk(statusField.Type, reflect.Value{}, "status", &rows)
		refTable(&b, rows, false)
	}
	b.WriteString("## metadata\n\n" + src.typeDoc["ObjectMeta"] + "\n\n")
	var rows []refRow
	src.refWalk(reflect.TypeFor[ObjectMeta](), reflect.Value{}, "metadata", &rows)
	refTable(&b, rows, false)
	return append(bytes.TrimRight(b.Bytes(), "\n"), '\n'), specRows
}

func TestReferenceSpecFields(t *testing.T) {
	src := refParse(t)
	got, _ := refGenerate(t, src)
	if refUpdate() {
		if err := os.WriteFile(refSpecsPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	committed, err := os.ReadFile(refSpecsPath)
	if err != nil {
		t.Fatalf("%v: generate it with: %s", err, refRegenerate)
	}
	if !bytes.Equal(committed, got) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A:        difflib.SplitLines(string(committed)),
			B:        difflib.SplitLines(string(got)),
			FromFile: "docs/reference/specs.md (committed)",
			ToFile:   "docs/reference/specs.md (generated from the code)",
			Context:  2,
		})
		t.Fatalf("docs/reference/specs.md is out of date with the API types; if the change is intended, regenerate it with\n\t%s\n%s", refRegenerate, diff)
	}
}

// TestReferenceDefaultsMatchConstants checks that each Default constant
// whose doc names the field it is the default of ("DefaultFormat is
// CollectEntrySpec.Format's default") holds the value Default fills in
// there, as the reference shows it.
func TestReferenceDefaultsMatchConstants(t *testing.T) {
	src := refParse(t)
	_, rows := refGenerate(t, src)
	named := regexp.MustCompile(`is (\w+)\.(\w+)'s default`)
	values := map[string]any{
		"DefaultFormat": DefaultFormat, "DefaultStartAt": DefaultStartAt, "DefaultMaxLineBytes": DefaultMaxLineBytes,
		"DefaultScanInterval": DefaultScanInterval, "DefaultCloseInactive": DefaultCloseInactive,
		"DefaultMultilineMatch": DefaultMultilineMatch, "DefaultMultilineMaxLines": DefaultMultilineMaxLines,
		"DefaultMultilineMaxBytes": DefaultMultilineMaxBytes, "DefaultMultilineFlushTimeout": DefaultMultilineFlushTimeout,
		"DefaultPartitions": DefaultPartitions, "DefaultReplicationFactor": DefaultReplicationFactor,
	}
	checked := 0
	for _, group := range src.consts {
		for _, spec := range group.Decl.Specs {
			vs := spec.(*ast.ValueSpec)
			m := named.FindStringSubmatch(oneLine(vs.Doc.Text()))
			if m == nil {
				continue
			}
			for _, n := range vs.Names {
				field := m[1] + "." + m[2]
				row, ok := rows[field]
				if !ok {
					t.Errorf("%s: its doc names %s, which is not a spec field", n.Name, field)
					continue
				}
				v, ok := values[n.Name]
				if !ok {
					t.Errorf("%s documents the default of %s but TestReferenceDefaultsMatchConstants does not know its value: add it to values", n.Name, field)
					continue
				}
				want := fmt.Sprint(v)
				switch v := v.(type) {
				case time.Duration:
					want = refDurationText(v)
				case int, int32, int64:
					want = refValueText(reflect.ValueOf(v))
				}
				if row.def != want {
					t.Errorf("%s = %s, but Default fills %s (%s) with %q", n.Name, want, field, row.path, row.def)
				}
				checked++
			}
		}
	}
	if want := len(values); checked != want {
		t.Errorf("checked %d Default constants against the reference, want %d", checked, want)
	}
}
