package store_test

import (
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

func TestAgentsOnLease(t *testing.T) {
	t.Parallel()
	_, s := newStore(t)
	ctx := t.Context()
	sess, err := s.NewSession(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	reg := func(a api.Agent, lease clientv3.LeaseID) {
		t.Helper()
		if err := s.RegisterAgent(ctx, a, lease); err != nil {
			t.Fatal(err)
		}
	}
	reg(api.Agent{Name: "host-b", Labels: map[string]string{"role": "web"}}, sess.Lease())
	reg(api.Agent{Name: "host-a", Version: "1.0"}, sess.Lease())
	reg(api.Agent{Name: "static"}, clientv3.NoLease)
	reg(api.Agent{Name: "host-b", Labels: map[string]string{"role": "web"}, FilesTailed: 3}, sess.Lease())

	agents, err := s.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(agents), fmt.Sprint([]api.Agent{
		{Name: "host-a", Version: "1.0"},
		{Name: "host-b", Labels: map[string]string{"role": "web"}, FilesTailed: 3},
		{Name: "static"},
	}); got != want {
		t.Fatalf("Agents() = %s, want %s", got, want)
	}

	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	agents, err = s.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(agents) != 1 || agents[0].Name != "static" {
		t.Fatalf("Agents() after the lease was revoked = %v, want only static", agents)
	}

	if err := s.RegisterAgent(ctx, api.Agent{}, clientv3.NoLease); err == nil || err.Error() != "store: empty agent name" {
		t.Fatalf("RegisterAgent without a name: err = %v, want store: empty agent name", err)
	}
}
