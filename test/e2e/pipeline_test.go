//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// pipe is one scenario's pipeline on the shared stack. Every name it uses
// is its own, so that scenarios run side by side without seeing each
// other: the etcd prefix (env), the Kafka topic e2e_<name> and its
// dead-letter topic e2e_<name>.dlq, the indices e2e-<name>-<date> and their
// template e2e-<name>, the consumer group, and the folder of its log files.
type pipe struct {
	*env
	name      string
	topicName string
	dlq       string
	index     string // the index name prefix; the indices are <index>-yyyy.MM.dd
	template  string
	group     string
	logs      string // the log files' folder, the agents' --allow-path
}

// newPipe removes what an earlier run against the same (external) engines
// may have left under the scenario's names and starts a controller.
func newPipe(t *testing.T, name string) *pipe {
	t.Helper()
	e := newEnv(t)
	p := &pipe{
		env:       e,
		name:      name,
		topicName: "e2e_" + name,
		dlq:       "e2e_" + name + ".dlq",
		index:     "e2e-" + name,
		template:  "e2e-" + name,
		group:     "e2e-" + name + "-" + runID,
		logs:      filepath.Join(e.dir, "logs"),
	}
	if err := os.MkdirAll(p.logs, 0o755); err != nil {
		t.Fatal(err)
	}
	p.deleteTopics(p.topicName, p.dlq)
	search(e.ctx(), "DELETE", "/"+p.index+"-*", nil)
	search(e.ctx(), "DELETE", "/_index_template/"+p.template, nil)
	e.startDaemon("controller", "controller", "--lease-ttl", leaseTTL.String())
	return p
}

// apply writes yaml into the test's folder and runs logpipectl apply on it.
func (p *pipe) apply(file, yaml string) {
	p.t.Helper()
	p.mustCtl("apply", "-f", p.writeFile(file, yaml))
}

// topicYAML is the scenario's Topic with an index block, and its
// dead-letter Topic.
func (p *pipe) topicYAML(partitions int) string {
	return fmt.Sprintf(`apiVersion: logpipe.io/v1alpha1
kind: Topic
metadata:
  name: %[1]s
spec:
  partitions: %[3]d
  index:
    name: %[4]s-{yyyy.MM.dd}
    deadLetterTopic: %[2]s
---
apiVersion: logpipe.io/v1alpha1
kind: Topic
metadata:
  name: %[2]s
spec:
  partitions: 1
`, p.topicName, p.dlq, partitions, p.index)
}

// templateYAML is the scenario's index template: one shard, no replica
// (one node), strings as keywords, and the fields the checks read typed.
// properties is YAML spliced in under mappings.properties, indented by 8.
func (p *pipe) templateYAML(properties string) string {
	return fmt.Sprintf(`apiVersion: logpipe.io/v1alpha1
kind: IndexTemplate
metadata:
  name: %s
spec:
  indexPatterns: ["%s-*"]
  priority: 300
  template:
    settings:
      number_of_shards: 1
      number_of_replicas: 0
    mappings:
      dynamic_templates:
        - strings_as_keyword:
            match_mapping_type: string
            mapping: {type: keyword, ignore_above: 1024}
      properties:
        "@timestamp": {type: date}
        seq: {type: long}
        event: {properties: {id: {type: keyword}}}
        log: {properties: {offset: {type: long}, file: {properties: {path: {type: keyword}}}}}
%s`, p.template, p.index, properties)
}

// setup applies the scenario's Topics and index template and waits until
// the controller made them.
func (p *pipe) setup(partitions int) {
	p.t.Helper()
	p.apply("pipeline.yaml", p.topicYAML(partitions)+"---\n"+p.templateYAML(""))
	p.waitMade(partitions)
}

// waitMade waits until Kafka has the topic with that many partitions and
// its dead-letter topic, and OpenSearch the template.
func (p *pipe) waitMade(partitions int) {
	p.t.Helper()
	took := eventually(p.t, 30*time.Second, "the scenario's topics and template", func(ctx context.Context) error {
		st, err := p.topic(ctx, p.topicName)
		if err != nil {
			return err
		}
		if st.partitions != partitions {
			return fmt.Errorf("%s has %d partitions, want %d", p.topicName, st.partitions, partitions)
		}
		if st, err = p.topic(ctx, p.dlq); err != nil {
			return err
		}
		if st.partitions < 1 {
			return fmt.Errorf("%s does not exist yet", p.dlq)
		}
		return templateInstalled(ctx, p.template, p.index+"-*")
	})
	p.t.Logf("the controller made topic %s (%d partitions), %s and index template %s in %v",
		p.topicName, partitions, p.dlq, p.template, took.Round(time.Millisecond))
}

