package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/store"
)

// Defaults of Options.
const (
	DefaultGroup            = "logpipe-transfer"
	DefaultBulkMaxBytes     = 5 << 20
	DefaultBulkMaxDocs      = 5000
	DefaultFlushInterval    = time.Second
	DefaultWorkers          = 4
	DefaultMaxInflightBytes = 64 << 20
	DefaultCommitInterval   = time.Second
	DefaultStatusInterval   = 10 * time.Second
	DefaultRevokeTimeout    = 10 * time.Second
	DefaultShutdownTimeout  = 30 * time.Second
	DefaultRetryBackoff     = 100 * time.Millisecond
	DefaultMaxRetryBackoff  = 30 * time.Second
)

// Options configure a Transfer. Zero values mean the documented defaults.
type Options struct {
	// Name identifies this transfer process: the reporter name of its
	// status reports. Required; unique among the transfers of a group.
	Name string
	// Group is the Kafka consumer group. Default DefaultGroup.
	Group string
	// Store holds the Topic specs and receives the status reports.
	// Required.
	Store *store.Store
	// Kafka are the connection options (seed brokers, TLS, SASL) of the
	// Kafka client; the transfer adds its own group and producer options.
	// Required.
	Kafka []kgo.Opt
	// Sink receives the documents. Required.
	Sink Sink

	// BulkMaxBytes flushes a batch once its documents reach this many bytes
	// (estimated from the records before encoding). Default 5 MiB.
	BulkMaxBytes int
	// BulkMaxDocs flushes a batch once it holds this many documents.
	// Default 5000.
	BulkMaxDocs int
	// FlushInterval flushes a batch this long after its first document,
	// however small. Default 1s.
	FlushInterval time.Duration
	// Workers is how many bulk requests may be in flight at once.
	// Default 4.
	Workers int
	// MaxInflightBytes bounds the memory of records polled and not yet
	// finished (their value and document); polling waits while it is
	// reached. At least 2*BulkMaxBytes. Default 64 MiB.
	MaxInflightBytes int64

	// CommitInterval is how often the watermarks are committed.
	// Default 1s.
	CommitInterval time.Duration
	// StatusInterval is how often the per-Topic reports are written.
	// Default 10s.
	StatusInterval time.Duration
	// RevokeTimeout bounds how long a rebalance waits for the records of
	// revoked partitions to finish before their watermark is committed and
	// the rest abandoned. Keep it well below the group's rebalance timeout.
	// Default 10s.
	RevokeTimeout time.Duration
	// ShutdownTimeout bounds how long Run, once its context is done, waits
	// for polled records to finish before committing and returning.
	// Default 30s.
	ShutdownTimeout time.Duration
	// SessionTimeout is the consumer group session timeout (Kafka's
	// session.timeout.ms): how long a dead transfer holds its partitions.
	// Default kgo's 45s.
	SessionTimeout time.Duration
	// RetryBackoff is the first delay before a retry of failed documents
	// or dead-letter writes; it doubles per attempt up to MaxRetryBackoff,
	// with jitter. Defaults 100ms and 30s.
	RetryBackoff, MaxRetryBackoff time.Duration
	// Resync re-reads every Topic this often. Default 1m.
	Resync time.Duration

	// Logger receives the transfer's events. Default slog.Default().
	Logger *slog.Logger
	// Metrics records the transfer's metrics; nil records them unregistered.
	Metrics *Metrics
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Name == "":
		return o, errors.New("transfer: no name")
	case o.Store == nil:
		return o, errors.New("transfer: no store")
	case o.Sink == nil:
		return o, errors.New("transfer: no sink")
	case len(o.Kafka) == 0:
		return o, errors.New("transfer: no Kafka connection options")
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if o.BulkMaxBytes <= 0 {
		o.BulkMaxBytes = DefaultBulkMaxBytes
	}
	if o.BulkMaxDocs <= 0 {
		o.BulkMaxDocs = DefaultBulkMaxDocs
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.MaxInflightBytes <= 0 {
		o.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if o.MaxInflightBytes < 2*int64(o.BulkMaxBytes) {
		return o, fmt.Errorf("transfer: max in-flight bytes %d is below twice the bulk size %d: polling would stall behind one batch", o.MaxInflightBytes, o.BulkMaxBytes)
	}
	def(&o.FlushInterval, DefaultFlushInterval)
	def(&o.CommitInterval, DefaultCommitInterval)
	def(&o.StatusInterval, DefaultStatusInterval)
	def(&o.RevokeTimeout, DefaultRevokeTimeout)
	def(&o.ShutdownTimeout, DefaultShutdownTimeout)
	def(&o.RetryBackoff, DefaultRetryBackoff)
	def(&o.MaxRetryBackoff, DefaultMaxRetryBackoff)
	def(&o.Resync, time.Minute)
	if o.MaxRetryBackoff < o.RetryBackoff {
		o.MaxRetryBackoff = o.RetryBackoff
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	return o, nil
}

// Transfer consumes the Topics that have an index block and indexes their
// records through a Sink. Make one with New and call Run.
type Transfer struct {
	opts    Options
	log     *slog.Logger
	metrics *Metrics
	health  health

	kcl *kgo.Client
	adm *kadm.Client

	// topics is the consumed topics' configs, replaced whole on change so
	// the poll loop reads it without a lock.
	topics   atomic.Pointer[map[string]*topicConfig]
	topicsMu sync.Mutex // serialises writers of topics

	partsMu sync.Mutex
	parts   map[topicPartition]*partition

	// commitMu makes committing and abandoning partitions exclusive, so a
	// commit never carries the watermark of a partition already given up.
	commitMu sync.Mutex

	budget *semaphore.Weighted
	// inflight mirrors the budget in use, for logs.
	inflight atomic.Int64

	in          chan []*item       // poll loop → batcher
	ready       chan *batch        // batcher → workers
	flushReq    chan chan struct{} // a revoke asks the batcher to flush now
	batcherDone chan struct{}
	statusKick  chan struct{}
	started     atomic.Bool
}

type topicPartition struct {
	topic     string
	partition int32
}

// partition is the transfer's state of one assigned partition. A new
// assignment of the same partition gets a new partition: records of an
// abandoned one never move a watermark again.
type partition struct {
	topic string
	id    int32
	wm    watermark
	// abandoned is set once the partition is revoked or lost; its records
	// still in the pipeline are dropped, not committed.
	abandoned atomic.Bool
	// committed is the offset last committed for it, -1 before the first
	// commit. Guarded by Transfer.commitMu.
	committed int64

	mu      sync.Mutex
	waiting int  // records waiting for a retry or a dead-letter write
	paused  bool // fetching paused because waiting > 0
}

// New checks opts and returns a Transfer. Nothing connects before Run.
func New(opts Options) (*Transfer, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Transfer{
		opts:        opts,
		log:         opts.Logger.With("transfer", opts.Name),
		metrics:     opts.Metrics,
		parts:       map[topicPartition]*partition{},
		budget:      semaphore.NewWeighted(opts.MaxInflightBytes),
		in:          make(chan []*item),
		ready:       make(chan *batch, opts.Workers),
		flushReq:    make(chan chan struct{}),
		batcherDone: make(chan struct{}),
		statusKick:  make(chan struct{}, 1),
	}
	t.topics.Store(&map[string]*topicConfig{})
	return t, nil
}

// Ready returns nil while the transfer indexes without backpressure, and
// otherwise an error saying what holds it back (the search engine, Kafka, a
// dead-letter topic). It suits daemon.Readiness.
func (t *Transfer) Ready() error { return t.health.err() }

// Run consumes and indexes until ctx is done, then shuts down gracefully:
// it stops polling, flushes what was polled (waiting at most
// ShutdownTimeout), commits the watermarks, leaves the group and revokes
// its status lease. It returns an error only when the transfer cannot run
// (the Kafka client cannot be created, the Topic watch fails for good).
// Run may be called once.
func (t *Transfer) Run(ctx context.Context) error {
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("transfer: Run called twice")
	}
	kcl, err := kgo.NewClient(t.kgoOpts()...)
	if err != nil {
		return fmt.Errorf("transfer: kafka client: %w", err)
	}
	t.kcl = kcl
	t.adm = kadm.NewClient(kcl)
	t.log.Info("transfer starting", "group", t.opts.Group, "workers", t.opts.Workers,
		"bulk_max_bytes", t.opts.BulkMaxBytes, "bulk_max_docs", t.opts.BulkMaxDocs)

	// The pipeline outlives ctx: after ctx is done it still drains what
	// was polled, until ShutdownTimeout cancels workCtx.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var pipeline sync.WaitGroup
	pipeline.Go(t.batcher)
	for range t.opts.Workers {
		pipeline.Go(func() { t.worker(workCtx) })
	}

	g, gctx := errgroup.WithContext(ctx)
	topics := reconciler.New("transfer-topic", reconciler.Func(t.reconcileTopic),
		reconciler.NewKindSource(t.opts.Store, api.KindTopic, t.log),
		reconciler.Options{Resync: t.opts.Resync, Logger: t.log})
	g.Go(func() error { return topics.Run(gctx) })
	g.Go(func() error { return t.pollLoop(gctx) })
	g.Go(func() error { return t.commitLoop(gctx) })
	g.Go(func() error { return t.statusLoop(gctx) })
	runErr := g.Wait()

	// The poll loop has closed t.in: the batcher flushes and the workers
	// finish the batches, or are cut off after ShutdownTimeout.
	drained := make(chan struct{})
	go func() { pipeline.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(t.opts.ShutdownTimeout):
		t.log.Warn("records still unfinished at shutdown timeout; they stay uncommitted and are read again on restart",
			"timeout", t.opts.ShutdownTimeout, "inflight_bytes", t.inflight.Load())
		cancelWork()
		<-drained
	}
	t.commitMu.Lock()
	parts := t.liveParts()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	if err := t.commit(cctx, parts); err != nil {
		t.log.Warn("final commit failed; the records after the last commit are read again on restart", "err", err)
	}
	cancel()
	for _, p := range parts {
		t.abandon(p)
	}
	t.commitMu.Unlock()
	kcl.Close() // leaves the group; the revoke callback finds nothing left
	t.log.Info("transfer stopped")
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return nil
}

func (t *Transfer) kgoOpts() []kgo.Opt {
	opts := slices.Clone(t.opts.Kafka)
	opts = append(opts,
		kgo.ConsumerGroup(t.opts.Group),
		// Offsets are committed by the transfer, up to its watermarks, and
		// never by kgo's autocommit of whatever was polled.
		kgo.DisableAutoCommit(),
		// Rebalance callbacks run only between a poll's registration of its
		// records and the next poll, so a partition's watermark is never
		// extended after it was revoked.
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(t.onAssigned),
		kgo.OnPartitionsRevoked(t.onRevoked),
		kgo.OnPartitionsLost(t.onLost),
		// A group with no commit starts at the oldest record: nothing that
		// the agents shipped before the first transfer ran is skipped.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Dead-letter writes must survive a broker loss before they let
		// their records count as done.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Resuming a paused partition waits for the broker's in-flight fetch;
		// a shorter wait makes resumption prompt.
		kgo.FetchMaxWait(time.Second),
		// Partitions added to a topic are consumed once the group sees them
		// in metadata; kgo's default of 5 minutes would leave their records
		// waiting that long. A Topic spec change also forces a refresh.
		kgo.MetadataMaxAge(15*time.Second),
		kgo.FetchMaxBytes(int32(min(t.opts.MaxInflightBytes/2, 50<<20))),
		kgo.WithLogger(kgoLogger{t.log}),
	)
	if t.opts.SessionTimeout > 0 {
		// Kafka's rule of thumb: heartbeat at most a third of the session.
		opts = append(opts, kgo.SessionTimeout(t.opts.SessionTimeout),
			kgo.HeartbeatInterval(min(3*time.Second, t.opts.SessionTimeout/3)))
	}
	return opts
}

// topic returns the config of a consumed topic, or nil.
func (t *Transfer) topic(name string) *topicConfig { return (*t.topics.Load())[name] }

// pollLoop polls records, registers them with their partition's watermark
// and hands them to the batcher. Registration happens before
// AllowRebalance, so a revoke always sees every record polled for the
// partitions it takes away.
func (t *Transfer) pollLoop(ctx context.Context) error {
	defer close(t.in)
	failures := 0
	for ctx.Err() == nil {
		fetches := t.kcl.PollRecords(ctx, t.opts.BulkMaxDocs)
		if fetches.IsClientClosed() {
			t.kcl.AllowRebalance()
			return nil
		}
		var fetchErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				fetchErr = fmt.Errorf("fetch %s/%d: %w", topic, p, err)
			}
		})
		items, total := t.register(fetches)
		t.kcl.AllowRebalance()

		if fetchErr != nil {
			t.health.setKafka(fetchErr)
			if failures == 0 {
				t.log.Warn("kafka: poll failed; backing off", "err", fetchErr)
			}
			failures++
			if !sleep(ctx, backoff(t.opts.RetryBackoff, 5*time.Second, failures)) {
				return nil
			}
		} else if fetches.NumRecords() > 0 {
			if failures > 0 {
				t.log.Info("kafka: polling again", "after_failures", failures)
			}
			failures = 0
			t.health.clearKafka()
		}
		if len(items) == 0 {
			continue
		}
		if err := t.budget.Acquire(ctx, total); err != nil {
			return nil // shutting down; the records stay uncommitted
		}
		t.inflight.Add(total)
		t.metrics.inflight.Add(float64(total))
		select {
		case t.in <- items:
		case <-ctx.Done():
			t.releaseItems(items)
			return nil
		}
	}
	return nil
}

