// Package reconciler is logpipe's level-triggered reconcile engine.
//
// A Reconciler compares the desired state of one object, named by its key,
// with what is running and makes the smallest change. The engine (Controller)
// feeds it keys from a Source, which lists every key at start and then
// reports the keys that change. The engine guarantees:
//
//   - a key queued many times while it waits is reconciled once;
//   - one key is never reconciled by two workers at once; a key that changes
//     while it is being reconciled is reconciled again afterwards;
//   - a failed reconcile is retried with per-key exponential backoff, capped,
//     and the backoff resets after a success;
//   - every key is re-queued each resync period, so a missed event or a change
//     made behind logpipe's back is repaired;
//   - on shutdown, no new reconcile starts and the ones in flight finish.
//
// The agent, the transfer and the controller all run on this engine; the
// controller-side reconcilers live in the sub-packages topic and
// indextemplate.
package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// Result says what the engine does after a reconcile that returned no error.
type Result struct {
	// RequeueAfter, when positive, reconciles the key again after this
	// long (for example to poll a state that has no event). Zero means
	// wait for the next event or resync.
	RequeueAfter time.Duration
}

// Reconciler brings the object named by key to its desired state.
//
// The outcomes:
//   - (Result{}, nil): done; the key's backoff resets and it waits for its
//     next event or resync.
//   - (Result{RequeueAfter: d}, nil): done for now; the backoff resets and
//     the key is reconciled again after d.
//   - (_, err) with a terminal error (see Terminal): the problem cannot be
//     fixed by retrying (a spec the engine rejects); it is logged and
//     counted, the backoff resets, and the key waits for its next change
//     or resync.
//   - (_, err) otherwise: the key is retried after its backoff.
//
// Returning both a RequeueAfter and an error is treated as an error; the
// RequeueAfter is ignored. A panic is recovered and treated as an error.
//
// Reconcile must be idempotent: it may run any number of times for a key
// whose object did not change, and it must handle a key whose object no
// longer exists (the deletion).
type Reconciler interface {
	Reconcile(ctx context.Context, key string) (Result, error)
}

// Func lets a plain function serve as a Reconciler.
type Func func(ctx context.Context, key string) (Result, error)

// Reconcile calls f.
func (f Func) Reconcile(ctx context.Context, key string) (Result, error) { return f(ctx, key) }

var _ Reconciler = Func(nil)

// Source feeds keys to a Controller.
type Source interface {
	// Keys returns the key of every object that needs reconciling now,
	// including objects whose cleanup is still pending. The controller calls
	// it on every resync.
	Keys(ctx context.Context) ([]string, error)
	// Watch calls enqueue with the key of every current object and then
	// with the key of every object that changes, until ctx is done; then it
	// returns ctx's error. It retries transient failures by itself and
	// returns early only on an error it cannot recover from.
	Watch(ctx context.Context, enqueue func(key string)) error
}

// ErrTerminal is matched by errors.Is for every error made with Terminal.
var ErrTerminal = errors.New("terminal error")

type terminalError struct{ err error }

func (e *terminalError) Error() string        { return e.err.Error() }
func (e *terminalError) Unwrap() error        { return e.err }
func (e *terminalError) Is(target error) bool { return target == ErrTerminal }

// Terminal marks err as one that retrying cannot fix, so the engine does not
// requeue the key until its next change or resync. Terminal(nil) is nil.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &terminalError{err: err}
}

