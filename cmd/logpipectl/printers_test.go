package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// testNow is the clock of every golden test, so that ages stay fixed.
var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// loadSpec decodes one file of testdata/specs.
func loadSpec(t *testing.T, file string) api.Object {
	t.Helper()
	docs, err := api.DecodeFile(filepath.Join("testdata", "specs", file))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", file, len(docs))
	}
	return docs[0].Object
}

func ready(status api.ConditionStatus, reason, message string, at time.Time) []api.Condition {
	return []api.Condition{{Type: api.ConditionReady, Status: status, Reason: reason, Message: message, LastTransitionTime: at}}
}

// stored fills in what the store sets.
func stored(o api.Object, generation, resourceVersion int64, created time.Time) {
	m := o.Meta()
	m.Generation, m.ResourceVersion, m.CreationTimestamp = generation, resourceVersion, created
}

// printFixtures are objects of every kind, as get and describe show them:
// the spec fixtures as stored with the status the daemons report, and a
// second object of each kind with little or no status.
type printFixtures struct {
	collectEntries, topics, indexTemplates, agents []any
}

func newPrintFixtures(t *testing.T) printFixtures {
	t.Helper()
	webApp := loadSpec(t, "collectentry-web-app.yaml").(*api.CollectEntry)
	stored(webApp, 2, 41, testNow.Add(-50*time.Hour))
	webApp.Status.Agents = []api.CollectEntryAgentStatus{
		{
			Agent:              "web-1",
			ObservedGeneration: 2,
			Conditions:         ready(api.ConditionTrue, api.ReasonTailing, "tailing 2 files", testNow.Add(-49*time.Hour)),
			FilesTailed:        2,
			BytesRead:          1572864,
			BytesBehind:        0,
			LinesShipped:       10234,
			Files: []api.FileStatus{
				{Path: "/var/log/web/access.log", Offset: 1048576, Size: 1048576},
				{Path: "/var/log/web/error.log", Offset: 524288, Size: 524288},
			},
			UpdateTime: testNow.Add(-10 * time.Second),
		},
		{
			Agent:              "web-2",
			ObservedGeneration: 2,
			Conditions:         ready(api.ConditionFalse, api.ReasonPathNotAllowed, "/var/log/web/error.log is outside the agent's allowed paths", testNow.Add(-2*time.Hour)),
			FilesTailed:        1,
			BytesRead:          4096,
			BytesBehind:        2560,
			LinesShipped:       51,
			LastError:          "/var/log/web/error.log: path not allowed",
			Files: []api.FileStatus{
				{Path: "/var/log/web/access.log", Offset: 4096, Size: 6656, BytesBehind: 2560},
			},
			UpdateTime: testNow.Add(-12 * time.Second),
		},
	}
	apiApp := &api.CollectEntry{
		Metadata: api.ObjectMeta{Name: "api-app"},
		Spec: api.CollectEntrySpec{
			Paths: []string{"/var/log/api/*.log", "/var/log/api/audit/**/*.json", "/srv/api/current/log/production.log"},
			Topic: "api_log",
			AgentSelector: &api.LabelSelector{
				MatchLabels:      map[string]string{"role": "api"},
				MatchExpressions: []api.LabelSelectorRequirement{{Key: "env", Operator: api.SelectorOpIn, Values: []string{"staging", "prod"}}},
			},
		},
	}
	apiApp.Default()
	stored(apiApp, 1, 57, testNow.Add(-90*time.Second))

	webLog := loadSpec(t, "topic-web_log.yaml").(*api.Topic)
	stored(webLog, 1, 40, testNow.Add(-72*time.Hour))
	webLog.Status = api.TopicStatus{
		ObservedGeneration: 1,
		Conditions:         ready(api.ConditionTrue, api.ReasonReconciled, "topic has 3 partitions", testNow.Add(-71*time.Hour)),
		Partitions:         3,
		ReplicationFactor:  1,
		Consumers: []api.TopicConsumerStatus{
			{Transfer: "transfer-a", Group: "logpipe-transfer", Lag: 120, Conditions: ready(api.ConditionTrue, api.ReasonConsuming, "", testNow.Add(-70*time.Hour)), UpdateTime: testNow.Add(-5 * time.Second)},
			{Transfer: "transfer-b", Group: "logpipe-transfer", Lag: 30, Conditions: ready(api.ConditionFalse, api.ReasonBackpressure, "engine answers 429", testNow.Add(-time.Minute)), UpdateTime: testNow.Add(-7 * time.Second)},
		},
	}
	dlq := &api.Topic{Metadata: api.ObjectMeta{Name: "web_log.dlq"}, Spec: api.TopicSpec{Partitions: 1}}
	dlq.Default()
	stored(dlq, 1, 39, testNow.Add(-5*time.Minute))

	web := loadSpec(t, "indextemplate-web.yaml").(*api.IndexTemplate)
	stored(web, 1, 38, testNow.Add(-26*time.Hour))
	web.Status = api.IndexTemplateStatus{
		ObservedGeneration: 1,
		Conditions:         ready(api.ConditionTrue, api.ReasonReconciled, "template applied", testNow.Add(-26*time.Hour)),
		Applied:            true,
		LastAppliedTime:    testNow.Add(-25 * time.Hour),
	}
	logs := &api.IndexTemplate{
		Metadata: api.ObjectMeta{Name: "logs"},
		Spec: api.IndexTemplateSpec{
			IndexPatterns: []string{"logs-*", "legacy-logs-*"},
			Template:      api.IndexTemplateBody{Mappings: json.RawMessage(`{"properties":{"msg":{"type":"strng"}}}`)},
		},
	}
	logs.Default()
	stored(logs, 3, 60, testNow.Add(-40*time.Minute))
	logs.Status = api.IndexTemplateStatus{
		ObservedGeneration: 3,
		Conditions:         ready(api.ConditionFalse, api.ReasonRejected, "mapper_parsing_exception: no handler for type [strng]\ndeclared on field [msg]", testNow.Add(-39*time.Minute)),
	}

	agents := []any{
		api.Agent{Name: "web-1", Labels: map[string]string{"zone": "eu-1", "role": "web"}, Version: "v0.3.0", Address: "10.0.0.11:9100", Host: "web-1.example.com", StartTime: testNow.Add(-(7*time.Hour + 30*time.Minute)), FilesTailed: 2},
		api.Agent{Name: "web-2", Labels: map[string]string{"role": "web"}, Version: "v0.3.0", Address: "10.0.0.12:9100", Host: "web-2.example.com", StartTime: testNow.Add(-3 * time.Second), FilesTailed: 1},
	}
	return printFixtures{
		collectEntries: []any{apiApp, webApp},
		topics:         []any{webLog, dlq},
		indexTemplates: []any{logs, web},
		agents:         agents,
	}
}

