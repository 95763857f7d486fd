package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/store"
)

// newStore starts an etcd server for the test and returns it with a Store
// under the default prefix.
func newStore(t *testing.T) (*etcdtest.Server, *store.Store) {
	t.Helper()
	srv := etcdtest.Start(t)
	return srv, store.New(srv.Client(t), "")
}

func topic(name string, partitions int32, labels map[string]string) *api.Topic {
	o := &api.Topic{
		Metadata: api.ObjectMeta{Name: name, Labels: labels},
		Spec:     api.TopicSpec{Partitions: partitions},
	}
	o.Default()
	return o
}

func entry(name string, labels map[string]string) *api.CollectEntry {
	o := &api.CollectEntry{
		Metadata: api.ObjectMeta{Name: name, Labels: labels},
		Spec:     api.CollectEntrySpec{Paths: []string{"/var/log/" + name + "/*.log"}, Topic: "web_log"},
	}
	o.Default()
	return o
}

func apply(t *testing.T, s *store.Store, opts store.ApplyOptions, objs ...api.Object) []store.Result {
	t.Helper()
	res, err := s.Apply(t.Context(), objs, opts)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

// outcomes renders results as logpipectl prints them.
func outcomes(res []store.Result) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.String()
	}
	return out
}

func get(t *testing.T, s *store.Store, kind api.Kind, name string) api.Object {
	t.Helper()
	o, err := s.Get(t.Context(), kind, name)
	if err != nil {
		t.Fatalf("Get(%s, %s): %v", kind, name, err)
	}
	return o
}

func names(objs []api.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Meta().Name
	}
	return out
}

// rawValue returns the value stored at key, or "" if the key is absent.
func rawValue(t *testing.T, cl *clientv3.Client, key string) string {
	t.Helper()
	resp, err := cl.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

func TestKeys(t *testing.T) {
	t.Parallel()
	s := store.New(nil, "")
	tests := []struct{ got, want string }{
		{s.Prefix(), "/logpipe"},
		{s.SpecPrefix(api.KindCollectEntry), "/logpipe/specs/collectentry/"},
		{s.SpecKey(api.KindCollectEntry, "web-app"), "/logpipe/specs/collectentry/web-app"},
		{s.StatusPrefix(api.KindTopic), "/logpipe/status/topic/"},
		{s.StatusKey(api.KindTopic, "web_log"), "/logpipe/status/topic/web_log"},
		{s.ReportPrefix(api.KindCollectEntry, "web-app"), "/logpipe/status/collectentry/web-app/"},
		{s.ReportKey(api.KindCollectEntry, "web-app", "host-1"), "/logpipe/status/collectentry/web-app/host-1"},
		{s.AgentPrefix(), "/logpipe/agents/"},
		{s.AgentKey("host-1"), "/logpipe/agents/host-1"},
		{s.LeaderPrefix("controller"), "/logpipe/leader/controller"},
		{store.New(nil, "/team-a/").SpecKey(api.KindIndexTemplate, "logs"), "/team-a/specs/indextemplate/logs"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("key %d = %q, want %q", i, tt.got, tt.want)
		}
	}
}

func TestPrefixesIsolateStores(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cl := srv.Client(t)
	a, b := store.New(cl, "/a"), store.New(cl, "/b")
	apply(t, a, store.ApplyOptions{}, topic("only-a", 1, nil))
	objs, _, err := b.List(t.Context(), api.KindTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 0 {
		t.Fatalf("store /b lists %v, want nothing", names(objs))
	}
	if got := rawValue(t, cl, "/a/specs/topic/only-a"); got == "" {
		t.Fatal("/a/specs/topic/only-a not written")
	}
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	_, s := newStore(t)
	_, err := s.Get(t.Context(), api.KindCollectEntry, "web-app")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing object: err = %v, want ErrNotFound", err)
	}
	var nf *store.NotFoundError
	if !errors.As(err, &nf) || nf.Kind != api.KindCollectEntry || nf.Name != "web-app" {
		t.Fatalf("Get of a missing object: err = %#v, want *NotFoundError{CollectEntry, web-app}", err)
	}
	if got, want := err.Error(), `collectentry "web-app" not found`; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
	if errors.Is(err, store.ErrConflict) {
		t.Fatal("a NotFoundError matches ErrConflict")
	}
}

func TestGetRefusesBadNames(t *testing.T) {
	t.Parallel()
	s := store.New(nil, "")
	for _, tt := range []struct {
		kind api.Kind
		name string
		want string
	}{
		{api.KindTopic, "", "store: empty topic name"},
		{api.KindTopic, "a/b", `store: topic name "a/b" contains a slash`},
		{"Pod", "x", `store: unknown kind "Pod"`},
	} {
		// No etcd is needed: the name is refused before any request.
		_, err := s.Get(context.Background(), tt.kind, tt.name)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Get(%q, %q): err = %v, want %q", tt.kind, tt.name, err, tt.want)
		}
	}
}

func TestListSelectorAndOrder(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	apply(t, s, store.ApplyOptions{},
		entry("web-b", map[string]string{"team": "web"}),
		entry("db", map[string]string{"team": "db"}),
		entry("web-a", map[string]string{"team": "web", "tier": "front"}),
		entry("plain", nil),
		topic("web_log", 1, map[string]string{"team": "web"}),
	)
	sel, err := api.ParseSelector("team=web")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		match func(map[string]string) bool
		want  []string
	}{
		{"all", nil, []string{"db", "plain", "web-a", "web-b"}},
		{"team=web", sel.Matches, []string{"web-a", "web-b"}},
		{"none", func(map[string]string) bool { return false }, []string{}},
	}
	for _, tt := range tests {
		objs, rev, err := s.List(t.Context(), api.KindCollectEntry, tt.match)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(objs); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("List(%s) = %v, want %v", tt.name, got, tt.want)
		}
		if want := srv.Revision(t); rev != want {
			t.Errorf("List(%s) revision = %d, want the current revision %d", tt.name, rev, want)
		}
		for _, o := range objs {
			if o.Meta().ResourceVersion == 0 || o.Meta().Generation != 1 {
				t.Errorf("List(%s): %s has resourceVersion %d, generation %d; want the mod revision and 1", tt.name, api.Ref(o), o.Meta().ResourceVersion, o.Meta().Generation)
			}
		}
	}
}

func TestNewSessionRoundsTTLUp(t *testing.T) {
	t.Parallel()
	_, s := newStore(t)
	sess, err := s.NewSession(t.Context(), 1500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ttl, err := s.Client().TimeToLive(t.Context(), sess.Lease())
	if err != nil {
		t.Fatal(err)
	}
	if ttl.GrantedTTL != 2 {
		t.Fatalf("granted TTL = %ds, want 2s (1.5s rounded up)", ttl.GrantedTTL)
	}
}
