package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lockedBuffer is an io.Writer that a test may read while a command
// writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tailing is a logpipectl tail running until stop.
type tailing struct {
	out, errs *lockedBuffer
	cancel    func()
	done      chan error
}

// startTail runs logpipectl with args in-process, as Ctrl-C would stop it:
// through its command's context.
func startTail(t *testing.T, args ...string) *tailing {
	t.Helper()
	tl := &tailing{out: &lockedBuffer{}, errs: &lockedBuffer{}, done: make(chan error, 1)}
	a := &app{
		stdin: strings.NewReader(""), stdout: tl.out, stderr: tl.errs,
		lookupEnv: func(string) (string, bool) { return "", false },
		now:       time.Now,
	}
	root := a.newRootCommand()
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	tl.cancel = cancel
	go func() { tl.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() { tl.stop(t) })
	return tl
}

// stop cancels the command and returns its error.
func (tl *tailing) stop(t *testing.T) error {
	t.Helper()
	if tl.cancel == nil {
		return nil
	}
	tl.cancel()
	tl.cancel = nil
	select {
	case err := <-tl.done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("tail did not stop within 5s of its context ending")
		return nil
	}
}

// waitFor waits until the output holds want.
func (tl *tailing) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tl.out.String(), want) {
		select {
		case err := <-tl.done:
			t.Fatalf("tail ended early: %v\nstdout:\n%s\nstderr:\n%s", err, tl.out, tl.errs)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q after 10s:\n%s\nstderr:\n%s", want, tl.out, tl.errs)
		}
	}
}

func kafkaWithTopic(t *testing.T) (broker string, produce func(value string, headers ...kgo.RecordHeader)) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "web_log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("web_log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cluster.ListenAddrs()[0], func(value string, headers ...kgo.RecordHeader) {
		t.Helper()
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("k"), Value: []byte(value), Headers: headers}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTailFromBeginningPrintsEveryRecordAsItArrives(t *testing.T) {
	broker, produce := kafkaWithTopic(t)
	produce(`{"time":"123","code":"200","msg":"ok"}`)
	produce(`{"time":"321","code":"500","msg":"not ok"}`)

	tl := startTail(t, "tail", "web_log", "--from-beginning", "--kafka-brokers", broker)
	tl.waitFor(t, `{"time":"321","code":"500","msg":"not ok"}`+"\n")
	produce("a line written later")
	tl.waitFor(t, "a line written later\n")
	if err := tl.stop(t); err != nil {
		t.Fatalf("tail returned %v on Ctrl-C, want nil", err)
	}
	want := `{"time":"123","code":"200","msg":"ok"}` + "\n" + `{"time":"321","code":"500","msg":"not ok"}` + "\n" + "a line written later\n"
	if got := tl.out.String(); got != want || tl.errs.String() != "" {
		t.Fatalf("stdout:\n%s\nstderr:\n%s\nwant stdout:\n%s", got, tl.errs, want)
	}
}

func TestTailStartsAtTheNewestRecord(t *testing.T) {
	broker, produce := kafkaWithTopic(t)
	produce("before the tail started")

	tl := startTail(t, "tail", "web_log", "--headers", "--kafka-brokers", broker)
	// The tail starts reading at some point after it started: produce
	// until a record shows up.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; !strings.Contains(tl.out.String(), "\tafter "); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no record printed within 10s:\n%s\nstderr:\n%s", tl.out, tl.errs)
		}
		produce(fmt.Sprintf("after %d", i), kgo.RecordHeader{Key: "logpipe.id", Value: []byte("abc")}, kgo.RecordHeader{Key: "logpipe.offset", Value: []byte("39")})
		time.Sleep(50 * time.Millisecond)
	}
	if err := tl.stop(t); err != nil {
		t.Fatal(err)
	}
	out := tl.out.String()
	if strings.Contains(out, "before") {
		t.Errorf("without --from-beginning, a record older than the tail was printed:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !strings.HasPrefix(line, "logpipe.id=abc,logpipe.offset=39\tafter ") {
			t.Errorf("--headers line %q, want logpipe.id=abc,logpipe.offset=39<TAB>after N", line)
		}
	}
}

func TestTailUnknownTopic(t *testing.T) {
	broker, _ := kafkaWithTopic(t)
	c := &cli{t: t, env: map[string]string{"LOGPIPE_KAFKA_BROKERS": broker}, now: testNow}
	r := c.run("", "tail", "nosuch")
	want := `error: topic "nosuch" at ` + broker + `: UNKNOWN_TOPIC_OR_PARTITION`
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.HasSuffix(r.stderr, "(logpipectl get topics lists the Topics)\n") {
		t.Fatalf("exit %d, stderr %q; want 1 and %q...", r.code, r.stderr, want)
	}
}
