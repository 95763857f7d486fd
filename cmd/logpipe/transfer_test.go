package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/store"
	"github.com/logpipe/logpipe/transfer/transfertest"
)

// transferWorld is etcd, a Kafka-protocol broker and a search engine, with
// the Topic web_log (index web-{yyyy.MM.dd}) in both etcd and Kafka.
type transferWorld struct {
	etcd    *etcdtest.Server
	store   *store.Store
	cluster *kfake.Cluster
	kcl     *kgo.Client
	adm     *kadm.Client
	engine  *transfertest.Engine
}

func newTransferWorld(t *testing.T, partitions int32) *transferWorld {
	t.Helper()
	w := &transferWorld{etcd: etcdtest.Start(t), engine: transfertest.NewEngine(t)}
	w.store = store.New(w.etcd.Client(t), "")
	var err error
	w.cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.cluster.Close)
	w.kcl, err = kgo.NewClient(kgo.SeedBrokers(w.cluster.ListenAddrs()...), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.kcl.Close)
	w.adm = kadm.NewClient(w.kcl)
	for name, n := range map[string]int32{"web_log": partitions, "web_log.dlq": 1} {
		if _, err := w.adm.CreateTopic(t.Context(), n, 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}
	tp := &api.Topic{Metadata: api.ObjectMeta{Name: "web_log"},
		Spec: api.TopicSpec{Partitions: partitions, Index: &api.TopicIndex{Name: "web-{yyyy.MM.dd}"}}}
	tp.Default()
	if _, err := w.store.Apply(t.Context(), []api.Object{tp}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	return w
}

// produce writes n JSON lines, spread over 8 files, and returns their
// event IDs.
func (w *transferWorld) produce(t *testing.T, n int) map[string]bool {
	t.Helper()
	ids := make(map[string]bool, n)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = transfertest.Record(transfertest.Line{
			Topic: "web_log", FileID: fmt.Sprintf("f%d", i%8), Offset: int64(i / 8 * 100), Format: "json",
			Value: fmt.Sprintf(`{"msg":"request %d","status":200}`, i),
		})
		ids[transfertest.Header(recs[i], "logpipe.id")] = true
	}
	for len(recs) > 0 {
		k := min(len(recs), 10_000)
		if err := w.kcl.ProduceSync(t.Context(), recs[:k]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		recs = recs[k:]
	}
	return ids
}

// committed sums the group's committed offsets of web_log.
func (w *transferWorld) committed(t *testing.T, group string) int64 {
	t.Helper()
	resp, err := w.adm.FetchOffsets(t.Context(), group)
	if err != nil {
		return 0
	}
	var sum int64
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == "web_log" && o.Err == nil && o.At > 0 {
			sum += o.At
		}
	})
	return sum
}

// checkIndexedOnce fails unless the engine holds exactly one document per
// event ID of ids, and nothing else.
func (w *transferWorld) checkIndexedOnce(t *testing.T, ids map[string]bool) {
	t.Helper()
	docs := w.engine.Docs()
	if len(docs) != len(ids) {
		t.Errorf("engine holds %d documents, want %d", len(docs), len(ids))
	}
	for k := range docs {
		if k.Index != "web-2026.11.26" || !ids[k.ID] {
			t.Fatalf("unexpected document %s/%s", k.Index, k.ID)
		}
	}
}

