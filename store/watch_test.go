package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/store"
)

// eventTimeout bounds every wait for an event; events arrive within
// milliseconds, so reaching it means one is missing.
const eventTimeout = 10 * time.Second

func next(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed, want an event")
		}
		return ev
	case <-time.After(eventTimeout):
		t.Fatalf("no event within %v", eventTimeout)
	}
	panic("unreachable")
}

// describe renders an event as "put web gen=2 rev=7" or "delete web rev=8".
func describe(ev store.Event) string {
	if ev.Type == store.EventDelete {
		if ev.Object != nil {
			return fmt.Sprintf("delete %s with an object", ev.Name)
		}
		return fmt.Sprintf("delete %s rev=%d", ev.Name, ev.Revision)
	}
	m := ev.Object.Meta()
	if m.Name != ev.Name || m.ResourceVersion == 0 || ev.Kind != ev.Object.ObjectKind() {
		return fmt.Sprintf("put %s with inconsistent object %s/%s rv=%d", ev.Name, ev.Object.ObjectKind(), m.Name, m.ResourceVersion)
	}
	return fmt.Sprintf("put %s gen=%d rev=%d", ev.Name, m.Generation, ev.Revision)
}

func expect(t *testing.T, ch <-chan store.Event, want ...string) {
	t.Helper()
	for i, w := range want {
		if got := describe(next(t, ch)); got != w {
			t.Fatalf("event %d = %q, want %q", i, got, w)
		}
	}
}

func waitClosed(t *testing.T, ch <-chan store.Event) {
	t.Helper()
	deadline := time.After(eventTimeout)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			t.Fatalf("event %q after cancel, want the channel closed", describe(ev))
		case <-deadline:
			t.Fatalf("watch channel still open %v after cancel", eventTimeout)
		}
	}
}

func TestWatchInOrder(t *testing.T) {
	t.Parallel()
	_, s := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	apply(t, s, store.ApplyOptions{}, topic("before", 1, nil))
	objs, rev, err := s.List(ctx, api.KindTopic, nil)
	if err != nil || len(objs) != 1 {
		t.Fatalf("List = %v, %v", objs, err)
	}
	ch := s.Watch(ctx, api.KindTopic, rev)

	rvA := apply(t, s, store.ApplyOptions{}, topic("a", 1, nil))[0].Object.Meta().ResourceVersion
	// Other kinds and status writes are not topic spec events.
	apply(t, s, store.ApplyOptions{}, entry("web-app", nil))
	if err := s.SetStatus(ctx, api.KindTopic, "a", api.TopicStatus{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	rvB := apply(t, s, store.ApplyOptions{}, topic("b", 1, nil))[0].Object.Meta().ResourceVersion
	rvA2 := apply(t, s, store.ApplyOptions{}, topic("a", 2, nil))[0].Object.Meta().ResourceVersion
	if _, err := s.Delete(ctx, api.KindTopic, "a"); err != nil {
		t.Fatal(err)
	}
	rvDel := rvA2 + 1
	expect(t, ch,
		fmt.Sprintf("put a gen=1 rev=%d", rvA),
		fmt.Sprintf("put b gen=1 rev=%d", rvB),
		fmt.Sprintf("put a gen=2 rev=%d", rvA2),
		fmt.Sprintf("delete a rev=%d", rvDel),
	)
	cancel()
	waitClosed(t, ch)
}

func TestWatchFromNow(t *testing.T) {
	t.Parallel()
	_, s := newStore(t)
	apply(t, s, store.ApplyOptions{}, topic("old", 1, nil))
	ready := make(chan int64, 1)
	store.SetBeforeWatch(s, func(rev int64) { ready <- rev })
	ch := s.Watch(t.Context(), api.KindTopic, 0)
	<-ready
	rv := apply(t, s, store.ApplyOptions{}, topic("new", 1, nil))[0].Object.Meta().ResourceVersion
	expect(t, ch, fmt.Sprintf("put new gen=1 rev=%d", rv))
}

// TestWatchResumesAfterCompaction compacts away the revision a watch is
// about to resume from, and checks the re-list's synthetic events and that
// watching goes on from the list's revision.
func TestWatchResumesAfterCompaction(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	ctx := t.Context()
	apply(t, s, store.ApplyOptions{}, topic("a", 1, nil), topic("b", 1, nil), topic("z", 1, nil))
	_, rev, err := s.List(ctx, api.KindTopic, nil)
	if err != nil {
		t.Fatal(err)
	}

	resumes := make(chan int64, 4)
	proceed := make(chan struct{})
	store.SetBeforeWatch(s, func(rev int64) {
		resumes <- rev
		<-proceed
	})
	ch := s.Watch(ctx, api.KindTopic, rev)
	if got := <-resumes; got != rev {
		t.Fatalf("first watch resumes after %d, want %d", got, rev)
	}
	// While the watch has not started: a create, a change, two deletes.
	apply(t, s, store.ApplyOptions{}, topic("c", 1, nil))
	apply(t, s, store.ApplyOptions{}, topic("b", 2, nil))
	for _, name := range []string{"a", "z"} {
		if _, err := s.Delete(ctx, api.KindTopic, name); err != nil {
			t.Fatal(err)
		}
	}
	listRev := srv.Revision(t)
	srv.Compact(t, listRev)
	close(proceed)

	expect(t, ch,
		fmt.Sprintf("put b gen=2 rev=%d", listRev),
		fmt.Sprintf("put c gen=1 rev=%d", listRev),
		fmt.Sprintf("delete a rev=%d", listRev),
		fmt.Sprintf("delete z rev=%d", listRev),
	)
	if got := <-resumes; got != listRev {
		t.Fatalf("watch resumes after %d, want the list revision %d", got, listRev)
	}
	rv := apply(t, s, store.ApplyOptions{}, topic("d", 1, nil))[0].Object.Meta().ResourceVersion
	if _, err := s.Delete(ctx, api.KindTopic, "c"); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, fmt.Sprintf("put d gen=1 rev=%d", rv), fmt.Sprintf("delete c rev=%d", rv+1))
}

// TestWatchFromCompactedRevision starts a watch at a revision that is
// already compacted: it re-lists at once.
func TestWatchFromCompactedRevision(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	apply(t, s, store.ApplyOptions{}, topic("a", 1, nil))
	_, rev, err := s.List(t.Context(), api.KindTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, s, store.ApplyOptions{}, topic("b", 1, nil))
	listRev := srv.Revision(t)
	srv.Compact(t, listRev)

	ch := s.Watch(t.Context(), api.KindTopic, rev)
	expect(t, ch, fmt.Sprintf("put a gen=1 rev=%d", listRev), fmt.Sprintf("put b gen=1 rev=%d", listRev))
	rv := apply(t, s, store.ApplyOptions{}, topic("c", 1, nil))[0].Object.Meta().ResourceVersion
	expect(t, ch, fmt.Sprintf("put c gen=1 rev=%d", rv))
}

func TestWatchClosesWithClient(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cl := srv.Client(t)
	s := store.New(cl, "")
	ch := s.Watch(t.Context(), api.KindTopic, 0)
	cl.Close()
	waitClosed(t, ch)
}

func TestWatchUnknownKindCloses(t *testing.T) {
	t.Parallel()
	waitClosed(t, store.New(nil, "").Watch(t.Context(), "Pod", 0))
}