// entryYAML is a CollectEntry shipping paths (relative to the logs folder)
// as JSON lines to the scenario's topic; extra is YAML spliced in under
// spec, indented by 2.
func (p *pipe) entryYAML(name string, paths []string, extra string) string {
	var ps []string
	for _, path := range paths {
		ps = append(ps, strconv.Quote(filepath.Join(p.logs, path)))
	}
	return fmt.Sprintf(`apiVersion: logpipe.io/v1alpha1
kind: CollectEntry
metadata:
  name: %s
spec:
  paths: [%s]
  topic: %s
  format: json
%s`, name, strings.Join(ps, ", "), p.topicName, extra)
}

// startAgent starts an agent that may read the logs folder, with its
// checkpoints in a folder of its own (kept across restarts), and waits
// until it has loaded the desired state.
func (p *pipe) startAgent(name string, args ...string) *daemon {
	p.t.Helper()
	args = append([]string{
		"--data-dir", filepath.Join(p.dir, "agent-"+name),
		"--allow-path", p.logs,
		"--status-interval", "1s",
	}, args...)
	d := p.startDaemon(name, "agent", args...)
	d.waitReady(p.t)
	return d
}

// startTransfer starts a transfer in the scenario's consumer group, with
// timings shortened for a test: a killed member is noticed after 6 s (the
// broker's minimum session timeout) and an engine that is back is retried
// within 2 s.
func (p *pipe) startTransfer(name string, args ...string) *daemon {
	p.t.Helper()
	args = append([]string{
		"--group", p.group,
		"--session-timeout", "6s",
		"--commit-interval", "500ms",
		"--flush-interval", "200ms",
		"--status-interval", "2s",
		"--retry-backoff-max", "2s",
	}, args...)
	return p.startDaemon(name, "transfer", args...)
}

// waitReady waits until the daemon's /readyz answers 200.
func (d *daemon) waitReady(t *testing.T) {
	t.Helper()
	eventually(t, 30*time.Second, d.name+" ready", func(ctx context.Context) error {
		_, err := httpGet(ctx, "http://"+d.httpAddr+"/readyz")
		return err
	})
}

// restart starts a daemon that was killed again, with the same flags.
func (d *daemon) restart(t *testing.T) {
	t.Helper()
	d.start(t)
}

// ---- writing log lines ----

// wline is one line a writer wrote, with where it wrote it.
type wline struct {
	key    string // the line's "k" member, unique in a scenario
	line   string // as written, without the newline
	path   string // the file's path when the line was written
	offset int64  // the line's first byte in that file
	entry  string // the CollectEntry that ships it
	at     time.Time
}

// ledger records every line the scenario wrote.
type ledger struct {
	mu    sync.Mutex
	lines []wline
	bytes int64
	files map[string]bool
}

func (l *ledger) add(ls []wline, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, ls...)
	l.bytes += n
	if l.files == nil {
		l.files = map[string]bool{}
	}
	for _, w := range ls {
		l.files[w.path] = true
	}
}