func TestTransferIndexesTopicsAndServesHealth(t *testing.T) {
	w := newTransferWorld(t, 3)
	ids := w.produce(t, 3000)
	httpAddr := freeAddr(t)
	stop, logs := startDaemon(t, "transfer",
		"--etcd-endpoints", w.etcd.Endpoint(),
		"--kafka-brokers", strings.Join(w.cluster.ListenAddrs(), ","),
		"--es-urls", w.engine.URL(),
		"--http-addr", httpAddr,
		"--name", "tr1",
		"--group", "g1",
		"--bulk-max-bytes", "256KiB",
		"--flush-interval", "50ms",
		"--commit-interval", "100ms",
		"--status-interval", "200ms",
		"--session-timeout", "2s",
	)
	if got := w.engine.WaitCount(len(ids), 30*time.Second); got != len(ids) {
		t.Fatalf("engine holds %d documents, want %d; logs:\n%s", got, len(ids), logs)
	}
	w.checkIndexedOnce(t, ids)
	eventually(t, 10*time.Second, "group g1 commits all 3000 records", func() bool { return w.committed(t, "g1") == 3000 })
	eventually(t, 10*time.Second, "topic web_log reports transfer tr1 Ready with lag 0", func() bool {
		o, err := w.store.Get(t.Context(), api.KindTopic, "web_log")
		if err != nil {
			return false
		}
		cs := o.(*api.Topic).Status.Consumers
		if len(cs) != 1 || cs[0].Transfer != "tr1" || cs[0].Group != "g1" || cs[0].Lag != 0 {
			return false
		}
		c := api.FindCondition(cs[0].Conditions, api.ConditionReady)
		return c != nil && c.Status == api.ConditionTrue && c.Reason == api.ReasonConsuming
	})

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %q, want 200", code, body)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`logpipe_transfer_docs_indexed_total{topic="web_log"} 3000`,
		`logpipe_transfer_consumer_lag{topic="web_log"} 0`,
		`logpipe_transfer_inflight_bytes 0`,
		`logpipe_transfer_bulk_duration_seconds_count{result="ok"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("transfer exited %d on SIGTERM, want 0; logs:\n%s", code, logs)
	}
	o, err := w.store.Get(t.Context(), api.KindTopic, "web_log")
	if err != nil {
		t.Fatal(err)
	}
	if cs := o.(*api.Topic).Status.Consumers; len(cs) != 0 {
		t.Errorf("report of a stopped transfer still there: %+v", cs)
	}
}

func TestTransferRejectsBadFlagsWithOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"transfer", "--bulk-max-bytes", "5XB"},
			`error: invalid argument "5XB" for "--bulk-max-bytes" flag: want a positive size such as 5242880, 512KiB or 5MiB` + "\n"},
		{[]string{"transfer"}, "error: search engine: no URL given (--es-urls)\n"},
	} {
		var out syncBuffer
		code := run(t.Context(), append(tc.args, "--http-addr", "127.0.0.1:0", "--etcd-endpoints", "http://127.0.0.1:1"),
			env{stdout: &out, stderr: &out, lookupEnv: func(string) (string, bool) { return "", false }})
		if code != 1 || out.String() != tc.want {
			t.Errorf("logpipe %v: exit %d, output %q; want 1, %q", tc.args, code, out.String(), tc.want)
		}
	}
}

func TestByteSizeFlag(t *testing.T) {
	for in, want := range map[string]int64{"5242880": 5 << 20, "5MiB": 5 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "2MB": 2e6, "7B": 7} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1MiB", "5XB", "1.5MiB"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	for v, want := range map[byteSize]string{5 << 20: "5MiB", 3 << 10: "3KiB", 1000: "1000", 1 << 30: "1GiB", 1536: "1536"} {
		if got := v.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(v), got, want)
		}
	}
}

// childEnv switches the test binary into running `logpipe` with the
// arguments in the variable (a JSON array), for the SIGKILL test.
const childEnv = "LOGPIPE_TEST_TRANSFER_CHILD_ARGS"

// TestTransferChildProcess is the transfer process of
// TestTransferSurvivesSIGKILL; run directly, it does nothing.
func TestTransferChildProcess(t *testing.T) {
	args := os.Getenv(childEnv)
	if args == "" {
		t.Skip("only runs as the child of TestTransferSurvivesSIGKILL")
	}
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		t.Fatalf("%s: %v", childEnv, err)
	}
	code := run(context.Background(), argv,
		env{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: func(string) (string, bool) { return "", false }})
	os.Exit(code)
}

func TestTransferSurvivesSIGKILL(t *testing.T) {
	w := newTransferWorld(t, 4)
	const n = 40_000
	ids := w.produce(t, n)
	// Each request takes a little while, so the kill lands mid-stream.
	w.engine.RequestFault = func(int, []byte) int {
		time.Sleep(2 * time.Millisecond)
		return 0
	}
	start := func(name string) (*exec.Cmd, *syncBuffer) {
		args := []string{"transfer",
			"--etcd-endpoints", w.etcd.Endpoint(),
			"--kafka-brokers", strings.Join(w.cluster.ListenAddrs(), ","),
			"--es-urls", w.engine.URL(),
			"--http-addr", "127.0.0.1:0",
			"--name", name,
			"--group", "g-kill",
			"--bulk-max-docs", "200",
			"--workers", "2",
			"--flush-interval", "20ms",
			"--commit-interval", "50ms",
			"--status-interval", "200ms",
			"--session-timeout", "1s",
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestTransferChildProcess$", "-test.v=false")
		argv, _ := json.Marshal(args)
		cmd.Env = append(os.Environ(), childEnv+"="+string(argv))
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		return cmd, out
	}

	first, out1 := start("tr-killed")
	eventually(t, 60*time.Second, "the first transfer indexes and commits part of the stream", func() bool {
		return w.engine.Count() >= n/4 && w.committed(t, "g-kill") > 0
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	if ws, ok := first.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("first transfer ended with %v, want killed by SIGKILL; output:\n%s", first.ProcessState, out1)
	}
	atKill, committedAtKill := w.engine.Count(), w.committed(t, "g-kill")
	if atKill >= n {
		t.Fatalf("all %d documents were indexed before the kill; the test needs a slower engine", atKill)
	}
	t.Logf("killed after %d documents indexed, %d records committed", atKill, committedAtKill)

	_, out2 := start("tr-restarted")
	if got := w.engine.WaitCount(n, 90*time.Second); got != n {
		t.Fatalf("engine holds %d documents after the restart, want %d; output:\n%s", got, n, out2)
	}
	eventually(t, 30*time.Second, "the restarted transfer commits every record", func() bool { return w.committed(t, "g-kill") == n })
	w.checkIndexedOnce(t, ids)
	writes := w.engine.Writes()
	if writes < n {
		t.Fatalf("engine accepted %d writes for %d documents", writes, n)
	}
	t.Logf("%d writes for %d documents: %d records indexed before the kill were read and overwritten again", writes, n, writes-n)

	// Every document is the one its record makes.
	doc := map[string]any{}
	for k, v := range w.engine.Docs() {
		if err := json.Unmarshal(v, &doc); err != nil || !bytes.HasPrefix(v, []byte(`{"msg":"request `)) {
			t.Fatalf("document %s: %s", k.ID, v)
		}
		break
	}
}
