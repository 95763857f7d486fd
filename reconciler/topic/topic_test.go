package topic

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/store"
)

type fixture struct {
	store *store.Store
	admin *kadm.Client
	rec   *Reconciler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := etcdtest.Start(t)
	st := store.New(srv.Client(t), "")
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(cluster.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatalf("kgo: %v", err)
	}
	t.Cleanup(cl.Close)
	admin := kadm.NewClient(cl)
	return &fixture{
		store: st,
		admin: admin,
		rec:   New(st, admin, slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
}

func (f *fixture) apply(t *testing.T, tp *api.Topic) {
	t.Helper()
	tp.Default()
	if _, err := f.store.Apply(t.Context(), []api.Object{tp}, store.ApplyOptions{}); err != nil {
		t.Fatalf("apply %s: %v", tp.Metadata.Name, err)
	}
}

func (f *fixture) reconcile(t *testing.T, name string) error {
	t.Helper()
	res, err := f.rec.Reconcile(t.Context(), name)
	if res != (reconciler.Result{}) {
		t.Fatalf("Reconcile(%s) result = %+v, want none", name, res)
	}
	return err
}

func (f *fixture) partitions(t *testing.T, name string) int {
	t.Helper()
	d, err := f.admin.ListTopics(kadm.WithAuthorizedOps(t.Context()), name)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	if d[name].Err != nil {
		return 0
	}
	return len(d[name].Partitions)
}

func (f *fixture) config(t *testing.T, name, key string) string {
	t.Helper()
	rcs, err := f.admin.DescribeTopicConfigs(t.Context(), name)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	rc, err := rcs.On(name, nil)
	if err != nil {
		t.Fatalf("describe configs of %s: %v", name, err)
	}
	for _, c := range rc.Configs {
		if c.Key == key && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

func (f *fixture) ready(t *testing.T, name string) (*api.Topic, api.Condition) {
	t.Helper()
	o, err := f.store.Get(t.Context(), api.KindTopic, name)
	if err != nil {
		t.Fatalf("get topic %s: %v", name, err)
	}
	tp := o.(*api.Topic)
	c := api.FindCondition(tp.Status.Conditions, api.ConditionReady)
	if c == nil {
		t.Fatalf("topic %s has no Ready condition; status %+v", name, tp.Status)
	}
	return tp, *c
}

func webLog(partitions int32, retention string) *api.Topic {
	return &api.Topic{
		Metadata: api.ObjectMeta{Name: "web_log"},
		Spec: api.TopicSpec{
			Partitions: partitions,
			Config:     map[string]string{"retention.ms": retention},
		},
	}
}

func TestCreateRaiseAndRefuseToLowerPartitions(t *testing.T) {
	f := newFixture(t)

	f.apply(t, webLog(3, "604800000"))
	if err := f.reconcile(t, "web_log"); err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	if got := f.partitions(t, "web_log"); got != 3 {
		t.Fatalf("partitions after create = %d, want 3", got)
	}
	if got := f.config(t, "web_log", "retention.ms"); got != "604800000" {
		t.Fatalf("retention.ms after create = %q, want 604800000", got)
	}
	tp, c := f.ready(t, "web_log")
	if c.Status != api.ConditionTrue || c.Reason != api.ReasonReconciled {
		t.Fatalf("Ready after create = %s/%s %q, want True/Reconciled", c.Status, c.Reason, c.Message)
	}
	if tp.Status.Partitions != 3 || tp.Status.ObservedGeneration != 1 {
		t.Fatalf("status partitions=%d observedGeneration=%d, want 3 and 1", tp.Status.Partitions, tp.Status.ObservedGeneration)
	}

	f.apply(t, webLog(6, "604800000"))
	if err := f.reconcile(t, "web_log"); err != nil {
		t.Fatalf("reconcile 3→6: %v", err)
	}
	if got := f.partitions(t, "web_log"); got != 6 {
		t.Fatalf("partitions after 3→6 = %d, want 6", got)
	}
	if tp, _ := f.ready(t, "web_log"); tp.Status.Partitions != 6 || tp.Status.ObservedGeneration != 2 {
		t.Fatalf("status partitions=%d observedGeneration=%d, want 6 and 2", tp.Status.Partitions, tp.Status.ObservedGeneration)
	}

	f.apply(t, webLog(2, "604800000"))
	if err := f.reconcile(t, "web_log"); err != nil {
		t.Fatalf("reconcile 6→2 returned %v; a decrease is reported in status, not retried", err)
	}
	if got := f.partitions(t, "web_log"); got != 6 {
		t.Fatalf("partitions after asking for 2 = %d, want 6 (unchanged)", got)
	}
	_, c = f.ready(t, "web_log")
	want := api.Condition{
		Type: api.ConditionReady, Status: api.ConditionFalse, Reason: api.ReasonPartitionsCannotDecrease,
		Message: "spec asks for 2 partitions but the topic has 6; Kafka cannot remove partitions, so they were left as they are",
	}
	c.LastTransitionTime = want.LastTransitionTime
	if c != want {
		t.Fatalf("Ready after 6→2 = %+v, want %+v", c, want)
	}
}

func TestConfigChangeAltersOnlyTheSpecsKeys(t *testing.T) {
	f := newFixture(t)
	f.apply(t, webLog(1, "1000"))
	if err := f.reconcile(t, "web_log"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	// Someone sets another key behind logpipe's back.
	resp, err := f.admin.AlterTopicConfigs(t.Context(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: kadm.StringPtr("1048576")}}, "web_log")
	if err == nil {
		_, err = resp.On("web_log", nil)
	}
	if err != nil {
		t.Fatalf("set segment.bytes: %v", err)
	}

	f.apply(t, webLog(1, "2000"))
	if err := f.reconcile(t, "web_log"); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if got := f.config(t, "web_log", "retention.ms"); got != "2000" {
		t.Fatalf("retention.ms = %q, want 2000", got)
	}
	if got := f.config(t, "web_log", "segment.bytes"); got != "1048576" {
		t.Fatalf("segment.bytes = %q, want 1048576: a key the spec does not name must be left alone", got)
	}
}

func TestDeletionFollowsPolicy(t *testing.T) {
	f := newFixture(t)
	kept := webLog(1, "1000")
	kept.Metadata.Name = "kept"
	gone := webLog(1, "1000")
	gone.Metadata.Name = "gone"
	gone.Spec.DeletionPolicy = api.DeletionDelete
	f.apply(t, kept)
	f.apply(t, gone)
	for _, n := range []string{"kept", "gone"} {
		if err := f.reconcile(t, n); err != nil {
			t.Fatalf("reconcile %s: %v", n, err)
		}
	}
	for _, n := range []string{"kept", "gone"} {
		if _, err := f.store.Delete(t.Context(), api.KindTopic, n); err != nil {
			t.Fatalf("delete spec %s: %v", n, err)
		}
		if err := f.reconcile(t, n); err != nil {
			t.Fatalf("reconcile deleted %s: %v", n, err)
		}
	}
	if got := f.partitions(t, "kept"); got != 1 {
		t.Fatalf("Retain topic has %d partitions after its spec was deleted, want it kept (1)", got)
	}
	if got := f.partitions(t, "gone"); got != 0 {
		t.Fatalf("Delete topic still exists with %d partitions after its spec was deleted", got)
	}
	names, err := f.store.TombstoneNames(t.Context(), api.KindTopic)
	if err != nil || len(names) != 0 {
		t.Fatalf("tombstones after acting on deletions = %v, %v; want none", names, err)
	}
	// A second pass over the deleted names is a no-op.
	if err := f.reconcile(t, "gone"); err != nil {
		t.Fatalf("reconcile again: %v", err)
	}
}

func TestUnmeetableReplicationFactorIsTerminal(t *testing.T) {
	f := newFixture(t)
	tp := webLog(1, "1000")
	tp.Spec.ReplicationFactor = 3 // one broker
	f.apply(t, tp)
	err := f.reconcile(t, "web_log")
	if !errors.Is(err, reconciler.ErrTerminal) {
		t.Fatalf("reconcile error = %v, want a terminal error (retrying cannot add brokers)", err)
	}
	_, c := f.ready(t, "web_log")
	if c.Status != api.ConditionFalse || c.Reason != api.ReasonKafkaError {
		t.Fatalf("Ready = %s/%s %q, want False/KafkaError", c.Status, c.Reason, c.Message)
	}
	if want := "cannot create topic: INVALID_REPLICATION_FACTOR"; len(c.Message) < len(want) || c.Message[:len(want)] != want {
		t.Fatalf("Ready message = %q, want it to start with %q", c.Message, want)
	}
}

func TestUnreachableBrokerIsRetried(t *testing.T) {
	srv := etcdtest.Start(t)
	st := store.New(srv.Client(t), "")
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	f := &fixture{store: st, rec: New(st, kadm.NewClient(cl), slog.New(slog.NewTextHandler(io.Discard, nil)))}
	f.apply(t, webLog(1, "1000"))
	ctx, cancel := context.WithTimeout(t.Context(), 3e9)
	defer cancel()
	_, err = f.rec.Reconcile(ctx, "web_log")
	if err == nil || errors.Is(err, reconciler.ErrTerminal) {
		t.Fatalf("reconcile with no broker = %v, want a retryable error", err)
	}
	_, c := f.ready(t, "web_log")
	if c.Status != api.ConditionFalse || c.Reason != api.ReasonKafkaError {
		t.Fatalf("Ready = %s/%s %q, want False/KafkaError", c.Status, c.Reason, c.Message)
	}
}
