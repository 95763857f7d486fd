// Package topic reconciles Topic specs into Kafka topics through the Kafka
// admin API (github.com/twmb/franz-go/pkg/kadm).
//
// For each Topic it:
//   - creates the Kafka topic when it is missing, with the spec's partitions,
//     replication factor and configs;
//   - raises the partition count when the spec asks for more; when it asks
//     for fewer it leaves the partitions alone (Kafka cannot remove them) and
//     reports Ready=False with reason PartitionsCannotDecrease, while still
//     keeping the configs in line;
//   - sets the config keys the spec names, and only those, with
//     IncrementalAlterConfigs, so keys set by other tools stay as they are;
//   - on deletion of the spec, follows deletionPolicy: Retain leaves the
//     topic, Delete deletes it.
//
// A deleted spec leaves a tombstone in the store (the spec as it was
// deleted); the reconciler follows its deletion policy and then removes it,
// so a deletion noticed late (after a controller restart, say) is still
// honoured.
//
// kadm separates "could not ask" (a returned error: the broker was not
// reached) from "the answer was no" (a per-topic Err). The first is retried
// with backoff; the second is reported in status and, when no retry can fix
// it (an invalid config, a replication factor the cluster cannot meet), not
// retried until the spec changes.
package topic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/store"
)

// Reconciler reconciles Topic specs, keyed by name, into Kafka.
type Reconciler struct {
	store  *store.Store
	admin  *kadm.Client
	now    func() time.Time
	logger *slog.Logger
}

// New returns a Reconciler that reads specs from st and manages topics with
// admin. A nil logger means slog.Default().
func New(st *store.Store, admin *kadm.Client, logger *slog.Logger) *Reconciler {
	if logger == nil {
		logger = slog.Default()
	}
	return &Reconciler{store: st, admin: admin, now: time.Now, logger: logger}
}

var _ reconciler.Reconciler = (*Reconciler)(nil)

// Reconcile brings the Kafka topic named name in line with its spec, or acts
// on the spec's deletion.
func (r *Reconciler) Reconcile(ctx context.Context, name string) (reconciler.Result, error) {
	obj, err := r.store.Get(ctx, api.KindTopic, name)
	if errors.Is(err, store.ErrNotFound) {
		return reconciler.Result{}, r.deleted(ctx, name)
	}
	if err != nil {
		return reconciler.Result{}, err
	}
	t := obj.(*api.Topic)
	old := t.Status
	st := t.Status
	st.Consumers = nil // reports of the transfers, not the controller's to write
	st.ObservedGeneration = t.Metadata.Generation

	outcome, rerr := r.sync(ctx, t, &st)
	api.SetCondition(&st.Conditions, outcome, r.now())
	old.Consumers = nil
	if !reflect.DeepEqual(old, st) {
		if err := r.store.SetStatus(ctx, api.KindTopic, name, st); err != nil && !errors.Is(err, store.ErrNotFound) {
			return reconciler.Result{}, errors.Join(rerr, fmt.Errorf("write status of topic %q: %w", name, err))
		}
	}
	return reconciler.Result{}, rerr
}

// sync makes the Kafka changes and fills the facts of st. It returns the
// Ready condition and the error for the engine (nil, retryable or terminal).
func (r *Reconciler) sync(ctx context.Context, t *api.Topic, st *api.TopicStatus) (api.Condition, error) {
	name := t.Metadata.Name
	// kadm answers metadata from a cache for up to 5 s; a reconciler must see
	// the live topic (one it just created, say), and asking for authorized
	// operations is kadm's way to bypass that cache.
	details, err := r.admin.ListTopics(kadm.WithAuthorizedOps(ctx), name)
	if err != nil {
		return api.NotReady(api.ReasonKafkaError, "cannot describe topic: "+err.Error()), err
	}
	detail := details[name]
	switch {
	case errors.Is(detail.Err, kerr.UnknownTopicOrPartition) || (detail.Err == nil && len(detail.Partitions) == 0):
		return r.create(ctx, t, st)
	case detail.Err != nil:
		return api.NotReady(api.ReasonKafkaError, "cannot describe topic: "+detail.Err.Error()), detail.Err
	}

	st.Partitions = int32(len(detail.Partitions))
	st.ReplicationFactor = replicationFactor(detail)
	want := t.Spec.Partitions

	// Configs are independent of partitions: keep them in line even when
	// the partition count cannot follow the spec.
	if cond, err := r.alterConfigs(ctx, t); err != nil || cond.Status != api.ConditionTrue {
		return cond, err
	}

	switch {
	case want < st.Partitions:
		return api.NotReady(api.ReasonPartitionsCannotDecrease, fmt.Sprintf(
			"spec asks for %d partitions but the topic has %d; Kafka cannot remove partitions, so they were left as they are",
			want, st.Partitions)), nil
	case want > st.Partitions:
		resp, err := r.admin.UpdatePartitions(ctx, int(want), name)
		if err != nil {
			return api.NotReady(api.ReasonKafkaError, "cannot add partitions: "+err.Error()), err
		}
		if pr, ok := resp[name]; ok && pr.Err != nil {
			return topicRefused("cannot add partitions", pr.Err, pr.ErrMessage)
		}
		r.logger.Info("raised topic partitions", "topic", name, "from", st.Partitions, "to", want)
		st.Partitions = want
	}
	return api.Ready(api.ReasonReconciled, fmt.Sprintf("topic has %d partitions", st.Partitions)), nil
}

