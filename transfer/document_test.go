package transfer

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kgo"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/record"
)

// testRecord is a record with every header the agent writes.
func testRecord(format, value string) *kgo.Record {
	return &kgo.Record{
		Topic: "web_log", Partition: 2, Offset: 41,
		Timestamp: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Value:     []byte(value),
		Headers: []kgo.RecordHeader{
			{Key: record.HeaderID, Value: []byte("0123456789abcdef0123456789abcdef")},
			{Key: record.HeaderHost, Value: []byte("web-1")},
			{Key: record.HeaderAgent, Value: []byte("agent-1")},
			{Key: record.HeaderEntry, Value: []byte("web-app")},
			{Key: record.HeaderPath, Value: []byte("/var/log/web/access.log")},
			{Key: record.HeaderOffset, Value: []byte("8192")},
			{Key: record.HeaderFormat, Value: []byte(format)},
			{Key: record.HeaderTime, Value: []byte("2026-11-26T23:59:58.5Z")},
			{Key: record.HeaderFlags, Value: []byte("multiline")},
			{Key: record.HeaderFieldPrefix + "team", Value: []byte("web")},
		},
	}
}

// ecs is what every document of testRecord carries besides its own fields.
const ecs = `"@timestamp":"2026-11-26T23:59:58.5Z","event":{"id":"0123456789abcdef0123456789abcdef"},` +
	`"host":{"name":"web-1"},"agent":{"name":"agent-1"},` +
	`"log":{"file":{"path":"/var/log/web/access.log"},"offset":8192,"flags":["multiline"]},` +
	`"logpipe":{"entry":"web-app"},"fields":{"team":"web"}`

func TestEncodeDocuments(t *testing.T) {
	cfg := mustConfig(t, api.TopicIndex{Name: webIndex})
	tests := []struct {
		name, format, value string
		want                string
	}{
		{"text", "text", `GET /index.html 200`, `{"message":"GET /index.html 200",` + ecs + `}`},
		{"text with quotes and control characters", "text", "a \"b\"\t\\c\x01",
			`{"message":"a \"b\"\t\\c\u0001",` + ecs + `}`},
		{"missing format is text", "", `{"a":1}`, `{"message":"{\"a\":1}",` + ecs + `}`},
		{"json object", "json", `{"level":"info","n":1.5e3,"ok":true,"tags":["a"],"x":null}`,
			`{"level":"info","n":1.5e3,"ok":true,"tags":["a"],"x":null,` + ecs + `}`},
		{"json with white space", "json", " { \"a\" : { \"b\" : [ 1 , 2 ] } } \n",
			`{"a" : { "b" : [ 1 , 2 ] },` + ecs + `}`},
		{"empty json object", "json", `{}`, `{` + ecs + `}`},
		{"json array is not an object", "json", `[1,2]`,
			`{"message":"[1,2]","error":{"type":"json_parse","message":"not a JSON object"},` + ecs + `}`},
		{"json string is not an object", "json", `"hello"`,
			`{"message":"\"hello\"","error":{"type":"json_parse","message":"not a JSON object"},` + ecs + `}`},
		{"truncated json", "json", `{"level":"info","msg":"cut he`,
			`{"message":"{\"level\":\"info\",\"msg\":\"cut he","error":{"type":"json_parse","message":"unterminated string at byte 22"},` + ecs + `}`},
		{"json with trailing garbage", "json", `{"a":1} x`,
			`{"message":"{\"a\":1} x","error":{"type":"json_parse","message":"invalid character 'x' after top-level value at byte 8"},` + ecs + `}`},
		{"empty json line", "json", ``,
			`{"message":"","error":{"type":"json_parse","message":"unexpected end of input at byte 0"},` + ecs + `}`},
	}
	var e encoder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, a := e.encode(nil, testRecord(tc.format, tc.value), cfg)
			if string(doc) != tc.want {
				t.Errorf("encode(%q, %q) =\n%s\nwant\n%s", tc.format, tc.value, doc, tc.want)
			}
			if !json.Valid(doc) {
				t.Errorf("document is not valid JSON: %s", doc)
			}
			wantA := Action{Index: "web-2026.11.26", ID: "0123456789abcdef0123456789abcdef", Doc: doc}
			if diff := cmp.Diff(wantA, a); diff != "" {
				t.Errorf("action (-want +got):\n%s", diff)
			}
		})
	}
}