// register adds the polled records to their partitions' watermarks and
// returns the items to index and the budget they need.
func (t *Transfer) register(fetches kgo.Fetches) ([]*item, int64) {
	n := fetches.NumRecords()
	if n == 0 {
		return nil, 0
	}
	slab := make([]item, n)
	items := make([]*item, 0, n)
	var total int64
	remaining := t.opts.MaxInflightBytes
	t.partsMu.Lock()
	defer t.partsMu.Unlock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		part := t.parts[topicPartition{fp.Topic, fp.Partition}]
		if part == nil || part.abandoned.Load() {
			return // not ours (any more); kgo will not hand it to us again
		}
		cfg := t.topic(fp.Topic)
		for _, rec := range fp.Records {
			seq := part.wm.add(rec.Offset, rec.LeaderEpoch)
			if cfg == nil {
				// The topic stopped being indexed; the record stays
				// unfinished, so its offset is not committed, and the
				// purge's revoke abandons the partition.
				continue
			}
			it := &slab[len(items)]
			est := estimateDoc(rec)
			// A poll larger than the whole budget charges the budget
			// once; the first items carry it.
			size := min(int64(len(rec.Value))+est, remaining)
			remaining -= size
			*it = item{rec: rec, part: part, seq: seq, topic: cfg, size: size, est: int(est)}
			total += size
			items = append(items, it)
		}
	})
	return items, total
}

