package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// throughputScenario heads the one table of agent and transfer throughput.
const throughputScenario = "Throughput, 200-byte lines: agent file → Kafka acknowledged (acks=all); transfer Kafka → bulk endpoint answering at once"

const (
	lineBytes       = 200
	throughputLines = 1_000_000
	shipTimeout     = 2 * time.Minute
	stallTimeout    = 15 * time.Second // no record acknowledged for this long
)

// shipRun is one shipper's run over one workload: files already written,
// shipped to a fresh broker until Kafka acknowledged every line.
type shipRun struct {
	elapsed time.Duration
	usage   usage
}

// shipper ships the files of dir (named *.log) to topic on the broker and
// returns once Kafka acknowledged want records.
type shipper struct {
	name string
	run  func(ctx context.Context, e *env, b *broker, dir, work string, want int64) (shipRun, error)
}

func runThroughput(ctx context.Context, e *env, r *report, runs int) error {
	const scenario = throughputScenario
	shippers := []shipper{{"logpipe", shipWithLogpipe}}
	if path, err := exec.LookPath("rsyslogd"); err == nil && rsyslogHasKafka() {
		shippers = append(shippers, shipper{"rsyslog", shipWithRsyslog})
		r.note("rsyslog: %s %s with imfile (inotify) → omkafka (resubmitOnFailure on; librdkafka request.required.acks=-1, enable.idempotence, snappy, linger 5 ms), run alternately with logpipe on the same files and broker", path, rsyslogVersion(path))
	} else {
		r.note("rsyslog: not run: rsyslogd with omkafka not installed (Debian packages rsyslog and rsyslog-kafka)")
	}
	for _, peer := range []string{"filebeat", "otelcol-contrib", "otelcol"} {
		if path, err := exec.LookPath(peer); err == nil {
			r.note("%s: found at %s but not run: the harness has no recipe for it yet", peer, path)
		} else {
			r.note("%s: not run: not found on PATH", peer)
		}
	}

	for _, files := range []int{1, 100} {
		per := throughputLines / files
		total := int64(per * files)
		cse := fmt.Sprintf("agent: %d file(s) × %s lines", files, thousands(int64(per)))
		dir := filepath.Join(e.dir, fmt.Sprintf("throughput-%d", files))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		line := fixedLine(lineBytes)
		for i := range files {
			if err := writeLines(filepath.Join(dir, fmt.Sprintf("f%03d.log", i)), per, line); err != nil {
				return err
			}
		}
		results := make(map[string][]shipRun)
		// Alternate the shippers run by run, so that a noisy neighbour hurts
		// both alike.
		for i := range runs {
			for _, s := range shippers {
				b, err := newBroker(3, "bench")
				if err != nil {
					return err
				}
				work := filepath.Join(e.dir, fmt.Sprintf("work-%s-%d-%d", s.name, files, i))
				res, err := s.run(ctx, e, b, dir, work, total)
				b.close()
				os.RemoveAll(work)
				var short *shortfallError
				if errors.As(err, &short) && s.name != "logpipe" {
					// A peer's loss is a finding, not the harness failing.
					r.note("%s, %s, run %d: lost lines: %v; the run is left out of its figures", s.name, cse, i+1, err)
					results[s.name] = append(results[s.name], shipRun{})
					continue
				}
				if err != nil {
					return fmt.Errorf("%s, %s, run %d: %w", s.name, cse, i+1, err)
				}
				results[s.name] = append(results[s.name], res)
			}
		}
		os.RemoveAll(dir)

		gb := float64(total*lineBytes) / 1e9
		for _, s := range shippers {
			var lps, mbps, cpuPerGB, cpuPerMLine, rss []float64
			for _, res := range results[s.name] {
				if res.elapsed == 0 {
					continue // lost lines
				}
				lps = append(lps, float64(total)/res.elapsed.Seconds())
				mbps = append(mbps, float64(total*lineBytes)/1e6/res.elapsed.Seconds())
				cpuPerGB = append(cpuPerGB, res.usage.cpu.Seconds()/gb)
				cpuPerMLine = append(cpuPerMLine, res.usage.cpu.Seconds()/float64(total)*1e6)
				rss = append(rss, float64(res.usage.peakRSS)/(1<<20))
			}
			f := r.add(scenario, cse, s.name, "lines/s", "", lps)
			if s.name == "logpipe" {
				f.target("≥ 600,000", func(m float64) bool { return m >= 600_000 })
			}
			r.add(scenario, cse, s.name, "MB/s", "", mbps)
			r.add(scenario, cse, s.name, "CPU per GB", "s", cpuPerGB)
			r.add(scenario, cse, s.name, "CPU per million lines", "s", cpuPerMLine)
			f = r.add(scenario, cse, s.name, "peak RSS", "MiB", rss)
			if s.name == "logpipe" {
				f.target("≤ 100 MiB", func(m float64) bool { return m <= 100 })
			}
		}
		if _, ok := results["rsyslog"]; ok {
			addRatios(r, scenario, cse, results["logpipe"], results["rsyslog"], total)
		}
	}
	return runTransferThroughput(ctx, e, r, runs)
}

