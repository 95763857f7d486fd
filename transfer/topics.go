package transfer

import (
	"context"
	"errors"
	"maps"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/store"
)

// reconcileTopic makes the consumer group's subscription follow the Topic
// named name: a Topic with an index block is consumed (added with
// AddConsumeTopics, which leaves the other topics' consumption running),
// and a Topic without one, or deleted, is not (PurgeTopicsFromConsuming,
// whose revoke flushes and commits what was read of it).
func (t *Transfer) reconcileTopic(ctx context.Context, name string) (reconciler.Result, error) {
	obj, err := t.opts.Store.Get(ctx, api.KindTopic, name)
	if errors.Is(err, store.ErrNotFound) {
		t.stopTopic(ctx, name, "deleted")
		return reconciler.Result{}, nil
	}
	if err != nil {
		return reconciler.Result{}, err
	}
	topic := obj.(*api.Topic)
	topic.Default()
	if topic.Spec.Index == nil {
		t.stopTopic(ctx, name, "has no index block")
		return reconciler.Result{}, nil
	}
	cfg, err := newTopicConfig(topic, t.metrics)
	if err != nil {
		// Validation accepted the spec, so this is a spec written around
		// logpipectl; retrying cannot fix it.
		return reconciler.Result{}, reconciler.Terminal(err)
	}
	t.startTopic(cfg)
	return reconciler.Result{}, nil
}

func (t *Transfer) startTopic(cfg *topicConfig) {
	t.topicsMu.Lock()
	defer t.topicsMu.Unlock()
	cur := *t.topics.Load()
	old := cur[cfg.name]
	if old != nil && old.generation == cfg.generation {
		return
	}
	next := maps.Clone(cur)
	next[cfg.name] = cfg
	t.topics.Store(&next)
	switch {
	case old == nil:
		t.kcl.AddConsumeTopics(cfg.name)
		t.log.Info("consuming topic", "topic", cfg.name, "index", cfg.namer.Pattern(), "dead_letter_topic", cfg.deadLetter)
		t.kickStatus()
	case !old.sameSpec(cfg):
		// Records polled from now on use the new spec; those in flight
		// finish with the old one.
		t.log.Info("index spec of topic changed", "topic", cfg.name, "index", cfg.namer.Pattern(), "dead_letter_topic", cfg.deadLetter)
	}
	if old != nil {
		// A new generation may have raised the partition count; look now
		// rather than at the next metadata refresh, and once more shortly,
		// since the controller adds the partitions after the spec changed.
		t.kcl.ForceMetadataRefresh()
		time.AfterFunc(5*time.Second, t.kcl.ForceMetadataRefresh)
	}
}

func (t *Transfer) stopTopic(ctx context.Context, name, why string) {
	t.topicsMu.Lock()
	cur := *t.topics.Load()
	_, ok := cur[name]
	if ok {
		next := maps.Clone(cur)
		delete(next, name)
		t.topics.Store(&next)
	}
	t.topicsMu.Unlock()
	if !ok {
		return
	}
	t.kcl.PurgeTopicsFromConsuming(name)
	t.metrics.forget(name)
	if err := t.opts.Store.DeleteReport(ctx, api.KindTopic, name, t.opts.Name); err != nil {
		t.log.Warn("cannot delete the status report of a topic no longer consumed; it expires with the lease", "topic", name, "err", err)
	}
	t.log.Info("stopped consuming topic", "topic", name, "reason", "topic "+why)
}
