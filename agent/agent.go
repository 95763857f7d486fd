package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sync/errgroup"

	"github.com/logpipe/logpipe/agent/checkpoint"
	"github.com/logpipe/logpipe/agent/tail"
	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/store"
)

// Options configure an Agent.
type Options struct {
	// Name identifies the agent: its registration key, its reports, and
	// the agent header of its records.
	Name string
	// Host is the host name written into every record.
	Host string
	// Labels are matched by CollectEntry agentSelectors.
	Labels map[string]string
	// Version is reported in the registration.
	Version string
	// Address is the agent's HTTP address, reported in the registration.
	Address string
	// DataDir holds checkpoints and the cached desired state.
	DataDir string
	// Allow lists the paths the agent may read.
	Allow *AllowList
	// Store is the etcd store; Producer sends records to Kafka.
	Store    *store.Store
	Producer Producer
	// MaxRecordBytes caps an event's size so that its record fits the
	// producer's and the broker's limits. Default 1,000,000 bytes minus
	// room for headers.
	MaxRecordBytes int
	// StatusInterval is how often reports are written. Default 5s.
	StatusInterval time.Duration
	// SessionTTL is the lease TTL of the registration. Default 10s.
	SessionTTL time.Duration
	// CheckpointInterval is how often checkpoints, and changes of the cached
	// desired state, are written. Default 1s.
	CheckpointInterval time.Duration
	// Logger receives the agent's log. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the agent's metrics; nil registers none.
	Registerer prometheus.Registerer
	// ReconcilerMetrics records the engine's metrics; nil records none.
	ReconcilerMetrics *reconciler.Metrics
	// MemoryLimit, when positive, is the Go runtime's soft memory limit
	// (runtime/debug.SetMemoryLimit) with no file open; each open file
	// raises it by TailerMemory. The backlog lives in the files, not in
	// memory: the limit keeps the garbage collector from letting RSS drift
	// up with throughput. Zero leaves the limit alone.
	MemoryLimit int64
}

// TailerMemory is what each open file adds to Options.MemoryLimit: the
// stack of its goroutine and its small state. Stacks count against the
// runtime's limit, and 10,000 files under a fixed limit made the garbage
// collector run without pause.
const TailerMemory = 16 << 10

// Agent runs the tailers of the CollectEntries that select it.
type Agent struct {
	opts    Options
	log     *slog.Logger
	ckpt    *checkpoint.Store
	cache   *desiredCache
	metrics *metrics
	engine  *reconciler.Controller

	watcher *tail.Watcher
	// runCtx is the lifetime of every tailer; Run sets it.
	runCtx context.Context

	mu      sync.Mutex
	entries map[string]*entryState // by entry name
	// changed holds the entries listed or watched since their spec was
	// last read: only those are read from etcd again.
	changed map[string]bool
	lease   clientv3.LeaseID // current session lease, for reports

	ready chan struct{} // closed once the first list of entries was reconciled
	once  sync.Once

	memMu     sync.Mutex
	openFiles int   // tailers running, under memMu
	memLimit  int64 // the limit last set, under memMu
}

