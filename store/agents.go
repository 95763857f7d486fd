package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// RegisterAgent writes a's registration at AgentKey(a.Name). Call it again
// to update it (FilesTailed, say). With a lease other than clientv3.NoLease
// (normally the agent's session lease) the registration is deleted when
// the lease expires or is revoked, so a dead agent disappears from Agents.
// An unknown or expired lease makes it fail with etcd's
// rpctypes.ErrLeaseNotFound.
func (s *Store) RegisterAgent(ctx context.Context, a api.Agent, lease clientv3.LeaseID) error {
	if err := checkName("agent", a.Name); err != nil {
		return err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("store: register agent %s: %w", a.Name, err)
	}
	var opts []clientv3.OpOption
	if lease != clientv3.NoLease {
		opts = append(opts, clientv3.WithLease(lease))
	}
	if _, err := s.cl.Put(ctx, s.AgentKey(a.Name), string(b), opts...); err != nil {
		return fmt.Errorf("store: register agent %s: %w", a.Name, err)
	}
	return nil
}

// Agents returns the registered agents, sorted by name.
func (s *Store) Agents(ctx context.Context) ([]api.Agent, error) {
	prefix := s.AgentPrefix()
	resp, err := s.cl.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("store: list agents: %w", err)
	}
	agents := make([]api.Agent, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		name, ok := childName(kv.Key, prefix)
		if !ok {
			continue
		}
		var a api.Agent
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			return nil, fmt.Errorf("store: decode agent at %s: %w", kv.Key, err)
		}
		a.Name = name
		agents = append(agents, a)
	}
	slices.SortFunc(agents, func(a, b api.Agent) int { return strings.Compare(a.Name, b.Name) })
	return agents, nil
}
