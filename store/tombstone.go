package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// hasTombstone reports whether deleting an object of kind leaves a
// tombstone: true for the kinds whose controller owns something outside
// logpipe and follows a deletionPolicy.
func hasTombstone(kind api.Kind) bool {
	return kind == api.KindTopic || kind == api.KindIndexTemplate
}

// TombstonePrefix returns "<prefix>/tombstones/<kind>/".
func (s *Store) TombstonePrefix(kind api.Kind) string {
	return s.prefix + "/tombstones/" + kind.Lower() + "/"
}

// TombstoneKey returns the key of the tombstone of kind/name.
func (s *Store) TombstoneKey(kind api.Kind, name string) string {
	return s.TombstonePrefix(kind) + name
}

// Tombstone returns the last stored spec of a deleted object whose deletion
// the controller has not acted on yet, and the tombstone's mod revision (for
// DeleteTombstone). A tombstone whose name is in use again by a stored
// object is stale: the stored object wins, and the next deletion overwrites
// the tombstone. It returns a *NotFoundError (errors.Is ErrNotFound) when
// there is none.
func (s *Store) Tombstone(ctx context.Context, kind api.Kind, name string) (api.Object, int64, error) {
	if err := checkKindName(kind, name); err != nil {
		return nil, 0, err
	}
	resp, err := s.cl.Get(ctx, s.TombstoneKey(kind, name))
	if err != nil {
		return nil, 0, fmt.Errorf("store: get tombstone of %s %q: %w", kind.Lower(), name, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, &NotFoundError{Kind: kind, Name: name}
	}
	o, err := decodeSpec(kind, name, resp.Kvs[0])
	if err != nil {
		return nil, 0, err
	}
	return o, resp.Kvs[0].ModRevision, nil
}

// TombstoneNames returns the names of kind's tombstones, sorted.
func (s *Store) TombstoneNames(ctx context.Context, kind api.Kind) ([]string, error) {
	if err := checkKind(kind); err != nil {
		return nil, err
	}
	prefix := s.TombstonePrefix(kind)
	resp, err := s.cl.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("store: list tombstones of %s: %w", kind.Plural(), err)
	}
	names := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if n := strings.TrimPrefix(string(kv.Key), prefix); n != "" && !strings.Contains(n, "/") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// DeleteTombstone removes the tombstone of kind/name once the controller has
// acted on the deletion, provided it is still at modRev (a newer tombstone,
// from a re-created and re-deleted object, is kept). Removing a tombstone
// that is gone or newer is not an error.
func (s *Store) DeleteTombstone(ctx context.Context, kind api.Kind, name string, modRev int64) error {
	if err := checkKindName(kind, name); err != nil {
		return err
	}
	key := s.TombstoneKey(kind, name)
	_, err := s.cl.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("store: delete tombstone of %s %q: %w", kind.Lower(), name, err)
	}
	return nil
}
