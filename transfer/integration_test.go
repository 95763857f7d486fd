package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/transfer/transfertest"
)

const webIndex = "web-{yyyy.MM.dd}"

// checkExactlyOnce fails unless the engine holds exactly the documents of
// want: every record's document under its own _id, and nothing else.
func checkExactlyOnce(t *testing.T, e *transfertest.Engine, want map[transfertest.DocKey]*kgo.Record) {
	t.Helper()
	docs := e.Docs()
	if len(docs) != len(want) {
		t.Errorf("engine holds %d documents, want %d", len(docs), len(want))
	}
	missing := 0
	for k := range want {
		if docs[k] == nil {
			if missing < 3 {
				t.Errorf("document %s/%s missing", k.Index, k.ID)
			}
			missing++
		}
	}
	for k := range docs {
		if want[k] == nil {
			t.Errorf("unexpected document %s/%s", k.Index, k.ID)
			break
		}
	}
	if missing > 0 {
		t.Errorf("%d documents missing", missing)
	}
}

func (h *harness) waitCommitted(group, topic string, partitions int32, within time.Duration) {
	h.t.Helper()
	end := h.endOffsets(topic, partitions)
	var got []int64
	deadline := time.Now().Add(within)
	for {
		got = h.committed(group, topic, partitions)
		if slices.EqualFunc(got, end, func(c, e int64) bool { return c == e || c == -1 && e == 0 }) {
			return // an empty partition has nothing to commit
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("group %s commits %s at %v, not at its end offsets %v, after %v", group, topic, got, end, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIndexesEveryRecordExactlyOnce(t *testing.T) {
	h := newHarness(t)
	h.topic("web_log", 4, &api.TopicIndex{Name: webIndex})
	const n = 100_000
	recs := jsonLines("web_log", n, 64)
	h.produce(recs)

	start := time.Now()
	r := h.start("t1", nil)
	if got := h.engine.WaitCount(n, 2*time.Minute); got != n {
		t.Fatalf("engine holds %d documents after 2m, want %d; logs:\n%s", got, n, r.logs)
	}
	t.Logf("%d records indexed in %v", n, time.Since(start).Round(time.Millisecond))
	h.waitCommitted("test-group", "web_log", 4, 10*time.Second)
	checkExactlyOnce(t, h.engine, expectedKeys(recs, "web-2026.11.26"))
	if w := h.engine.Writes(); w != n {
		t.Errorf("engine accepted %d writes, want %d (no record sent twice)", w, n)
	}
	if got := testutil.ToFloat64(r.tr.metrics.indexed.WithLabelValues("web_log")); got != n {
		t.Errorf("docs indexed metric = %v, want %d", got, n)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run returned %v", err)
	}
}

// hashPercent deterministically picks about pct% of IDs.
func hashPercent(id string, pct uint32) bool {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()%100 < pct
}

func TestRetriesOnlyRefusedItems(t *testing.T) {
	h := newHarness(t)
	refused := 0
	h.engine.ItemFault = func(k transfertest.DocKey, attempt int, _ []byte) transfertest.Fault {
		if attempt == 1 && hashPercent(k.ID, 10) {
			refused++ // the engine's handler holds its lock here
			return transfertest.Fault{Status: 429, Type: "es_rejected_execution_exception", Reason: "rejected execution of coordinating operation"}
		}
		return transfertest.Fault{}
	}
	h.topic("web_log", 4, &api.TopicIndex{Name: webIndex})
	const n = 100_000
	recs := jsonLines("web_log", n, 64)
	want := expectedKeys(recs, "web-2026.11.26")
	wantRefused := 0
	for k := range want {
		if hashPercent(k.ID, 10) {
			wantRefused++
		}
	}
	h.produce(recs)
	r := h.start("t1", nil)
	if got := h.engine.WaitCount(n, 2*time.Minute); got != n {
		t.Fatalf("engine holds %d documents, want %d; logs:\n%s", got, n, r.logs)
	}
	h.waitCommitted("test-group", "web_log", 4, 10*time.Second)
	checkExactlyOnce(t, h.engine, want)
	if w := h.engine.Writes(); w != n {
		t.Errorf("engine accepted %d writes, want %d", w, n)
	}
	retried := testutil.ToFloat64(r.tr.metrics.retried.WithLabelValues("web_log"))
	if int(retried) != wantRefused {
		t.Errorf("retried metric = %v, want %d (only the refused items are sent again)", retried, wantRefused)
	}
	if got := h.engine.Requests(); got < 2 {
		t.Errorf("engine saw %d requests", got)
	}
	_ = r.stop(t)
}

func TestDeadLettersRejectedDocuments(t *testing.T) {
	h := newHarness(t)
	h.engine.ItemFault = func(k transfertest.DocKey, _ int, _ []byte) transfertest.Fault {
		if hashPercent(k.ID, 1) {
			return transfertest.Fault{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse field [status] of type [long]"}
		}
		return transfertest.Fault{}
	}
	h.topic("web_log", 4, &api.TopicIndex{Name: webIndex, DeadLetterTopic: "web_log.rejected"})
	const n = 20_000
	recs := jsonLines("web_log", n, 16)
	all := expectedKeys(recs, "web-2026.11.26")
	indexed := map[transfertest.DocKey]*kgo.Record{}
	rejected := map[string]*kgo.Record{}
	var wantDead int
	for k, rec := range all {
		if hashPercent(k.ID, 1) {
			rejected[k.ID] = rec
			wantDead++
		} else {
			indexed[k] = rec
		}
	}
	h.produce(recs)
	r := h.start("t1", nil)
	h.waitCommitted("test-group", "web_log", 4, time.Minute)
	checkExactlyOnce(t, h.engine, indexed)

	got := h.consumeAll("web_log.rejected", len(rejected))
	if len(got) != len(rejected) {
		t.Fatalf("dead-letter topic holds %d records, want %d", len(got), len(rejected))
	}
	for _, dl := range got {
		id := transfertest.Header(dl, "logpipe.id")
		orig := rejected[id]
		if orig == nil {
			t.Fatalf("dead-letter record %s was not rejected", id)
		}
		delete(rejected, id)
		if string(dl.Value) != string(orig.Value) {
			t.Errorf("dead-letter value %q, want the original %q", dl.Value, orig.Value)
		}
		for _, h := range orig.Headers {
			if transfertest.Header(dl, h.Key) != string(h.Value) {
				t.Errorf("dead-letter header %s = %q, want %q", h.Key, transfertest.Header(dl, h.Key), h.Value)
			}
		}
		for key, want := range map[string]string{
			HeaderErrorStatus: "400",
			HeaderErrorType:   "mapper_parsing_exception",
			HeaderErrorReason: "failed to parse field [status] of type [long]",
			HeaderErrorIndex:  "web-2026.11.26",
			HeaderSourceTopic: "web_log",
		} {
			if got := transfertest.Header(dl, key); got != want {
				t.Errorf("dead-letter header %s = %q, want %q", key, got, want)
			}
		}
	}
	if len(rejected) != 0 {
		t.Errorf("%d rejected records missing from the dead-letter topic", len(rejected))
	}
	if got := testutil.ToFloat64(r.tr.metrics.deadLettered.WithLabelValues("web_log")); int(got) != wantDead {
		t.Errorf("dead-lettered metric = %v, want %d", got, wantDead)
	}
	if wantDead < 100 || wantDead > 300 {
		t.Errorf("%d of %d records rejected; the test means about 1%%", wantDead, n)
	}
	_ = r.stop(t)
}

// consumeAll reads topic from its start until it has n records or 10 s
// pass.
func (h *harness) consumeAll(topic string, n int) []*kgo.Record {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.cluster.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func TestEngineOutagePausesAndRecovers(t *testing.T) {
	h := newHarness(t)
	down := make(chan struct{})
	h.engine.RequestFault = func(int, []byte) int {
		select {
		case <-down:
			return 0
		default:
			return 503
		}
	}
	h.topic("web_log", 2, &api.TopicIndex{Name: webIndex})
	const n = 2_000
	recs := jsonLines("web_log", n, 4)
	h.produce(recs)
	r := h.start("t1", nil)

	waitFor(t, 10*time.Second, "Ready reports the search engine", func() bool {
		err := r.tr.Ready()
		return err != nil && strings.Contains(err.Error(), "search engine") && strings.Contains(err.Error(), "HTTP 503")
	})
	waitFor(t, 10*time.Second, "fetching is paused", func() bool {
		return testutil.ToFloat64(r.tr.metrics.paused) > 0
	})
	waitFor(t, 10*time.Second, "the topic's report says Ready=False Backpressure with lag", func() bool {
		st := h.report("web_log", "t1")
		c := api.FindCondition(st.Conditions, api.ConditionReady)
		return c != nil && c.Status == api.ConditionFalse && c.Reason == api.ReasonBackpressure && st.Lag == n
	})
	if got := h.committed("test-group", "web_log", 2); !slices.Equal(got, []int64{-1, -1}) {
		t.Fatalf("committed %v while nothing was indexed, want none", got)
	}

	close(down)
	if got := h.engine.WaitCount(n, 30*time.Second); got != n {
		t.Fatalf("engine holds %d documents after recovery, want %d", got, n)
	}
	h.waitCommitted("test-group", "web_log", 2, 10*time.Second)
	waitFor(t, 10*time.Second, "Ready clears", func() bool { return r.tr.Ready() == nil })
	waitFor(t, 10*time.Second, "the report says Ready=True Consuming with lag 0", func() bool {
		st := h.report("web_log", "t1")
		c := api.FindCondition(st.Conditions, api.ConditionReady)
		return c != nil && c.Status == api.ConditionTrue && c.Reason == api.ReasonConsuming && st.Lag == 0
	})
	if got := testutil.ToFloat64(r.tr.metrics.paused); got != 0 {
		t.Errorf("%v partitions still paused after recovery", got)
	}
	checkExactlyOnce(t, h.engine, expectedKeys(recs, "web-2026.11.26"))
	_ = r.stop(t)
}

// report returns the transfer's report on a topic, zero when absent.
func (h *harness) report(topic, transfer string) api.TopicConsumerStatus {
	o, err := h.store.Get(context.Background(), api.KindTopic, topic)
	if err != nil {
		return api.TopicConsumerStatus{}
	}
	for _, c := range o.(*api.Topic).Status.Consumers {
		if c.Transfer == transfer {
			return c
		}
	}
	return api.TopicConsumerStatus{}
}

func TestKafkaOutagePausesAndRecovers(t *testing.T) {
	h := newHarness(t)
	h.topic("web_log", 2, &api.TopicIndex{Name: webIndex})
	first := jsonLines("web_log", 1000, 4)
	h.produce(first)
	r := h.start("t1", nil)
	if got := h.engine.WaitCount(1000, 30*time.Second); got != 1000 {
		t.Fatalf("engine holds %d documents, want 1000", got)
	}

	h.kafka.setCut(true)
	waitFor(t, 30*time.Second, "Ready reports Kafka", func() bool {
		err := r.tr.Ready()
		return err != nil && strings.Contains(err.Error(), "kafka")
	})
	waitFor(t, 30*time.Second, "the topic's report says Ready=False Backpressure", func() bool {
		c := api.FindCondition(h.report("web_log", "t1").Conditions, api.ConditionReady)
		return c != nil && c.Status == api.ConditionFalse && c.Reason == api.ReasonBackpressure
	})

	h.kafka.setCut(false)
	second := make([]*kgo.Record, 1000)
	for i := range second {
		second[i] = transfertest.Record(transfertest.Line{Topic: "web_log", FileID: "after", Offset: int64(i), Value: "after the outage"})
	}
	h.produce(second)
	if got := h.engine.WaitCount(2000, 60*time.Second); got != 2000 {
		t.Fatalf("engine holds %d documents after Kafka came back, want 2000; logs:\n%s", got, r.logs)
	}
	h.waitCommitted("test-group", "web_log", 2, 30*time.Second)
	waitFor(t, 30*time.Second, "Ready clears", func() bool { return r.tr.Ready() == nil })
	checkExactlyOnce(t, h.engine, expectedKeys(append(first, second...), "web-2026.11.26"))
	_ = r.stop(t)
}

func TestFollowsTopicsComingAndGoing(t *testing.T) {
	h := newHarness(t)
	h.topic("a", 2, &api.TopicIndex{Name: "a"})
	h.produce(jsonLines("a", 100, 2))
	r := h.start("t1", nil)
	if got := h.engine.WaitCount(100, 30*time.Second); got != 100 {
		t.Fatalf("engine holds %d documents, want 100 of topic a", got)
	}

	h.topic("b", 2, &api.TopicIndex{Name: "b", DataStream: true, Pipeline: "web"})
	bRecs := jsonLines("b", 100, 2)
	h.produce(bRecs)
	if got := h.engine.WaitCount(200, 30*time.Second); got != 200 {
		t.Fatalf("engine holds %d documents, want 200 once b is consumed", got)
	}
	var sawPipeline bool
	for _, p := range h.engine.Params() {
		sawPipeline = sawPipeline || strings.Contains(p, "pipeline=web")
	}
	if !sawPipeline {
		t.Errorf("no bulk request carried pipeline=web; params %q", h.engine.Params())
	}

	// Without its index block, a is no longer consumed; b goes on.
	h.apply("a", 2, nil)
	waitFor(t, 10*time.Second, "topic a leaves the subscription", func() bool {
		return r.tr.topic("a") == nil && !slices.Contains(r.tr.kcl.GetConsumeTopics(), "a")
	})
	later := jsonLines("a", 200, 2)[100:]
	h.produce(later)
	bLater := make([]*kgo.Record, 50)
	for i := range bLater {
		bLater[i] = transfertest.Record(transfertest.Line{Topic: "b", FileID: "later", Offset: int64(i), Value: "text line"})
	}
	h.produce(bLater)
	if got := h.engine.WaitCount(250, 30*time.Second); got != 250 {
		t.Fatalf("engine holds %d documents, want 250 (b's new records, not a's)", got)
	}
	for _, rec := range later {
		if h.engine.Doc(transfertest.DocKey{Index: "a", ID: transfertest.Header(rec, "logpipe.id")}) != nil {
			t.Fatalf("record of a indexed after its index block was removed")
		}
	}
	waitFor(t, 10*time.Second, "the report on a is gone", func() bool { return h.report("a", "t1").Transfer == "" })
	var doc map[string]any
	_ = json.Unmarshal(h.engine.Doc(transfertest.DocKey{Index: "b", ID: transfertest.Header(bLater[0], "logpipe.id")}), &doc)
	if doc["message"] != "text line" {
		t.Errorf("text record indexed as %v, want message %q", doc, "text line")
	}
	_ = r.stop(t)
}

func TestTransfersShareTheGroup(t *testing.T) {
	h := newHarness(t)
	h.topic("web_log", 6, &api.TopicIndex{Name: webIndex})
	const n = 30_000
	recs := jsonLines("web_log", n, 12)
	h.produce(recs[:n/2])
	r1 := h.start("t1", nil)
	if got := h.engine.WaitCount(n/4, 30*time.Second); got < n/4 {
		t.Fatalf("engine holds %d documents", got)
	}
	// A second transfer joins mid-stream: the first revokes some
	// partitions, committing what it finished.
	r2 := h.start("t2", nil)
	waitFor(t, 20*time.Second, "both transfers own partitions", func() bool {
		return len(r1.tr.liveParts()) > 0 && len(r2.tr.liveParts()) > 0 &&
			len(r1.tr.liveParts())+len(r2.tr.liveParts()) == 6
	})
	h.produce(recs[n/2:])
	if got := h.engine.WaitCount(n, time.Minute); got != n {
		t.Fatalf("engine holds %d documents, want %d", got, n)
	}
	h.waitCommitted("test-group", "web_log", 6, 20*time.Second)
	checkExactlyOnce(t, h.engine, expectedKeys(recs, "web-2026.11.26"))
	waitFor(t, 10*time.Second, "both transfers report on the topic", func() bool {
		return h.report("web_log", "t1").Group == "test-group" && h.report("web_log", "t2").Group == "test-group"
	})
	_ = r2.stop(t)
	_ = r1.stop(t)
}

func TestSplitsRequestsTheEngineRefusesWhole(t *testing.T) {
	h := newHarness(t)
	// Requests of more than 64 documents are too large, and a request
	// holding the poison document is refused whole with a 400.
	h.engine.RequestFault = func(_ int, body []byte) int {
		switch {
		case bytes.Count(body, []byte("\n")) > 2*64:
			return 413
		case bytes.Contains(body, []byte("poison")):
			return 400
		}
		return 0
	}
	h.topic("web_log", 1, &api.TopicIndex{Name: webIndex})
	recs := jsonLines("web_log", 1000, 1)
	poison := transfertest.Record(transfertest.Line{Topic: "web_log", FileID: "p", Value: "poison"})
	recs = append(recs[:500:500], append([]*kgo.Record{poison}, recs[500:]...)...)
	h.produce(recs)
	r := h.start("t1", nil)
	h.waitCommitted("test-group", "web_log", 1, 30*time.Second)
	want := expectedKeys(recs, "web-2026.11.26")
	delete(want, transfertest.DocKey{Index: "web-2026.11.26", ID: transfertest.Header(poison, "logpipe.id")})
	checkExactlyOnce(t, h.engine, want)
	dl := h.consumeAll("web_log.dlq", 1)
	if len(dl) != 1 || string(dl[0].Value) != "poison" || transfertest.Header(dl[0], HeaderErrorStatus) != "400" ||
		transfertest.Header(dl[0], HeaderErrorType) != "test_fault" {
		t.Fatalf("dead-letter topic holds %d records, want the poison one with status 400", len(dl))
	}
	_ = r.stop(t)
}

// TestShutdownCommitsExactlyWhatWasIndexed stops a transfer mid-stream: the
// graceful shutdown flushes what was polled and commits it, and the commit
// never covers a record that is not in the index.
func TestShutdownCommitsExactlyWhatWasIndexed(t *testing.T) {
	h := newHarness(t)
	h.engine.RequestFault = func(int, []byte) int {
		time.Sleep(time.Millisecond) // a slow engine, so the stop lands mid-stream
		return 0
	}
	h.topic("web_log", 2, &api.TopicIndex{Name: webIndex})
	const n = 20_000
	recs := jsonLines("web_log", n, 8)
	h.produce(recs)
	r := h.start("t1", func(o *Options) { o.BulkMaxDocs = 100; o.Workers = 2 })
	h.engine.WaitCount(n/5, 30*time.Second)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	indexed := h.engine.Count()
	committed := h.committed("test-group", "web_log", 2)
	if indexed >= n {
		t.Fatalf("all %d records indexed before the stop; the test needs a slower engine", indexed)
	}
	var sum int64
	for _, c := range committed {
		sum += max(c, 0)
	}
	if sum != int64(indexed) {
		t.Errorf("committed %v (%d records) after a graceful stop with %d documents indexed; want them equal", committed, sum, indexed)
	}
	for _, rec := range recs {
		key := transfertest.DocKey{Index: "web-2026.11.26", ID: transfertest.Header(rec, "logpipe.id")}
		if rec.Offset < committed[rec.Partition] && h.engine.Doc(key) == nil {
			t.Fatalf("record %d/%d is below the commit %d but not indexed", rec.Partition, rec.Offset, committed[rec.Partition])
		}
	}
	t.Logf("stopped after %d of %d documents; committed %v", indexed, n, committed)
}