// addRatios puts logpipe/rsyslog beside the figures, run by run: each
// ratio compares two runs made one after the other.
func addRatios(r *report, scenario, cse string, lp, rs []shipRun, total int64) {
	var lps, cpu, rss []float64
	for i := range min(len(lp), len(rs)) {
		if rs[i].elapsed == 0 {
			continue // the peer lost lines in that run
		}
		lps = append(lps, rs[i].elapsed.Seconds()/lp[i].elapsed.Seconds())
		cpu = append(cpu, lp[i].usage.cpu.Seconds()/rs[i].usage.cpu.Seconds())
		rss = append(rss, float64(lp[i].usage.peakRSS)/float64(rs[i].usage.peakRSS))
	}
	r.add(scenario, cse, "logpipe / rsyslog", "lines/s ratio", "×", lps)
	r.add(scenario, cse, "logpipe / rsyslog", "CPU per line ratio", "×", cpu).
		target("< 1 (less CPU per line than rsyslog)", func(m float64) bool { return m < 1 })
	r.add(scenario, cse, "logpipe / rsyslog", "peak RSS ratio", "×", rss)
}

func shipWithLogpipe(ctx context.Context, e *env, b *broker, dir, work string, want int64) (shipRun, error) {
	if err := e.reset(ctx); err != nil {
		return shipRun{}, err
	}
	ce := &api.CollectEntry{Metadata: api.ObjectMeta{Name: "bench"},
		Spec: api.CollectEntrySpec{Paths: []string{filepath.Join(dir, "*.log")}, Topic: "bench"}}
	if err := e.apply(ctx, ce); err != nil {
		return shipRun{}, err
	}
	start := time.Now()
	agent, err := e.startLogpipe("agent", "agent", "--name", "bench", "--kafka-brokers", b.addr(),
		"--data-dir", filepath.Join(work, "data"), "--allow-path", dir)
	if err != nil {
		return shipRun{}, err
	}
	defer agent.stop()
	return waitShipped(ctx, b, agent, start, want)
}

// shortfallError says a shipper stopped short of every line.
type shortfallError struct {
	shipper     string
	acked, want int64
	waited      time.Duration
}

func (e *shortfallError) Error() string {
	return fmt.Sprintf("%s: Kafka acknowledged %d of %d lines, and no more for %v (%v in all)",
		e.shipper, e.acked, e.want, stallTimeout, e.waited.Round(time.Second))
}

