package reconciler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// staticSource lists a fixed set of keys and reports nothing after its
// initial set, like a watch that missed every event.
type staticSource struct {
	mu      sync.Mutex
	keys    []string
	initial []string
}

func (s *staticSource) Keys(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...), nil
}

func (s *staticSource) Watch(ctx context.Context, enqueue func(string)) error {
	for _, k := range s.initial {
		enqueue(k)
	}
	<-ctx.Done()
	return ctx.Err()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// recorder counts reconciles per key and signals each on a channel.
type recorder struct {
	mu     sync.Mutex
	counts map[string]int
	seen   chan string
}

func newRecorder() *recorder {
	return &recorder{counts: make(map[string]int), seen: make(chan string, 1000)}
}

func (r *recorder) record(key string) {
	r.mu.Lock()
	r.counts[key]++
	r.mu.Unlock()
	r.seen <- key
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[key]
}

// waitFor reads reconciled keys until key shows up.
func (r *recorder) waitFor(t *testing.T, key string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case k := <-r.seen:
			if k == key {
				return
			}
		case <-deadline:
			t.Fatalf("key %q was not reconciled within 10s", key)
		}
	}
}

func startController(t *testing.T, c *Controller) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestKeyQueuedManyTimesWhileWaitingIsReconciledOnce(t *testing.T) {
	rec := newRecorder()
	release := make(chan struct{})
	c := New("test", Func(func(_ context.Context, key string) (Result, error) {
		if key == "blocker" {
			<-release
		}
		rec.record(key)
		return Result{}, nil
	}), &staticSource{initial: []string{"blocker"}}, Options{Workers: 1, Resync: -1, Logger: quietLogger()})
	started := make(chan struct{})
	go func() {
		// Wait until the single worker holds "blocker", so every add of
		// "b" below lands while "b" is waiting.
		for c.queue.len() != 0 || !c.isProcessing("blocker") {
			time.Sleep(time.Millisecond)
		}
		close(started)
	}()
	startController(t, c)
	<-started
	for range 50 {
		c.Enqueue("b")
	}
	close(release)
	rec.waitFor(t, "b")
	c.Enqueue("sentinel")
	rec.waitFor(t, "sentinel")
	if got := rec.count("b"); got != 1 {
		t.Fatalf("key b queued 50 times while waiting was reconciled %d times, want 1", got)
	}
}

func (c *Controller) isProcessing(key string) bool {
	c.queue.mu.Lock()
	defer c.queue.mu.Unlock()
	_, ok := c.queue.processing[key]
	return ok
}

func TestKeyIsNeverReconciledByTwoWorkersAtOnce(t *testing.T) {
	var inFlight, maxInFlight, calls atomic.Int32
	firstEntered := make(chan struct{})
	var enterOnce sync.Once
	proceed := make(chan struct{})
	c := New("test", Func(func(context.Context, string) (Result, error) {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		calls.Add(1)
		enterOnce.Do(func() { close(firstEntered) })
		<-proceed
		inFlight.Add(-1)
		return Result{}, nil
	}), &staticSource{initial: []string{"k"}}, Options{Workers: 4, Resync: -1, Logger: quietLogger()})
	startController(t, c)
	<-firstEntered
	// While "k" is held by one worker, three idle workers wait; adding "k"
	// now must not hand it to them.
	for range 20 {
		c.Enqueue("k")
	}
	if got := c.queue.len(); got != 0 {
		t.Fatalf("queue depth while k is processing = %d, want 0 (k must wait for done)", got)
	}
	close(proceed)
	// The re-add during processing must cause exactly one more reconcile.
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := calls.Load(); got != 2 {
		t.Fatalf("reconciles of k = %d, want 2 (one, plus one for the adds made meanwhile)", got)
	}
	if got := maxInFlight.Load(); got != 1 {
		t.Fatalf("max concurrent reconciles of one key = %d, want 1", got)
	}
}