// snapshot returns the lines written so far.
func (l *ledger) snapshot() []wline {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func (l *ledger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d lines (%.1f MB) into %d paths", len(l.lines), float64(l.bytes)/1e6, len(l.files))
}

// rotation says how a writer rotates its file.
type rotation int

const (
	noRotation rotation = iota
	// renameRotation renames the file to <path>.<n>, writes a few more
	// lines to the still open descriptor (as an application does until it
	// reopens its log), then creates a new file at the path.
	renameRotation
	// copyTruncate copies the file to <path>.<n> and truncates it, as
	// logrotate's copytruncate does, then goes on writing to the same
	// descriptor.
	copyTruncate
)

// writer appends JSON lines {"k","src","seq","msg","pad"} to one file.
type writer struct {
	l     *ledger
	src   string
	entry string
	path  string
	pad   string
	// line, when set, makes the line of a key and sequence number instead.
	line func(key string, seq int) string

	f   *os.File
	off int64
	seq int

	rotate      rotation
	rotateBytes int64
	// beforeTruncate, for copyTruncate, waits until the agent has shipped
	// the file up to off: copytruncate loses whatever the agent has not
	// read when the file is truncated, for every tailer, so the scenario
	// rotates at a moment when nothing is pending.
	beforeTruncate func(w *writer) error
	rotations      atomic.Int32
}

// newWriter creates (or opens for appending) the file name in the logs
// folder; its lines belong to the CollectEntry entry.
func (p *pipe) newWriter(l *ledger, src, name, entry string) *writer {
	p.t.Helper()
	w := &writer{l: l, src: src, entry: entry, path: filepath.Join(p.logs, name), pad: strings.Repeat("x", 100)}
	if err := w.open(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { w.f.Close() })
	return w
}

func (w *writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.off = f, st.Size()
	return nil
}

// write appends n lines in one write.
func (w *writer) write(n int) error {
	var buf bytes.Buffer
	ls := make([]wline, 0, n)
	now := time.Now()
	for range n {
		key := fmt.Sprintf("%s-%07d", w.src, w.seq)
		var line string
		if w.line != nil {
			line = w.line(key, w.seq)
		} else {
			line = fmt.Sprintf(`{"k":%q,"src":%q,"seq":%d,"msg":"line %d of %s","pad":%q}`, key, w.src, w.seq, w.seq, w.src, w.pad)
		}
		ls = append(ls, wline{key: key, line: line, path: w.path, offset: w.off + int64(buf.Len()), entry: w.entry, at: now})
		buf.WriteString(line)
		buf.WriteByte('\n')
		w.seq++
	}
	if _, err := w.f.Write(buf.Bytes()); err != nil {
		return err
	}
	w.off += int64(buf.Len())
	w.l.add(ls, int64(buf.Len()))
	if w.rotate != noRotation && w.off >= w.rotateBytes {
		return w.doRotate()
	}
	return nil
}

func (w *writer) doRotate() error {
	old := fmt.Sprintf("%s.%d", w.path, w.rotations.Add(1))
	switch w.rotate {
	case renameRotation:
		if err := os.Rename(w.path, old); err != nil {
			return err
		}
		// The application has not reopened its log yet: these lines go to
		// the renamed file, under the path it was opened at.
		rot := w.rotate
		w.rotate = noRotation
		err := w.write(20)
		w.rotate = rot
		if err != nil {
			return err
		}
		if err := w.f.Close(); err != nil {
			return err
		}
		return w.open()
	case copyTruncate:
		if w.beforeTruncate != nil {
			if err := w.beforeTruncate(w); err != nil {
				return err
			}
		}
		src, err := os.Open(w.path)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := os.Create(old)
		if err != nil {
			return err
		}
		if _, err := io.Copy(dst, src); err != nil {
			dst.Close()
			return err
		}
		if err := dst.Close(); err != nil {
			return err
		}
		if err := w.f.Truncate(0); err != nil {
			return err
		}
		w.off = 0 // O_APPEND: the next write lands at the new end, 0
	}
	return nil
}

// stream writes lines to a writer in the background, rate lines a second
// in batches every 20 ms, until stopped, for at most maxFor and maxLines.
type stream struct {
	w      *writer
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

const (
	streamMaxFor   = 3 * time.Minute
	streamMaxLines = 200_000
)

func startStream(w *writer, rate int) *stream {
	ctx, cancel := context.WithTimeout(context.Background(), streamMaxFor)
	s := &stream{w: w, cancel: cancel, done: make(chan struct{})}
	batch := max(1, rate/50)
	go func() {
		defer close(s.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 0; n < streamMaxLines; n += batch {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := w.write(batch); err != nil {
				s.err = fmt.Errorf("writing %s: %w", w.path, err)
				return
			}
		}
	}()
	return s
}

// stop stops the stream and fails the test if writing failed.
func (s *stream) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	<-s.done
	if s.err != nil {
		t.Fatal(s.err)
	}
}

type streams []*stream

func startStreams(rate int, ws ...*writer) streams {
	var ss streams
	for _, w := range ws {
		ss = append(ss, startStream(w, rate))
	}
	return ss
}

func (ss streams) stop(t *testing.T) {
	t.Helper()
	for _, s := range ss {
		s.stop(t)
	}
}

// ---- reading the index ----

// doc is a document as a search returns it.
type doc struct {
	ID      string         `json:"_id"`
	Index   string         `json:"_index"`
	Version int64          `json:"_version"`
	Source  map[string]any `json:"_source"`
}

// field returns the value at a dotted path of the source.
func (d doc) field(path string) any {
	var v any = d.Source
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func (d doc) str(path string) string {
	s, _ := d.field(path).(string)
	return s
}

// count returns the index's _count.
func (p *pipe) count(ctx context.Context, query string) (int, error) {
	path := "/" + p.index + "-*/_count"
	if query != "" {
		path += "?q=" + query
	}
	code, body, err := search(ctx, "GET", path, nil)
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("GET %s: %d %s", path, code, body)
	}
	var c struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return 0, fmt.Errorf("GET %s: %v in %s", path, err, body)
	}
	return c.Count, nil
}

// fetchAll refreshes the scenario's indices and returns their _count and
// every document, read with a scroll.
func (p *pipe) fetchAll(ctx context.Context) (int, []doc, error) {
	pattern := "/" + p.index + "-*"
	if code, body, err := search(ctx, "POST", pattern+"/_refresh", nil); err != nil || code != 200 {
		return 0, nil, fmt.Errorf("POST %s/_refresh: %d %s %v", pattern, code, body, err)
	}
	n, err := p.count(ctx, "")
	if err != nil {
		return 0, nil, err
	}
	type page struct {
		ScrollID string `json:"_scroll_id"`
		Hits     struct {
			Hits []doc `json:"hits"`
		} `json:"hits"`
	}
	const size = 5000
	code, body, err := search(ctx, "POST", pattern+"/_search?scroll=1m", []byte(fmt.Sprintf(`{"size":%d,"sort":["_doc"],"version":true}`, size)))
	var docs []doc
	var scrollID string
	for i := 0; ; i++ {
		if err != nil {
			return 0, nil, err
		}
		if code != 200 {
			return 0, nil, fmt.Errorf("scroll of %s: %d %s", pattern, code, body)
		}
		var pg page
		if err := json.Unmarshal(body, &pg); err != nil {
			return 0, nil, fmt.Errorf("scroll of %s: %v", pattern, err)
		}
		scrollID = pg.ScrollID
		docs = append(docs, pg.Hits.Hits...)
		if len(pg.Hits.Hits) == 0 || i > n/size+10 {
			break
		}
		req, _ := json.Marshal(map[string]string{"scroll": "1m", "scroll_id": scrollID})
		code, body, err = search(ctx, "POST", "/_search/scroll", req)
	}
	if scrollID != "" {
		req, _ := json.Marshal(map[string]string{"scroll_id": scrollID})
		search(ctx, "DELETE", "/_search/scroll", req)
	}
	return n, docs, nil
}

// waitIndexed waits until the index counts at least n documents and the
// consumer group has committed everything Kafka holds, so that nothing is
// still on its way, and returns how long that took.
func (p *pipe) waitIndexed(t *testing.T, n int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	last, lastLog := -1, time.Now()
	eventually(t, within, fmt.Sprintf("%d documents in %s-*", n, p.index), func(ctx context.Context) error {
		c, err := p.count(ctx, "")
		if err != nil {
			return err
		}
		if c != last && time.Since(lastLog) > 10*time.Second {
			t.Logf("  ... %d of %d documents indexed after %v", c, n, time.Since(start).Round(time.Second))
			last, lastLog = c, time.Now()
		}
		lag := p.caughtUp(ctx)
		if c < n {
			if lag == nil {
				lag = errors.New("the group has committed everything Kafka holds")
			}
			return fmt.Errorf("%d documents (%v)", c, lag)
		}
		return lag
	})
	return time.Since(start)
}

// caughtUp says whether the scenario's group has committed the end offset
// of every partition of its topic that holds records.
func (p *pipe) caughtUp(ctx context.Context) error {
	ends, err := p.admin.ListEndOffsets(ctx, p.topicName)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return err
	}
	committed, err := p.admin.FetchOffsets(ctx, p.group)
	if err != nil {
		return err
	}
	var behind []string
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset <= 0 {
			return
		}
		c, ok := committed.Lookup(p.topicName, o.Partition)
		if !ok || c.At < o.Offset {
			at := int64(-1)
			if ok {
				at = c.At
			}
			behind = append(behind, fmt.Sprintf("partition %d committed %d of %d", o.Partition, at, o.Offset))
		}
	})
	if len(behind) > 0 {
		return fmt.Errorf("group %s: %s", p.group, strings.Join(behind, ", "))
	}
	return nil
}

