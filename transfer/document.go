package transfer

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/record"
)

// Flags the transfer adds to log.flags, besides the agent's own
// (record.FlagTruncated, record.FlagMultiline).
const (
	// FlagInvalidUTF8: the line held bytes that are not UTF-8; each run of
	// them was replaced by one U+FFFD.
	FlagInvalidUTF8 = "invalid_utf8"
	// FlagTimestampInvalid: the Topic's timestampField was present but held
	// neither an RFC 3339 time nor epoch milliseconds; @timestamp is the
	// read time instead.
	FlagTimestampInvalid = "timestamp_invalid"
)

// ErrorTypeJSONParse is the error.type of a json-format line that is not a
// JSON object.
const ErrorTypeJSONParse = "json_parse"

// topicConfig is what the transfer knows of one consumed Topic: its
// spec.index block, compiled.
type topicConfig struct {
	name       string
	generation int64
	namer      *api.IndexNamer
	// tsPath is spec.index.timestampField split at dots; nil when unset.
	tsPath     []string
	deadLetter string
	create     bool
	pipeline   string
	metrics    *topicMetrics
}

func newTopicConfig(t *api.Topic, m *Metrics) (*topicConfig, error) {
	ix := t.Spec.Index
	namer, err := api.CompileIndexName(ix.Name)
	if err != nil {
		return nil, err
	}
	c := &topicConfig{
		name:       t.Metadata.Name,
		generation: t.Metadata.Generation,
		namer:      namer,
		deadLetter: ix.DeadLetterTopic,
		create:     ix.DataStream,
		pipeline:   ix.Pipeline,
		metrics:    m.topic(t.Metadata.Name),
	}
	if c.deadLetter == "" {
		c.deadLetter = t.Metadata.Name + api.DeadLetterSuffix
	}
	if ix.TimestampField != "" {
		c.tsPath = strings.Split(ix.TimestampField, ".")
	}
	return c, nil
}

// sameSpec reports whether c and o index the same way.
func (c *topicConfig) sameSpec(o *topicConfig) bool {
	return c.namer.Pattern() == o.namer.Pattern() && slices.Equal(c.tsPath, o.tsPath) &&
		c.deadLetter == o.deadLetter && c.create == o.create && c.pipeline == o.pipeline
}

// recordMeta holds the record's logpipe headers (see internal/record).
type recordMeta struct {
	id, host, agent, entry, path, offset, format, readTime, flags []byte
	fields                                                        []kgo.RecordHeader
}

func (m *recordMeta) read(rec *kgo.Record) {
	*m = recordMeta{fields: m.fields[:0]}
	for _, h := range rec.Headers {
		switch h.Key {
		case record.HeaderID:
			m.id = h.Value
		case record.HeaderHost:
			m.host = h.Value
		case record.HeaderAgent:
			m.agent = h.Value
		case record.HeaderEntry:
			m.entry = h.Value
		case record.HeaderPath:
			m.path = h.Value
		case record.HeaderOffset:
			m.offset = h.Value
		case record.HeaderFormat:
			m.format = h.Value
		case record.HeaderTime:
			m.readTime = h.Value
		case record.HeaderFlags:
			m.flags = h.Value
		default:
			if k, ok := strings.CutPrefix(h.Key, record.HeaderFieldPrefix); ok && k != "" {
				if !slices.ContainsFunc(m.fields, func(f kgo.RecordHeader) bool { return f.Key == k }) {
					m.fields = append(m.fields, kgo.RecordHeader{Key: k, Value: h.Value})
				}
			}
		}
	}
}

// Roots of the fields logpipe adds, as a bit set, so that a JSON line is
// checked only against the names this record really gets.
const (
	rootTimestamp = 1 << iota
	rootEvent
	rootHost
	rootAgent
	rootLog
	rootLogpipe
	rootFields
)

var rootNames = map[string]int{
	"@timestamp": rootTimestamp,
	"event":      rootEvent,
	"host":       rootHost,
	"agent":      rootAgent,
	"log":        rootLog,
	"logpipe":    rootLogpipe,
	"fields":     rootFields,
}

// metadataFields are the engine's own document fields; a source that holds
// one at the top level is rejected by Elasticsearch ("is a metadata field
// and cannot be added inside a document").
var metadataFields = map[string]bool{
	"_id": true, "_index": true, "_routing": true, "_source": true, "_type": true,
	"_version": true, "_seq_no": true, "_primary_term": true, "_ignored": true,
	"_field_names": true, "_doc_count": true, "_tier": true, "_tsid": true,
	"_data_stream_timestamp": true, "_nested_path": true, "_ignored_source": true,
}