func (r *Reconciler) create(ctx context.Context, t *api.Topic, st *api.TopicStatus) (api.Condition, error) {
	name := t.Metadata.Name
	configs := make(map[string]*string, len(t.Spec.Config))
	for k, v := range t.Spec.Config {
		configs[k] = kadm.StringPtr(v)
	}
	rf := t.Spec.ReplicationFactor
	if rf == 0 {
		rf = -1
	}
	resp, err := r.admin.CreateTopic(ctx, t.Spec.Partitions, rf, configs, name)
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		// Created meanwhile by someone else; the next pass reconciles it.
		return api.NotReady(api.ReasonPending, "topic was created concurrently; reconciling again"), err
	case err != nil && resp.Topic == "":
		return api.NotReady(api.ReasonKafkaError, "cannot create topic: "+err.Error()), err
	case err != nil:
		return topicRefused("cannot create topic", err, resp.ErrMessage)
	}
	st.Partitions = t.Spec.Partitions
	if resp.NumPartitions > 0 {
		st.Partitions = resp.NumPartitions
	}
	st.ReplicationFactor = resp.ReplicationFactor
	r.logger.Info("created topic", "topic", name, "partitions", st.Partitions, "replication_factor", st.ReplicationFactor)
	return api.Ready(api.ReasonReconciled, fmt.Sprintf("topic created with %d partitions", st.Partitions)), nil
}

// alterConfigs sets the spec's config keys whose live values differ.
func (r *Reconciler) alterConfigs(ctx context.Context, t *api.Topic) (api.Condition, error) {
	name := t.Metadata.Name
	if len(t.Spec.Config) == 0 {
		return api.Ready(api.ReasonReconciled, ""), nil
	}
	rcs, err := r.admin.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return api.NotReady(api.ReasonKafkaError, "cannot describe topic configs: "+err.Error()), err
	}
	rc, err := rcs.On(name, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return api.NotReady(api.ReasonKafkaError, "cannot describe topic configs: "+err.Error()), err
	}
	live := make(map[string]string, len(rc.Configs))
	for _, c := range rc.Configs {
		if c.Value != nil {
			live[c.Key] = *c.Value
		}
	}
	var alter []kadm.AlterConfig
	for _, k := range slices.Sorted(maps.Keys(t.Spec.Config)) {
		v := t.Spec.Config[k]
		if got, ok := live[k]; ok && got == v {
			continue
		}
		alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
	}
	if len(alter) == 0 {
		return api.Ready(api.ReasonReconciled, ""), nil
	}
	resp, err := r.admin.AlterTopicConfigs(ctx, alter, name)
	if err != nil {
		return api.NotReady(api.ReasonKafkaError, "cannot alter topic configs: "+err.Error()), err
	}
	ar, err := resp.On(name, nil)
	if err == nil {
		err = ar.Err
	}
	if err != nil {
		return topicRefused("cannot alter topic configs", err, ar.ErrMessage)
	}
	keys := make([]string, len(alter))
	for i, a := range alter {
		keys[i] = a.Name
	}
	r.logger.Info("altered topic configs", "topic", name, "keys", keys)
	return api.Ready(api.ReasonReconciled, ""), nil
}

// deleted acts on the deletion of the spec of name, following the deletion
// policy of its tombstone, then removes the tombstone.
func (r *Reconciler) deleted(ctx context.Context, name string) error {
	obj, rev, err := r.store.Tombstone(ctx, api.KindTopic, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if obj.(*api.Topic).Spec.DeletionPolicy == api.DeletionDelete {
		_, err := r.admin.DeleteTopic(ctx, name)
		if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("delete topic %q: %w", name, err)
		}
		r.logger.Info("deleted topic after its spec was deleted", "topic", name)
	} else {
		r.logger.Info("spec deleted; topic retained", "topic", name)
	}
	return r.store.DeleteTombstone(ctx, api.KindTopic, name, rev)
}

// topicRefused turns a per-topic Kafka error into a condition. Errors that
// no retry can fix are terminal.
func topicRefused(what string, err error, msg string) (api.Condition, error) {
	text := what + ": " + err.Error()
	if msg != "" && !strings.Contains(text, msg) {
		text += ": " + msg
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && !ke.Retriable {
		reason := api.ReasonKafkaError
		if errors.Is(err, kerr.InvalidConfig) || errors.Is(err, kerr.InvalidRequest) || errors.Is(err, kerr.PolicyViolation) {
			reason = api.ReasonInvalidConfig
		}
		return api.NotReady(reason, text), reconciler.Terminal(errors.New(text))
	}
	return api.NotReady(api.ReasonKafkaError, text), errors.New(text)
}

func replicationFactor(d kadm.TopicDetail) int16 {
	for _, p := range d.Partitions {
		return int16(len(p.Replicas))
	}
	return 0
}