// Options tune a Controller. The zero value gives the documented defaults.
type Options struct {
	// Workers is how many keys are reconciled at once. Default 1.
	Workers int
	// Resync re-queues every key of the source this often. Default 1m;
	// negative disables it.
	Resync time.Duration
	// BaseBackoff is the first retry delay of a failing key. Default 100ms.
	BaseBackoff time.Duration
	// MaxBackoff caps the retry delay. Default 1m.
	MaxBackoff time.Duration
	// ShutdownTimeout bounds how long in-flight reconciles may run once the
	// controller stops: their context is cancelled after it. Default 30s.
	ShutdownTimeout time.Duration
	// Logger receives one line per failed reconcile. Default slog.Default().
	Logger *slog.Logger
	// Metrics records queue depth, durations and errors; nil records nothing.
	Metrics *Metrics
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.Resync == 0 {
		o.Resync = time.Minute
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.MaxBackoff < o.BaseBackoff {
		o.MaxBackoff = o.BaseBackoff
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Controller runs a Reconciler over the keys of a Source.
type Controller struct {
	name    string
	rec     Reconciler
	src     Source
	opts    Options
	queue   *queue
	backoff *backoff

	mu      sync.Mutex
	started bool
}

// New returns a controller named name (used in logs and as the metrics
// "controller" label) that reconciles the keys of src with r. Call Run to
// start it.
func New(name string, r Reconciler, src Source, opts Options) *Controller {
	opts = opts.withDefaults()
	c := &Controller{
		name:    name,
		rec:     r,
		src:     src,
		opts:    opts,
		backoff: newBackoff(opts.BaseBackoff, opts.MaxBackoff),
	}
	c.queue = newQueue(func(n int) { opts.Metrics.setDepth(name, n) })
	return c
}

// Name returns the controller's name.
func (c *Controller) Name() string { return c.name }

// Enqueue asks for key to be reconciled, for example when something other
// than the source changed (a file appeared). It is safe at any time and from
// any goroutine; before Run or after it returns, keys are kept until Run or
// dropped respectively.
func (c *Controller) Enqueue(key string) { c.queue.add(key) }

// EnqueueAfter asks for key to be reconciled after d.
func (c *Controller) EnqueueAfter(key string, d time.Duration) { c.queue.addAfter(key, d) }

// Run starts the workers, the source and the resync, and blocks until ctx is
// done; then it stops handing out keys, waits for in-flight reconciles (for
// at most ShutdownTimeout, after which their context is cancelled) and
// returns nil. It returns an error, after the same shutdown, when the
// source's Watch fails for good. Run may be called only once.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return fmt.Errorf("reconciler %s: Run called twice", c.name)
	}
	c.started = true
	c.mu.Unlock()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// In-flight reconciles keep running after ctx is done, up to the
	// shutdown timeout, so that they finish their work instead of leaving it
	// half done.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	var workers sync.WaitGroup
	for range c.opts.Workers {
		workers.Go(func() {
			for c.processNext(workCtx) {
			}
		})
	}

	var bg sync.WaitGroup
	bg.Go(func() {
		err := c.src.Watch(ctx, c.queue.add)
		if err != nil && ctx.Err() == nil {
			cancel(fmt.Errorf("reconciler %s: source: %w", c.name, err))
		}
	})
	if c.opts.Resync > 0 {
		bg.Go(func() { c.resyncLoop(ctx) })
	}

	<-ctx.Done()
	c.queue.shutDown()
	bg.Wait()

	finished := make(chan struct{})
	go func() { workers.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(c.opts.ShutdownTimeout):
		c.opts.Logger.Warn("reconcile still running at shutdown timeout; cancelling it",
			"controller", c.name, "timeout", c.opts.ShutdownTimeout)
		cancelWork()
		<-finished
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func (c *Controller) resyncLoop(ctx context.Context) {
	t := time.NewTicker(c.opts.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		keys, err := c.src.Keys(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.opts.Logger.Warn("resync: cannot list keys", "controller", c.name, "err", err)
			}
			continue
		}
		for _, k := range keys {
			c.queue.add(k)
		}
	}
}

// processNext reconciles one key and reports whether the worker should go on.
func (c *Controller) processNext(ctx context.Context) bool {
	key, ok := c.queue.get()
	if !ok {
		return false
	}
	defer c.queue.done(key)

	start := time.Now()
	res, err := c.reconcileSafely(ctx, key)
	c.opts.Metrics.observe(c.name, time.Since(start), err)

	switch {
	case err != nil && errors.Is(err, ErrTerminal):
		c.backoff.forget(key)
		c.opts.Logger.Error("reconcile failed; not retrying until the object changes",
			"controller", c.name, "key", key, "err", err)
	case err != nil:
		if res.RequeueAfter > 0 {
			c.opts.Logger.Warn("reconciler returned both a requeue and an error; the requeue is ignored",
				"controller", c.name, "key", key)
		}
		delay := c.backoff.next(key)
		c.opts.Logger.Warn("reconcile failed; retrying",
			"controller", c.name, "key", key, "retry_in", delay, "attempt", c.backoff.count(key), "err", err)
		c.queue.addAfter(key, delay)
	case res.RequeueAfter > 0:
		c.backoff.forget(key)
		c.queue.addAfter(key, res.RequeueAfter)
	default:
		c.backoff.forget(key)
	}
	return true
}

func (c *Controller) reconcileSafely(ctx context.Context, key string) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.opts.Metrics.panicked(c.name)
			c.opts.Logger.Error("reconcile panicked", "controller", c.name, "key", key,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.rec.Reconcile(ctx, key)
}