// waitShipped waits until the broker holds want records of topic bench and
// reads the shipper's CPU time and peak RSS before it stops.
func waitShipped(ctx context.Context, b *broker, c *child, start time.Time, want int64) (shipRun, error) {
	deadline := time.Now().Add(shipTimeout)
	var last int64
	lastProgress := time.Now()
	for {
		n := b.acked(ctx, "bench")
		if n >= want {
			break
		}
		if n > last {
			last, lastProgress = n, time.Now()
		}
		if err := c.exited(); err != nil {
			return shipRun{}, err
		}
		if time.Since(lastProgress) > stallTimeout || time.Now().After(deadline) {
			return shipRun{}, &shortfallError{shipper: c.name, acked: n, want: want, waited: time.Since(start)}
		}
		select {
		case <-ctx.Done():
			return shipRun{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	res := shipRun{elapsed: time.Since(start), usage: c.usage()}
	if n := b.acked(ctx, "bench"); n != want {
		return res, fmt.Errorf("%s: Kafka holds %d records, %d lines were written", c.name, n, want)
	}
	return res, nil
}

func shipWithRsyslog(ctx context.Context, e *env, b *broker, dir, work string, want int64) (shipRun, error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return shipRun{}, err
	}
	conf := filepath.Join(work, "rsyslog.conf")
	if err := os.WriteFile(conf, []byte(rsyslogConfig(dir, work, b.addr(), "bench")), 0o644); err != nil {
		return shipRun{}, err
	}
	start := time.Now()
	c, err := e.start("rsyslogd", "rsyslogd", "-n", "-f", conf, "-i", filepath.Join(work, "rsyslogd.pid"))
	if err != nil {
		return shipRun{}, err
	}
	defer c.stop()
	return waitShipped(ctx, b, c, start, want)
}

// rsyslogConfig ships every *.log of dir to topic as raw lines, with the
// delivery guarantees logpipe's agent gives: acks from all in-sync
// replicas, idempotent producer, snappy and a 5 ms linger. Without
// resubmitOnFailure omkafka drops the lines librdkafka's full queue
// refuses.
func rsyslogConfig(dir, work, broker, topic string) string {
	return fmt.Sprintf(`global(workDirectory=%[1]q)
module(load="imfile" mode="inotify")
module(load="omkafka")
template(name="raw" type="string" string="%%msg%%")
input(type="imfile" file=%[2]q tag="bench" ruleset="kafka" addMetadata="off")
ruleset(name="kafka") {
	action(type="omkafka" broker=[%[3]q] topic=%[4]q template="raw"
		resubmitOnFailure="on" action.resumeRetryCount="-1"
		confParam=["request.required.acks=-1", "enable.idempotence=true",
			"compression.codec=snappy", "linger.ms=5"])
}
`, work, filepath.Join(dir, "*.log"), broker, topic)
}

func rsyslogHasKafka() bool {
	for _, dir := range []string{"/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog", "/usr/lib/rsyslog"} {
		if _, err := os.Stat(filepath.Join(dir, "omkafka.so")); err == nil {
			return true
		}
	}
	return false
}

func rsyslogVersion(path string) string {
	out, err := exec.Command(path, "-v").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	first = strings.TrimSuffix(strings.TrimSpace(first), "compiled with:")
	return strings.TrimSpace(strings.Replace(first, "rsyslogd", "", 1))
}

const transferDocs = 500_000

// runTransferThroughput has the agent ship JSON lines into a topic once,
// then times `logpipe transfer` reading all of them, each run in a new
// consumer group, into a bulk endpoint that answers at once.
func runTransferThroughput(ctx context.Context, e *env, r *report, runs int) error {
	const scenario = throughputScenario
	b, err := newBroker(3, "tt")
	if err != nil {
		return err
	}
	defer b.close()
	dir := filepath.Join(e.dir, "transfer")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeJSONLines(filepath.Join(dir, "app.log"), 0, transferDocs); err != nil {
		return err
	}
	if err := e.reset(ctx); err != nil {
		return err
	}
	if err := e.apply(ctx, benchTopic("tt"), &api.CollectEntry{Metadata: api.ObjectMeta{Name: "tt"},
		Spec: api.CollectEntrySpec{Paths: []string{filepath.Join(dir, "*.log")}, Topic: "tt", Format: api.FormatJSON}}); err != nil {
		return err
	}
	agent, err := e.startLogpipe("agent", "agent", "--name", "bench", "--kafka-brokers", b.addr(),
		"--data-dir", filepath.Join(dir, "data"), "--allow-path", dir)
	if err != nil {
		return err
	}
	_, err = b.waitAcked(ctx, "tt", transferDocs, shipTimeout)
	agent.stop()
	if err != nil {
		return err
	}

	var dps, cpu, rss []float64
	for i := range runs {
		sink, err := newBulkSink(nil)
		if err != nil {
			return err
		}
		tr, err := e.startLogpipe("transfer", "transfer", "--kafka-brokers", b.addr(), "--es-urls", sink.url,
			"--group", fmt.Sprintf("bench-%d", i))
		if err != nil {
			sink.close()
			return err
		}
		err = sink.waitDocs(ctx, transferDocs, tr, shipTimeout)
		u := tr.usage()
		tr.stop()
		sink.close()
		if err != nil {
			return fmt.Errorf("transfer run %d: %w", i+1, err)
		}
		dps = append(dps, float64(transferDocs)/sink.span().Seconds())
		cpu = append(cpu, u.cpu.Seconds()/transferDocs*1e5)
		rss = append(rss, float64(u.peakRSS)/(1<<20))
	}
	cse := fmt.Sprintf("transfer: %s JSON records in 3 partitions", thousands(transferDocs))
	r.add(scenario, cse, "logpipe transfer", "docs/s (first to last bulk request)", "", dps).
		target("≥ 250,000", func(m float64) bool { return m >= 250_000 })
	r.add(scenario, cse, "logpipe transfer", "CPU per 100k docs", "s", cpu)
	r.add(scenario, cse, "logpipe transfer", "peak RSS", "MiB", rss)
	return nil
}

// benchTopic is a Topic the transfer indexes into bench-<name>.
func benchTopic(name string) *api.Topic {
	return &api.Topic{Metadata: api.ObjectMeta{Name: name},
		Spec: api.TopicSpec{Partitions: 3, Index: &api.TopicIndex{Name: "bench-" + name}}}
}

// jsonLine is the benchmark's JSON line of seq, padded to lineBytes.
func jsonLine(dst []byte, seq int64) []byte {
	start := len(dst)
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `,"level":"info","msg":"`...)
	for len(dst)-start < lineBytes-3 {
		dst = append(dst, 'x')
	}
	return append(dst, "\"}\n"...)
}

// writeJSONLines appends the lines of seq from..to-1 to path.
func writeJSONLines(path string, from, to int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<20)
	for seq := from; seq < to; seq++ {
		buf = jsonLine(buf, seq)
		if len(buf) > 1<<20-lineBytes {
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return err
			}
			buf = buf[:0]
		}
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
