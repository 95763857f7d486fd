package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/internal/record"
	"github.com/logpipe/logpipe/store"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// logpipeBinary builds this command once per test run, for tests that must
// kill a real process.
func logpipeBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "logpipe-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "logpipe")
		out, err := exec.Command("go", "build", "-o", buildPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// eventLog collects what a topic holds: every value with the event IDs it
// was sent under.
type eventLog struct {
	mu      sync.Mutex
	ids     map[string][]string
	records int
}

func (l *eventLog) distinct() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

func consumeInto(ctx context.Context, t *testing.T, brokers []string, topic string, l *eventLog) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var id string
			for _, h := range r.Headers {
				if h.Key == record.HeaderID {
					id = string(h.Value)
				}
			}
			l.mu.Lock()
			l.ids[string(r.Value)] = append(l.ids[string(r.Value)], id)
			l.records++
			l.mu.Unlock()
		})
	}
}

func TestAgentKilledThreeTimesMidStreamLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and writes 30,000 lines")
	}
	bin := logpipeBinary(t)
	etcd := etcdtest.Start(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "web_log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")

	ce := &api.CollectEntry{
		Metadata: api.ObjectMeta{Name: "app"},
		Spec:     api.CollectEntrySpec{Paths: []string{filepath.Join(dir, "*.log")}, Topic: "web_log"},
	}
	ce.Default()
	if _, err := store.New(etcd.Client(t), "").Apply(t.Context(), []api.Object{ce}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	events := &eventLog{ids: map[string][]string{}}
	var consumer sync.WaitGroup
	consumer.Go(func() { consumeInto(ctx, t, cluster.ListenAddrs(), "web_log", events) })
	defer consumer.Wait()
	defer cancel()

	startAgent := func() *exec.Cmd {
		cmd := exec.Command(bin, "agent",
			"--name", "a1",
			"--etcd-endpoints", etcd.Endpoint(),
			"--kafka-brokers", cluster.ListenAddrs()[0],
			"--data-dir", filepath.Join(dir, "data"),
			"--allow-path", dir,
			"--http-addr", "127.0.0.1:0",
			"--log-level", "error",
		)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	const total = 30000
	written := make(chan struct{})
	go func() {
		defer close(written)
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for i := range total {
			fmt.Fprintf(f, `{"seq":%d,"msg":"line %d of the kill test"}`+"\n", i, i)
			if i%200 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()

	agent := startAgent()
	for kill := 1; kill <= 3; kill++ {
		want := kill * total / 5
		deadline := time.Now().Add(60 * time.Second)
		for events.distinct() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if err := agent.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = agent.Wait()
		t.Logf("SIGKILL %d after %d distinct lines arrived", kill, events.distinct())
		agent = startAgent()
	}
	<-written
	deadline := time.Now().Add(60 * time.Second)
	for events.distinct() < total && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_ = agent.Process.Signal(syscall.SIGTERM)
	_ = agent.Wait()

	events.mu.Lock()
	defer events.mu.Unlock()
	for i := range total {
		v := fmt.Sprintf(`{"seq":%d,"msg":"line %d of the kill test"}`, i, i)
		ids, ok := events.ids[v]
		if !ok {
			t.Fatalf("line %d was lost (%d of %d distinct lines arrived)", i, len(events.ids), total)
		}
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("line %d was sent again under another event ID (%s, then %s)", i, ids[0], id)
			}
		}
	}
	t.Logf("%d lines written, %d records read: %d re-sent after the kills, each with its original event ID",
		total, events.records, events.records-total)
}
