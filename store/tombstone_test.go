package store_test

import (
	"errors"
	"slices"
	"testing"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/store"
)

func TestDeleteLeavesTombstoneForKindsThatOwnOutsideResources(t *testing.T) {
	_, s := newStore(t)
	tp := topic("web_log", 3, nil)
	tp.Spec.DeletionPolicy = api.DeletionDelete
	apply(t, s, store.ApplyOptions{}, tp, entry("web-app", nil))

	if _, err := s.Delete(t.Context(), api.KindTopic, "web_log"); err != nil {
		t.Fatalf("Delete topic: %v", err)
	}
	if _, err := s.Delete(t.Context(), api.KindCollectEntry, "web-app"); err != nil {
		t.Fatalf("Delete entry: %v", err)
	}

	got, rev, err := s.Tombstone(t.Context(), api.KindTopic, "web_log")
	if err != nil {
		t.Fatalf("Tombstone(topic web_log): %v", err)
	}
	if p := got.(*api.Topic).Spec.DeletionPolicy; p != api.DeletionDelete {
		t.Fatalf("tombstone deletionPolicy = %q, want Delete (the spec as it was deleted)", p)
	}
	if _, _, err := s.Tombstone(t.Context(), api.KindCollectEntry, "web-app"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Tombstone(collectentry) error = %v, want ErrNotFound: entries own nothing outside logpipe", err)
	}
	names, err := s.TombstoneNames(t.Context(), api.KindTopic)
	if err != nil || !slices.Equal(names, []string{"web_log"}) {
		t.Fatalf("TombstoneNames = %v, %v; want [web_log]", names, err)
	}

	// A stale revision keeps the tombstone; the right one removes it.
	if err := s.DeleteTombstone(t.Context(), api.KindTopic, "web_log", rev-1); err != nil {
		t.Fatalf("DeleteTombstone(stale): %v", err)
	}
	if _, _, err := s.Tombstone(t.Context(), api.KindTopic, "web_log"); err != nil {
		t.Fatalf("tombstone gone after DeleteTombstone with a stale revision: %v", err)
	}
	if err := s.DeleteTombstone(t.Context(), api.KindTopic, "web_log", rev); err != nil {
		t.Fatalf("DeleteTombstone: %v", err)
	}
	if _, _, err := s.Tombstone(t.Context(), api.KindTopic, "web_log"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Tombstone after DeleteTombstone: error = %v, want ErrNotFound", err)
	}
}

func TestPruneLeavesTombstones(t *testing.T) {
	_, s := newStore(t)
	set := store.ApplyOptions{ApplySet: "web", Prune: true}
	apply(t, s, set, topic("a", 1, nil), topic("b", 1, nil))
	apply(t, s, set, topic("a", 1, nil))
	names, err := s.TombstoneNames(t.Context(), api.KindTopic)
	if err != nil || !slices.Equal(names, []string{"b"}) {
		t.Fatalf("TombstoneNames after pruning b = %v, %v; want [b]", names, err)
	}
}
