package store_test

import (
	"errors"
	"slices"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/store"
)

func consumers(o api.Object) []string {
	var out []string
	for _, c := range o.(*api.Topic).Status.Consumers {
		out = append(out, c.Transfer+"/"+c.Group)
	}
	return out
}

func TestStatusMerge(t *testing.T) {
	t.Parallel()
	_, s := newStore(t)
	ctx := t.Context()
	// "web2" shares a prefix with "web": its status must stay its own.
	res := apply(t, s, store.ApplyOptions{}, topic("web", 1, nil), topic("web2", 1, nil))
	rv := res[0].Object.Meta().ResourceVersion

	if err := s.SetStatus(ctx, api.KindTopic, "web", &api.TopicStatus{ObservedGeneration: 1, Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus(ctx, api.KindTopic, "web2", api.TopicStatus{Partitions: 9}); err != nil {
		t.Fatal(err)
	}
	sess, err := s.NewSession(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Written out of order, on a lease and without one.
	for _, r := range []struct {
		transfer string
		lease    clientv3.LeaseID
	}{{"t2", sess.Lease()}, {"t1", clientv3.NoLease}, {"t3", sess.Lease()}} {
		if err := s.SetReport(ctx, api.KindTopic, "web", r.transfer, api.TopicConsumerStatus{Group: "g-" + r.transfer}, r.lease); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetReport(ctx, api.KindTopic, "web2", "t9", api.TopicConsumerStatus{Group: "g-t9"}, clientv3.NoLease); err != nil {
		t.Fatal(err)
	}

	check := func(when string, want []string) {
		t.Helper()
		o := get(t, s, api.KindTopic, "web")
		st := o.(*api.Topic).Status
		if st.Partitions != 3 || st.ObservedGeneration != 1 {
			t.Errorf("%s: Get status = %+v, want partitions 3, observedGeneration 1", when, st)
		}
		if got := consumers(o); !slices.Equal(got, want) {
			t.Errorf("%s: Get consumers = %v, want %v", when, got, want)
		}
		// Status writes are not spec writes.
		if m := o.Meta(); m.ResourceVersion != rv || m.Generation != 1 {
			t.Errorf("%s: resourceVersion %d, generation %d; want %d, 1", when, m.ResourceVersion, m.Generation, rv)
		}
		objs, _, err := s.List(ctx, api.KindTopic, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := consumers(objs[0]); !slices.Equal(got, want) {
			t.Errorf("%s: List consumers of web = %v, want %v", when, got, want)
		}
		if got := consumers(objs[1]); !slices.Equal(got, []string{"t9/g-t9"}) || objs[1].(*api.Topic).Status.Partitions != 9 {
			t.Errorf("%s: List status of web2 = %+v, want its own", when, objs[1].(*api.Topic).Status)
		}
	}
	check("reports written", []string{"t1/g-t1", "t2/g-t2", "t3/g-t3"})

	if err := sess.Close(); err != nil { // revokes the lease
		t.Fatal(err)
	}
	check("lease revoked", []string{"t1/g-t1"})

	if err := s.DeleteReport(ctx, api.KindTopic, "web", "t1"); err != nil {
		t.Fatal(err)
	}
	check("report deleted", nil)
	if err := s.DeleteReport(ctx, api.KindTopic, "web", "t1"); err != nil {
		t.Fatalf("deleting a missing report: %v", err)
	}
}

func TestCollectEntryReports(t *testing.T) {
	t.Parallel()
	_, s := newStore(t)
	ctx := t.Context()
	apply(t, s, store.ApplyOptions{}, entry("web-app", nil))
	for _, agent := range []string{"host-b", "host-a"} {
		// The report leaves Agent empty; the key says whose it is.
		if err := s.SetReport(ctx, api.KindCollectEntry, "web-app", agent, api.CollectEntryAgentStatus{FilesTailed: len(agent)}, clientv3.NoLease); err != nil {
			t.Fatal(err)
		}
	}
	agents := get(t, s, api.KindCollectEntry, "web-app").(*api.CollectEntry).Status.Agents
	if len(agents) != 2 || agents[0].Agent != "host-a" || agents[1].Agent != "host-b" || agents[0].FilesTailed != 6 {
		t.Fatalf("agents = %+v, want host-a then host-b with FilesTailed 6", agents)
	}
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	_, s := newStore(t)
	ctx := t.Context()
	apply(t, s, store.ApplyOptions{}, topic("web", 1, nil))

	err := s.SetStatus(ctx, api.KindTopic, "missing", api.TopicStatus{})
	var nf *store.NotFoundError
	if !errors.As(err, &nf) || nf.Name != "missing" {
		t.Errorf("SetStatus of a missing object: err = %v, want *NotFoundError", err)
	}
	if v := rawValue(t, s.Client(), s.StatusKey(api.KindTopic, "missing")); v != "" {
		t.Errorf("SetStatus of a missing object wrote %s", v)
	}
	err = s.SetReport(ctx, api.KindTopic, "missing", "t1", api.TopicConsumerStatus{}, clientv3.NoLease)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetReport on a missing object: err = %v, want ErrNotFound", err)
	}

	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"wrong status type", s.SetStatus(ctx, api.KindTopic, "web", api.IndexTemplateStatus{}),
			`store: set status of topic "web": got a v1alpha1.IndexTemplateStatus, want a v1alpha1.TopicStatus`},
		{"nil status", s.SetStatus(ctx, api.KindTopic, "web", (*api.TopicStatus)(nil)),
			`store: set status of topic "web": nil *v1alpha1.TopicStatus`},
		{"wrong report type", s.SetReport(ctx, api.KindTopic, "web", "t1", api.CollectEntryAgentStatus{}, clientv3.NoLease),
			`store: report on topic "web": got a v1alpha1.CollectEntryAgentStatus, want a v1alpha1.TopicConsumerStatus`},
		{"kind without reports", s.SetReport(ctx, api.KindIndexTemplate, "logs", "c1", api.IndexTemplateStatus{}, clientv3.NoLease),
			`store: report on indextemplate "logs": indextemplate takes no reports`},
		{"reporter with a slash", s.SetReport(ctx, api.KindTopic, "web", "a/b", api.TopicConsumerStatus{}, clientv3.NoLease),
			`store: reporter name "a/b" contains a slash`},
	} {
		if tt.err == nil || tt.err.Error() != tt.want {
			t.Errorf("%s: err = %v, want %q", tt.name, tt.err, tt.want)
		}
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	ctx := t.Context()
	rv := apply(t, s, store.ApplyOptions{}, topic("web", 4, nil), topic("web2", 1, nil))[0].Object.Meta().ResourceVersion
	if err := s.SetStatus(ctx, api.KindTopic, "web", api.TopicStatus{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus(ctx, api.KindTopic, "web2", api.TopicStatus{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetReport(ctx, api.KindTopic, "web", "t1", api.TopicConsumerStatus{}, clientv3.NoLease); err != nil {
		t.Fatal(err)
	}

	gone, err := s.Delete(ctx, api.KindTopic, "web")
	if err != nil {
		t.Fatal(err)
	}
	if tp := gone.(*api.Topic); tp.Spec.Partitions != 4 || tp.Metadata.ResourceVersion != rv || tp.Metadata.Generation != 1 {
		t.Fatalf("deleted object = %+v, want the stored one (partitions 4, resourceVersion %d)", tp, rv)
	}
	if _, err := s.Get(ctx, api.KindTopic, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	resp, err := s.Client().Get(ctx, s.StatusKey(api.KindTopic, "web"), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, kv := range resp.Kvs {
		left = append(left, string(kv.Key))
	}
	// Only web2's status shares the prefix; web's status and report are gone.
	if want := []string{s.StatusKey(api.KindTopic, "web2")}; !slices.Equal(left, want) {
		t.Fatalf("status keys after Delete = %v, want %v", left, want)
	}

	rev := srv.Revision(t)
	if _, err := s.Delete(ctx, api.KindTopic, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Delete: err = %v, want ErrNotFound", err)
	}
	if srv.Revision(t) != rev {
		t.Fatal("deleting a missing object wrote something")
	}
}