// encoder turns records into actions. It keeps scratch space between calls,
// so each worker has its own.
type encoder struct {
	meta    recordMeta
	members []member
	flags   []string
}

// encode appends the document of rec, indexed as cfg says, to dst and
// returns the action (with Doc the appended bytes).
func (e *encoder) encode(dst []byte, rec *kgo.Record, cfg *topicConfig) ([]byte, Action) {
	m := &e.meta
	m.read(rec)
	e.flags = e.flags[:0]

	id := string(m.id)
	if id == "" {
		id = rec.Topic + "-" + strconv.Itoa(int(rec.Partition)) + "-" + strconv.FormatInt(rec.Offset, 10)
	}
	readTime, ok := parseRFC3339(m.readTime)
	if !ok {
		readTime = rec.Timestamp
	}

	value := rec.Value
	if !utf8.Valid(value) {
		value = bytes.ToValidUTF8(value, []byte("\uFFFD"))
		e.flags = append(e.flags, FlagInvalidUTF8)
	}
	start := len(dst)
	var ts time.Time
	if string(m.format) == string(api.FormatJSON) {
		dst, ts = e.appendJSONLine(dst, value, id, readTime, cfg)
	} else {
		ts = readTime
		dst = append(dst, `{"message":`...)
		dst = appendString(dst, value)
		dst = e.appendECS(dst, id, ts, ',')
	}
	return dst, Action{
		Index:    cfg.namer.Name(ts),
		ID:       id,
		Create:   cfg.create,
		Pipeline: cfg.pipeline,
		Doc:      dst[start:len(dst):len(dst)],
	}
}

// roots returns the roots of the fields appendECS writes for the record.
func (e *encoder) roots() int {
	r := rootTimestamp | rootEvent | rootLogpipe
	if e.meta.host != nil {
		r |= rootHost
	}
	if e.meta.agent != nil {
		r |= rootAgent
	}
	if e.meta.path != nil || validOffset(e.meta.offset) || e.meta.flags != nil || len(e.flags) > 0 {
		r |= rootLog
	}
	if len(e.meta.fields) > 0 {
		r |= rootFields
	}
	return r
}

// appendJSONLine appends the document of a json-format line. The fast path
// copies the line's members as they are and appends logpipe's fields after
// them; lines whose members collide with those fields take mergeJSON.
func (e *encoder) appendJSONLine(dst, value []byte, id string, readTime time.Time, cfg *topicConfig) ([]byte, time.Time) {
	ms, err := scanObject(value, e.members[:0])
	e.members = ms[:0]
	if err != nil {
		dst = append(dst, `{"message":`...)
		dst = appendString(dst, value)
		dst = append(dst, `,"error":{"type":"`+ErrorTypeJSONParse+`","message":`...)
		dst = appendString(dst, err.Error())
		dst = append(dst, '}')
		return e.appendECS(dst, id, readTime, ','), readTime
	}

	ts := readTime
	tsFound := false
	if cfg.tsPath != nil {
		if s, end, ok := lookupIn(value, ms, cfg.tsPath); ok {
			if t, ok := parseTimestamp(value[s:end]); ok {
				ts, tsFound = t, true
			} else {
				e.flags = append(e.flags, FlagTimestampInvalid)
			}
		}
	}
	// The line's own @timestamp is replaced, not kept beside ours, when it
	// is the timestamp field and was read: it is the same instant.
	dropTimestamp := tsFound && len(cfg.tsPath) == 1 && cfg.tsPath[0] == "@timestamp"
	roots := e.roots()
	drop := -1
	for i, m := range ms {
		key := value[m.keyStart:m.keyEnd]
		if dropTimestamp && !m.keyEscaped && string(key) == "@timestamp" {
			drop = i
			continue
		}
		if m.keyEscaped || collides(key, roots) {
			return e.mergeJSON(dst, value, id, ts, tsFound, cfg), ts
		}
	}
	dst = append(dst, '{')
	sep := byte(0)
	for i, m := range ms {
		if i == drop {
			continue
		}
		if sep != 0 {
			dst = append(dst, sep)
		}
		dst = append(dst, value[m.keyStart-1:m.valEnd]...)
		sep = ','
	}
	return e.appendECS(dst, id, ts, sep), ts
}

// leafPaths are the dotted names of the leaves logpipe writes, except the
// static fields (under "fields", all treated as colliding).
var leafPaths = []string{"@timestamp", "event.id", "host.name", "agent.name",
	"log.file.path", "log.offset", "log.flags", "logpipe.entry", "logpipe.conflicts"}