// indexCheck is what checkIndex found.
type indexCheck struct {
	count int            // _count
	docs  []doc          // every document
	byKey map[string]doc // by the line's key
}

// checkIndex compares the index with the lines written, exactly: every
// line is one document whose _id is its event.id, whose members are the
// line's, and whose log.file.path, log.offset and logpipe.entry say where
// it was written; no line is missing, none is there twice, and there is no
// other document. It logs what it wrote and found, and fails the test on
// any difference.
func (p *pipe) checkIndex(t *testing.T, what string, want []wline, l *ledger) indexCheck {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	n, docs, err := p.fetchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wanted := map[string]wline{}
	for _, w := range want {
		wanted[w.key] = w
	}
	ic := indexCheck{count: n, docs: docs, byKey: map[string]doc{}}
	var dups, extra, wrong []string
	for _, d := range docs {
		key := d.str("k")
		w, ok := wanted[key]
		if !ok {
			extra = append(extra, fmt.Sprintf("%s: %v", d.ID, d.Source))
			continue
		}
		if prev, seen := ic.byKey[key]; seen {
			dups = append(dups, fmt.Sprintf("line %s as %s and %s", key, prev.ID, d.ID))
			continue
		}
		ic.byKey[key] = d
		if msg := docDiffers(d, w); msg != "" {
			wrong = append(wrong, fmt.Sprintf("line %s (%s): %s", key, d.ID, msg))
		}
	}
	var missing []string
	for _, w := range want {
		if _, ok := ic.byKey[w.key]; !ok {
			missing = append(missing, fmt.Sprintf("%s (%s at %d)", w.key, filepath.Base(w.path), w.offset))
		}
	}
	wrote := "wrote " + l.String()
	if all := len(l.snapshot()); all != len(want) {
		wrote += fmt.Sprintf(", %d of them to be indexed", len(want))
	}
	rewritten := 0
	for _, d := range docs {
		if d.Version > 1 {
			rewritten++
		}
	}
	t.Logf("%s: %s; %s-* has _count %d and %d documents read by scroll: "+
		"%d lines found, %d missing, %d twice, %d unexpected documents, %d differing from their line; "+
		"%d documents were written more than once (_version > 1)",
		what, wrote, p.index, n, len(docs), len(ic.byKey), len(missing), len(dups), len(extra), len(wrong), rewritten)
	report := func(kind string, items []string) {
		if len(items) == 0 {
			return
		}
		sort.Strings(items)
		if len(items) > 10 {
			items = append(items[:10], fmt.Sprintf("... and %d more", len(items)-10))
		}
		t.Errorf("%s: %s:\n%s", what, kind, indent(strings.Join(items, "\n")))
	}
	report("lines missing from the index", missing)
	report("lines indexed twice", dups)
	report("documents that are no line written", extra)
	report("documents that differ from their line", wrong)
	if n != len(docs) {
		t.Errorf("%s: _count says %d, the scroll read %d documents", what, n, len(docs))
	}
	if t.Failed() {
		t.FailNow()
	}
	return ic
}

