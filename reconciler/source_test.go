package reconciler

import (
	"context"
	"slices"
	"testing"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/store"
)

func applyTopic(t *testing.T, st *store.Store, name string, partitions int32) {
	t.Helper()
	tp := &api.Topic{Metadata: api.ObjectMeta{Name: name}, Spec: api.TopicSpec{Partitions: partitions}}
	tp.Default()
	if _, err := st.Apply(t.Context(), []api.Object{tp}, store.ApplyOptions{}); err != nil {
		t.Fatalf("apply %s: %v", name, err)
	}
}

func TestKindSourceFeedsCurrentChangedAndDeletedKeys(t *testing.T) {
	srv := etcdtest.Start(t)
	st := store.New(srv.Client(t), "")
	applyTopic(t, st, "before", 1)

	rec := newRecorder()
	c := New("topic", Func(func(_ context.Context, key string) (Result, error) {
		rec.record(key)
		return Result{}, nil
	}), NewKindSource(st, api.KindTopic, quietLogger()), Options{Resync: -1, Logger: quietLogger()})
	startController(t, c)

	rec.waitFor(t, "before") // the initial list
	applyTopic(t, st, "after", 1)
	rec.waitFor(t, "after") // a watched put
	if _, err := st.Delete(t.Context(), api.KindTopic, "before"); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "before") // a watched delete

	// The deleted object's tombstone keeps its key in the resync set
	// until the reconciler has acted on it.
	keys, err := NewKindSource(st, api.KindTopic, quietLogger()).Keys(t.Context())
	if err != nil || !slices.Equal(keys, []string{"after", "before"}) {
		t.Fatalf("Keys = %v, %v; want [after before]", keys, err)
	}
}

func TestResyncOverKindSourceRepairsWhatNoEventReported(t *testing.T) {
	srv := etcdtest.Start(t)
	st := store.New(srv.Client(t), "")
	applyTopic(t, st, "web_log", 1)
	var calls = make(chan string, 100)
	c := New("topic", Func(func(_ context.Context, key string) (Result, error) {
		calls <- key
		return Result{}, nil
	}), NewKindSource(st, api.KindTopic, quietLogger()), Options{Resync: 20 * time.Millisecond, Logger: quietLogger()})
	startController(t, c)
	// One reconcile from the initial list, then more from resyncs alone:
	// nothing changes in etcd.
	for i := range 3 {
		select {
		case k := <-calls:
			if k != "web_log" {
				t.Fatalf("reconciled %q, want web_log", k)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reconcile %d of web_log did not happen: resync is not re-queueing", i+1)
		}
	}
}
