package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// EventType says whether an Event puts or deletes an object.
type EventType string

// The event types.
const (
	// EventPut: the object was created or changed (or, after a re-list, is
	// present).
	EventPut EventType = "put"
	// EventDelete: the object was deleted (or, after a re-list, is gone).
	EventDelete EventType = "delete"
)

// Event is one change to the specs of a kind, as delivered by Watch.
type Event struct {
	Type EventType
	Kind api.Kind
	Name string
	// Object is the object as stored, spec and metadata only: its status is
	// always empty (status changes are not events; read it with Get). It
	// is nil for EventDelete.
	Object api.Object
	// Revision is the etcd revision of the change. For the synthetic
	// events of a re-list it is the revision of that list.
	Revision int64
}

// errWatchClosed says that etcd's watch channel closed without a reason,
// which happens when the watch's server-side stream fails for good.
var errWatchClosed = errors.New("store: watch closed")

// Watch streams the changes to the specs of kind made after revision rev,
// as returned by List, in revision order. A rev of 0 or less starts from
// the current revision.
//
// etcd's client reconnects and resumes the watch by itself when a
// connection breaks; Watch re-opens it, after a short backoff, if the
// client gives up. When the revision to resume from has been compacted
// away, Watch re-lists the kind and emits a synthetic EventPut for every
// stored object, then an EventDelete for every object it knew about (stored
// at rev, or put since) that is gone, and resumes from the list's revision.
// Consumers must therefore treat events as level-triggered: a put may
// repeat an unchanged object. If rev itself is already compacted when Watch
// starts, the objects deleted in between cannot be known and no EventDelete
// is emitted for them; a periodic resync covers that case.
//
// A value that does not decode as kind (written around the store) is
// skipped. Events are delivered unbuffered: a slow consumer slows the
// watch, and nothing is dropped. The channel closes when ctx is done or the
// client is closed, and at once if kind is unknown.
func (s *Store) Watch(ctx context.Context, kind api.Kind, rev int64) <-chan Event {
	out := make(chan Event)
	w := &watcher{s: s, kind: kind, prefix: s.SpecPrefix(kind), out: out, seen: make(map[string]bool)}
	go w.run(ctx, rev, checkKind(kind) == nil)
	return out
}

// watcher is the state of one Watch.
type watcher struct {
	s      *Store
	kind   api.Kind
	prefix string
	out    chan<- Event
	// seen holds the names whose latest known state is "stored": the
	// objects a re-list must emit an EventDelete for if they are gone.
	seen map[string]bool
}

func (w *watcher) run(ctx context.Context, rev int64, validKind bool) {
	defer close(w.out)
	if !validKind {
		return
	}
	// The client's retries of a request outlive the client itself unless
	// the request's context ends with it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(w.s.cl.Ctx(), cancel)()
	rev, ok := w.start(ctx, rev)
	for attempt := 1; ok; {
		if w.s.beforeWatch != nil {
			w.s.beforeWatch(rev)
		}
		var err error
		var progressed bool
		rev, progressed, err = w.stream(ctx, rev)
		if w.done(ctx) {
			return
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			rev, ok = w.relist(ctx)
			attempt = 1
			continue
		}
		if progressed {
			attempt = 1
		}
		ok = sleep(ctx, watchBackoff(attempt)) == nil
		attempt++
	}
}

// done reports whether the watch must end: ctx (which ends with the
// client, see run) is done.
func (w *watcher) done(ctx context.Context) bool { return ctx.Err() != nil }

// start learns which objects were stored at rev, for a later re-list to
// compare with, and returns the revision to watch after.
func (w *watcher) start(ctx context.Context, rev int64) (int64, bool) {
	for attempt := 1; ; attempt++ {
		opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := w.s.cl.Get(ctx, w.prefix, opts...)
		switch {
		case err == nil:
			for _, kv := range resp.Kvs {
				if name, ok := childName(kv.Key, w.prefix); ok {
					w.seen[name] = true
				}
			}
			if rev <= 0 {
				rev = resp.Header.Revision
			}
			return rev, true
		case errors.Is(err, rpctypes.ErrCompacted):
			return w.relist(ctx)
		case errors.Is(err, rpctypes.ErrFutureRev):
			// Nothing is stored "at" a revision that does not exist
			// yet; the watch will wait for it.
			return rev, true
		}
		if w.done(ctx) || sleep(ctx, watchBackoff(attempt)) != nil {
			return 0, false
		}
	}
}

// stream watches from rev+1 and emits events until the watch ends. It
// returns the revision of the last event handled, whether it handled any,
// and why the watch ended.
func (w *watcher) stream(ctx context.Context, rev int64) (int64, bool, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	progressed := false
	for resp := range w.s.cl.Watch(wctx, w.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := resp.Err(); err != nil {
			return rev, progressed, err
		}
		for _, ev := range resp.Events {
			if !w.handle(ctx, ev) {
				return rev, progressed, ctx.Err()
			}
			rev = ev.Kv.ModRevision
			progressed = true
		}
	}
	return rev, progressed, errWatchClosed
}

// handle emits the event for ev; it returns false when ctx ended first.
func (w *watcher) handle(ctx context.Context, ev *clientv3.Event) bool {
	name, ok := childName(ev.Kv.Key, w.prefix)
	if !ok {
		return true
	}
	if ev.Type == mvccpb.DELETE {
		delete(w.seen, name)
		return w.emit(ctx, Event{Type: EventDelete, Kind: w.kind, Name: name, Revision: ev.Kv.ModRevision})
	}
	w.seen[name] = true
	o, err := decodeSpec(w.kind, name, ev.Kv)
	if err != nil {
		return true
	}
	return w.emit(ctx, Event{Type: EventPut, Kind: w.kind, Name: name, Object: o, Revision: ev.Kv.ModRevision})
}

// relist emits the state of the kind now, as described on Watch, and
// returns the list's revision.
func (w *watcher) relist(ctx context.Context) (int64, bool) {
	var resp *clientv3.GetResponse
	for attempt := 1; ; attempt++ {
		var err error
		if resp, err = w.s.cl.Get(ctx, w.prefix, clientv3.WithPrefix()); err == nil {
			break
		}
		if w.done(ctx) || sleep(ctx, watchBackoff(attempt)) != nil {
			return 0, false
		}
	}
	rev := resp.Header.Revision
	present := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		name, ok := childName(kv.Key, w.prefix)
		if !ok {
			continue
		}
		present[name] = true
		o, err := decodeSpec(w.kind, name, kv)
		if err != nil {
			continue
		}
		if !w.emit(ctx, Event{Type: EventPut, Kind: w.kind, Name: name, Object: o, Revision: rev}) {
			return 0, false
		}
	}
	var gone []string
	for name := range w.seen {
		if !present[name] {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		if !w.emit(ctx, Event{Type: EventDelete, Kind: w.kind, Name: name, Revision: rev}) {
			return 0, false
		}
	}
	w.seen = present
	return rev, true
}

func (w *watcher) emit(ctx context.Context, ev Event) bool {
	select {
	case w.out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// watchBackoff is the wait before re-opening a failed watch: doubling from
// 100 ms to at most 5 s, so a persistently failing watch costs little.
func watchBackoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<min(attempt-1, 6), 5*time.Second)
}