func TestBackoffGrowsCapsAndResets(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second)
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.next("k"); got != w*time.Millisecond {
			t.Fatalf("failure %d: backoff = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := b.next("other"); got != 100*time.Millisecond {
		t.Fatalf("another key's first backoff = %v, want 100ms (keys are independent)", got)
	}
	b.forget("k")
	if got := b.next("k"); got != 100*time.Millisecond {
		t.Fatalf("backoff after forget = %v, want 100ms", got)
	}
}

func TestFailingKeyIsRetriedUntilSuccessThenBackoffResets(t *testing.T) {
	rec := newRecorder()
	var calls atomic.Int32
	c := New("test", Func(func(_ context.Context, key string) (Result, error) {
		n := calls.Add(1)
		rec.record(key)
		if n <= 3 {
			return Result{}, errors.New("broker unreachable")
		}
		return Result{}, nil
	}), &staticSource{initial: []string{"k"}}, Options{Resync: -1, BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, Logger: quietLogger()})
	startController(t, c)
	for range 4 {
		rec.waitFor(t, "k")
	}
	// The fourth reconcile succeeded; once its worker is done the backoff
	// of k must be gone.
	deadline := time.Now().Add(10 * time.Second)
	for c.backoff.count("k") != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := c.backoff.count("k"); got != 0 {
		t.Fatalf("failure count after success = %d, want 0", got)
	}
	if got := calls.Load(); got != 4 {
		t.Fatalf("reconciles = %d, want 4 (three failures, one success)", got)
	}
}

func TestTerminalErrorIsNotRetried(t *testing.T) {
	rec := newRecorder()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	c := New("tpl", Func(func(_ context.Context, key string) (Result, error) {
		rec.record(key)
		if key == "bad" {
			return Result{}, Terminal(errors.New("mapper_parsing_exception"))
		}
		return Result{}, nil
	}), &staticSource{initial: []string{"bad"}}, Options{Resync: -1, BaseBackoff: time.Millisecond, Metrics: m, Logger: quietLogger()})
	startController(t, c)
	rec.waitFor(t, "bad")
	// A retry would be due after 1 ms; a later key proves none happened
	// before it, and the count proves none happened at all.
	time.Sleep(20 * time.Millisecond) // give a wrong retry the chance to show
	c.Enqueue("good")
	rec.waitFor(t, "good")
	if got := rec.count("bad"); got != 1 {
		t.Fatalf("terminal key reconciled %d times, want 1", got)
	}
	if got := testutil.ToFloat64(m.errors.WithLabelValues("tpl")); got != 1 {
		t.Fatalf("logpipe_reconcile_errors_total{controller=tpl} = %v, want 1", got)
	}
	if !errors.Is(Terminal(errors.New("x")), ErrTerminal) {
		t.Fatal("errors.Is(Terminal(err), ErrTerminal) = false")
	}
	if Terminal(nil) != nil {
		t.Fatal("Terminal(nil) != nil")
	}
}

func TestPanicIsRecoveredCountedAndRetried(t *testing.T) {
	rec := newRecorder()
	m := NewMetrics(nil)
	var calls atomic.Int32
	c := New("p", Func(func(_ context.Context, key string) (Result, error) {
		rec.record(key)
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return Result{}, nil
	}), &staticSource{initial: []string{"k"}}, Options{Resync: -1, BaseBackoff: time.Millisecond, Metrics: m, Logger: quietLogger()})
	startController(t, c)
	rec.waitFor(t, "k")
	rec.waitFor(t, "k")
	if got := testutil.ToFloat64(m.panics.WithLabelValues("p")); got != 1 {
		t.Fatalf("panics counted = %v, want 1", got)
	}
}

func TestRequeueAfterReconcilesAgain(t *testing.T) {
	rec := newRecorder()
	var calls atomic.Int32
	c := New("test", Func(func(_ context.Context, key string) (Result, error) {
		rec.record(key)
		if calls.Add(1) == 1 {
			return Result{RequeueAfter: time.Millisecond}, nil
		}
		return Result{}, nil
	}), &staticSource{initial: []string{"k"}}, Options{Resync: -1, Logger: quietLogger()})
	startController(t, c)
	rec.waitFor(t, "k")
	rec.waitFor(t, "k")
}

