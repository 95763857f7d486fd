package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
)

// procStats reads a process's CPU time and peak RSS from /proc.
func procStats(pid int) (cpu time.Duration, peakRSS int64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name, which is in parentheses.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if len(f) > 12 {
			utime, _ := strconv.ParseInt(f[11], 10, 64)
			stime, _ := strconv.ParseInt(f[12], 10, 64)
			cpu = time.Duration(utime+stime) * time.Second / 100 // USER_HZ
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				peakRSS = kb * 1024
			}
		}
	}
	return cpu, peakRSS
}

type agentBench struct {
	b       *testing.B
	bin     string
	dir     string
	cluster *kfake.Cluster
	etcd    *etcdtest.Server
	cmd     *exec.Cmd
}

func newAgentBench(b *testing.B, partitions int32) *agentBench {
	ab := &agentBench{b: b, bin: logpipeBinary(b), dir: b.TempDir(), etcd: etcdtest.Start(b)}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	ab.cluster = c
	b.Cleanup(func() { ab.cluster.Close() })
	ce := &api.CollectEntry{Metadata: api.ObjectMeta{Name: "bench"},
		Spec: api.CollectEntrySpec{Paths: []string{filepath.Join(ab.dir, "*.log")}, Topic: "bench"}}
	ce.Default()
	if _, err := store.New(ab.etcd.Client(b), "").Apply(context.Background(), []api.Object{ce}, store.ApplyOptions{}); err != nil {
		b.Fatal(err)
	}
	return ab
}

func (ab *agentBench) startAgent(brokers string) {
	ab.cmd = exec.Command(ab.bin, "agent", "--name", "bench",
		"--etcd-endpoints", ab.etcd.Endpoint(), "--kafka-brokers", brokers,
		"--data-dir", filepath.Join(ab.dir, "data"), "--allow-path", ab.dir,
		"--http-addr", "127.0.0.1:0", "--log-level", "error")
	ab.cmd.Stderr = os.Stderr
	if err := ab.cmd.Start(); err != nil {
		ab.b.Fatal(err)
	}
	ab.b.Cleanup(func() { _ = ab.cmd.Process.Kill(); _ = ab.cmd.Wait() })
}

func writeLines(b *testing.B, path string, n, size int) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := strings.Repeat("x", size-1) + "\n"
	for range n {
		_, _ = w.WriteString(line)
	}
	_ = w.Flush()
	_ = f.Close()
}

// endOffsets sums the topic's end offsets: the records Kafka acknowledged.
func endOffsets(b *testing.B, adm *kadm.Client) int64 {
	ends, err := adm.ListEndOffsets(context.Background(), "bench")
	if err != nil {
		return -1
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// BenchmarkAgentProcess measures the logpipe agent binary, in its own
// process, shipping 200-byte lines to Kafka with acks=all: lines/s, MB/s,
// CPU seconds of the agent per GB, and the agent's peak RSS.
func BenchmarkAgentProcess(b *testing.B) {
	for _, files := range []int{1, 100} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) {
			const lineBytes = 200
			ab := newAgentBench(b, 3)
			per := max(b.N/files, 1)
			total := int64(per * files)
			for i := range files {
				writeLines(b, filepath.Join(ab.dir, fmt.Sprintf("f%03d.log", i)), per, lineBytes)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(ab.cluster.ListenAddrs()...))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			b.ResetTimer()
			start := time.Now()
			ab.startAgent(ab.cluster.ListenAddrs()[0])
			for endOffsets(b, adm) < total {
				time.Sleep(5 * time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cpu, rss := procStats(ab.cmd.Process.Pid)
			bytes := float64(total * lineBytes)
			b.ReportMetric(float64(total)/elapsed.Seconds(), "lines/s")
			b.ReportMetric(bytes/1e6/elapsed.Seconds(), "MB/s")
			b.ReportMetric(cpu.Seconds()/(bytes/1e9), "cpu-s/GB")
			b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
		})
	}
}

// BenchmarkAgentBackpressure stops the broker, appends 1 GB across 10
// files, and reports the agent's peak RSS: the files are the buffer, so
// memory must not grow with the backlog.
func BenchmarkAgentBackpressure(b *testing.B) {
	const lineBytes, files = 200, 10
	const perFile = (1 << 30) / lineBytes / files
	for range b.N {
		ab := newAgentBench(b, 3)
		writeLines(b, filepath.Join(ab.dir, "warm.log"), 1000, lineBytes)
		ab.startAgent(ab.cluster.ListenAddrs()[0])
		time.Sleep(2 * time.Second) // shipping the warm-up lines
		ab.cluster.Close()          // the broker is gone from here on
		start := time.Now()
		for i := range files {
			writeLines(b, filepath.Join(ab.dir, fmt.Sprintf("f%02d.log", i)), perFile, lineBytes)
		}
		// Give the agent time to read into whatever it would buffer.
		time.Sleep(10 * time.Second)
		_, rss := procStats(ab.cmd.Process.Pid)
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(time.Since(start).Seconds(), "s")
		_ = ab.cmd.Process.Signal(syscall.SIGKILL)
	}
}