// decodeDoc decodes a document, failing the test when it is not one JSON
// object without duplicate keys at the top level.
func decodeDoc(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("document %s: %v", doc, err)
	}
	seen := map[string]bool{}
	var ms []member
	ms, err := scanObject(doc, ms)
	if err != nil {
		t.Fatalf("document %s: %v", doc, err)
	}
	for _, mb := range ms {
		k := string(doc[mb.keyStart:mb.keyEnd])
		if seen[k] {
			t.Fatalf("document %s has key %q twice", doc, k)
		}
		seen[k] = true
	}
	return m
}

func TestEncodeMergesCollidingMembers(t *testing.T) {
	tests := []struct {
		name    string
		tsField string
		value   string
		// want holds the members to check, by dotted path; conflicts the
		// expected logpipe.conflicts.
		want      map[string]any
		conflicts []conflict
	}{
		{"own event.id and _id never win", "", `{"event":{"id":"forged","kind":"x"},"_id":"forged","msg":"m"}`,
			map[string]any{"event.id": "0123456789abcdef0123456789abcdef", "event.kind": "x", "msg": "m"},
			[]conflict{{Field: "_id", Value: `"forged"`}, {Field: "event.id", Value: `"forged"`}}},
		{"objects merge", "", `{"log":{"level":"info"},"host":{"ip":"10.0.0.1"}}`,
			map[string]any{"log.level": "info", "log.offset": json.Number("8192"), "host.ip": "10.0.0.1", "host.name": "web-1"}, nil},
		{"dotted member names", "", `{"log.level":"warn","event.id":"forged"}`,
			map[string]any{"log.level": "warn", "event.id": "0123456789abcdef0123456789abcdef"},
			[]conflict{{Field: "event.id", Value: `"forged"`}}},
		{"dotted names beside logpipe's objects stay as written", "", `{"log.level":"warn","event.kind":"k"}`,
			map[string]any{"log.level": "warn", "event.kind": "k", "log.offset": json.Number("8192")}, nil},
		{"a dotted name on the path of a leaf", "", `{"log.file":"x","log.offset.n":1}`,
			map[string]any{"log.file.path": "/var/log/web/access.log", "log.offset": json.Number("8192")},
			[]conflict{{Field: "log.file", Value: `"x"`}, {Field: "log.offset.n", Value: `1`}}},
		{"a scalar where an object goes", "", `{"host":"web-9","log":"x"}`,
			map[string]any{"host.name": "web-1", "log.offset": json.Number("8192")},
			[]conflict{{Field: "host", Value: `"web-9"`}, {Field: "log", Value: `"x"`}}},
		{"own @timestamp without timestampField", "", `{"@timestamp":"2020-01-01T00:00:00Z"}`,
			map[string]any{"@timestamp": "2026-11-26T23:59:58.5Z"},
			[]conflict{{Field: "@timestamp", Value: `"2020-01-01T00:00:00Z"`}}},
		{"own @timestamp as timestampField is replaced", "@timestamp", `{"@timestamp":"2020-01-01T01:02:03+01:00","a":1}`,
			map[string]any{"@timestamp": "2020-01-01T00:02:03Z", "a": json.Number("1")}, nil},
		{"an invalid @timestamp timestampField is kept aside", "@timestamp", `{"@timestamp":"yesterday"}`,
			map[string]any{"@timestamp": "2026-11-26T23:59:58.5Z", "log.flags": []any{"multiline", FlagTimestampInvalid}},
			[]conflict{{Field: "@timestamp", Value: `"yesterday"`}}},
	}
	var e encoder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustConfig(t, api.TopicIndex{Name: webIndex, TimestampField: tc.tsField})
			doc, a := e.encode(nil, testRecord("json", tc.value), cfg)
			m := decodeDoc(t, doc)
			for path, want := range tc.want {
				if got := lookupPath(m, path); !cmp.Equal(got, want) {
					t.Errorf("%s = %#v, want %#v in %s", path, got, want, doc)
				}
			}
			var got []conflict
			if raw := lookupPath(m, "logpipe.conflicts"); raw != nil {
				b, _ := json.Marshal(raw)
				_ = json.Unmarshal(b, &got)
			}
			if diff := cmp.Diff(tc.conflicts, got); diff != "" {
				t.Errorf("conflicts (-want +got):\n%s\nin %s", diff, doc)
			}
			if a.ID != "0123456789abcdef0123456789abcdef" {
				t.Errorf("_id %q, want the record's event ID", a.ID)
			}
		})
	}
}