// collides reports whether a top-level member name clashes with a field
// logpipe adds: a root logpipe writes as an object ("log"), an engine
// metadata field ("_id"), or a dotted name on the path of one of logpipe's
// leaves ("log.offset", "log.file", "log.offset.x"). Other dotted names
// under the same roots ("log.level", as ECS loggers write) do not clash:
// the engine merges them with logpipe's objects.
func collides(key []byte, roots int) bool {
	if len(key) == 0 {
		return false
	}
	if key[0] == '_' {
		return metadataFields[string(key)]
	}
	dot := bytes.IndexByte(key, '.')
	if dot < 0 {
		return rootNames[string(key)]&roots != 0
	}
	root := rootNames[string(key[:dot])]
	if root&roots == 0 {
		return false
	}
	if root == rootFields {
		return true
	}
	k := string(key)
	for _, leaf := range leafPaths {
		if k == leaf || strings.HasPrefix(leaf, k) && leaf[len(k)] == '.' || strings.HasPrefix(k, leaf) && k[len(leaf)] == '.' {
			return true
		}
	}
	return false
}

// appendECS appends logpipe's fields and the closing brace; sep is written
// first unless zero (an empty object so far).
func (e *encoder) appendECS(dst []byte, id string, ts time.Time, sep byte) []byte {
	m := &e.meta
	if sep != 0 {
		dst = append(dst, sep)
	}
	dst = append(dst, `"@timestamp":"`...)
	dst = ts.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","event":{"id":`...)
	dst = appendString(dst, id)
	dst = append(dst, '}')
	if m.host != nil {
		dst = append(dst, `,"host":{"name":`...)
		dst = appendString(dst, m.host)
		dst = append(dst, '}')
	}
	if m.agent != nil {
		dst = append(dst, `,"agent":{"name":`...)
		dst = appendString(dst, m.agent)
		dst = append(dst, '}')
	}
	hasOffset := validOffset(m.offset)
	if m.path != nil || hasOffset || m.flags != nil || len(e.flags) > 0 {
		dst = append(dst, `,"log":{`...)
		sep := byte(0)
		if m.path != nil {
			dst = append(dst, `"file":{"path":`...)
			dst = appendString(dst, m.path)
			dst = append(dst, '}')
			sep = ','
		}
		if hasOffset {
			if sep != 0 {
				dst = append(dst, sep)
			}
			dst = append(dst, `"offset":`...)
			dst = append(dst, m.offset...)
			sep = ','
		}
		if m.flags != nil || len(e.flags) > 0 {
			if sep != 0 {
				dst = append(dst, sep)
			}
			dst = append(dst, `"flags":[`...)
			n := 0
			for f := range strings.SplitSeq(string(m.flags), ",") {
				if f = strings.TrimSpace(f); f == "" {
					continue
				}
				if n > 0 {
					dst = append(dst, ',')
				}
				dst = appendString(dst, f)
				n++
			}
			for _, f := range e.flags {
				if n > 0 {
					dst = append(dst, ',')
				}
				dst = appendString(dst, f)
				n++
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	if m.entry != nil {
		dst = append(dst, `,"logpipe":{"entry":`...)
		dst = appendString(dst, m.entry)
		dst = append(dst, '}')
	}
	if len(m.fields) > 0 {
		dst = append(dst, `,"fields":{`...)
		for i, f := range m.fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, f.Key)
			dst = append(dst, ':')
			dst = appendString(dst, f.Value)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// validOffset reports whether a logpipe.offset header is a decimal number
// that can be written into the document as it is.
func validOffset(b []byte) bool {
	if len(b) == 0 || len(b) > 19 {
		return false
	}
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) == 1 || b[0] != '0'
}

// conflict is a member of a JSON line that a field of logpipe displaced.
type conflict struct {
	Field string `json:"field"`
	// Value is the line's value as JSON text, so that the conflicts of
	// different lines always map to the same field types.
	Value string `json:"value"`
}

// mergeJSON is the slow path of appendJSONLine for lines that use a name
// logpipe writes. The line is decoded, logpipe's fields are merged into its
// objects (so {"log":{"level":"info"}} keeps log.level beside log.offset),
// and where a line's member stands where a logpipe field goes (the same
// leaf, or a non-object where logpipe needs an object, or an engine
// metadata field such as _id) logpipe's field wins and the line's member is
// kept in logpipe.conflicts as {"field": "<dotted name>", "value": "<JSON>"}.
// Nothing is dropped silently, and _id and event.id always come from the
// record, never from the line.
func (e *encoder) mergeJSON(dst, value []byte, id string, ts time.Time, tsFound bool, cfg *topicConfig) []byte {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		// scanObject accepted the line, so this does not happen; index it
		// as text rather than lose it.
		dst = append(dst, `{"message":`...)
		dst = appendString(dst, value)
		return e.appendECS(dst, id, ts, ',')
	}
	var conflicts []conflict
	displace := func(field string, v any) {
		b, _ := json.Marshal(v)
		conflicts = append(conflicts, conflict{Field: field, Value: string(b)})
	}
	for k, v := range doc {
		if metadataFields[k] {
			displace(k, v)
			delete(doc, k)
		}
	}
	if tsFound && len(cfg.tsPath) == 1 && cfg.tsPath[0] == "@timestamp" {
		delete(doc, "@timestamp")
	}

	m := &e.meta
	set := func(path []string, v any) { setPath(doc, path, v, "", displace) }
	set([]string{"@timestamp"}, ts.UTC().Format(time.RFC3339Nano))
	set([]string{"event", "id"}, id)
	if m.host != nil {
		set([]string{"host", "name"}, string(m.host))
	}
	if m.agent != nil {
		set([]string{"agent", "name"}, string(m.agent))
	}
	if m.path != nil {
		set([]string{"log", "file", "path"}, string(m.path))
	}
	if validOffset(m.offset) {
		set([]string{"log", "offset"}, json.Number(m.offset))
	}
	if m.flags != nil || len(e.flags) > 0 {
		var flags []string
		for f := range strings.SplitSeq(string(m.flags), ",") {
			if f = strings.TrimSpace(f); f != "" {
				flags = append(flags, f)
			}
		}
		set([]string{"log", "flags"}, append(flags, e.flags...))
	}
	if m.entry != nil {
		set([]string{"logpipe", "entry"}, string(m.entry))
	}
	for _, f := range m.fields {
		set([]string{"fields", f.Key}, string(f.Value))
	}
	if len(conflicts) > 0 {
		slices.SortFunc(conflicts, func(a, b conflict) int { return strings.Compare(a.Field, b.Field) })
		setPath(doc, []string{"logpipe", "conflicts"}, conflicts, "", func(string, any) {})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		dst = append(dst, `{"message":`...)
		dst = appendString(dst, value)
		return e.appendECS(dst, id, ts, ',')
	}
	return append(dst, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// setPath sets the leaf at path in doc to v, creating objects on the way.
// prefix is the dotted path of doc itself. A member in the way (the same
// leaf, a non-object where an object must go, or a dotted member name
// covering part of the path, such as "log.file" for log.file.path) is
// handed to displace and removed.
func setPath(doc map[string]any, path []string, v any, prefix string, displace func(string, any)) {
	for j := len(path); j >= 2; j-- {
		if k := strings.Join(path[:j], "."); hasKey(doc, k) {
			displace(prefix+k, doc[k])
			delete(doc, k)
		}
	}
	// A dotted name below the leaf ("log.offset.n") would turn the leaf
	// into an object.
	under := strings.Join(path, ".") + "."
	for k, old := range doc {
		if strings.HasPrefix(k, under) {
			displace(prefix+k, old)
			delete(doc, k)
		}
	}
	k := path[0]
	if len(path) == 1 {
		if old, ok := doc[k]; ok {
			displace(prefix+k, old)
		}
		doc[k] = v
		return
	}
	child, ok := doc[k].(map[string]any)
	if !ok {
		if old, exists := doc[k]; exists {
			displace(prefix+k, old)
		}
		child = map[string]any{}
		doc[k] = child
	}
	setPath(child, path[1:], v, prefix+k+".", displace)
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// parseTimestamp reads a timestamp field's raw JSON value: a string with an
// RFC 3339 time or epoch milliseconds, or a number of epoch milliseconds.
func parseTimestamp(raw []byte) (time.Time, bool) {
	if len(raw) == 0 {
		return time.Time{}, false
	}
	if raw[0] == '"' {
		s := raw[1 : len(raw)-1]
		if bytes.IndexByte(s, '\\') >= 0 {
			var str string
			if json.Unmarshal(raw, &str) != nil {
				return time.Time{}, false
			}
			s = []byte(str)
		}
		if t, ok := parseRFC3339(s); ok {
			return t, true
		}
		return parseMillis(s)
	}
	return parseMillis(raw)
}

func parseRFC3339(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	return t, err == nil
}

// parseMillis reads epoch milliseconds, integer or not ("1764150000123",
// "1764150000123.5", "1.764150000123e12").
func parseMillis(b []byte) (time.Time, bool) {
	s := string(b)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != f || f > 1<<62 || f < -(1<<62) {
		return time.Time{}, false
	}
	whole := int64(f)
	return time.UnixMilli(whole).Add(time.Duration((f - float64(whole)) * float64(time.Millisecond))), true
}
