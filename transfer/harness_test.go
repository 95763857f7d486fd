package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/esclient"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/store"
	"github.com/logpipe/logpipe/transfer/transfertest"
)

// harness is one test's world: etcd, a Kafka-protocol broker, a search
// engine, and clients of each.
type harness struct {
	t       testing.TB
	store   *store.Store
	cluster *kfake.Cluster
	kcl     *kgo.Client
	adm     *kadm.Client
	engine  *transfertest.Engine
	kafka   *cutListeners
}

// cutListeners wraps the broker's listeners so a test can take Kafka away:
// while cut, every connection is closed and new ones are dropped at once.
type cutListeners struct {
	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

func (c *cutListeners) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &cutListener{Listener: ln, c: c}, nil
}

// setCut takes Kafka away (true) or gives it back (false).
func (c *cutListeners) setCut(cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = cut
	if cut {
		for conn := range c.conns {
			conn.Close()
		}
		clear(c.conns)
	}
}

type cutListener struct {
	net.Listener
	c *cutListeners
}

func (l *cutListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.c.mu.Lock()
		if l.c.cut {
			l.c.mu.Unlock()
			conn.Close()
			continue
		}
		l.c.conns[conn] = true
		l.c.mu.Unlock()
		return conn, nil
	}
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	etcd := etcdtest.Start(t)
	cut := &cutListeners{conns: map[net.Conn]bool{}}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond),
		kfake.ListenFn(cut.listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	kcl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(200_000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	return &harness{
		t:       t,
		store:   store.New(etcd.Client(t), ""),
		cluster: cluster,
		kcl:     kcl,
		adm:     kadm.NewClient(kcl),
		engine:  transfertest.NewEngine(t),
		kafka:   cut,
	}
}

// topic creates a Kafka topic and applies its Topic spec (with index, when
// not nil), and the dead-letter topic in Kafka.
func (h *harness) topic(name string, partitions int32, index *api.TopicIndex) {
	h.t.Helper()
	h.createKafkaTopic(name, partitions)
	if index != nil {
		dlq := index.DeadLetterTopic
		if dlq == "" {
			dlq = name + api.DeadLetterSuffix
		}
		h.createKafkaTopic(dlq, 1)
	}
	h.apply(name, partitions, index)
}

func (h *harness) createKafkaTopic(name string, partitions int32) {
	h.t.Helper()
	resp, err := h.adm.CreateTopic(context.Background(), partitions, 1, nil, name)
	if err != nil {
		h.t.Fatalf("create topic %s: %v", name, err)
	}
	if resp.Err != nil && !strings.Contains(resp.Err.Error(), "TOPIC_ALREADY_EXISTS") {
		h.t.Fatalf("create topic %s: %v", name, resp.Err)
	}
}

func (h *harness) apply(name string, partitions int32, index *api.TopicIndex) {
	h.t.Helper()
	tp := &api.Topic{Metadata: api.ObjectMeta{Name: name}, Spec: api.TopicSpec{Partitions: partitions, Index: index}}
	tp.Default()
	if err := tp.Validate(); err != nil {
		h.t.Fatalf("topic %s: %v", name, err)
	}
	if _, err := h.store.Apply(context.Background(), []api.Object{tp}, store.ApplyOptions{}); err != nil {
		h.t.Fatalf("apply topic %s: %v", name, err)
	}
}

// produce writes records, in order, and fails the test on any error.
func (h *harness) produce(recs []*kgo.Record) {
	h.t.Helper()
	const chunk = 20_000
	for len(recs) > 0 {
		n := min(chunk, len(recs))
		if err := h.kcl.ProduceSync(context.Background(), recs[:n]...).FirstErr(); err != nil {
			h.t.Fatalf("produce: %v", err)
		}
		recs = recs[n:]
	}
}

// jsonLines returns n records of topic spread over files, each a JSON line
// of about 200 bytes.
func jsonLines(topic string, n, files int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		file := fmt.Sprintf("file-%d", i%files)
		off := int64(i/files) * 200
		recs[i] = transfertest.Record(transfertest.Line{
			Topic: topic, FileID: file, Offset: off, Format: "json",
			Value: fmt.Sprintf(`{"level":"info","msg":"GET /api/v1/items/%08d served","status":200,"bytes":%d,"duration_ms":%d.%03d,"user_agent":"Mozilla/5.0 (X11; Linux x86_64)","req":"%08x"}`,
				i, 1000+i%5000, i%97, i%1000, i),
		})
	}
	return recs
}