// lookupPath returns the value at a dotted path of nested objects.
func lookupPath(m map[string]any, path string) any {
	if v, ok := m[path]; ok {
		return v // a dotted member name, as the engine reads it too
	}
	var cur any = m
	for p := range strings.SplitSeq(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[p]
	}
	return cur
}

func TestEncodeTimestamps(t *testing.T) {
	read := "2026-11-26T23:59:58.5Z"
	tests := []struct {
		field, value string
		want         string // @timestamp
		index        string
		invalid      bool
	}{
		{"ts", `{"ts":"2026-12-31T23:30:00-01:00"}`, "2027-01-01T00:30:00Z", "web-2027.01.01", false},
		{"ts", `{"ts":1764201600123}`, "2025-11-27T00:00:00.123Z", "web-2025.11.27", false},
		{"ts", `{"ts":"1764201600123"}`, "2025-11-27T00:00:00.123Z", "web-2025.11.27", false},
		{"ts", `{"ts":1.7642016001235e12}`, "2025-11-27T00:00:00.1235Z", "web-2025.11.27", false},
		{"ts", `{"ts":"not a time"}`, read, "web-2026.11.26", true},
		{"ts", `{"ts":true}`, read, "web-2026.11.26", true},
		{"ts", `{"other":1}`, read, "web-2026.11.26", false},
		{"req.time", `{"req":{"time":"2026-02-03T04:05:06Z"}}`, "2026-02-03T04:05:06Z", "web-2026.02.03", false},
		{"req.time", `{"req.time":"2026-02-03T04:05:06Z"}`, "2026-02-03T04:05:06Z", "web-2026.02.03", false},
		{"event.created", `{"event":{"created":"2026-02-03T04:05:06Z"}}`, "2026-02-03T04:05:06Z", "web-2026.02.03", false},
		{"", `{"ts":"2020-01-01T00:00:00Z"}`, read, "web-2026.11.26", false},
	}
	var e encoder
	for _, tc := range tests {
		t.Run(tc.field+" "+tc.value, func(t *testing.T) {
			cfg := mustConfig(t, api.TopicIndex{Name: webIndex, TimestampField: tc.field})
			doc, a := e.encode(nil, testRecord("json", tc.value), cfg)
			m := decodeDoc(t, doc)
			if m["@timestamp"] != tc.want || a.Index != tc.index {
				t.Errorf("@timestamp %v in index %s, want %s in %s; doc %s", m["@timestamp"], a.Index, tc.want, tc.index, doc)
			}
			invalid := strings.Contains(string(doc), FlagTimestampInvalid)
			if invalid != tc.invalid {
				t.Errorf("timestamp_invalid flag %v, want %v; doc %s", invalid, tc.invalid, doc)
			}
		})
	}

	// Without a read time header, the Kafka timestamp is the event time.
	rec := testRecord("text", "x")
	rec.Headers = rec.Headers[:7]
	doc, a := e.encode(nil, rec, mustConfig(t, api.TopicIndex{Name: webIndex}))
	if m := decodeDoc(t, doc); m["@timestamp"] != "2026-01-01T00:00:00Z" || a.Index != "web-2026.01.01" {
		t.Errorf("without logpipe.time: @timestamp %v in %s, want the record timestamp", m["@timestamp"], a.Index)
	}
}

