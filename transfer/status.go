package transfer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/v3/concurrency"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/store"
)

// health collects what holds the transfer back. Each source of trouble
// clears itself: the engine when a bulk answer has no retryable item, Kafka
// when records arrive or it answers a request, a dead-letter topic when a
// write to it is acknowledged.
type health struct {
	mu sync.Mutex
	// engineWaits counts batches waiting to retry; engineLast is why.
	engineWaits int
	engineLast  error
	kafka       error
	deadLetter  map[string]error
}

func (h *health) engineFailed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineLast = err
}

func (h *health) engineOK() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.engineWaits == 0 {
		h.engineLast = nil
	}
}

func (h *health) engineWaiting(delta int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineWaits += delta
}

func (h *health) engineErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineLast
}

func (h *health) setKafka(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kafka = err
}

func (h *health) clearKafka() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kafka = nil
}

func (h *health) deadLetterFailed(topic string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.deadLetter == nil {
		h.deadLetter = map[string]error{}
	}
	h.deadLetter[topic] = err
}

func (h *health) deadLetterOK(topic string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.deadLetter, topic)
}

// err returns every current problem, or nil.
func (h *health) err() error {
	return h.topicErr("")
}

// topicErr returns the problems that hold back a topic whose dead-letter
// topic is dlq ("" for all of them).
func (h *health) topicErr(dlq string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	if h.engineWaits > 0 && h.engineLast != nil {
		errs = append(errs, fmt.Errorf("search engine: %d bulk request(s) waiting to retry: %w", h.engineWaits, h.engineLast))
	}
	if h.kafka != nil {
		errs = append(errs, fmt.Errorf("kafka: %w", h.kafka))
	}
	for _, topic := range slices.Sorted(maps.Keys(h.deadLetter)) {
		if dlq == "" || topic == dlq {
			errs = append(errs, h.deadLetter[topic])
		}
	}
	return errors.Join(errs...)
}

// statusLeaseTTL is the lease of the status reports: they vanish this long
// after the transfer dies.
const statusLeaseTTL = 30 * time.Second

// statusLoop writes each consumed Topic's report every StatusInterval (and
// soon after a topic or an assignment changes), on a session lease that
// it renews when etcd lost it. On return it revokes the lease, so the
// reports of a transfer that stopped disappear at once.
func (t *Transfer) statusLoop(ctx context.Context) error {
	r := &reporter{t: t, conds: map[string][]api.Condition{}}
	defer r.close()
	tick := time.NewTicker(t.opts.StatusInterval)
	defer tick.Stop()
	for {
		r.report(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-t.statusKick:
		}
	}
}

type reporter struct {
	t          *Transfer
	sess       *concurrency.Session
	cancelSess context.CancelFunc
	conds      map[string][]api.Condition
	// failing is set after a failed write was logged, to log once per
	// outage.
	failing bool
}

// close revokes the lease, waiting at most a few seconds for etcd: an
// unreachable etcd lets the lease expire by itself.
func (r *reporter) close() {
	r.drop()
}

func (r *reporter) drop() {
	if r.sess == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = r.t.opts.Store.Client().Revoke(ctx, r.sess.Lease())
	r.sess.Orphan()
	r.cancelSess()
	r.sess = nil
}

