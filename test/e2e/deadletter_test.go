//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMappingConflict writes lines whose field n the index template maps
// as a long, one in ten of them with a string there. OpenSearch rejects
// those documents (HTTP 400); the transfer parks each in the dead-letter
// topic, as the raw line with the engine's error in its headers, and
// indexes all the others.
func TestMappingConflict(t *testing.T) {
	t.Parallel()
	p := newPipe(t, "conflict")
	p.apply("pipeline.yaml", p.topicYAML(2)+"---\n"+p.templateYAML("        n: {type: long}\n"))
	p.waitMade(2)
	p.startTransfer("transfer")
	p.startAgent("agent")
	p.apply("entry.yaml", p.entryYAML("conflict", []string{"*.log"}, ""))

	l := &ledger{}
	bad := map[string]string{} // key -> line
	var ws []*writer
	for i := range 2 {
		w := p.newWriter(l, fmt.Sprintf("c%d", i), fmt.Sprintf("app-%d.log", i), "conflict")
		w.line = func(key string, seq int) string {
			n := strconv.Itoa(seq)
			if seq%10 == 7 {
				n = `"not a number"`
			}
			return fmt.Sprintf(`{"k":%q,"src":%q,"seq":%d,"n":%s,"msg":"line %d"}`, key, w.src, seq, n, seq)
		}
		ws = append(ws, w)
	}
	ss := startStreams(200, ws...)
	sleep(t, 5*time.Second)
	ss.stop(t)

	all := l.snapshot()
	var good []wline
	for _, w := range all {
		if strings.Contains(w.line, `"n":"not a number"`) {
			bad[w.key] = w.line
		} else {
			good = append(good, w)
		}
	}
	t.Logf("wrote %s: %d with a number in n, %d with a string there", l, len(good), len(bad))

	// The dead-letter topic first: the transfer commits a rejected
	// record's offset once its dead-letter write is acknowledged.
	var dl []dlqRecord
	eventually(t, 60*time.Second, fmt.Sprintf("%d records in %s", len(bad), p.dlq), func(ctx context.Context) error {
		recs, err := p.readTopic(ctx, p.dlq)
		if err != nil {
			return err
		}
		dl = dl[:0]
		for _, r := range recs {
			d := dlqRecord{value: string(r.Value), headers: map[string]string{}}
			for _, h := range r.Headers {
				d.headers[h.Key] = string(h.Value)
			}
			dl = append(dl, d)
		}
		if len(dl) < len(bad) {
			return fmt.Errorf("%d records", len(dl))
		}
		return nil
	})
	p.waitIndexed(t, len(good), 60*time.Second)
	ic := p.checkIndex(t, "documents OpenSearch accepted", good, l)

	seen := map[string]int{}
	var problems []string
	for _, d := range dl {
		var line struct {
			K string `json:"k"`
		}
		json.Unmarshal([]byte(d.value), &line)
		seen[line.K]++
		want, ok := bad[line.K]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("a dead-letter record of no rejected line: %q %v", d.value, d.headers))
			continue
		case d.value != want:
			problems = append(problems, fmt.Sprintf("line %s: dead-letter value %q, the line was %q", line.K, d.value, want))
		}
		h := d.headers
		if h["logpipe.error.status"] != "400" || !strings.HasSuffix(h["logpipe.error.type"], "parsing_exception") ||
			!strings.Contains(h["logpipe.error.reason"], "[n]") {
			problems = append(problems, fmt.Sprintf("line %s: error headers status %q type %q reason %q; want 400, a parsing exception, and a reason naming [n]",
				line.K, h["logpipe.error.status"], h["logpipe.error.type"], h["logpipe.error.reason"]))
		}
		if !strings.HasPrefix(h["logpipe.error.index"], p.index+"-") || h["logpipe.source.topic"] != p.topicName ||
			h["logpipe.source.partition"] == "" || h["logpipe.source.offset"] == "" {
			problems = append(problems, fmt.Sprintf("line %s: headers logpipe.error.index %q, logpipe.source.topic %q, partition %q, offset %q",
				line.K, h["logpipe.error.index"], h["logpipe.source.topic"], h["logpipe.source.partition"], h["logpipe.source.offset"]))
		}
		if id := h["logpipe.id"]; len(id) != 32 || h["logpipe.entry"] != "conflict" {
			problems = append(problems, fmt.Sprintf("line %s: the agent's headers logpipe.id %q and logpipe.entry %q did not come along", line.K, id, h["logpipe.entry"]))
		} else if _, indexed := ic.byKey[line.K]; indexed {
			problems = append(problems, fmt.Sprintf("line %s is in the dead-letter topic and in the index", line.K))
		}
	}
	missing, twice := 0, 0
	for k := range bad {
		switch seen[k] {
		case 0:
			missing++
			problems = append(problems, fmt.Sprintf("rejected line %s is not in the dead-letter topic", k))
		case 1:
		default:
			twice++
			problems = append(problems, fmt.Sprintf("rejected line %s is %d times in the dead-letter topic", k, seen[k]))
		}
	}
	t.Logf("dead-letter topic %s holds %d records for the %d rejected lines: %d missing, %d more than once", p.dlq, len(dl), len(bad), missing, twice)
	if len(dl) > 0 {
		var hs []string
		for k, v := range dl[0].headers {
			if strings.HasPrefix(k, "logpipe.error.") || strings.HasPrefix(k, "logpipe.source.") {
				hs = append(hs, k+"="+strconv.Quote(v))
			}
		}
		sort.Strings(hs)
		t.Logf("first dead-letter record: value %s, %s", dl[0].value, strings.Join(hs, ", "))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("... and %d more", len(problems)-10))
		}
		t.Fatalf("dead-letter topic %s:\n%s", p.dlq, indent(strings.Join(problems, "\n")))
	}
}

type dlqRecord struct {
	value   string
	headers map[string]string
}
