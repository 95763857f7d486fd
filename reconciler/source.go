package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/store"
)

// KindSource is the Source of one kind's objects in the store: keys are
// object names, including the names of deleted objects whose tombstone
// still waits for the reconciler.
type KindSource struct {
	store *store.Store
	kind  api.Kind
	log   *slog.Logger
}

// NewKindSource returns the source of kind's objects in st. A nil logger
// means slog.Default().
func NewKindSource(st *store.Store, kind api.Kind, logger *slog.Logger) *KindSource {
	if logger == nil {
		logger = slog.Default()
	}
	return &KindSource{store: st, kind: kind, log: logger}
}

var _ Source = (*KindSource)(nil)

// Keys lists the names of every stored object and every tombstone.
func (s *KindSource) Keys(ctx context.Context) ([]string, error) {
	keys, _, err := s.list(ctx)
	return keys, err
}

func (s *KindSource) list(ctx context.Context) ([]string, int64, error) {
	objs, rev, err := s.store.List(ctx, s.kind, nil)
	if err != nil {
		return nil, 0, err
	}
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		keys = append(keys, o.Meta().Name)
	}
	tomb, err := s.store.TombstoneNames(ctx, s.kind)
	if err != nil {
		return nil, 0, err
	}
	keys = append(keys, tomb...)
	slices.Sort(keys)
	return slices.Compact(keys), rev, nil
}

// Watch enqueues every current key, then the name of every object put or
// deleted. Store.Watch re-lists by itself after a compaction; Watch here
// retries the initial list until it succeeds or ctx is done.
func (s *KindSource) Watch(ctx context.Context, enqueue func(string)) error {
	keys, rev, err := s.listRetrying(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		enqueue(k)
	}
	for ev := range s.store.Watch(ctx, s.kind, rev) {
		enqueue(ev.Name)
	}
	if ctx.Err() == nil {
		return fmt.Errorf("watch of %s ended: etcd client closed", s.kind.Plural())
	}
	return ctx.Err()
}

func (s *KindSource) listRetrying(ctx context.Context) ([]string, int64, error) {
	b := newBackoff(100*time.Millisecond, 10*time.Second)
	for {
		keys, rev, err := s.list(ctx)
		if err == nil {
			return keys, rev, nil
		}
		d := b.next("list")
		s.log.Warn("cannot list objects; retrying", "kind", s.kind, "err", err, "retry_in", d)
		select {
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-time.After(d):
		}
	}
}