func TestEncodeNonUTF8AndHugeValues(t *testing.T) {
	var e encoder
	cfg := mustConfig(t, api.TopicIndex{Name: webIndex})
	for _, format := range []string{"text", "json"} {
		t.Run(format+" invalid UTF-8", func(t *testing.T) {
			value := "caf\xe9 \xff\xfe ok \u2028"
			if format == "json" {
				value = `{"msg":"caf` + "\xe9" + `","k` + "\xff" + `":1}`
			}
			doc, _ := e.encode(nil, testRecord(format, value), cfg)
			if !utf8.Valid(doc) || !json.Valid(doc) {
				t.Fatalf("document not valid UTF-8 JSON: %q", doc)
			}
			m := decodeDoc(t, doc)
			if format == "text" && m["message"] != "caf\uFFFD \uFFFD ok \u2028" {
				t.Errorf("message %q", m["message"])
			}
			if format == "json" && (m["msg"] != "caf\uFFFD" || m["k\uFFFD"] == nil) {
				t.Errorf("document %s", doc)
			}
			if flags := lookupPath(m, "log.flags"); !cmp.Equal(flags, []any{"multiline", FlagInvalidUTF8}) {
				t.Errorf("log.flags %v, want multiline and %s", flags, FlagInvalidUTF8)
			}
		})
	}
	t.Run("huge", func(t *testing.T) {
		big := strings.Repeat("0123456789", 1<<20/10*8) // 8 MiB
		doc, _ := e.encode(nil, testRecord("text", big), cfg)
		if m := decodeDoc(t, doc); m["message"] != big {
			t.Errorf("8 MiB message not kept whole (%d bytes of document)", len(doc))
		}
		jbig := `{"blob":"` + big + `"}`
		doc, _ = e.encode(nil, testRecord("json", jbig), cfg)
		if m := decodeDoc(t, doc); m["blob"] != big {
			t.Errorf("8 MiB JSON member not kept whole")
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
		doc, _ := e.encode(nil, testRecord("json", `{"a":`+deep+`}`), cfg)
		m := decodeDoc(t, doc)
		if lookupPath(m, "error.type") != ErrorTypeJSONParse {
			t.Errorf("20000 levels of nesting accepted")
		}
	})
}

func TestEncodeIDsAndOptions(t *testing.T) {
	var e encoder
	rec := testRecord("text", "x")
	rec.Headers = rec.Headers[1:] // no logpipe.id
	cfg := mustConfig(t, api.TopicIndex{Name: "logs-web", DataStream: true, Pipeline: "geoip"})
	doc, a := e.encode(nil, rec, cfg)
	want := Action{Index: "logs-web", ID: "web_log-2-41", Create: true, Pipeline: "geoip", Doc: doc}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("action (-want +got):\n%s", diff)
	}
	if m := decodeDoc(t, doc); lookupPath(m, "event.id") != "web_log-2-41" {
		t.Errorf("event.id %v, want the fallback ID", lookupPath(m, "event.id"))
	}
	// A record with no logpipe headers at all still makes a document.
	bare := &kgo.Record{Topic: "t", Partition: 0, Offset: 7, Value: []byte("hi"), Timestamp: time.Unix(0, 0)}
	doc, a = e.encode(nil, bare, mustConfig(t, api.TopicIndex{Name: "t-{yyyy}"}))
	if string(doc) != `{"message":"hi","@timestamp":"1970-01-01T00:00:00Z","event":{"id":"t-0-7"}}` || a.Index != "t-1970" {
		t.Errorf("bare record: %s in %s", doc, a.Index)
	}
}

// FuzzScanObject checks the scanner against encoding/json on any input.
func FuzzScanObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `[1]`, `{"a":[1,{"b":null}],"c":"\u00e9\n"}`, `{"a":}`, `{"a":1,}`, `01`, `{"a":-0.5e+3}`, `"x"`, `{"a":"\x01"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return // the encoder replaces invalid UTF-8 before scanning
		}
		_, err := scanObject(b, nil)
		var v any
		jerr := json.Unmarshal(b, &v)
		_, isObj := v.(map[string]any)
		switch {
		case jerr == nil && isObj && err != nil:
			t.Fatalf("scanObject(%q) = %v; encoding/json accepts it", b, err)
		case (jerr != nil || !isObj) && err == nil:
			t.Fatalf("scanObject(%q) accepted; encoding/json: %v (object %v)", b, jerr, isObj)
		}
	})
}
