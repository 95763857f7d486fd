package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/embedetcd"
	"github.com/logpipe/logpipe/store"
)

// env is what every scenario runs against: an etcd server in this process
// and a scratch directory. Each scenario brings its own broker, so that no
// run inherits another's topics or backlog.
type env struct {
	bin    string // the logpipe binary
	ctlBin string // the logpipectl binary
	dir    string // scratch space, removed at the end
	logDir string // the children's stderr, kept for a failed run

	etcd     *embed.Etcd
	etcdURL  string
	etcdCl   *clientv3.Client
	store    *store.Store
	children int // names the children's log files

	// The OpenSearch of the latency scenario: one already running, or the
	// end-to-end suite's prepare script to start one from.
	openSearchURL, openSearchPrepare string
}

func newEnv(ctx context.Context, bin, ctlBin, dir, logDir string) (*env, error) {
	e := &env{bin: bin, ctlBin: ctlBin, dir: dir, logDir: logDir}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	e.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	e.etcd, err = embedetcd.Start(ctx, embedetcd.Config{
		Name: "bench", Dir: filepath.Join(dir, "etcd"), ClientAddr: fmt.Sprintf("127.0.0.1:%d", port), NoFsync: true,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	e.etcdCl, err = clientv3.New(clientv3.Config{Endpoints: []string{e.etcdURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		e.etcd.Close()
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	e.store = store.New(e.etcdCl, "")
	return e, nil
}

func (e *env) close() {
	if e.etcdCl != nil {
		e.etcdCl.Close()
	}
	if e.etcd != nil {
		e.etcd.Close()
	}
}

// reset deletes every object and agent registration, so that the next
// scenario starts from an empty desired state.
func (e *env) reset(ctx context.Context) error {
	_, err := e.etcdCl.Delete(ctx, "/logpipe/", clientv3.WithPrefix())
	return err
}

// apply stores objects as `logpipectl apply` would, defaulted first.
func (e *env) apply(ctx context.Context, objs ...api.Object) error {
	for _, o := range objs {
		o.Default()
		if err := o.Validate(); err != nil {
			return err
		}
	}
	_, err := e.store.Apply(ctx, objs, store.ApplyOptions{})
	return err
}

// broker is a kfake cluster of one broker in this process. Once made
// stoppable it can be switched off: while down it closes every connection
// at its first request, as a stopped broker's clients see it after
// reconnecting.
type broker struct {
	*kfake.Cluster
	down atomic.Bool
	cl   *kgo.Client
	adm  *kadm.Client
}

func newBroker(partitions int32, topics ...string) (*broker, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		return nil, fmt.Errorf("kfake: %w", err)
	}
	b := &broker{Cluster: c}
	b.cl, err = kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		c.Close()
		return nil, err
	}
	b.adm = kadm.NewClient(b.cl)
	return b, nil
}

// makeStoppable lets down switch the broker off. Only brokers that need
// it get it: a control function costs kfake throughput on every request.
func (b *broker) makeStoppable() {
	b.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		b.KeepControl()
		if b.down.Load() {
			return nil, errors.New("broker stopped"), true
		}
		return nil, nil, false
	})
}

func (b *broker) addr() string { return b.ListenAddrs()[0] }

func (b *broker) close() {
	b.cl.Close()
	b.Close()
}

// acked sums the end offsets of topic: the records Kafka acknowledged.
func (b *broker) acked(ctx context.Context, topic string) int64 {
	ends, err := b.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return -1
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// waitAcked polls until topic holds want records and returns when that
// was first seen, or fails at the deadline with what it holds.
func (b *broker) waitAcked(ctx context.Context, topic string, want int64, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		n := b.acked(ctx, topic)
		if n >= want {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("topic %s holds %d of %d records after %v", topic, n, want, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// child is a process the harness started and measures.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
	// httpAddr is its /metrics address, for logpipe daemons.
	httpAddr string
}

func (e *env) start(name string, argv ...string) (*child, error) {
	e.children++
	c := &child{name: name, logPath: filepath.Join(e.logDir, fmt.Sprintf("%02d-%s.log", e.children, name)), done: make(chan struct{})}
	logf, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

// startLogpipe runs `logpipe <cmd> args...` with its /metrics on a free port.
func (e *env) startLogpipe(name string, args ...string) (*child, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	argv := append([]string{e.bin}, args...)
	argv = append(argv, "--etcd-endpoints", e.etcdURL, "--http-addr", addr, "--log-level", "warn")
	c, err := e.start(name, argv...)
	if err != nil {
		return nil, err
	}
	c.httpAddr = addr
	return c, nil
}

// stop ends the child (SIGTERM, then SIGKILL after a grace period) and
// waits for it.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// exited reports an early exit with the tail of the child's log.
func (c *child) exited() error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited (%v): %s", c.name, c.err, lastLines(c.logPath, 5))
	default:
		return nil
	}
}

// usage is a process's CPU time so far and its peak RSS, from /proc.
type usage struct {
	cpu     time.Duration
	peakRSS int64 // bytes
	rss     int64 // bytes, now
}

func (c *child) usage() usage { return procUsage(c.cmd.Process.Pid) }

func procUsage(pid int) usage {
	var u usage
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// The fields after the command name, which is in parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 12 {
			utime, _ := strconv.ParseInt(f[11], 10, 64)
			stime, _ := strconv.ParseInt(f[12], 10, 64)
			u.cpu = time.Duration(utime+stime) * time.Second / 100 // USER_HZ
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				u.peakRSS = parseKB(v)
			} else if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				u.rss = parseKB(v)
			}
		}
	}
	return u
}

func parseKB(v string) int64 {
	kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return kb * 1024
}

// metric reads one unlabelled sample from a logpipe daemon's /metrics.
func (c *child) metric(ctx context.Context, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.httpAddr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("%s: no metric %s", c.name, name)
}

// waitMetric polls a metric until ok(value) and returns when it was seen.
func (c *child) waitMetric(ctx context.Context, name string, ok func(float64) bool, every, timeout time.Duration) (time.Time, float64, error) {
	deadline := time.Now().Add(timeout)
	var v float64
	for {
		var err error
		v, err = c.metric(ctx, name)
		if err == nil && ok(v) {
			return time.Now(), v, nil
		}
		if err := c.exited(); err != nil {
			return time.Time{}, v, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, v, fmt.Errorf("%s: %s is %v after %v", c.name, name, v, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, v, ctx.Err()
		case <-time.After(every):
		}
	}
}

// rssSampler records a process's RSS every interval until stopped.
type rssSampler struct {
	stopCh  chan struct{}
	done    chan struct{}
	samples []int64
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.samples = append(s.samples, procUsage(pid).rss)
			select {
			case <-s.stopCh:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() []int64 {
	close(s.stopCh)
	<-s.done
	return s.samples
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeLines appends n copies of line to path.
func writeLines(path string, n int, line []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for range n {
		if _, err := w.Write(line); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// fixedLine is a line of size bytes, newline included.
func fixedLine(size int) []byte {
	return []byte(strings.Repeat("x", size-1) + "\n")
}

func lastLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
