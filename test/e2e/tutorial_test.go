//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTutorial runs the tutorial on the real engines with the specs/ the
// repository ships (renamed to the scenario's topic, index and folder):
// the two JSON lines of the tutorial, one in each of its two files, are
// found in OpenSearch with their fields, where they came from, and their
// event ID as _id.
func TestTutorial(t *testing.T) {
	t.Parallel()
	p := newPipe(t, "tutorial")

	// specs/ as shipped, with the scenario's names: the web_log topic (and
	// web_log.dlq) become e2e_tutorial(.dlq), the web-* indices
	// e2e-tutorial-*, the web template e2e-tutorial, and the files'
	// folder /tmp/logpipe-demo/web the test's own.
	var specs []string
	for file, renames := range map[string][][2]string{
		"topic-web_log.yaml":     {{"name: web_log\n", "name: " + p.topicName + "\n"}, {"deadLetterTopic: web_log.dlq", "deadLetterTopic: " + p.dlq}, {"name: web-{yyyy.MM.dd}", "name: " + p.index + "-{yyyy.MM.dd}"}},
		"topic-web_log-dlq.yaml": {{"name: web_log.dlq", "name: " + p.dlq}},
		"indextemplate-web.yaml": {{"name: web\n", "name: " + p.template + "\n"}, {`indexPatterns: ["web-*"]`, `indexPatterns: ["` + p.index + `-*"]`}},
		"collect-web-app.yaml":   {{"/tmp/logpipe-demo/web/", p.logs + "/"}, {"topic: web_log", "topic: " + p.topicName}},
	} {
		b, err := os.ReadFile(filepath.Join(repoDir, "specs", file))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, r := range renames {
			if !strings.Contains(s, r[0]) {
				t.Fatalf("specs/%s has no %q any more: update this test", file, r[0])
			}
			s = strings.ReplaceAll(s, r[0], r[1])
		}
		specs = append(specs, s)
	}
	p.apply("tutorial.yaml", strings.Join(specs, "\n---\n"))
	p.waitMade(3)

	p.startTransfer("transfer")
	agent := p.startAgent("agent")

	access := filepath.Join(p.logs, "access.log")
	errorLog := filepath.Join(p.logs, "error.log")
	lines := map[string]string{
		access:   `{"time":"123","code":"200","msg":"ok"}`,
		errorLog: `{"time":"321","code":"500","msg":"not ok"}`,
	}
	for path, line := range lines {
		if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %s into %s and %s into %s", lines[access], access, lines[errorLog], errorLog)
	took := p.waitIndexed(t, 2, 60*time.Second)
	t.Logf("2 documents in %s-* %v after the write (agent %s)", p.index, took.Round(time.Millisecond), agent.name)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	n, docs, err := p.fetchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || len(docs) != 2 {
		t.Fatalf("%s-* has _count %d and %d documents, want 2: %v", p.index, n, len(docs), docs)
	}
	for _, d := range docs {
		path := d.str("log.file.path")
		line, ok := lines[path]
		if !ok {
			t.Fatalf("document %s has log.file.path %q, want %s or %s", d.ID, path, access, errorLog)
		}
		var want map[string]string
		json.Unmarshal([]byte(line), &want)
		var diffs []string
		for k, v := range want {
			if got := d.str(k); got != v {
				diffs = append(diffs, fmt.Sprintf("%s is %q, want %q", k, got, v))
			}
		}
		checks := []struct {
			field string
			got   any
			want  any
		}{
			{"event.id", d.str("event.id"), d.ID},
			{"log.offset", d.field("log.offset"), float64(0)},
			{"logpipe.entry", d.str("logpipe.entry"), "web-app"},
			{"fields.service", d.str("fields.service"), "web"},
			{"agent.name", d.str("agent.name"), agent.name},
		}
		for _, c := range checks {
			if c.got != c.want {
				diffs = append(diffs, fmt.Sprintf("%s is %v, want %v", c.field, c.got, c.want))
			}
		}
		if len(d.ID) != 32 {
			diffs = append(diffs, fmt.Sprintf("_id %q is not 32 hex digits", d.ID))
		}
		if d.str("@timestamp") == "" || d.str("host.name") == "" {
			diffs = append(diffs, "no @timestamp or host.name")
		}
		if len(diffs) > 0 {
			t.Errorf("document %s of %s: %s", d.ID, path, strings.Join(diffs, "; "))
		}
		t.Logf("found in %s: _id %s, %s", d.Index, d.ID, mustJSON(d.Source))
	}
	if t.Failed() {
		t.FailNow()
	}

	// The tutorial's search: the failed request, by its code (a keyword,
	// as the template maps it).
	hits, err := p.count(ctx, "code:500")
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := search(ctx, "GET", "/"+p.index+"-*/_mapping/field/code", nil)
	if err != nil || code != 200 || !strings.Contains(string(body), `"type":"keyword"`) {
		t.Fatalf("mapping of code in %s-*: %d %s %v; want a keyword, as the template says", p.index, code, body, err)
	}
	if hits != 1 {
		t.Fatalf("q=code:500 finds %d documents, want 1", hits)
	}
	t.Logf("q=code:500 finds %d document; code is mapped as a keyword", hits)
}
