package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/store"
)

// syncBuffer is an io.Writer safe for the daemon's log goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// templateEngine accepts every PUT _index_template and remembers the names.
type templateEngine struct {
	mu  sync.Mutex
	put map[string]string
}

func (e *templateEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	name := strings.TrimPrefix(r.URL.Path, "/_index_template/")
	switch r.Method {
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		e.put[name] = string(b)
		fmt.Fprint(w, `{"acknowledged":true}`)
	case http.MethodGet:
		body, ok := e.put[name]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"type":"resource_not_found_exception","reason":"not found"},"status":404}`)
			return
		}
		fmt.Fprintf(w, `{"index_templates":[{"name":%q,"index_template":%s}]}`, name, body)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startDaemon runs `logpipe args...` in-process until the test ends.
func startDaemon(t *testing.T, args ...string) (stop func() int, logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, args, env{stdout: logs, stderr: logs, lookupEnv: func(string) (string, bool) { return "", false }})
	}()
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(15 * time.Second):
				t.Errorf("logpipe %s did not stop within 15s of cancel; logs:\n%s", args[0], logs)
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return stop, logs
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestControllerReconcilesTheExampleSpecs(t *testing.T) {
	etcd := etcdtest.Start(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	engine := &templateEngine{put: map[string]string{}}
	es := httptest.NewServer(engine)
	t.Cleanup(es.Close)

	httpAddr := freeAddr(t)
	stop, logs := startDaemon(t, "controller",
		"--etcd-endpoints", etcd.Endpoint(),
		"--kafka-brokers", strings.Join(cluster.ListenAddrs(), ","),
		"--es-urls", es.URL,
		"--http-addr", httpAddr,
		"--lease-ttl", "2s",
		"--name", "c1",
	)

	docs, err := api.DecodePaths([]string{"../../specs"}, nil)
	if err != nil {
		t.Fatalf("decode specs/: %v", err)
	}
	objs := make([]api.Object, len(docs))
	for i, d := range docs {
		objs[i] = d.Object
	}
	st := store.New(etcd.Client(t), "")
	applied := time.Now()
	if _, err := st.Apply(t.Context(), objs, store.ApplyOptions{}); err != nil {
		t.Fatalf("apply specs/: %v", err)
	}

	kcl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kcl.Close)
	admin := kadm.NewClient(kcl)
	partitions := func(name string) int {
		d, err := admin.ListTopics(kadm.WithAuthorizedOps(t.Context()), name)
		if err != nil || d[name].Err != nil {
			return 0
		}
		return len(d[name].Partitions)
	}
	eventually(t, 10*time.Second, "topics web_log (3 partitions) and web_log.dlq (1) exist", func() bool {
		return partitions("web_log") == 3 && partitions("web_log.dlq") == 1
	})
	eventually(t, 10*time.Second, "index template web is installed", func() bool {
		engine.mu.Lock()
		defer engine.mu.Unlock()
		return strings.Contains(engine.put["web"], `"index_patterns":["web-*"]`)
	})
	t.Logf("specs/ reconciled %v after apply", time.Since(applied).Round(time.Millisecond))

	rcs, err := admin.DescribeTopicConfigs(t.Context(), "web_log")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On("web_log", nil)
	var retention string
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && c.Value != nil {
			retention = *c.Value
		}
	}
	if retention != "604800000" {
		t.Fatalf("web_log retention.ms = %q, want 604800000 from specs/", retention)
	}

	eventually(t, 10*time.Second, "status of topic web_log says Ready=True", func() bool {
		o, err := st.Get(t.Context(), api.KindTopic, "web_log")
		if err != nil {
			return false
		}
		c := api.FindCondition(o.(*api.Topic).Status.Conditions, api.ConditionReady)
		return c != nil && c.Status == api.ConditionTrue && o.(*api.Topic).Status.Partitions == 3
	})

	resp, err := http.Get("http://" + httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d, want 200", resp.StatusCode)
	}
	resp, err = http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"logpipe_controller_leader 1", `logpipe_reconcile_total{controller="topic"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}

	if code := stop(); code != 0 {
		t.Fatalf("controller exited %d on SIGTERM, want 0; logs:\n%s", code, logs)
	}
}

func TestControllerRejectsBadFlagsWithOneLine(t *testing.T) {
	var out syncBuffer
	code := run(t.Context(), []string{"controller", "--kafka-sasl-mechanism", "gssapi"},
		env{stdout: &out, stderr: &out, lookupEnv: func(string) (string, bool) { return "", false }})
	want := "error: kafka: --kafka-sasl-mechanism \"gssapi\": want one of plain, scram-sha-256, scram-sha-512\n"
	if code != 1 || out.String() != want {
		t.Fatalf("exit %d, output %q; want 1, %q", code, out.String(), want)
	}
}
