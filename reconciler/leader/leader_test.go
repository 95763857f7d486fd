package leader

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/store"
)

type candidate struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned; err holds its result
	err    error
}

// leadership records who leads, and fails the test if two lead at once.
type leadership struct {
	t       *testing.T
	mu      sync.Mutex
	leading map[string]bool
	events  chan string // "a+" when a starts leading, "a-" when it stops
}

func (l *leadership) lead(name string) func(context.Context) error {
	return func(ctx context.Context) error {
		l.mu.Lock()
		for other, on := range l.leading {
			if on && other != name {
				l.t.Errorf("%s became leader while %s still leads", name, other)
			}
		}
		l.leading[name] = true
		l.mu.Unlock()
		l.events <- name + "+"
		<-ctx.Done()
		l.mu.Lock()
		l.leading[name] = false
		l.mu.Unlock()
		l.events <- name + "-"
		return nil
	}
}

func (l *leadership) next(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case e := <-l.events:
		return e
	case <-time.After(within):
		t.Fatalf("no leadership change within %v", within)
		return ""
	}
}

func start(t *testing.T, st *store.Store, name string, l *leadership) *candidate {
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.err = Run(ctx, st, "controller", name, Options{
			TTL:           2 * time.Second,
			RetryInterval: 50 * time.Millisecond,
			Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		}, l.lead(name))
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func TestExactlyOneLeadsAndAResigningLeaderHandsOverAtOnce(t *testing.T) {
	srv := etcdtest.Start(t)
	l := &leadership{t: t, leading: map[string]bool{}, events: make(chan string, 10)}
	a := start(t, store.New(srv.Client(t), ""), "a", l)
	if got := l.next(t, 10*time.Second); got != "a+" {
		t.Fatalf("first event = %q, want a+", got)
	}
	start(t, store.New(srv.Client(t), ""), "b", l)

	st := store.New(srv.Client(t), "")
	if got, err := Current(context.Background(), st, "controller"); err != nil || got != "a" {
		t.Fatalf("Current = %q, %v; want a", got, err)
	}
	// b must not lead while a does; stopping a hands over without waiting
	// for the lease TTL because a resigns.
	a.cancel()
	<-a.done
	if a.err != nil {
		t.Fatalf("Run(a) = %v, want nil", a.err)
	}
	if got := l.next(t, 5*time.Second); got != "a-" {
		t.Fatalf("event = %q, want a-", got)
	}
	if got := l.next(t, 1500*time.Millisecond); got != "b+" {
		t.Fatalf("event = %q, want b+", got)
	}
}

func TestKilledLeaderIsReplacedWithinTheTTL(t *testing.T) {
	srv := etcdtest.Start(t)
	l := &leadership{t: t, leading: map[string]bool{}, events: make(chan string, 10)}

	// a's client is closed below without revoking its lease: to etcd, that
	// is a process killed with SIGKILL.
	aClient := srv.Client(t)
	start(t, store.New(aClient, ""), "a", l)
	if got := l.next(t, 10*time.Second); got != "a+" {
		t.Fatalf("first event = %q, want a+", got)
	}
	start(t, store.New(srv.Client(t), ""), "b", l)

	killed := time.Now()
	if err := aClient.Close(); err != nil {
		t.Fatalf("close a's client: %v", err)
	}
	// a notices that its session ended and stops leading; b leads once a's
	// lease expires, within the 2 s TTL plus the server's lease checking.
	seen := map[string]bool{}
	for !seen["b+"] {
		seen[l.next(t, 10*time.Second)] = true
	}
	if took := time.Since(killed); took > 6*time.Second {
		t.Fatalf("b took over %v after a was killed, want within the TTL (2s) plus slack", took)
	}
}
