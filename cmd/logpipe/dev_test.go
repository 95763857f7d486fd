package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logpipe/logpipe/search"
)

// devSpecs is a pipeline like specs/, on files under a test's directory.
const devSpecs = `apiVersion: logpipe.io/v1alpha1
kind: Topic
metadata: {name: app_log}
spec:
  partitions: 2
  index: {name: "app-{yyyy.MM.dd}"}
---
apiVersion: logpipe.io/v1alpha1
kind: Topic
metadata: {name: app_log.dlq}
spec: {partitions: 1}
---
apiVersion: logpipe.io/v1alpha1
kind: IndexTemplate
metadata: {name: app}
spec:
  indexPatterns: ["app-*"]
  template:
    mappings:
      properties:
        code: {type: keyword}
        msg: {type: text}
        seq: {type: long}
---
apiVersion: logpipe.io/v1alpha1
kind: CollectEntry
metadata: {name: app}
spec:
  paths: ["%s/*.log"]
  topic: app_log
  format: json
  startAt: beginning
`

// devServer is a `logpipe dev` running in-process.
type devServer struct {
	t              *testing.T
	cancel         func()
	done           chan int
	stdout, stderr *syncBuffer
	etcd, kafka    string
	search         string // http://host:port
}

var bannerLine = regexp.MustCompile(`(?m)^  (etcd|kafka|search)\s+(\S+)`)

// startDev runs logpipe dev with args and waits until it says it is ready.
func startDev(t *testing.T, args ...string) *devServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devServer{t: t, cancel: cancel, done: make(chan int, 1), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	go func() {
		d.done <- run(ctx, append([]string{"dev"}, args...), env{stdout: d.stdout, stderr: d.stderr, lookupEnv: func(string) (string, bool) { return "", false }})
	}()
	t.Cleanup(func() { d.stop() })
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(d.stdout.String(), "\nready;") {
		select {
		case code := <-d.done:
			d.done <- code
			t.Fatalf("logpipe dev exited %d while starting\nstdout:\n%s\nstderr:\n%s", code, d.stdout, d.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("logpipe dev not ready within 60s\nstdout:\n%s\nstderr:\n%s", d.stdout, d.stderr)
		}
	}
	for _, m := range bannerLine.FindAllStringSubmatch(d.stdout.String(), -1) {
		switch m[1] {
		case "etcd":
			d.etcd = m[2]
		case "kafka":
			d.kafka = m[2]
		case "search":
			d.search = m[2]
		}
	}
	if d.etcd == "" || d.kafka == "" || d.search == "" {
		t.Fatalf("banner lacks an address:\n%s", d.stdout)
	}
	return d
}

// stop cancels the server, as Ctrl-C does, and returns how long it took
// to stop and its exit code.
func (d *devServer) stop() (time.Duration, int) {
	if d.cancel == nil {
		return 0, 0
	}
	d.cancel()
	d.cancel = nil
	start := time.Now()
	select {
	case code := <-d.done:
		return time.Since(start), code
	case <-time.After(15 * time.Second):
		d.t.Errorf("logpipe dev did not stop within 15s of cancel\nstderr:\n%s", d.stderr)
		return time.Since(start), -1
	}
}

func (d *devServer) find(index, q string) search.Response {
	d.t.Helper()
	v := url.Values{"index": {index}, "q": {q}, "size": {"10000"}}
	resp, err := http.Get(d.search + "/api/v1/search?" + v.Encode())
	if err != nil {
		d.t.Fatalf("search %s: %v", q, err)
	}
	defer resp.Body.Close()
	var res search.Response
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
		d.t.Fatalf("search %s: HTTP %d, %v", q, resp.StatusCode, err)
	}
	return res
}