// New checks the options and opens the checkpoints in DataDir.
func New(opts Options) (*Agent, error) {
	if opts.Name == "" {
		return nil, errors.New("agent: no name")
	}
	if opts.Store == nil || opts.Producer == nil {
		return nil, errors.New("agent: store and producer are required")
	}
	if opts.DataDir == "" {
		return nil, errors.New("agent: no data directory (--data-dir)")
	}
	if opts.Allow == nil {
		opts.Allow = &AllowList{}
	}
	if opts.Host == "" {
		opts.Host = opts.Name
	}
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = 5 * time.Second
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 10 * time.Second
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger.With("agent", opts.Name)
	ckpt, err := checkpoint.Open(opts.DataDir, log)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	cache, err := openDesiredCache(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	watcher, err := tail.NewWatcher(log)
	if err != nil {
		return nil, fmt.Errorf("agent: file events: %w", err)
	}
	a := &Agent{
		watcher: watcher,
		opts:    opts,
		log:     log,
		ckpt:    ckpt,
		cache:   cache,
		metrics: newMetrics(opts.Registerer),
		entries: make(map[string]*entryState),
		changed: make(map[string]bool),
		ready:   make(chan struct{}),
	}
	return a, nil
}

// DefaultMaxRecordBytes leaves room for headers under the producer's and
// Kafka's default limit of 1,000,000 bytes per record batch.
const DefaultMaxRecordBytes = 1_000_000 - 16<<10

// Ready is closed once the agent has reconciled the entries it knew at
// start (from etcd, or from its cache when etcd is unreachable).
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Run registers the agent, reconciles entries and ships lines until ctx is
// done; then it stops every tailer, waits for in-flight records (bounded),
// writes the checkpoints and returns.
func (a *Agent) Run(ctx context.Context) error {
	runCtx, stopTailers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTailers()
	a.runCtx = runCtx
	src := &cachedSource{cache: a.cache, live: reconciler.NewKindSource(a.opts.Store, api.KindCollectEntry, a.log),
		listed: make(chan struct{}), changed: a.markChanged}
	a.engine = reconciler.New("collectentry", reconciler.Func(a.reconcile), src, reconciler.Options{
		Workers: 2,
		Resync:  time.Minute,
		Logger:  a.log,
		Metrics: a.opts.ReconcilerMetrics,
		// A tailer stop waits for its in-flight records; allow for it.
		ShutdownTimeout: 30 * time.Second,
	})

	g, gctx := errgroup.WithContext(ctx)
	ckptCtx, stopCkpt := context.WithCancel(context.WithoutCancel(ctx))
	ckptDone := make(chan error, 1)
	go func() { ckptDone <- a.ckpt.Run(ckptCtx, a.opts.CheckpointInterval) }()
	cacheDone := make(chan struct{})
	go func() { defer close(cacheDone); a.cache.run(ckptCtx, a.opts.CheckpointInterval, a.log) }()

	g.Go(func() error { return a.engine.Run(gctx) })
	g.Go(func() error { a.registrationLoop(gctx); return nil })
	g.Go(func() error { a.statusLoop(gctx); return nil })
	g.Go(func() error { a.markReadyWhenListed(gctx, src); return nil })
	err := g.Wait()

	a.stopAll()
	_ = a.watcher.Close()
	stopCkpt()
	<-cacheDone
	if cerr := <-ckptDone; cerr != nil {
		err = errors.Join(err, fmt.Errorf("agent: final checkpoint: %w", cerr))
	}
	a.log.Info("agent stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (a *Agent) markReadyWhenListed(ctx context.Context, src *cachedSource) {
	select {
	case <-src.listed:
	case <-ctx.Done():
		return
	}
	a.once.Do(func() { close(a.ready) })
}

// stopAll stops every tailer, each waiting for its in-flight records.
func (a *Agent) stopAll() {
	a.mu.Lock()
	entries := make([]*entryState, 0, len(a.entries))
	for _, e := range a.entries {
		entries = append(entries, e)
	}
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range entries {
		for _, t := range e.tailerList() {
			wg.Go(func() { t.stop(drainTimeout) })
		}
	}
	wg.Wait()
}

// registrationLoop keeps the agent registered on a session lease, making a
// new session whenever the old one ends (etcd was unreachable for longer
// than the TTL).
func (a *Agent) registrationLoop(ctx context.Context) {
	for ctx.Err() == nil {
		sess, err := a.opts.Store.NewSession(ctx, a.opts.SessionTTL)
		if err != nil {
			a.log.Warn("cannot register with etcd; retrying", "err", err)
			sleepCtx(ctx, 2*time.Second)
			continue
		}
		a.mu.Lock()
		a.lease = sess.Lease()
		a.mu.Unlock()
		a.keepRegistered(ctx, sess)
		a.mu.Lock()
		a.lease = clientv3.NoLease
		a.mu.Unlock()
		revokeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, _ = sess.Client().Revoke(revokeCtx, sess.Lease())
		cancel()
		sess.Orphan()
	}
}

func (a *Agent) keepRegistered(ctx context.Context, sess *concurrency.Session) {
	started := time.Now().UTC().Truncate(time.Second)
	t := time.NewTicker(a.opts.StatusInterval)
	defer t.Stop()
	for {
		reg := api.Agent{
			Name:        a.opts.Name,
			Labels:      maps.Clone(a.opts.Labels),
			Version:     a.opts.Version,
			Address:     a.opts.Address,
			Host:        a.opts.Host,
			StartTime:   started,
			FilesTailed: a.filesTailed(),
		}
		if err := a.opts.Store.RegisterAgent(ctx, reg, sess.Lease()); err != nil && ctx.Err() == nil {
			a.log.Warn("cannot update registration", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-sess.Done():
			a.log.Warn("etcd session ended; registering again")
			return
		case <-t.C:
		}
	}
}

// fileOpened and fileClosed count the running tailers and move the memory
// limit with them, in steps of 1 MiB.
func (a *Agent) fileOpened() { a.moveMemoryLimit(1) }
func (a *Agent) fileClosed() { a.moveMemoryLimit(-1) }

func (a *Agent) moveMemoryLimit(delta int) {
	a.memMu.Lock()
	defer a.memMu.Unlock()
	a.openFiles += delta
	if a.opts.MemoryLimit <= 0 {
		return
	}
	want := a.opts.MemoryLimit + int64(a.openFiles)*TailerMemory
	if a.memLimit != 0 && abs(want-a.memLimit) < 1<<20 {
		return
	}
	a.memLimit = want
	debug.SetMemoryLimit(want)
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func (a *Agent) currentLease() clientv3.LeaseID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lease
}

func (a *Agent) filesTailed() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, e := range a.entries {
		n += e.running()
	}
	return n
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