// estimateDoc guesses the size of a record's document before it is built:
// the value, the header values (most become fields) and the field names.
func estimateDoc(rec *kgo.Record) int64 {
	n := len(rec.Value) + 160
	for _, h := range rec.Headers {
		n += len(h.Value)
	}
	return int64(n)
}

// onAssigned starts tracking newly assigned partitions.
func (t *Transfer) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	t.partsMu.Lock()
	defer t.partsMu.Unlock()
	for topic, ps := range assigned {
		for _, p := range ps {
			key := topicPartition{topic, p}
			if old := t.parts[key]; old != nil && !old.abandoned.Load() {
				continue
			}
			t.parts[key] = &partition{topic: topic, id: p, committed: -1}
		}
	}
	t.log.Info("partitions assigned", "partitions", formatAssignment(assigned))
	t.kickStatus()
}

// onRevoked gives partitions back to the group: it flushes what it can of
// their records within RevokeTimeout, commits their watermarks and abandons
// the rest, which the next owner reads again from the committed offset.
func (t *Transfer) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	t.release(ctx, revoked, true)
}

// onLost abandons partitions the group took away without a revoke (the
// session expired): committing is no longer possible.
func (t *Transfer) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	t.release(ctx, lost, false)
}

func (t *Transfer) release(ctx context.Context, tps map[string][]int32, commit bool) {
	var parts []*partition
	t.partsMu.Lock()
	for topic, ps := range tps {
		for _, p := range ps {
			if part := t.parts[topicPartition{topic, p}]; part != nil && !part.abandoned.Load() {
				parts = append(parts, part)
			}
		}
	}
	t.partsMu.Unlock()
	if len(parts) == 0 {
		return
	}
	unfinished := 0
	if commit {
		wctx, cancel := context.WithTimeout(ctx, t.opts.RevokeTimeout)
		t.flushNow(wctx)
		for _, p := range parts {
			p.wm.waitIdle(wctx)
		}
		cancel()
		t.commitMu.Lock()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := t.commit(cctx, parts); err != nil {
			t.log.Warn("commit of revoked partitions failed; their new owner reads again from the last commit", "err", err)
		}
		cancel()
	} else {
		t.commitMu.Lock()
	}
	for _, p := range parts {
		unfinished += p.wm.pending()
		t.abandon(p)
	}
	t.commitMu.Unlock()
	t.partsMu.Lock()
	for _, p := range parts {
		if t.parts[topicPartition{p.topic, p.id}] == p {
			delete(t.parts, topicPartition{p.topic, p.id})
		}
	}
	t.partsMu.Unlock()
	verb := "revoked"
	if !commit {
		verb = "lost"
	}
	t.log.Info("partitions "+verb, "partitions", formatAssignment(tps), "abandoned_records", unfinished)
	t.kickStatus()
}