func (r *reporter) report(ctx context.Context) {
	t := r.t
	topics := *t.topics.Load()
	lags, lagErr := t.lag(ctx, slices.Sorted(maps.Keys(topics)))
	if lagErr == nil {
		t.health.clearKafka()
	} else if ctx.Err() == nil {
		t.health.setKafka(lagErr)
	}
	for name := range r.conds {
		if topics[name] == nil {
			delete(r.conds, name)
		}
	}
	if len(topics) == 0 {
		return
	}
	if err := r.session(ctx); err != nil {
		r.logFailure("cannot open the etcd session for status reports; retrying", err)
		return
	}
	now := time.Now()
	parts := t.ownedPartitions()
	for name, cfg := range topics {
		lag, ok := lags[name]
		if ok {
			t.metrics.lag.WithLabelValues(name).Set(float64(lag))
		}
		cond := api.Condition{Type: api.ConditionReady, Status: api.ConditionTrue, Reason: api.ReasonConsuming,
			Message: fmt.Sprintf("consuming %d partition(s) in group %s", parts[name], t.opts.Group)}
		if err := t.health.topicErr(cfg.deadLetter); err != nil {
			cond.Status, cond.Reason = api.ConditionFalse, api.ReasonBackpressure
			cond.Message = "paused: " + strings.ReplaceAll(err.Error(), "\n", "; ")
		}
		conds := r.conds[name]
		api.SetCondition(&conds, cond, now)
		r.conds[name] = conds
		st := api.TopicConsumerStatus{
			Transfer:   t.opts.Name,
			Group:      t.opts.Group,
			Lag:        lag,
			Conditions: slices.Clone(conds),
			UpdateTime: now.UTC().Truncate(time.Second),
		}
		err := t.opts.Store.SetReport(ctx, api.KindTopic, name, t.opts.Name, st, r.sess.Lease())
		switch {
		case err == nil:
			if t.topic(name) != cfg {
				// The topic stopped meanwhile; do not leave its report.
				_ = t.opts.Store.DeleteReport(ctx, api.KindTopic, name, t.opts.Name)
			}
			if r.failing {
				t.log.Info("writing status reports again")
				r.failing = false
			}
		case errors.Is(err, store.ErrNotFound), ctx.Err() != nil:
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			r.drop()
			r.logFailure("status lease expired; opening a new one", err)
			return
		default:
			r.logFailure("cannot write status report; retrying", err)
		}
	}
}

func (r *reporter) logFailure(msg string, err error) {
	if !r.failing && r.t.opts.StatusInterval > 0 {
		r.t.log.Warn(msg, "err", err)
		r.failing = true
	}
}

// session returns with r.sess open, replacing a session whose lease was
// lost.
func (r *reporter) session(ctx context.Context) error {
	if r.sess != nil {
		select {
		case <-r.sess.Done():
			r.drop()
		default:
			return nil
		}
	}
	// The session's keep-alive must outlive ctx until close revokes the
	// lease, but granting it must not outlive ctx.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	sess, err := r.t.opts.Store.NewSession(sctx, statusLeaseTTL)
	if !stop() {
		if err == nil {
			sess.Orphan()
		}
		cancel()
		return context.Cause(ctx)
	}
	if err != nil {
		cancel()
		return err
	}
	r.sess, r.cancelSess = sess, cancel
	return nil
}

// ownedPartitions counts the partitions owned, by topic.
func (t *Transfer) ownedPartitions() map[string]int {
	n := map[string]int{}
	for _, p := range t.liveParts() {
		n[p.topic]++
	}
	return n
}

// lag returns, per topic, the log end offset minus the committed offset
// summed over the partitions this transfer owns. A partition never
// committed counts from its log start.
func (t *Transfer) lag(ctx context.Context, topics []string) (map[string]int64, error) {
	if len(topics) == 0 {
		// Still ask Kafka something, so that its health is known.
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := t.adm.BrokerMetadata(lctx)
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := t.adm.ListEndOffsets(lctx, topics...)
	if err != nil {
		return nil, err
	}
	committed := t.kcl.CommittedOffsets()
	t.commitMu.Lock()
	type owned struct {
		topic     string
		id        int32
		committed int64
	}
	var parts []owned
	for _, p := range t.liveParts() {
		c := p.committed
		if c < 0 {
			if eo, ok := committed[p.topic][p.id]; ok {
				c = eo.Offset
			}
		}
		parts = append(parts, owned{p.topic, p.id, c})
	}
	t.commitMu.Unlock()

	lags := map[string]int64{}
	for _, name := range topics {
		lags[name] = 0
	}
	var starts map[string]map[int32]int64
	for _, p := range parts {
		end, ok := ends.Lookup(p.topic, p.id)
		if !ok || end.Err != nil {
			continue
		}
		c := p.committed
		if c < 0 {
			if starts == nil {
				starts = map[string]map[int32]int64{}
				if s, err := t.adm.ListStartOffsets(lctx, topics...); err == nil {
					s.Each(func(o kadm.ListedOffset) {
						if starts[o.Topic] == nil {
							starts[o.Topic] = map[int32]int64{}
						}
						starts[o.Topic][o.Partition] = o.Offset
					})
				}
			}
			c = starts[p.topic][p.id]
		}
		if _, ok := lags[p.topic]; ok {
			lags[p.topic] += max(0, end.Offset-c)
		}
	}
	return lags, nil
}
