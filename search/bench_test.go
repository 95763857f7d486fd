package search

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/logpipe/logpipe/transfer"
)

// BenchmarkBulk indexes batches of 5,000 documents shaped as the transfer
// writes them (a 200-byte JSON line plus the ECS fields) into one index.
func BenchmarkBulk(b *testing.B) {
	e, err := Open(b.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	const batch = 5000
	pad := strings.Repeat("x", 120)
	var seq int
	b.ResetTimer()
	for range b.N {
		actions := make([]transfer.Action, batch)
		for i := range actions {
			doc := fmt.Sprintf(`{"seq":%d,"level":"info","msg":"%s","@timestamp":"2026-12-07T06:30:00.000Z",`+
				`"log":{"file":{"path":"/var/log/app.log"},"offset":%d},"host":{"name":"h1"},"agent":{"name":"a1"},"event":{"id":"%032x"}}`,
				seq, pad, seq*200, seq)
			actions[i] = transfer.Action{Index: "bench", ID: fmt.Sprintf("%032x", seq), Doc: []byte(doc)}
			seq++
		}
		res, err := e.Bulk(context.Background(), actions)
		if err != nil || res[0].Status != 201 {
			b.Fatal(err, res[0])
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "docs/s")
}