// abandon gives a partition up: its records in the pipeline are dropped and
// its fetching is no longer paused (a pause would outlive the assignment).
func (t *Transfer) abandon(p *partition) {
	p.abandoned.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		t.kcl.ResumeFetchPartitions(map[string][]int32{p.topic: {p.id}})
		p.paused = false
		t.metrics.paused.Dec()
	}
}

// liveParts returns the partitions currently owned.
func (t *Transfer) liveParts() []*partition {
	t.partsMu.Lock()
	defer t.partsMu.Unlock()
	parts := make([]*partition, 0, len(t.parts))
	for _, p := range t.parts {
		if !p.abandoned.Load() {
			parts = append(parts, p)
		}
	}
	return parts
}

// commitLoop commits the watermarks every CommitInterval.
func (t *Transfer) commitLoop(ctx context.Context) error {
	tick := time.NewTicker(t.opts.CommitInterval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		t.commitMu.Lock()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := t.commit(cctx, t.liveParts())
		cancel()
		t.commitMu.Unlock()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			t.log.Warn("kafka: commit failed; retrying", "err", err)
			failing = true
		case err == nil && failing:
			t.log.Info("kafka: committing again")
			failing = false
		}
	}
}

// commit commits the watermark of every partition of parts that moved since
// its last commit. The caller holds commitMu.
func (t *Transfer) commit(ctx context.Context, parts []*partition) error {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	byKey := map[topicPartition]*partition{}
	for _, p := range parts {
		off, epoch, ok := p.wm.commitPoint()
		if !ok || off <= p.committed {
			continue
		}
		if offsets[p.topic] == nil {
			offsets[p.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[p.topic][p.id] = kgo.EpochOffset{Epoch: epoch, Offset: off}
		byKey[topicPartition{p.topic, p.id}] = p
	}
	if len(offsets) == 0 {
		return nil
	}
	var errs []error
	t.kcl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
					errs = append(errs, fmt.Errorf("%s/%d: %w", rt.Topic, rp.Partition, e))
					continue
				}
				if p := byKey[topicPartition{rt.Topic, rp.Partition}]; p != nil {
					p.committed = offsets[rt.Topic][rp.Partition].Offset
				}
			}
		}
	})
	if len(errs) > 0 {
		t.metrics.commits.WithLabelValues("error").Inc()
		return fmt.Errorf("commit offsets: %w", errors.Join(errs...))
	}
	t.metrics.commits.WithLabelValues("ok").Inc()
	return nil
}

// kickStatus asks the status loop for a report now.
func (t *Transfer) kickStatus() {
	select {
	case t.statusKick <- struct{}{}:
	default:
	}
}

func formatAssignment(tps map[string][]int32) []string {
	var out []string
	for _, topic := range slices.Sorted(maps.Keys(tps)) {
		ps := slices.Clone(tps[topic])
		slices.Sort(ps)
		for _, p := range ps {
			out = append(out, fmt.Sprintf("%s/%d", topic, p))
		}
	}
	return out
}

// kgoLogger passes kgo's warnings and errors on to slog; its info and debug
// lines are one per request and would drown the daemon's own.
type kgoLogger struct{ log *slog.Logger }

func (l kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	switch level {
	case kgo.LogLevelError:
		l.log.Error("kafka client: "+msg, keyvals...)
	case kgo.LogLevelWarn:
		l.log.Warn("kafka client: "+msg, keyvals...)
	}
}