// waitTotal waits until the query matches want documents.
func (d *devServer) waitTotal(q string, want uint64, within time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := d.find("app-*", q).Total
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			d.t.Fatalf("%s matches %d documents, want %d\nstderr:\n%s", q, got, want, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkEachOnce checks that lines 0..n-1 are each indexed exactly once,
// found by their content and by their _id.
func (d *devServer) checkEachOnce(n int) {
	d.t.Helper()
	all := d.find("app-*", "*")
	if all.Total != uint64(n) || len(all.Hits) != n {
		d.t.Fatalf("the index holds %d documents (%d hits), want %d", all.Total, len(all.Hits), n)
	}
	seen := map[string]bool{}
	for _, h := range all.Hits {
		if seen[h.ID] {
			d.t.Fatalf("_id %s returned twice", h.ID)
		}
		seen[h.ID] = true
	}
	for i := range n {
		res := d.find("app-*", fmt.Sprintf(`seq:%d AND msg:"line %d"`, i, i))
		if res.Total != 1 {
			d.t.Fatalf("line %d found %d times, want once", i, res.Total)
		}
		h := res.Hits[0]
		var src struct {
			Seq   int                 `json:"seq"`
			Event struct{ ID string } `json:"event"`
		}
		if err := json.Unmarshal(h.Source, &src); err != nil || src.Seq != i || src.Event.ID != h.ID {
			d.t.Fatalf("line %d: hit %s with source %s: want seq %d and event.id = _id", i, h.ID, h.Source, i)
		}
		if byID := d.find("app-*", "_id:"+h.ID); byID.Total != 1 || byID.Hits[0].ID != h.ID {
			d.t.Fatalf("_id:%s found %d documents, want 1", h.ID, byID.Total)
		}
	}
}

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < to; i++ {
		if _, err := fmt.Fprintf(f, `{"seq":%d,"code":"%d","msg":"line %d"}`+"\n", i, 200+i%2*300, i); err != nil {
			t.Fatal(err)
		}
	}
}

// latency appends one line and returns how long it took to become
// searchable.
func (d *devServer) latency(path string, seq int) time.Duration {
	d.t.Helper()
	start := time.Now()
	appendLines(d.t, path, seq, seq+1)
	q := fmt.Sprintf("seq:%d", seq)
	for d.find("app-*", q).Total == 0 {
		if time.Since(start) > 10*time.Second {
			d.t.Fatalf("line %d not searchable 10s after it was written\nstderr:\n%s", seq, d.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func TestDevIndexesEveryLineOnceAcrossARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline twice")
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	specs := filepath.Join(dir, "specs")
	for _, d := range []string{logs, specs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(specs, "app.yaml"), fmt.Appendf(nil, devSpecs, logs), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--data-dir", filepath.Join(dir, "data"),
		"--http-addr", "127.0.0.1:0", "--etcd-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0",
		"--allow-path", logs, "--demo-dir", filepath.Join(dir, "demo"),
		"--apply", specs, "--log-level", "warn",
	}
	a, b := filepath.Join(logs, "a.log"), filepath.Join(logs, "b.log")
	var latencies []time.Duration

	dev := startDev(t, args...)
	for _, f := range []string{"access.log", "error.log"} {
		if _, err := os.Stat(filepath.Join(dir, "demo", "web", f)); err != nil {
			t.Errorf("demo file: %v", err)
		}
	}
	if !strings.Contains(dev.stdout.String(), "applied collectentry/app created") {
		t.Errorf("--apply did not report the CollectEntry:\n%s", dev.stdout)
	}
	appendLines(t, a, 0, 20)
	appendLines(t, b, 20, 40)
	dev.waitTotal("*", 40, 30*time.Second)
	for i := range 5 {
		latencies = append(latencies, dev.latency(a, 40+i))
	}
	dev.checkEachOnce(45)
	// The index template chose the field types: code is a keyword.
	if got := dev.find("app-*", "code:500").Total; got != 22 {
		t.Errorf("code:500 matches %d lines, want 22", got)
	}
	took, code := dev.stop()
	if code != 0 || took > 5*time.Second {
		t.Fatalf("first run stopped after %v with exit %d, want within 5s and 0\nstderr:\n%s", took, code, dev.stderr)
	}
	t.Logf("first run stopped in %v", took.Round(time.Millisecond))

	// Lines written while it is down are shipped after the restart.
	appendLines(t, b, 45, 60)
	dev = startDev(t, args...)
	if !strings.Contains(dev.stdout.String(), "applied collectentry/app unchanged") {
		t.Errorf("second --apply did not leave the CollectEntry unchanged:\n%s", dev.stdout)
	}
	appendLines(t, a, 60, 80)
	dev.waitTotal("*", 80, 30*time.Second)
	for i := range 5 {
		latencies = append(latencies, dev.latency(b, 80+i))
	}
	dev.checkEachOnce(85)
	took, code = dev.stop()
	if code != 0 || took > 5*time.Second {
		t.Fatalf("second run stopped after %v with exit %d, want within 5s and 0\nstderr:\n%s", took, code, dev.stderr)
	}

	slices.Sort(latencies)
	t.Logf("write → searchable over %d lines: min %v, median %v, max %v", len(latencies),
		latencies[0].Round(time.Millisecond), latencies[len(latencies)/2].Round(time.Millisecond),
		latencies[len(latencies)-1].Round(time.Millisecond))
	if median := latencies[len(latencies)/2]; median > 2*time.Second {
		t.Errorf("median write → searchable latency %v, want within 2s", median)
	}
}

func TestDevNamesTheFlagOfAPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	for _, flag := range []string{"--http-addr", "--etcd-addr", "--kafka-addr"} {
		args := []string{"dev", "--data-dir", t.TempDir(), "--demo-dir", "",
			"--http-addr", "127.0.0.1:0", "--etcd-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0", flag, taken}
		var out syncBuffer
		code := run(t.Context(), args, env{stdout: &out, stderr: &out, lookupEnv: func(string) (string, bool) { return "", false }})
		want := fmt.Sprintf("error: %s %s: address already in use (is another logpipe dev running?): stop it or choose another address with %s\n", flag, taken, flag)
		if code != 1 || out.String() != want {
			t.Errorf("%s in use: exit %d, output %q; want 1, %q", flag, code, out.String(), want)
		}
	}
}

// bulkEngine is a search engine that accepts index templates (as
// templateEngine) and bulk requests, whose bodies it keeps.
type bulkEngine struct {
	templateEngine
	bulkMu sync.Mutex
	bulk   strings.Builder
}

func (e *bulkEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/_bulk" {
		e.templateEngine.ServeHTTP(w, r)
		return
	}
	b, _ := io.ReadAll(r.Body)
	e.bulkMu.Lock()
	e.bulk.Write(b)
	e.bulkMu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"errors":false}`)
}

func (e *bulkEngine) bulkBodies() string {
	e.bulkMu.Lock()
	defer e.bulkMu.Unlock()
	return e.bulk.String()
}

func TestDevWithESURLsIndexesIntoTheEngine(t *testing.T) {
	engine := &bulkEngine{templateEngine: templateEngine{put: map[string]string{}}}
	es := httptest.NewServer(engine)
	t.Cleanup(es.Close)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), fmt.Appendf(nil, devSpecs, logs), 0o644); err != nil {
		t.Fatal(err)
	}
	dev := startDev(t, "--data-dir", filepath.Join(dir, "data"),
		"--http-addr", "127.0.0.1:0", "--etcd-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0",
		"--allow-path", logs, "--demo-dir", "", "--apply", filepath.Join(dir, "app.yaml"),
		"--es-urls", es.URL, "--log-level", "warn")
	appendLines(t, filepath.Join(logs, "a.log"), 0, 3)
	eventually(t, 30*time.Second, "the engine received the three lines through _bulk", func() bool {
		return strings.Count(engine.bulkBodies(), `"msg":"line `) == 3
	})
	eventually(t, 10*time.Second, "index template app is installed in the engine", func() bool {
		engine.mu.Lock()
		defer engine.mu.Unlock()
		return strings.Contains(engine.put["app"], `"index_patterns":["app-*"]`)
	})
	if body := engine.bulkBodies(); !strings.Contains(body, `{"index":{"_index":"app-`) {
		t.Errorf("bulk body lacks the app-* index action:\n%s", body)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "index")); !os.IsNotExist(err) {
		t.Errorf("with --es-urls the embedded index was created anyway (%v)", err)
	}
	resp, err := http.Get(dev.search + "/api/v1/search?q=*")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(b), "--es-urls") {
		t.Errorf("search API with --es-urls: %d %s, want 501 naming --es-urls", resp.StatusCode, b)
	}
	if took, code := dev.stop(); code != 0 || took > 5*time.Second {
		t.Fatalf("stopped after %v with exit %d\nstderr:\n%s", took, code, dev.stderr)
	}
}
