package agent

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logpipe/logpipe/internal/record"
)

// TestBrokerUnreachableFor20sLosesNothing drops every produce connection
// for 20 s while lines keep being written: tailers wait, and every line
// arrives once the broker answers again.
func TestBrokerUnreachableFor20sLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 20 s")
	}
	h := newHarness(t, "o_log")
	f := filepath.Join(h.dir, "o.log")
	appendLines(t, f, "line-0000")
	h.apply(entry("o", "o_log", f))
	h.start(nil)
	h.consume("o_log", 1)

	var refused atomic.Int64
	outageEnds := time.Now().Add(20 * time.Second)
	h.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if time.Now().After(outageEnds) {
			return nil, nil, false // handled normally from now on
		}
		h.cluster.KeepControl()
		refused.Add(1)
		return nil, errors.New("broker unreachable"), true // closes the connection
	})
	const total = 2000
	for i := 1; i < total; i++ {
		appendLines(t, f, fmt.Sprintf("line-%04d", i))
		if i%100 == 0 {
			time.Sleep(time.Second) // spread the writes over the outage
		}
	}
	got := h.consume("o_log", total) // the consumer is not affected: only produce is refused
	if refused.Load() == 0 {
		t.Fatal("no produce request was refused: the outage did not happen")
	}
	ids := map[string]string{}
	for _, c := range got {
		if prev, ok := ids[c.value]; ok && prev != c.headers[record.HeaderID] {
			t.Fatalf("line %q was sent twice with different event IDs", c.value)
		}
		ids[c.value] = c.headers[record.HeaderID]
	}
	for i := range total {
		if _, ok := ids[fmt.Sprintf("line-%04d", i)]; !ok {
			t.Fatalf("line-%04d lost across the outage", i)
		}
	}
	t.Logf("%d produce requests refused during the outage; %d records read for %d lines", refused.Load(), len(got), total)
}
