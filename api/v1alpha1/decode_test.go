package v1alpha1

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// summary lists where each document came from and what it is, for
// comparing decoded documents in one line each.
func summary(docs []Document) []string {
	var s []string
	for _, d := range docs {
		s = append(s, d.Location()+": "+Ref(d.Object))
	}
	return s
}

const (
	topicDoc = "apiVersion: logpipe.io/v1alpha1\nkind: Topic\nmetadata:\n  name: %s\n"
	entryDoc = `apiVersion: logpipe.io/v1alpha1
kind: CollectEntry
metadata:
  name: web-app
spec:
  paths: [/var/log/web/*.log]
  topic: web_log
`
)

func topicYAML(name string) string { return strings.ReplaceAll(topicDoc, "%s", name) }

func TestDecodeDocuments(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"one document", entryDoc, []string{"in.yaml: document 1: collectentry/web-app"}},
		{"two documents", topicYAML("a") + "---\n" + topicYAML("b"),
			[]string{"in.yaml: document 1: topic/a", "in.yaml: document 2: topic/b"}},
		{"leading separator is not a document", "---\n" + topicYAML("a") + "---\n" + topicYAML("b"),
			[]string{"in.yaml: document 1: topic/a", "in.yaml: document 2: topic/b"}},
		{"comment header before the first separator", "# header\n\n---\n" + topicYAML("a"),
			[]string{"in.yaml: document 1: topic/a"}},
		{"empty and comment-only documents count", topicYAML("a") + "---\n---\n# nothing\n---   # trailing comment\n\n---\n" + topicYAML("b") + "---\n",
			[]string{"in.yaml: document 1: topic/a", "in.yaml: document 5: topic/b"}},
		{"windows line endings", strings.ReplaceAll(topicYAML("a")+"---\n"+topicYAML("b"), "\n", "\r\n"),
			[]string{"in.yaml: document 1: topic/a", "in.yaml: document 2: topic/b"}},
		{"byte order mark", "\ufeff" + topicYAML("a"), []string{"in.yaml: document 1: topic/a"}},
		{"separator with content", "--- {apiVersion: logpipe.io/v1alpha1, kind: Topic, metadata: {name: a}}\n",
			[]string{"in.yaml: document 1: topic/a"}},
		{"YAML sequence", "- " + strings.ReplaceAll(topicYAML("a"), "\n", "\n  ") + "\n- " + strings.ReplaceAll(topicYAML("b"), "\n", "\n  "),
			[]string{"in.yaml: document 1: item 1: topic/a", "in.yaml: document 1: item 2: topic/b"}},
		{"YAML List", "apiVersion: logpipe.io/v1alpha1\nkind: List\nitems:\n- " + strings.ReplaceAll(topicYAML("a"), "\n", "\n  "),
			[]string{"in.yaml: document 1: item 1: topic/a"}},
		{"kubectl List", "apiVersion: v1\nkind: List\nmetadata: {}\nitems: []\n", nil},
		{"JSON object", `{"apiVersion":"logpipe.io/v1alpha1","kind":"Topic","metadata":{"name":"a"}}`,
			[]string{"in.yaml: document 1: topic/a"}},
		{"JSON stream", `{"apiVersion":"logpipe.io/v1alpha1","kind":"Topic","metadata":{"name":"a"}}
{"apiVersion":"logpipe.io/v1alpha1","kind":"Topic","metadata":{"name":"b"}}`,
			[]string{"in.yaml: document 1: topic/a", "in.yaml: document 2: topic/b"}},
		{"JSON array", ` [{"apiVersion":"logpipe.io/v1alpha1","kind":"Topic","metadata":{"name":"a"}},
 {"apiVersion":"logpipe.io/v1alpha1","kind":"Topic","metadata":{"name":"b"}}]`,
			[]string{"in.yaml: document 1: item 1: topic/a", "in.yaml: document 1: item 2: topic/b"}},
		{"JSON List", `{"apiVersion":"logpipe.io/v1alpha1","kind":"List","items":[
 {"apiVersion":"logpipe.io/v1alpha1","kind":"IndexTemplate","metadata":{"name":"web"},"spec":{"indexPatterns":["web-*"]}}]}`,
			[]string{"in.yaml: document 1: item 1: indextemplate/web"}},
		{"empty input", "", nil},
		{"only comments", "# nothing yet\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Decode(strings.NewReader(tt.in), "in.yaml")
			if err != nil {
				t.Fatalf("Decode(%q) error:\n%v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, summary(docs)); diff != "" {
				t.Errorf("Decode(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"unknown nested field", topicYAML("a") + "---\n" + entryDoc + "  multiline:\n    pattern: x\n    maxLine: 10\n",
			`specs/bad.yaml: document 2: CollectEntry "web-app": spec.multiline.maxLine: unknown field: want one of flushTimeout, match, maxBytes, maxLines, negate, pattern`},
		{"unknown top-level field", entryDoc + "sepc: {}\n",
			`specs/bad.yaml: document 1: CollectEntry "web-app": sepc: unknown field: want one of apiVersion, kind, metadata, spec, status`},
		{"unknown metadata field", strings.Replace(entryDoc, "  name: web-app\n", "  name: web-app\n  namespace: default\n", 1),
			`specs/bad.yaml: document 1: CollectEntry "web-app": metadata.namespace: unknown field: want one of annotations, creationTimestamp, generation, labels, name, resourceVersion`},
		{"field name case", strings.Replace(entryDoc, "topic:", "Topic:", 1),
			`specs/bad.yaml: document 1: CollectEntry "web-app": spec.Topic: unknown field: field names are case-sensitive, did you mean "topic"?`},
		{"unknown field in a selector requirement", entryDoc + "  agentSelector:\n    matchExpressions:\n    - {key: role, op: In}\n",
			`specs/bad.yaml: document 1: CollectEntry "web-app": spec.agentSelector.matchExpressions[0].op: unknown field: want one of key, operator, values` + "\n" +
				`specs/bad.yaml: document 1: CollectEntry "web-app": spec.agentSelector.matchExpressions[0].operator: required: want one of DoesNotExist, Exists, In, NotIn`},
		{"wrong apiVersion", strings.Replace(topicYAML("web_log"), "v1alpha1", "v1", 1),
			`specs/bad.yaml: document 1: Topic "web_log": apiVersion: unsupported version "logpipe.io/v1": want "logpipe.io/v1alpha1"`},
		{"missing apiVersion", strings.Replace(topicYAML("web_log"), "apiVersion: logpipe.io/v1alpha1\n", "", 1),
			`specs/bad.yaml: document 1: Topic "web_log": apiVersion: required: want "logpipe.io/v1alpha1"`},
		{"unknown kind", "---\n" + strings.Replace(topicYAML("web_log"), "Topic", "Topics", 1),
			`specs/bad.yaml: document 1: kind: unknown kind "Topics": want one of CollectEntry, IndexTemplate, List, Topic`},
		{"missing kind and apiVersion", "metadata: {name: x}\n",
			`specs/bad.yaml: document 1: apiVersion: required: want "logpipe.io/v1alpha1"` + "\n" +
				`specs/bad.yaml: document 1: kind: required: want one of CollectEntry, IndexTemplate, List, Topic`},
		{"kind not a string", "apiVersion: logpipe.io/v1alpha1\nkind: [Topic]\n",
			`specs/bad.yaml: document 1: kind: must be a string, got array`},
		{"not an object", "just text\n",
			`specs/bad.yaml: document 1: want an object with apiVersion, kind, metadata and spec, got string "just text"`},
		{"YAML syntax error names the file's line", topicYAML("a") + "---\n" + topicYAML("b") + "spec:\n  config: [a\n",
			`specs/bad.yaml: document 2: yaml: line 11: did not find expected ',' or ']'`},
		{"YAML duplicate key", topicYAML("a") + "---\n" + topicYAML("b") + "metadata: {}\n",
			`specs/bad.yaml: document 2: yaml: line 10: key "metadata" already set in map`},
		{"dashes that are not a separator", topicYAML("a") + "  labels: {x: y}\n----\n",
			`specs/bad.yaml: document 1: yaml: line 7: could not find expected ':'`},
		{"YAML tab indentation", "apiVersion: logpipe.io/v1alpha1\n\tkind: Topic\n",
			`specs/bad.yaml: document 1: yaml: line 2: found a tab character that violates indentation`},
		{"JSON syntax error", "{\"apiVersion\": \"logpipe.io/v1alpha1\",\n \"kind\": \"Topic\",\n \"metadata\": {\"name\": \"a\",}}",
			`specs/bad.yaml: document 1: line 3, column 27: invalid character '}' looking for beginning of object key string`},
		{"JSON truncated", `{"apiVersion": "logpipe.io/v1alpha1", "kind": "Topic"`,
			`specs/bad.yaml: document 1: unexpected end of JSON input`},
		{"JSON duplicate key", "{\"apiVersion\": \"logpipe.io/v1alpha1\", \"kind\": \"Topic\",\n \"metadata\": {\"name\": \"a\", \"name\": \"b\"}}",
			`specs/bad.yaml: document 1: line 2, column 34: duplicate key "name"`},
		{"JSON string expected", `{"apiVersion":"logpipe.io/v1alpha1","kind":"Topic","metadata":{"name":"a","labels":{"v":1}},"spec":{"config":{"retention.ms":604800000}}}`,
			`specs/bad.yaml: document 1: Topic "a": metadata.labels["v"]: must be a string, got number 1` + "\n" +
				`specs/bad.yaml: document 1: Topic "a": spec.config["retention.ms"]: must be a string, got number 604800000`},
		{"integer as string", topicYAML("a") + "spec:\n  partitions: \"3\"\n",
			`specs/bad.yaml: document 1: Topic "a": spec.partitions: must be an integer, got string "3"`},
		{"fraction", topicYAML("a") + "spec:\n  partitions: 1.5\n",
			`specs/bad.yaml: document 1: Topic "a": spec.partitions: must be an integer, got number 1.5`},
		{"out of range", topicYAML("a") + "spec:\n  replicationFactor: 40000\n",
			`specs/bad.yaml: document 1: Topic "a": spec.replicationFactor: must be an integer from -32768 to 32767, got 40000`},
		{"object expected", topicYAML("a") + "spec: [1]\n",
			`specs/bad.yaml: document 1: Topic "a": spec: must be an object, got array`},
		{"array expected", entryDoc + "  exclude: '*.gz'\n",
			`specs/bad.yaml: document 1: CollectEntry "web-app": spec.exclude: must be an array, got string "*.gz"`},
		{"boolean expected", topicYAML("a") + "spec:\n  index: {name: web, dataStream: \"yes\"}\n",
			`specs/bad.yaml: document 1: Topic "a": spec.index.dataStream: must be true or false, got string "yes"`},
		{"bad duration", entryDoc + "  scanInterval: 10\n  closeInactive: 5 minutes\n",
			`specs/bad.yaml: document 1: CollectEntry "web-app": spec.closeInactive: invalid duration "5 minutes": want a string such as "10s" or "5m"` + "\n" +
				`specs/bad.yaml: document 1: CollectEntry "web-app": spec.scanInterval: must be a duration such as "10s" or "5m", got number 10`},
		{"bad time", strings.Replace(topicYAML("a"), "  name: a\n", "  name: a\n  creationTimestamp: yesterday\n", 1),
			`specs/bad.yaml: document 1: Topic "a": metadata.creationTimestamp: must be an RFC 3339 time such as "2026-12-06T10:00:00Z", got string "yesterday"`},
		{"validation after decoding", "# header\n---\n" + topicYAML("web_log") + "---\n" + strings.Replace(entryDoc, "[/var/log/web/*.log]", `[/var/log/web/*.log, "/var/log/[a"]`, 1),
			`specs/bad.yaml: document 2: CollectEntry "web-app": spec.paths[1]: malformed glob "/var/log/[a"`},
		{"decoding and validation problems together", "apiVersion: logpipe.io/v1alpha1\nkind: CollectEntry\nmetadata: {labels: {a: b}}\nspec:\n  paths: [/x]\n  topic: [web_log]\n  format: xml\n  extra: 1\n",
			`specs/bad.yaml: document 1: CollectEntry: spec.extra: unknown field: want one of agentSelector, closeInactive, exclude, excludeLines, fields, format, includeLines, maxLineBytes, multiline, paths, scanInterval, startAt, topic` + "\n" +
				`specs/bad.yaml: document 1: CollectEntry: spec.topic: must be a string, got array` + "\n" +
				`specs/bad.yaml: document 1: CollectEntry: metadata.name: required` + "\n" +
				`specs/bad.yaml: document 1: CollectEntry: spec.format: unknown format "xml": want one of json, text`},
		{"metadata not an object", "apiVersion: logpipe.io/v1alpha1\nkind: Topic\nmetadata: web_log\n",
			`specs/bad.yaml: document 1: Topic: metadata: must be an object, got string "web_log"`},
		{"problems in list items", `{"apiVersion":"logpipe.io/v1alpha1","kind":"List","items":[
 {"apiVersion":"logpipe.io/v1alpha1","kind":"Topic","metadata":{"name":"ok"}},
 {"apiVersion":"logpipe.io/v1alpha1","kind":"Topic","metadata":{"name":"bad name"}},
 {"apiVersion":"logpipe.io/v1alpha1","kind":"List","items":[]},
 "text"]}`,
			`specs/bad.yaml: document 1: item 2: Topic "bad name": metadata.name: invalid topic name "bad name": " " at position 4 is not allowed: want only ASCII letters, digits, '.', '_' and '-'` + "\n" +
				`specs/bad.yaml: document 1: item 3: kind: unknown kind "List": want one of CollectEntry, IndexTemplate, Topic` + "\n" +
				`specs/bad.yaml: document 1: item 4: want an object with apiVersion, kind, metadata and spec, got string "text"`},
		{"bad List", "apiVersion: logpipe.io/v2\nkind: List\nitems: {}\nmore: 1\n",
			`specs/bad.yaml: document 1: List: apiVersion: unsupported version "logpipe.io/v2": want "logpipe.io/v1alpha1"` + "\n" +
				`specs/bad.yaml: document 1: List: more: unknown field: want one of apiVersion, items, kind, metadata` + "\n" +
				`specs/bad.yaml: document 1: List: items: must be an array, got object`},
		{"duplicate in one source", topicYAML("a") + "---\n" + topicYAML("a"),
			`specs/bad.yaml: document 2: Topic "a": already defined at specs/bad.yaml: document 1`},
		{"duplicate within a list", `[{"apiVersion":"logpipe.io/v1alpha1","kind":"Topic","metadata":{"name":"a"}},{"apiVersion":"logpipe.io/v1alpha1","kind":"Topic","metadata":{"name":"a"}}]`,
			`specs/bad.yaml: document 1: item 2: Topic "a": already defined at specs/bad.yaml: document 1: item 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Decode(strings.NewReader(tt.in), "specs/bad.yaml")
			if got := errText(err); got != tt.want {
				t.Errorf("Decode(%q)\n got: %s\nwant: %s", tt.in, got, tt.want)
			}
			if docs != nil {
				t.Errorf("Decode(%q) returned documents %v along with an error", tt.in, summary(docs))
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Errorf("Decode(%q) error is %T, want *DecodeError", tt.in, err)
			}
		})
	}
}

// TestDecodeYAMLScalarsAsStrings checks that YAML numbers and booleans
// given for string fields are kept as their text, as sigs.k8s.io/yaml does,
// while raw JSON blocks keep their types.
func TestDecodeYAMLScalarsAsStrings(t *testing.T) {
	in := `apiVersion: logpipe.io/v1alpha1
kind: Topic
metadata:
  name: 2026
  labels: {version: 1.5, enabled: true}
spec:
  config:
    retention.ms: 604800000
    min.cleanable.dirty.ratio: 0.5
  index: {name: web, pipeline: 7}
`
	docs, err := Decode(strings.NewReader(in), "in.yaml")
	if err != nil {
		t.Fatalf("Decode(%q) error:\n%v", in, err)
	}
	got := docs[0].Object.(*Topic)
	want := &Topic{
		TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: "Topic"},
		Metadata: ObjectMeta{Name: "2026", Labels: map[string]string{"version": "1.5", "enabled": "true"}},
		Spec: TopicSpec{
			Partitions: 1, ReplicationFactor: -1, DeletionPolicy: DeletionRetain,
			Config: map[string]string{"retention.ms": "604800000", "min.cleanable.dirty.ratio": "0.5"},
			Index:  &TopicIndex{Name: "web", Pipeline: "7", DeadLetterTopic: "2026.dlq"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode(%q) (-want +got):\n%s", in, diff)
	}

	in = `apiVersion: logpipe.io/v1alpha1
kind: IndexTemplate
metadata: {name: web}
spec:
  indexPatterns: [web-*]
  template:
    settings: {number_of_shards: 1, codec: best_compression, hidden: false}
    mappings: null
`
	docs, err = Decode(strings.NewReader(in), "in.yaml")
	if err != nil {
		t.Fatalf("Decode(%q) error:\n%v", in, err)
	}
	tmpl := docs[0].Object.(*IndexTemplate)
	if got, want := string(tmpl.Spec.Template.Settings), `{"codec":"best_compression","hidden":false,"number_of_shards":1}`; got != want {
		t.Errorf("Decode(%q) settings = %s, want %s", in, got, want)
	}
	if tmpl.Spec.Template.Mappings != nil {
		t.Errorf("Decode(%q) mappings = %s, want unset for null", in, tmpl.Spec.Template.Mappings)
	}
}

// TestDecodeAcceptsGetOutput checks that status and the metadata the store
// sets decode, and that unknown status fields are dropped.
func TestDecodeAcceptsGetOutput(t *testing.T) {
	in := `apiVersion: logpipe.io/v1alpha1
kind: Topic
metadata:
  name: web_log
  generation: 4
  resourceVersion: 1812
  creationTimestamp: "2026-12-01T10:00:00Z"
spec:
  partitions: 3
status:
  observedGeneration: 4
  partitions: 3
  fromANewerVersion: {x: 1}
  conditions:
  - {type: Ready, status: "True", reason: Reconciled, lastTransitionTime: "2026-12-01T10:00:05Z"}
`
	docs, err := Decode(strings.NewReader(in), "in.yaml")
	if err != nil {
		t.Fatalf("Decode(%q) error:\n%v", in, err)
	}
	want := &Topic{
		TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: "Topic"},
		Metadata: ObjectMeta{Name: "web_log", Generation: 4, ResourceVersion: 1812, CreationTimestamp: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		Spec:     TopicSpec{Partitions: 3, ReplicationFactor: -1, DeletionPolicy: DeletionRetain},
		Status: TopicStatus{
			ObservedGeneration: 4,
			Partitions:         3,
			Conditions:         []Condition{{Type: "Ready", Status: ConditionTrue, Reason: "Reconciled", LastTransitionTime: time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC)}},
		},
	}
	if diff := cmp.Diff(want, docs[0].Object); diff != "" {
		t.Errorf("Decode(%q) (-want +got):\n%s", in, diff)
	}
}

func TestDecodePathsDirectory(t *testing.T) {
	docs, err := DecodePaths([]string{"testdata/specs"}, nil)
	if err != nil {
		t.Fatalf("DecodePaths(testdata/specs) error:\n%v", err)
	}
	want := []string{
		"testdata/specs/10-topics.yaml: document 1: topic/web_log",
		"testdata/specs/10-topics.yaml: document 3: topic/web_log.dlq",
		"testdata/specs/20-entry.json: document 1: collectentry/web-app",
		"testdata/specs/list.yml: document 1: item 1: indextemplate/web",
		"testdata/specs/list.yml: document 1: item 2: collectentry/api",
		"testdata/specs/nested/array.json: document 1: item 1: topic/api_log",
		"testdata/specs/nested/array.json: document 1: item 2: topic/api_log.dlq",
		"testdata/specs/nested/deeper/template.YAML: document 1: indextemplate/api",
	}
	if diff := cmp.Diff(want, summary(docs)); diff != "" {
		t.Errorf("DecodePaths(testdata/specs) (-want +got):\n%s", diff)
	}
	// Spot-check that decoding went beyond the names.
	entry := docs[2].Object.(*CollectEntry)
	wantSpec := CollectEntrySpec{
		Paths:         []string{"/var/log/web/**/*.log"},
		Exclude:       []string{"/var/log/web/**/*.gz"},
		Topic:         "web_log",
		AgentSelector: &LabelSelector{MatchLabels: map[string]string{"role": "web"}},
		Format:        FormatJSON,
		Multiline:     &Multiline{Pattern: `^\s`, Match: MultilineAfter, MaxLines: 500, MaxBytes: 10 << 20, FlushTimeout: dur(5 * time.Second)},
		StartAt:       StartBeginning,
		MaxLineBytes:  1 << 20,
		ScanInterval:  dur(30 * time.Second),
		CloseInactive: dur(5 * time.Minute),
	}
	if diff := cmp.Diff(wantSpec, entry.Spec); diff != "" {
		t.Errorf("testdata/specs/20-entry.json spec (-want +got):\n%s", diff)
	}
	tp := docs[0].Object.(*Topic)
	if got := tp.Spec.Config["retention.ms"]; got != "604800000" {
		t.Errorf("testdata/specs/10-topics.yaml retention.ms = %q, want \"604800000\"", got)
	}
	if got := tp.Spec.Index.DeadLetterTopic; got != "web_log.dlq" {
		t.Errorf("testdata/specs/10-topics.yaml deadLetterTopic = %q, want the default \"web_log.dlq\"", got)
	}
	if got := docs[3].Object.(*IndexTemplate).Status.Applied; !got {
		t.Errorf("testdata/specs/list.yml status.applied = false, want true")
	}
}

func TestDecodePaths(t *testing.T) {
	empty := t.TempDir()
	if err := os.Mkdir(filepath.Join(empty, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "sub", "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		paths   []string
		stdin   string
		want    []string
		wantErr string
	}{
		{name: "stdin", paths: []string{"-"}, stdin: topicYAML("a"),
			want: []string{"<stdin>: document 1: topic/a"}},
		{name: "file and stdin", paths: []string{"testdata/mixed/good.yaml", "-"}, stdin: topicYAML("a"),
			want: []string{"testdata/mixed/good.yaml: document 1: topic/web_log", "<stdin>: document 1: topic/a"}},
		{name: "a file reached twice is read once", paths: []string{"testdata/specs/nested", "testdata/specs/nested/./array.json"},
			want: []string{
				"testdata/specs/nested/array.json: document 1: item 1: topic/api_log",
				"testdata/specs/nested/array.json: document 1: item 2: topic/api_log.dlq",
				"testdata/specs/nested/deeper/template.YAML: document 1: indextemplate/api",
			}},
		{name: "hidden directory named explicitly", paths: []string{"testdata/specs/.hidden"},
			wantErr: `testdata/specs/.hidden/broken.yaml: document 1: apiVersion: required: want "logpipe.io/v1alpha1"` + "\n" +
				`testdata/specs/.hidden/broken.yaml: document 1: kind: unknown kind "Nonsense": want one of CollectEntry, IndexTemplate, List, Topic`},
		{name: "duplicate across files", paths: []string{"testdata/dup"},
			wantErr: `testdata/dup/b.yaml: document 1: Topic "web_log": already defined at testdata/dup/a.yaml: document 2`},
		{name: "one valid and one invalid file", paths: []string{"testdata/mixed"},
			wantErr: `testdata/mixed/bad.yaml: document 2: CollectEntry "web-app": spec.multiline.maxLine: unknown field: want one of flushTimeout, match, maxBytes, maxLines, negate, pattern` + "\n" +
				`testdata/mixed/bad.yaml: document 2: CollectEntry "web-app": spec.paths[1]: malformed glob "/var/log/[a"`},
		{name: "missing file", paths: []string{"testdata/nope.yaml"},
			wantErr: `open testdata/nope.yaml: no such file or directory`},
		{name: "directory without specs", paths: []string{empty},
			wantErr: empty + `: no .json, .yaml or .yml files in directory`},
		{name: "every problem of every path", paths: []string{"testdata/nope.yaml", "testdata/mixed", "-", "-"}, stdin: "kind: Topic\n",
			wantErr: `open testdata/nope.yaml: no such file or directory` + "\n" +
				`testdata/mixed/bad.yaml: document 2: CollectEntry "web-app": spec.multiline.maxLine: unknown field: want one of flushTimeout, match, maxBytes, maxLines, negate, pattern` + "\n" +
				`testdata/mixed/bad.yaml: document 2: CollectEntry "web-app": spec.paths[1]: malformed glob "/var/log/[a"` + "\n" +
				`<stdin>: document 1: Topic: apiVersion: required: want "logpipe.io/v1alpha1"` + "\n" +
				`<stdin>: document 1: Topic: metadata.name: required` + "\n" +
				`<stdin>: "-" given more than once: standard input can be read only once`},
		{name: "no paths", paths: nil,
			wantErr: `no input: want a file, a directory or "-" for standard input`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := DecodePaths(tt.paths, strings.NewReader(tt.stdin))
			want := tt.wantErr
			if want == "" {
				want = "<nil>"
			}
			if got := errText(err); got != want {
				t.Errorf("DecodePaths(%q)\n got: %s\nwant: %s", tt.paths, got, want)
			}
			if diff := cmp.Diff(tt.want, summary(docs)); diff != "" {
				t.Errorf("DecodePaths(%q) documents (-want +got):\n%s", tt.paths, diff)
			}
		})
	}
}

func TestDecodePathsSymlinks(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	for name, body := range map[string]string{
		filepath.Join(other, "target.yaml"):    topicYAML("linked"),
		filepath.Join(other, "sub", "in.yaml"): topicYAML("behind-dir-link"),
		filepath.Join(dir, "plain.yaml"):       topicYAML("plain"),
		filepath.Join(dir, "..data", "x.yaml"): "kind: Hidden\n",
		filepath.Join(dir, ".hidden.yaml"):     "kind: Hidden\n",
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"link.yaml": filepath.Join(other, "target.yaml"),
		"dirlink":   filepath.Join(other, "sub"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Skipf("symbolic links unavailable: %v", err)
		}
	}
	docs, err := DecodePaths([]string{dir}, nil)
	if err != nil {
		t.Fatalf("DecodePaths(%s) error:\n%v", dir, err)
	}
	want := []string{
		filepath.Join(dir, "link.yaml") + ": document 1: topic/linked",
		filepath.Join(dir, "plain.yaml") + ": document 1: topic/plain",
	}
	if diff := cmp.Diff(want, summary(docs)); diff != "" {
		t.Errorf("DecodePaths(%s) (-want +got):\n%s", dir, diff)
	}
}

func TestDecodeErrorInspection(t *testing.T) {
	_, err := DecodePaths([]string{"testdata/nope.yaml", "testdata/mixed"}, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false, want true", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Kind != KindCollectEntry || ve.Name != "web-app" || len(ve.Errors) != 2 {
		t.Errorf("errors.As(*ValidationError) = %+v, want the 2 problems of CollectEntry web-app", ve)
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %T is not a *DecodeError", err)
	}
	var where []string
	for _, e := range de.Errors {
		where = append(where, location(e.Source, e.Index, e.Item))
	}
	if diff := cmp.Diff([]string{"testdata/nope.yaml", "testdata/mixed/bad.yaml: document 2"}, where); diff != "" {
		t.Errorf("DecodeError locations (-want +got):\n%s", diff)
	}
}

func TestDecodeFile(t *testing.T) {
	docs, err := DecodeFile("testdata/dup/b.yaml")
	if err != nil {
		t.Fatalf("DecodeFile(testdata/dup/b.yaml) error:\n%v", err)
	}
	want := []string{"testdata/dup/b.yaml: document 1: topic/web_log", "testdata/dup/b.yaml: document 2: collectentry/other"}
	if diff := cmp.Diff(want, summary(docs)); diff != "" {
		t.Errorf("DecodeFile(testdata/dup/b.yaml) (-want +got):\n%s", diff)
	}
	_, err = DecodeFile("testdata/nope.yaml")
	if got, want := errText(err), "open testdata/nope.yaml: no such file or directory"; got != want {
		t.Errorf("DecodeFile(testdata/nope.yaml)\n got: %s\nwant: %s", got, want)
	}
}

// roundTripObjects returns objects that use every field, with raw JSON in
// the compact, key-sorted form decoding produces.
func roundTripObjects() []Object {
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	return []Object{
		&CollectEntry{
			Metadata: ObjectMeta{
				Name: "web-app", Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "x: y"},
				Generation: 2, ResourceVersion: 99, CreationTimestamp: at,
			},
			Spec: CollectEntrySpec{
				Paths: []string{"/var/log/**/*.log"}, Exclude: []string{"*.gz"}, Topic: "web_log",
				AgentSelector: &LabelSelector{
					MatchLabels:      map[string]string{"role": "web"},
					MatchExpressions: []LabelSelectorRequirement{{Key: "zone", Operator: SelectorOpIn, Values: []string{"a", "b"}}},
				},
				Format:       FormatJSON,
				Multiline:    &Multiline{Pattern: `^\s`, Negate: true, Match: MultilineBefore, MaxLines: 10, MaxBytes: 4096, FlushTimeout: dur(time.Second)},
				IncludeLines: []string{"ERROR"}, ExcludeLines: []string{"DEBUG"},
				Fields:  map[string]string{"service": "web"},
				StartAt: StartEnd, MaxLineBytes: 2048, ScanInterval: dur(time.Minute), CloseInactive: dur(time.Hour + 30*time.Minute),
			},
			Status: CollectEntryStatus{Agents: []CollectEntryAgentStatus{{
				Agent: "host-1", ObservedGeneration: 2, FilesTailed: 1, BytesRead: 10, BytesBehind: 1, LinesShipped: 3,
				Conditions: []Condition{{Type: ConditionReady, Status: ConditionTrue, Reason: ReasonTailing, LastTransitionTime: at}},
				Files:      []FileStatus{{Path: "/var/log/a.log", Offset: 10, Size: 11, BytesBehind: 1}},
				UpdateTime: at,
			}}},
		},
		&Topic{
			Metadata: ObjectMeta{Name: "web_log"},
			Spec: TopicSpec{
				Partitions: 3, ReplicationFactor: 2, Config: map[string]string{"retention.ms": "604800000"}, DeletionPolicy: DeletionDelete,
				Index: &TopicIndex{Name: "web-{yyyy.MM.dd}", TimestampField: "time", DeadLetterTopic: "dlq", DataStream: true, Pipeline: "p"},
			},
			Status: TopicStatus{ObservedGeneration: 1, Partitions: 3, ReplicationFactor: 2, Consumers: []TopicConsumerStatus{{Transfer: "t", Group: "g", Lag: 5}}},
		},
		&IndexTemplate{
			Metadata: ObjectMeta{Name: "web"},
			Spec: IndexTemplateSpec{
				IndexPatterns: []string{"web-*"}, Priority: ptr[int64](200), Version: ptr[int64](0), ComposedOf: []string{"base"},
				Template: IndexTemplateBody{
					Settings: json.RawMessage(`{"number_of_shards":1}`),
					Mappings: json.RawMessage(`{"properties":{"@timestamp":{"type":"date"},"big":{"null_value":9007199254740993,"type":"long"}}}`),
					Aliases:  json.RawMessage(`{"web":{}}`),
				},
				DataStream: json.RawMessage(`{}`), Meta: json.RawMessage(`{"owner":"web"}`), DeletionPolicy: DeletionRetain,
			},
			Status: IndexTemplateStatus{Applied: true, LastAppliedTime: at},
		},
	}
}

// TestRoundTrip checks that an object printed as JSON or as YAML decodes
// back to the same object, defaulted.
func TestRoundTrip(t *testing.T) {
	for _, o := range roundTripObjects() {
		o.Default()
		for _, format := range []string{"json", "yaml"} {
			b, err := json.Marshal(o)
			if err == nil && format == "yaml" {
				b, err = yaml.JSONToYAML(b)
			}
			if err != nil {
				t.Fatalf("marshal %s as %s: %v", Ref(o), format, err)
			}
			docs, err := Decode(strings.NewReader(string(b)), "in."+format)
			if err != nil {
				t.Errorf("Decode(%s) error:\n%v", b, err)
				continue
			}
			if diff := cmp.Diff(o, docs[0].Object); diff != "" {
				t.Errorf("%s round trip of %s (-want +got):\n%s", format, Ref(o), diff)
			}
		}
	}
}
