//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logpipe/logpipe/test/e2e/stack"
)

// env is one test's view of the stack: its own etcd prefix, so that tests
// do not see each other's specs, and its own folder for files and logs.
type env struct {
	t      *testing.T
	prefix string
	dir    string
	admin  *kadm.Client
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// runID tells this run's etcd keys from those of earlier runs against the
// same (external) etcd.
var runID = fmt.Sprintf("%s-%d", time.Now().UTC().Format("20060102T150405"), os.Getpid())

func newEnv(t *testing.T) *env {
	t.Helper()
	needStack(t)
	name := unsafeName.ReplaceAllString(t.Name(), "_")
	e := &env{
		t:      t,
		prefix: "/e2e-" + runID + "/" + name,
		dir:    t.TempDir(),
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(stk.KafkaBrokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e.admin = kadm.NewClient(cl)
	return e
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(e.t.Context(), 30*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// ctl runs logpipectl with args against the test's etcd prefix and returns
// its stdout; the error carries the exit status and stderr.
func (e *env) ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(e.t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "logpipectl"), args...)
	cmd.Env = append(os.Environ(),
		"LOGPIPE_ETCD_ENDPOINTS="+stk.EtcdEndpoint,
		"LOGPIPE_ETCD_PREFIX="+e.prefix,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("logpipectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (e *env) mustCtl(args ...string) string {
	e.t.Helper()
	out, err := e.ctl(args...)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// writeFile writes a file into the test's folder and returns its path.
func (e *env) writeFile(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// daemon is a logpipe daemon the test started.
type daemon struct {
	*stack.Process
	name     string
	httpAddr string
	argv     []string
	logPath  string
}

// startDaemon runs `logpipe <command> <args>` with the stack's endpoints,
// the test's etcd prefix and a free --http-addr, and waits until its
// /healthz answers. It is killed when the test ends; if the test failed,
// the end of its log is shown.
func (e *env) startDaemon(name, command string, args ...string) *daemon {
	e.t.Helper()
	port, err := stack.FreePort()
	if err != nil {
		e.t.Fatal(err)
	}
	d := &daemon{name: name, httpAddr: fmt.Sprintf("127.0.0.1:%d", port)}
	d.logPath = filepath.Join(stk.LogDir, unsafeName.ReplaceAllString(e.t.Name(), "_")+"."+name+".log")
	d.argv = []string{filepath.Join(binDir, "logpipe"), command,
		"--name", name,
		"--http-addr", d.httpAddr,
		"--etcd-endpoints", stk.EtcdEndpoint,
		"--etcd-prefix", e.prefix,
		"--kafka-brokers", strings.Join(stk.KafkaBrokers, ","),
	}
	if command != "agent" { // the agent never talks to the search engine
		d.argv = append(d.argv, "--es-urls", stk.SearchURL)
	}
	d.argv = append(d.argv, args...)
	e.t.Cleanup(func() {
		if d.Process == nil {
			return
		}
		if err := d.Stop(10 * time.Second); err != nil {
			e.t.Error(err)
		}
		if e.t.Failed() {
			e.t.Logf("log of %s (%s), last lines:\n%s", name, d.logPath, d.Tail(40))
		}
	})
	d.start(e.t)
	return d
}

// start runs the daemon's command line (again, after a kill) and waits
// until its /healthz answers.
func (d *daemon) start(t *testing.T) {
	t.Helper()
	if d.Process != nil {
		if exited, _ := d.Exited(); !exited {
			t.Fatalf("%s (pid %d) is still running", d.name, d.Pid())
		}
	}
	p, err := stack.StartProcess(d.name, d.logPath, nil, d.argv...)
	if err != nil {
		t.Fatal(err)
	}
	d.Process = p
	if _, err := d.WaitReady(t.Context(), 20*time.Second, func(ctx context.Context) error {
		_, err := httpGet(ctx, "http://"+d.httpAddr+"/healthz")
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// metric returns the value of an unlabelled metric on the daemon's /metrics.
func (d *daemon) metric(ctx context.Context, name string) (float64, error) {
	body, err := httpGet(ctx, "http://"+d.httpAddr+"/metrics")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no metric %s", name)
}

// metricSum returns the sum of every series of a metric (labelled or not)
// on the daemon's /metrics; 0 when it has none yet.
func (d *daemon) metricSum(ctx context.Context, name string) (float64, error) {
	body, err := httpGet(ctx, "http://"+d.httpAddr+"/metrics")
	if err != nil {
		return 0, err
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (!strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "{")) {
			continue
		}
		if i := strings.LastIndexByte(rest, ' '); i >= 0 {
			v, err := strconv.ParseFloat(rest[i+1:], 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %v", line, err)
			}
			sum += v
		}
	}
	return sum, nil
}

func httpGet(ctx context.Context, url string) (string, error) {
	code, body, err := httpDo(ctx, http.MethodGet, url, nil)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("GET %s: %d: %s", url, code, body)
	}
	return string(body), err
}

func httpDo(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// search sends a request to the search engine.
func search(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	return httpDo(ctx, method, stk.SearchURL+path, body)
}

// eventually calls check every 50 ms until it returns nil and returns how
// long that took, or fails the test with check's last error after within.
func eventually(t *testing.T, within time.Duration, what string, check func(ctx context.Context) error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := check(ctx)
		cancel()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so within %v: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// topicState is what Kafka says of a topic: -1 partitions when it does not
// exist, and its configs set on the topic itself (not defaults).
type topicState struct {
	partitions int
	configs    map[string]string
}

func (e *env) topic(ctx context.Context, name string) (topicState, error) {
	details, err := e.admin.ListTopics(kadm.WithAuthorizedOps(ctx), name) // uncached: kadm caches metadata for 5s otherwise
	if err != nil {
		return topicState{}, err
	}
	d, ok := details[name]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return topicState{partitions: -1}, nil
	}
	if d.Err != nil {
		return topicState{}, d.Err
	}
	st := topicState{partitions: len(d.Partitions), configs: map[string]string{}}
	rcs, err := e.admin.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return topicState{}, err
	}
	rc, err := rcs.On(name, nil)
	if err != nil {
		return topicState{}, err
	}
	if rc.Err != nil {
		return topicState{}, rc.Err
	}
	for _, c := range rc.Configs {
		if c.Source.String() == "DYNAMIC_TOPIC_CONFIG" && c.Value != nil {
			st.configs[c.Key] = *c.Value
		}
	}
	return st, nil
}

// deleteTopics removes topics left by an earlier run against the same
// (external) cluster.
func (e *env) deleteTopics(names ...string) {
	e.t.Helper()
	resps, err := e.admin.DeleteTopics(e.ctx(), names...)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range resps {
		if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
			e.t.Fatalf("delete topic %s: %v", r.Topic, r.Err)
		}
	}
}

// condition is a status condition as logpipectl prints it in JSON.
type condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// object is the part of an object in `logpipectl get -o json` the suite
// reads.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name       string `json:"name"`
		Generation int64  `json:"generation"`
	} `json:"metadata"`
	Status struct {
		ObservedGeneration int64       `json:"observedGeneration"`
		Conditions         []condition `json:"conditions"`
		Partitions         int         `json:"partitions"`
		Applied            bool        `json:"applied"`
	} `json:"status"`
}

func (o object) ready() condition {
	for _, c := range o.Status.Conditions {
		if c.Type == "Ready" {
			return c
		}
	}
	return condition{Type: "Ready", Status: "Unknown"}
}

// get runs `logpipectl get KIND -o json` and returns the objects by name.
func (e *env) get(kind string) (map[string]object, error) {
	out, err := e.ctl("get", kind, "-o", "json")
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []object `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("logpipectl get %s -o json: %v in %q", kind, err, out)
	}
	objs := map[string]object{}
	for _, o := range list.Items {
		objs[o.Metadata.Name] = o
	}
	return objs, nil
}

// indent prefixes every line of s for the test log.
func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
