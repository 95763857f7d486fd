package transfer

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/esclient"
)

// quickEngine answers every bulk request at once with success for each
// item, reading the body but storing nothing: the client side's ceiling.
type quickEngine struct {
	docs atomic.Int64
}

var quickItem = []byte(`{"index":{"status":201}}`)

func (q *quickEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n := bytes.Count(body, []byte("\n")) / 2
	out := make([]byte, 0, 32+n*(len(quickItem)+1))
	out = append(out, `{"errors":false,"items":[`...)
	for i := range n {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, quickItem...)
	}
	out = append(out, "]}"...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
	q.docs.Add(int64(n))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTransfer measures Kafka → transfer → bulk endpoint for 200-byte
// JSON lines with the agent's headers. Kafka is kfake in the same process,
// and the bulk endpoint answers at once, so the CPU figure counts the
// broker and the HTTP server too: it is an upper bound of the transfer's
// own cost. Each iteration indexes 100,000 records produced beforehand
// while the topic's fetching was paused.
func BenchmarkTransfer(b *testing.B) {
	const perIter = 100_000
	h := newHarness(b)
	q := &quickEngine{}
	srv := httptest.NewServer(q)
	b.Cleanup(srv.Close)
	es := esclient.Options{URLs: []string{srv.URL}}
	tr, err := es.Transport()
	if err != nil {
		b.Fatal(err)
	}
	h.topic("bench", 4, &api.TopicIndex{Name: webIndex})
	r := h.start("bench", func(o *Options) {
		o.Sink = NewElasticSink(tr)
		o.Logger = discardLogger()
		o.StatusInterval = time.Minute
	})
	waitFor(b, 10*time.Second, "the transfer consumes topic bench", func() bool { return len(r.tr.liveParts()) == 4 })

	recs := jsonLines("bench", perIter, 64)
	var elapsed, cpu time.Duration
	var total int64
	adm := kadm.NewClient(h.kcl)
	for b.Loop() {
		b.StopTimer()
		r.tr.kcl.PauseFetchTopics("bench")
		for _, rec := range recs {
			rec.Partition, rec.Offset = 0, 0 // reused: the producer sets them
		}
		h.produce(recs)
		want := q.docs.Load() + perIter
		c0, t0 := cpuTime(), time.Now()
		b.StartTimer()
		r.tr.kcl.ResumeFetchTopics("bench")
		for q.docs.Load() < want {
			time.Sleep(200 * time.Microsecond)
		}
		b.StopTimer()
		elapsed += time.Since(t0)
		cpu += cpuTime() - c0
		total += perIter
		// Free the broker's memory before the next round.
		ends, err := adm.ListEndOffsets(context.Background(), "bench")
		if err == nil {
			_, _ = adm.DeleteRecords(context.Background(), ends.Offsets())
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "docs/s")
	b.ReportMetric(cpu.Seconds()*100_000/float64(total), "cpu-s/100k-docs")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkEncode measures decoding and enrichment alone: one 200-byte
// JSON line with the agent's headers into its document.
func BenchmarkEncode(b *testing.B) {
	for _, tc := range []struct {
		name string
		idx  api.TopicIndex
	}{
		{"json", api.TopicIndex{Name: webIndex}},
		{"json-timestamp-field", api.TopicIndex{Name: webIndex, TimestampField: "ts"}},
		// ECS loggers write "log.level": a dotted name beside logpipe's
		// log object, still the fast path.
		{"json-ecs-dotted-member", api.TopicIndex{Name: webIndex}},
		// A line with its own "log" object takes the merging slow path.
		{"json-colliding-member", api.TopicIndex{Name: webIndex}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := mustConfig(b, tc.idx)
			recs := jsonLines("web_log", 1024, 16)
			for _, r := range recs {
				switch tc.name {
				case "json-timestamp-field":
					r.Value = append(r.Value[:len(r.Value)-1], `,"ts":"2026-11-26T10:00:00.123Z"}`...)
				case "json-ecs-dotted-member":
					r.Value = append([]byte(`{"log.level":"info",`), r.Value[1:]...)
				case "json-colliding-member":
					r.Value = append([]byte(`{"log":{"level":"info"},`), r.Value[1:]...)
				}
			}
			var e encoder
			var buf []byte
			i := 0
			for b.Loop() {
				buf, _ = e.encode(buf[:0], recs[i%len(recs)], cfg)
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "docs/s")
			b.SetBytes(int64(len(recs[0].Value)))
		})
	}
}

func mustConfig(tb testing.TB, idx api.TopicIndex) *topicConfig {
	tb.Helper()
	tp := &api.Topic{Metadata: api.ObjectMeta{Name: "web_log", Generation: 1}, Spec: api.TopicSpec{Index: &idx}}
	tp.Default()
	cfg, err := newTopicConfig(tp, NewMetrics(nil))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