// docDiffers says how a document differs from the line it indexes, or "".
func docDiffers(d doc, w wline) string {
	var line map[string]any
	if err := json.Unmarshal([]byte(w.line), &line); err != nil {
		return "the line is no JSON: " + err.Error()
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(line)) {
		if got, _ := json.Marshal(d.Source[k]); string(got) != mustJSON(line[k]) {
			diffs = append(diffs, fmt.Sprintf("%s is %s, the line has %s", k, got, mustJSON(line[k])))
		}
	}
	if id := d.str("event.id"); id != d.ID {
		diffs = append(diffs, fmt.Sprintf("event.id %q is not the _id", id))
	}
	if got := d.str("log.file.path"); got != w.path {
		diffs = append(diffs, fmt.Sprintf("log.file.path %q, written to %q", got, w.path))
	}
	if got, ok := d.field("log.offset").(float64); !ok || int64(got) != w.offset {
		diffs = append(diffs, fmt.Sprintf("log.offset %v, written at %d", d.field("log.offset"), w.offset))
	}
	if w.entry != "" && d.str("logpipe.entry") != w.entry {
		diffs = append(diffs, fmt.Sprintf("logpipe.entry %q, shipped by %q", d.str("logpipe.entry"), w.entry))
	}
	return strings.Join(diffs, "; ")
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ---- reading Kafka ----

// readTopic reads every record of a topic, from its start offsets to the
// end offsets it has when called.
func (p *pipe) readTopic(ctx context.Context, topic string) ([]*kgo.Record, error) {
	starts, err := p.admin.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := p.admin.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	from := map[int32]kgo.Offset{}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		if o.Offset > s.Offset {
			from[o.Partition] = kgo.NewOffset().At(s.Offset)
			want[o.Partition] = o.Offset
		}
	})
	if len(from) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(stk.KafkaBrokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var recs []*kgo.Record
	next := map[int32]int64{}
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %d records so far, partitions %v not read to their end: %w", topic, len(recs), slices.Sorted(maps.Keys(want)), err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, fmt.Errorf("reading %s: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset < end {
				recs = append(recs, r)
			}
			next[r.Partition] = r.Offset + 1
		})
		for part, end := range want {
			if next[part] >= end {
				delete(want, part)
			}
		}
	}
	return recs, nil
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// replays counts the records of a topic per event ID, for the records of
// the entries given (all when none): records, distinct IDs, and the IDs
// seen more than once.
type replayCount struct {
	records, distinct int
	replayed          map[string]int // event ID -> times
}

