package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/internal/record"
	"github.com/logpipe/logpipe/store"
)

type harness struct {
	t       *testing.T
	etcd    *etcdtest.Server
	dir     string // the log directory, allowed
	store   *store.Store
	cluster *kfake.Cluster
	agent   *Agent
	stop    func()
}

func newHarness(t *testing.T, topics ...string) *harness {
	t.Helper()
	srv := etcdtest.Start(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	h := &harness{t: t, etcd: srv, dir: t.TempDir(), store: store.New(srv.Client(t), ""), cluster: cluster}
	return h
}

func (h *harness) start(labels map[string]string) {
	h.t.Helper()
	producer, err := kgo.NewClient(kgo.SeedBrokers(h.cluster.ListenAddrs()...), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		h.t.Fatal(err)
	}
	allow, _ := NewAllowList([]string{h.dir})
	a, err := New(Options{
		Name:           "agent-1",
		Host:           "host-1",
		Labels:         labels,
		DataDir:        filepath.Join(h.dir, ".data"),
		Allow:          allow,
		Store:          h.store,
		Producer:       producer,
		StatusInterval: 50 * time.Millisecond,
		Logger:         testLogger(),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	h.agent = a
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("agent Run = %v", err)
			}
			producer.Close()
		})
	}
	h.t.Cleanup(h.stop)
}

func (h *harness) apply(objs ...api.Object) {
	h.t.Helper()
	for _, o := range objs {
		o.Default()
	}
	if _, err := h.store.Apply(context.Background(), objs, store.ApplyOptions{}); err != nil {
		h.t.Fatalf("apply: %v", err)
	}
}

func entry(name, topic string, paths ...string) *api.CollectEntry {
	return &api.CollectEntry{
		Metadata: api.ObjectMeta{Name: name},
		Spec:     api.CollectEntrySpec{Paths: paths, Topic: topic},
	}
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

type consumed struct {
	value   string
	headers map[string]string
}

// consume reads topic from the start until want records arrived (or fails
// after a deadline) and returns them in order.
func (h *harness) consume(topic string, want int) []consumed {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.cluster.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	var out []consumed
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			h.t.Fatalf("consumed %d of %d records from %s before the deadline", len(out), want, topic)
		}
		fs.EachRecord(func(r *kgo.Record) {
			c := consumed{value: string(r.Value), headers: map[string]string{}}
			for _, hd := range r.Headers {
				c.headers[hd.Key] = string(hd.Value)
			}
			out = append(out, c)
		})
	}
	return out
}

func TestEntryLinesArriveWithHeaders(t *testing.T) {
	h := newHarness(t, "web_log")
	access := filepath.Join(h.dir, "access.log")
	appendLines(t, access, `{"time":"123","code":"200","msg":"ok"}`, `{"time":"321","code":"500","msg":"not ok"}`)
	ce := entry("web-app", "web_log", filepath.Join(h.dir, "*.log"))
	ce.Spec.Format = api.FormatJSON
	ce.Spec.Fields = map[string]string{"service": "web"}
	h.apply(ce)
	h.start(nil)

	got := h.consume("web_log", 2)
	if got[0].value != `{"time":"123","code":"200","msg":"ok"}` || got[1].value != `{"time":"321","code":"500","msg":"not ok"}` {
		t.Fatalf("values = %q, %q; want the lines exactly as written", got[0].value, got[1].value)
	}
	hd := got[1].headers
	for k, want := range map[string]string{
		record.HeaderHost:                    "host-1",
		record.HeaderAgent:                   "agent-1",
		record.HeaderEntry:                   "web-app",
		record.HeaderPath:                    access,
		record.HeaderFormat:                  "json",
		record.HeaderOffset:                  fmt.Sprint(len(`{"time":"123","code":"200","msg":"ok"}`) + 1),
		record.HeaderFieldPrefix + "service": "web",
	} {
		if hd[k] != want {
			t.Errorf("header %s = %q, want %q", k, hd[k], want)
		}
	}
	if len(hd[record.HeaderID]) != 32 || hd[record.HeaderID] == got[0].headers[record.HeaderID] {
		t.Errorf("event IDs %q and %q: want two distinct 32-hex IDs", got[0].headers[record.HeaderID], hd[record.HeaderID])
	}

	// Appended lines follow without a restart.
	appendLines(t, access, "third")
	if got := h.consume("web_log", 3); got[2].value != "third" {
		t.Fatalf("third record = %q, want third", got[2].value)
	}
}