func TestResyncRepairsAMissedEvent(t *testing.T) {
	rec := newRecorder()
	// The watch reports nothing: only the resync can find "drifted".
	src := &staticSource{keys: []string{"drifted"}}
	c := New("test", Func(func(_ context.Context, key string) (Result, error) {
		rec.record(key)
		return Result{}, nil
	}), src, Options{Resync: 5 * time.Millisecond, Logger: quietLogger()})
	startController(t, c)
	rec.waitFor(t, "drifted")
}

func TestShutdownFinishesInFlightWorkAndStartsNoMore(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var inFlightCtxErr atomic.Value
	rec := newRecorder()
	c := New("test", Func(func(ctx context.Context, key string) (Result, error) {
		if key == "slow" {
			close(entered)
			<-release
			if err := ctx.Err(); err != nil {
				inFlightCtxErr.Store(err)
			}
		}
		rec.record(key)
		return Result{}, nil
	}), &staticSource{initial: []string{"slow", "later"}}, Options{Workers: 1, Resync: -1, Logger: quietLogger()})
	stop := startController(t, c)
	<-entered
	returned := make(chan error, 1)
	go func() { returned <- stop() }()
	// Run must wait for "slow"; it may return only after release.
	select {
	case <-returned:
		t.Fatal("Run returned while a reconcile was still in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-returned; err != nil {
		t.Fatalf("Run returned %v after a clean shutdown, want nil", err)
	}
	if v := inFlightCtxErr.Load(); v != nil {
		t.Fatalf("in-flight reconcile saw its context cancelled (%v) before the shutdown timeout", v)
	}
	if got := rec.count("slow"); got != 1 {
		t.Fatalf("in-flight key finished %d times, want 1", got)
	}
	if got := rec.count("later"); got != 0 {
		t.Fatalf("a waiting key was reconciled %d times after shutdown began, want 0", got)
	}
}

func TestShutdownTimeoutCancelsStuckReconcile(t *testing.T) {
	entered := make(chan struct{})
	c := New("test", Func(func(ctx context.Context, key string) (Result, error) {
		close(entered)
		<-ctx.Done()
		return Result{}, ctx.Err()
	}), &staticSource{initial: []string{"stuck"}}, Options{Resync: -1, ShutdownTimeout: 10 * time.Millisecond, Logger: quietLogger()})
	stop := startController(t, c)
	<-entered
	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func TestRunTwiceIsAnError(t *testing.T) {
	c := New("test", Func(func(context.Context, string) (Result, error) { return Result{}, nil }),
		&staticSource{}, Options{Resync: -1, Logger: quietLogger()})
	stop := startController(t, c)
	// The first Run may not have marked itself started yet; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		started := c.started
		c.mu.Unlock()
		if started || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := c.Run(context.Background()); err == nil || err.Error() != "reconciler test: Run called twice" {
		t.Fatalf("second Run = %v, want \"reconciler test: Run called twice\"", err)
	}
	stop()
}

type failingSource struct{ err error }

func (s failingSource) Keys(context.Context) ([]string, error) { return nil, s.err }
func (s failingSource) Watch(context.Context, func(string)) error {
	return s.err
}

func TestSourceFailureStopsRunWithItsError(t *testing.T) {
	c := New("topic", Func(func(context.Context, string) (Result, error) { return Result{}, nil }),
		failingSource{err: errors.New("etcd: permission denied")}, Options{Resync: -1, Logger: quietLogger()})
	err := c.Run(context.Background())
	if err == nil || err.Error() != "reconciler topic: source: etcd: permission denied" {
		t.Fatalf("Run = %v, want \"reconciler topic: source: etcd: permission denied\"", err)
	}
}

func TestQueueDepthMetric(t *testing.T) {
	m := NewMetrics(nil)
	c := New("depth", Func(func(context.Context, string) (Result, error) { return Result{}, nil }),
		&staticSource{}, Options{Metrics: m, Logger: quietLogger()})
	c.Enqueue("a")
	c.Enqueue("b")
	c.Enqueue("a")
	if got := testutil.ToFloat64(m.depth.WithLabelValues("depth")); got != 2 {
		t.Fatalf("queue depth = %v, want 2", got)
	}
}
