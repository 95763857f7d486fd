package tail

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// Watcher turns file system events into wake-ups for many Tailers through
// one fsnotify watcher. Linux caps inotify instances per user (128 by
// default) and watches per user; one instance for the whole agent, with one
// watch per directory shared by every file in it, keeps a host with 10,000
// tailed files far below both.
//
// Events only wake subscribers; subscribers then look at their file
// themselves. So a lost event (a queue overflow, a watch on a directory
// that was deleted) costs latency, never data: Tailers also poll.
type Watcher struct {
	fs   *fsnotify.Watcher
	log  *slog.Logger
	done chan struct{} // closed when the event loop has returned

	mu   sync.Mutex
	dirs map[string]*watchedDir
}

// watchedDir is one directory's watch and its subscribers.
type watchedDir struct {
	watched bool                                  // the fsnotify watch is in place
	files   map[string]map[*Subscription]struct{} // by base name
	all     map[*Subscription]struct{}            // subscribed to the whole directory
}

// Subscription delivers wake-ups for one file or directory on C. C has a
// buffer of one and a wake-up is dropped when one is already pending, so a
// slow subscriber gets one wake-up for a burst of events and never blocks
// the Watcher. C is never closed.
type Subscription struct {
	C <-chan struct{}

	c    chan struct{}
	w    *Watcher
	dir  string
	name string // "" for a directory subscription
	once sync.Once
}

// NewWatcher starts a Watcher. Its event loop runs until Close.
func NewWatcher(logger *slog.Logger) (*Watcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fs, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("tail: watcher: %w", err)
	}
	w := &Watcher{fs: fs, log: logger, done: make(chan struct{}), dirs: make(map[string]*watchedDir)}
	go w.loop()
	return w, nil
}

// Close stops the Watcher and waits for its event loop to return.
// Subscriptions stop receiving wake-ups; closing them afterwards is
// harmless.
func (w *Watcher) Close() error {
	err := w.fs.Close()
	<-w.done
	return err
}

// Subscribe wakes the returned Subscription whenever an event (write,
// create, remove, rename, chmod) names path. It watches path's directory,
// which must exist; path itself need not. Close the Subscription when done.
func (w *Watcher) Subscribe(path string) (*Subscription, error) {
	path = filepath.Clean(path)
	return w.subscribe(filepath.Dir(path), filepath.Base(path))
}

// SubscribeDir wakes the returned Subscription on every event in dir, for
// example to rescan a glob when a file is created. Close it when done.
func (w *Watcher) SubscribeDir(dir string) (*Subscription, error) {
	return w.subscribe(filepath.Clean(dir), "")
}

func (w *Watcher) subscribe(dir, name string) (*Subscription, error) {
	c := make(chan struct{}, 1)
	s := &Subscription{C: c, c: c, w: w, dir: dir, name: name}
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.dirs[dir]
	if d == nil {
		d = &watchedDir{files: make(map[string]map[*Subscription]struct{}), all: make(map[*Subscription]struct{})}
	}
	if !d.watched {
		if err := w.fs.Add(dir); err != nil {
			return nil, fmt.Errorf("tail: watch %s: %w", dir, err)
		}
		d.watched = true
	}
	w.dirs[dir] = d
	if name == "" {
		d.all[s] = struct{}{}
	} else {
		if d.files[name] == nil {
			d.files[name] = make(map[*Subscription]struct{})
		}
		d.files[name][s] = struct{}{}
	}
	return s, nil
}

// Close ends the subscription and drops the directory's watch when it was
// the last one there. It is safe to call more than once.
func (s *Subscription) Close() {
	s.once.Do(func() {
		w := s.w
		w.mu.Lock()
		defer w.mu.Unlock()
		d := w.dirs[s.dir]
		if d == nil {
			return
		}
		if s.name == "" {
			delete(d.all, s)
		} else if subs := d.files[s.name]; subs != nil {
			delete(subs, s)
			if len(subs) == 0 {
				delete(d.files, s.name)
			}
		}
		if len(d.all) == 0 && len(d.files) == 0 {
			delete(w.dirs, s.dir)
			if d.watched {
				// The watch may be gone already (directory deleted, or the
				// Watcher closed); nothing is left to undo then.
				_ = w.fs.Remove(s.dir)
			}
		}
	})
}

func (s *Subscription) wake() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// loop dispatches events until fsnotify closes its channels on Close.
func (w *Watcher) loop() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			w.dispatch(ev)
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: any subscriber may have missed one.
				w.log.Warn("file event queue overflowed; waking every tailer")
				w.wakeAll()
				continue
			}
			w.log.Warn("file events", "err", err)
		}
	}
}

func (w *Watcher) dispatch(ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	w.mu.Lock()
	defer w.mu.Unlock()
	if d := w.dirs[name]; d != nil && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		// The watched directory itself went away, and its watch with it.
		// The next Subscribe there adds the watch again; until then its
		// subscribers rely on polling.
		d.watched = false
		d.wakeAll()
	}
	d := w.dirs[filepath.Dir(name)]
	if d == nil {
		return
	}
	for s := range d.files[filepath.Base(name)] {
		s.wake()
	}
	for s := range d.all {
		s.wake()
	}
}

func (w *Watcher) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range w.dirs {
		d.wakeAll()
	}
}

func (d *watchedDir) wakeAll() {
	for _, subs := range d.files {
		for s := range subs {
			s.wake()
		}
	}
	for s := range d.all {
		s.wake()
	}
}