func countReplays(recs []*kgo.Record, entries ...string) replayCount {
	seen := map[string]int{}
	rc := replayCount{replayed: map[string]int{}}
	for _, r := range recs {
		if len(entries) > 0 {
			if e, _ := header(r, "logpipe.entry"); !slices.Contains(entries, e) {
				continue
			}
		}
		id, _ := header(r, "logpipe.id")
		rc.records++
		seen[id]++
	}
	rc.distinct = len(seen)
	for id, n := range seen {
		if n > 1 {
			rc.replayed[id] = n
		}
	}
	return rc
}

// ---- status ----

// entryStatus is the part of `logpipectl get collectentries -o json` the
// scenarios read.
type entryStatus struct {
	Metadata struct {
		Name       string `json:"name"`
		Generation int64  `json:"generation"`
	} `json:"metadata"`
	Status struct {
		Agents []struct {
			Agent              string `json:"agent"`
			ObservedGeneration int64  `json:"observedGeneration"`
			FilesTailed        int    `json:"filesTailed"`
			Files              []struct {
				Path   string `json:"path"`
				Offset int64  `json:"offset"`
				Size   int64  `json:"size"`
			} `json:"files"`
		} `json:"agents"`
	} `json:"status"`
}

func (p *pipe) entries() (map[string]entryStatus, error) {
	out, err := p.ctl("get", "collectentries", "-o", "json")
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []entryStatus `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("logpipectl get collectentries -o json: %v in %q", err, out)
	}
	m := map[string]entryStatus{}
	for _, it := range list.Items {
		m[it.Metadata.Name] = it
	}
	return m, nil
}

// waitShipped waits until the agents report, for entry, the file at path
// checkpointed at offset: every line before it acknowledged by Kafka.
func (p *pipe) waitShipped(entry, path string, offset int64) error {
	ctx, cancel := context.WithTimeout(p.t.Context(), 30*time.Second)
	defer cancel()
	var last string
	for {
		es, err := p.entries()
		if err == nil {
			last = fmt.Sprintf("no report of %s in entry %s", path, entry)
			for _, a := range es[entry].Status.Agents {
				for _, f := range a.Files {
					if f.Path == path {
						last = fmt.Sprintf("%s reports %s checkpointed at %d of %d bytes", a.Agent, path, f.Offset, f.Size)
						if f.Offset == offset {
							return nil
						}
					}
				}
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the agent did not ship %s up to %d: %s", path, offset, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ctlExit runs logpipectl and returns its exit code, stdout and stderr.
func (e *env) ctlExit(args ...string) (int, string, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "logpipectl"), args...)
	cmd.Env = append(os.Environ(),
		"LOGPIPE_ETCD_ENDPOINTS="+stk.EtcdEndpoint,
		"LOGPIPE_ETCD_PREFIX="+e.prefix,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	default:
		e.t.Fatalf("logpipectl %s: %v", strings.Join(args, " "), err)
		return -1, "", ""
	}
}

// sleep waits d unless the test ends first.
func sleep(t *testing.T, d time.Duration) {
	select {
	case <-t.Context().Done():
	case <-time.After(d):
	}
}

// partitionCounts returns the records per partition of a topic (end minus
// start offset).
func (p *pipe) partitionCounts(ctx context.Context, topic string) (map[int32]int64, error) {
	starts, err := p.admin.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := p.admin.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	m := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(topic, o.Partition)
		m[o.Partition] = o.Offset - s.Offset
	})
	return m, nil
}