// expectedKeys returns the index and _id each record must get, for records
// read at the default time of transfertest.Record.
func expectedKeys(recs []*kgo.Record, index string) map[transfertest.DocKey]*kgo.Record {
	want := make(map[transfertest.DocKey]*kgo.Record, len(recs))
	for _, r := range recs {
		want[transfertest.DocKey{Index: index, ID: transfertest.Header(r, "logpipe.id")}] = r
	}
	return want
}

// running is a started Transfer.
type running struct {
	tr     *Transfer
	cancel context.CancelFunc
	done   chan error
	logs   *logBuffer
	once   sync.Once
	err    error
}

// stop ends the transfer and returns Run's error; it fails the test if
// Run does not return within 20 s.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(20 * time.Second):
			t.Errorf("transfer did not stop within 20s; logs:\n%s", r.logs)
		}
	})
	return r.err
}

func (h *harness) start(name string, tune func(*Options)) *running {
	h.t.Helper()
	es := esclient.Options{URLs: []string{h.engine.URL()}, Timeout: 10 * time.Second}
	tr, err := es.Transport()
	if err != nil {
		h.t.Fatal(err)
	}
	logs := &logBuffer{}
	opts := Options{
		Name:            name,
		Group:           "test-group",
		Store:           h.store,
		Kafka:           []kgo.Opt{kgo.SeedBrokers(h.cluster.ListenAddrs()...)},
		Sink:            NewElasticSink(tr),
		FlushInterval:   50 * time.Millisecond,
		CommitInterval:  50 * time.Millisecond,
		StatusInterval:  100 * time.Millisecond,
		SessionTimeout:  time.Second,
		RetryBackoff:    10 * time.Millisecond,
		MaxRetryBackoff: 200 * time.Millisecond,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if tune != nil {
		tune(&opts)
	}
	transfer, err := New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{tr: transfer, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() {
		err := transfer.Run(ctx)
		if ctx.Err() == nil {
			logs.Write([]byte(fmt.Sprintf("Run returned early: %v\n", err)))
		}
		r.done <- err
	}()
	h.t.Cleanup(func() { _ = r.stop(h.t) })
	return r
}

// committed returns the group's committed offset of every partition of
// topic (-1 when none).
func (h *harness) committed(group, topic string, partitions int32) []int64 {
	h.t.Helper()
	out := make([]int64, partitions)
	resp, err := h.adm.FetchOffsets(context.Background(), group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		for p := range out {
			out[p] = -1
		}
		return out
	}
	if err != nil {
		h.t.Fatalf("fetch offsets: %v", err)
	}
	for p := range partitions {
		out[p] = -1
		if o, ok := resp.Lookup(topic, p); ok && o.Err == nil {
			out[p] = o.At
		}
	}
	return out
}

func (h *harness) endOffsets(topic string, partitions int32) []int64 {
	h.t.Helper()
	out := make([]int64, partitions)
	ends, err := h.adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		h.t.Fatalf("list end offsets: %v", err)
	}
	for p := range partitions {
		o, _ := ends.Lookup(topic, p)
		out[p] = o.Offset
	}
	return out
}

// waitFor polls cond every 10 ms until it holds or within passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logBuffer is an io.Writer safe for concurrent logging.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

var _ io.Writer = (*logBuffer)(nil)

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
