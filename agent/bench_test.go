package agent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/store"
)

// brokerChildEnv makes the test binary serve a kfake broker instead of
// running tests, so that benchmarks measure the agent alone in this process.
const brokerChildEnv = "LOGPIPE_BENCH_BROKER"

func TestMain(m *testing.M) {
	if os.Getenv(brokerChildEnv) != "" {
		serveBroker()
		return
	}
	os.Exit(m.Run())
}

// serveBroker runs a one-broker kfake cluster, prints its address, and
// exits when stdin closes (the parent died or is done).
func serveBroker() {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "bench"))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(c.ListenAddrs()[0])
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	c.Close()
}

func startBrokerProcess(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), brokerChildEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.HasPrefix(addr, "error") {
		b.Fatalf("broker process: %v %s", err, addr)
	}
	return strings.TrimSpace(addr)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSS() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss * 1024
}

// BenchmarkShipToKafka measures file → Kafka acknowledged (acks=all,
// idempotent, snappy) with 200-byte lines against a broker in another
// process: lines/s, MB/s, CPU seconds per GB and peak RSS of the agent's
// process.
func BenchmarkShipToKafka(b *testing.B) {
	for _, files := range []int{1, 100} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) { benchShip(b, files) })
	}
}

func benchShip(b *testing.B, files int) {
	const lineBytes = 200
	linesPerFile := max(b.N/files, 1)
	total := linesPerFile * files
	dir := b.TempDir()
	line := strings.Repeat("x", lineBytes-1) + "\n"
	for i := range files {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%03d.log", i)))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for range linesPerFile {
			_, _ = w.WriteString(line)
		}
		_ = w.Flush()
		_ = f.Close()
	}
	addr := startBrokerProcess(b)
	srv := etcdtest.Start(b)
	st := store.New(srv.Client(b), "")
	ce := &api.CollectEntry{Metadata: api.ObjectMeta{Name: "bench"},
		Spec: api.CollectEntrySpec{Paths: []string{filepath.Join(dir, "*.log")}, Topic: "bench"}}
	ce.Default()
	if _, err := st.Apply(context.Background(), []api.Object{ce}, store.ApplyOptions{}); err != nil {
		b.Fatal(err)
	}
	producer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.SnappyCompression()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedBytes(64<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer producer.Close()
	allow, _ := NewAllowList([]string{dir})
	a, err := New(Options{Name: "bench", DataDir: filepath.Join(dir, ".data"), Allow: allow, Store: st,
		Producer: producer, Logger: testLogger(), StatusInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)

	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	go func() { done <- a.Run(ctx) }()
	for a.metrics.shipped() < int64(total) {
		time.Sleep(2 * time.Millisecond)
	}
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	cancel()
	<-done

	bytes := float64(total * lineBytes)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(bytes/1e6/elapsed.Seconds(), "MB/s")
	b.ReportMetric(cpu.Seconds()/(bytes/1e9), "cpu-s/GB")
	b.ReportMetric(float64(maxRSS())/(1<<20), "peak-RSS-MiB")
}