// TestPrintersGolden pins the output of every format for every kind.
func TestPrintersGolden(t *testing.T) {
	fx := newPrintFixtures(t)
	kinds := []struct {
		name string
		objs []any
	}{
		{"collectentry", fx.collectEntries},
		{"topic", fx.topics},
		{"indextemplate", fx.indexTemplates},
		{"agent", fx.agents},
	}
	for _, k := range kinds {
		for _, format := range outputFormats() {
			t.Run(k.name+"/"+format, func(t *testing.T) {
				p, err := newPrinter(format, printOptions{now: testNow})
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				if err := p.Print(&b, k.objs...); err != nil {
					t.Fatal(err)
				}
				checkGolden(t, "get-"+k.name+"-"+format, b.Bytes())
			})
		}
	}
}

// TestDocumentPrinterSingle checks that get with one NAME prints the object
// itself in JSON and YAML, not a List.
func TestDocumentPrinterSingle(t *testing.T) {
	fx := newPrintFixtures(t)
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			p, err := newPrinter(format, printOptions{single: true, now: testNow})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := p.Print(&b, fx.topics[0]); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "get-topic-single-"+format, b.Bytes())
		})
	}
}

// TestPrintEmpty checks what each format prints for no objects: nothing for
// people and scripts reading lines, an empty List for JSON and YAML.
func TestPrintEmpty(t *testing.T) {
	want := map[string]string{
		"table": "",
		"wide":  "",
		"name":  "",
		"json":  "{\n  \"apiVersion\": \"logpipe.io/v1alpha1\",\n  \"kind\": \"List\",\n  \"items\": []\n}\n",
		"yaml":  "apiVersion: logpipe.io/v1alpha1\nitems: []\nkind: List\n",
	}
	for _, format := range outputFormats() {
		p, err := newPrinter(format, printOptions{now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := p.Print(&b); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != want[format] {
			t.Errorf("-o %s with no objects printed %q, want %q", format, got, want[format])
		}
	}
}

func TestNewPrinterUnknownFormat(t *testing.T) {
	_, err := newPrinter("xml", printOptions{})
	const want = `unknown output format "xml": want one of json, name, table, wide, yaml`
	if err == nil || err.Error() != want {
		t.Errorf("newPrinter(%q) error = %v, want %q", "xml", err, want)
	}
}

// TestWriteTableCells checks that a cell cannot break the table or the
// terminal: line breaks cut the cell, control characters are escaped, empty
// cells read <none>.
func TestWriteTableCells(t *testing.T) {
	var b bytes.Buffer
	err := writeTable(&b, []string{"name", "message"}, [][]string{
		{"web\x1b[31m", "first line\nsecond line"},
		{"tab\there", ""},
		{"crlf", "one\r\ntwo"},
	})
	if err != nil {
		t.Fatal(err)
	}
	const want = "" +
		"NAME          MESSAGE\n" +
		"web\\x1b[31m   first line...\n" +
		"tab\\there     <none>\n" +
		"crlf          one...\n"
	if got := b.String(); got != want {
		t.Errorf("writeTable wrote\n%s\nwant\n%s", got, want)
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-2 * time.Second, "<invalid>"},
		{-500 * time.Millisecond, "0s"},
		{5 * time.Second, "5s"},
		{119 * time.Second, "119s"},
		{3*time.Minute + 20*time.Second, "3m20s"},
		{3 * time.Minute, "3m"},
		{42 * time.Minute, "42m"},
		{2 * time.Hour, "120m"},
		{3 * time.Hour, "3h"},
		{7*time.Hour + 30*time.Minute, "7h30m"},
		{26 * time.Hour, "26h"},
		{50 * time.Hour, "2d2h"},
		{4 * 24 * time.Hour, "4d"},
		{30 * 24 * time.Hour, "30d"},
		{(3*365 + 10) * 24 * time.Hour, "3y10d"},
		{9 * 365 * 24 * time.Hour, "9y"},
	}
	for _, tt := range tests {
		if got := humanDuration(tt.d); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0B"},
		{1023, "1023B"},
		{1024, "1KiB"},
		{1536, "1.5KiB"},
		{20 << 20, "20MiB"},
		{3 << 40, "3TiB"},
	}
	for _, tt := range tests {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestRetentionString(t *testing.T) {
	tests := []struct{ ms, want string }{
		{"604800000", "7d"},
		{"129600000", "1d12h"},
		{"90000", "1m30s"},
		{"-1", "forever"},
		{"1500", "1s500ms"},
		{"soon", "soon"},
	}
	for _, tt := range tests {
		if got := retentionString(tt.ms); got != tt.want {
			t.Errorf("retentionString(%q) = %q, want %q", tt.ms, got, tt.want)
		}
	}
}

func TestDescribeGolden(t *testing.T) {
	fx := newPrintFixtures(t)
	objs := map[string]any{
		"collectentry-web-app": fx.collectEntries[1],
		"collectentry-api-app": fx.collectEntries[0],
		"topic-web_log":        fx.topics[0],
		"topic-web_log.dlq":    fx.topics[1],
		"indextemplate-web":    fx.indexTemplates[1],
		"indextemplate-logs":   fx.indexTemplates[0],
		"agent-web-1":          fx.agents[0],
	}
	for name, o := range objs {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := describeObject(&b, o, testNow); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "describe-"+name, b.Bytes())
		})
	}
}