func TestEditingOneEntryLeavesAnothersTailersAlone(t *testing.T) {
	h := newHarness(t, "a_log", "b_log", "b2_log")
	fa := filepath.Join(h.dir, "a.log")
	fb := filepath.Join(h.dir, "b.log")
	appendLines(t, fa, "a1")
	appendLines(t, fb, "b1")
	h.apply(entry("a", "a_log", fa), entry("b", "b_log", fb))
	h.start(nil)
	h.consume("a_log", 1)
	h.consume("b_log", 1)

	tailerOf := func(name string) *runningTailer {
		h.agent.mu.Lock()
		e := h.agent.entries[name]
		h.agent.mu.Unlock()
		ts := e.tailerList()
		if len(ts) != 1 {
			t.Fatalf("entry %s runs %d tailers, want 1", name, len(ts))
		}
		return ts[0]
	}
	before := tailerOf("a")
	offsetBefore := before.tailer.Offset()
	bBefore := tailerOf("b")

	// B changes topic: B's tailer restarts, A's must not notice.
	h.apply(entry("b", "b2_log", fb))
	deadline := time.Now().Add(10 * time.Second)
	for tailerOf("b") == bBefore {
		if time.Now().After(deadline) {
			t.Fatal("entry b's tailer was not restarted within 10s of its topic change")
		}
		time.Sleep(5 * time.Millisecond)
	}
	appendLines(t, fb, "b2")
	if got := h.consume("b2_log", 1); got[0].value != "b2" {
		t.Fatalf("b2_log got %q, want b2 (resumed after b1, not rewound)", got[0].value)
	}
	if after := tailerOf("a"); after != before || after.tailer.Offset() != offsetBefore {
		t.Fatalf("entry a's tailer was replaced or moved (offset %d → %d) by a change to entry b", offsetBefore, after.tailer.Offset())
	}
	// a's and b's first starts, then b's restart: nothing else opened.
	if starts := testutil.ToFloat64(h.agent.metrics.tailerStarts); starts != 3 {
		t.Fatalf("logpipe_agent_tailer_starts_total = %v, want 3", starts)
	}
	appendLines(t, fa, "a2")
	if got := h.consume("a_log", 2); got[1].value != "a2" || len(got) != 2 {
		t.Fatalf("a_log = %v, want [a1 a2] with no replay", got)
	}

	// Deleting B stops it and leaves A alone too.
	if _, err := h.store.Delete(context.Background(), api.KindCollectEntry, "b"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		h.agent.mu.Lock()
		_, running := h.agent.entries["b"]
		h.agent.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("entry b still runs 10s after its deletion")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if after := tailerOf("a"); after != before {
		t.Fatal("entry a's tailer was replaced by the deletion of entry b")
	}
}

func TestPathOutsideAllowListIsRefusedWithStatus(t *testing.T) {
	h := newHarness(t, "etc_log")
	h.apply(entry("etc", "etc_log", "/etc/*.conf"))
	h.start(nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := h.store.Get(context.Background(), api.KindCollectEntry, "etc")
		if err != nil {
			t.Fatal(err)
		}
		if rs := o.(*api.CollectEntry).Status.Agents; len(rs) == 1 {
			c := api.FindCondition(rs[0].Conditions, api.ConditionReady)
			if c != nil && c.Reason == api.ReasonPathNotAllowed {
				want := "refused, outside --allow-path " + h.dir + ": /etc/*.conf"
				if c.Status != api.ConditionFalse || c.Message != want || rs[0].FilesTailed != 0 {
					t.Fatalf("report = %+v, want Ready=False %q and no file tailed", rs[0], want)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no PathNotAllowed report within 10s; status %+v", o.(*api.CollectEntry).Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSelectorDecidesWhichAgentTails(t *testing.T) {
	h := newHarness(t, "x_log")
	f := filepath.Join(h.dir, "x.log")
	appendLines(t, f, "x1")
	other := entry("other", "x_log", f)
	other.Spec.AgentSelector = &api.LabelSelector{MatchLabels: map[string]string{"role": "db"}}
	mine := entry("mine", "x_log", f)
	mine.Spec.AgentSelector = &api.LabelSelector{MatchLabels: map[string]string{"role": "web"}}
	h.apply(other, mine)
	h.start(map[string]string{"role": "web"})
	got := h.consume("x_log", 1)
	if got[0].headers[record.HeaderEntry] != "mine" {
		t.Fatalf("record from entry %q, want mine", got[0].headers[record.HeaderEntry])
	}
	h.agent.mu.Lock()
	_, runsOther := h.agent.entries["other"]
	h.agent.mu.Unlock()
	if runsOther {
		t.Fatal("the agent runs an entry whose selector does not match its labels")
	}
}

func TestLinesSurviveRestartWithoutDuplicatesOrLoss(t *testing.T) {
	h := newHarness(t, "r_log")
	f := filepath.Join(h.dir, "r.log")
	for i := range 100 {
		appendLines(t, f, fmt.Sprintf("line-%03d", i))
	}
	h.apply(entry("r", "r_log", f))
	h.start(nil)
	h.consume("r_log", 100)
	h.stop()

	for i := 100; i < 150; i++ {
		appendLines(t, f, fmt.Sprintf("line-%03d", i))
	}
	h.start(nil)
	got := h.consume("r_log", 150)
	seen := map[string]string{}
	for i, c := range got {
		if want := fmt.Sprintf("line-%03d", i); c.value != want {
			t.Fatalf("record %d = %q, want %q (a clean restart resumes at the checkpoint)", i, c.value, want)
		}
		if prev, dup := seen[c.headers[record.HeaderID]]; dup {
			t.Fatalf("event ID of %q repeats that of %q", c.value, prev)
		}
		seen[c.headers[record.HeaderID]] = c.value
	}
	if !strings.HasPrefix(got[149].value, "line-149") {
		t.Fatal("last line missing")
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("LOGPIPE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func TestRestartWithoutEtcdTailsFromTheCachedDesiredState(t *testing.T) {
	h := newHarness(t, "c_log")
	f := filepath.Join(h.dir, "c.log")
	appendLines(t, f, "before")
	h.apply(entry("c", "c_log", f))
	h.start(nil)
	h.consume("c_log", 1)
	h.stop()

	endpoint := h.etcd.Endpoint()
	h.etcd.Stop()
	// A client of the dead etcd: every read fails after the agent's
	// timeout, so only the cache in the data dir says what to tail.
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	h.store = store.New(cl, "")
	appendLines(t, f, "while etcd is down")
	h.start(nil)
	if got := h.consume("c_log", 2); got[1].value != "while etcd is down" {
		t.Fatalf("second record = %q, want the line written while etcd was down", got[1].value)
	}
}

func TestNewFileIsTailedWithoutWaitingForTheScanInterval(t *testing.T) {
	h := newHarness(t, "n_log")
	ce := entry("n", "n_log", filepath.Join(h.dir, "*.log"))
	ce.Spec.ScanInterval = &api.Duration{Duration: time.Hour}
	h.apply(ce)
	h.start(nil)
	<-h.agent.Ready()
	// Let the first scan (which finds nothing) finish and subscribe.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.agent.mu.Lock()
		e := h.agent.entries["n"]
		h.agent.mu.Unlock()
		if e != nil {
			e.mu.Lock()
			n := len(e.dirs)
			e.mu.Unlock()
			if n == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("entry n does not watch its directory")
		}
		time.Sleep(5 * time.Millisecond)
	}
	appendLines(t, filepath.Join(h.dir, "new.log"), "fresh")
	if got := h.consume("n_log", 1); got[0].value != "fresh" {
		t.Fatalf("got %q, want fresh", got[0].value)
	}
}
