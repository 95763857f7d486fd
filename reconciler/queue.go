package reconciler

import (
	"sync"
	"time"
)

// queue is a de-duplicating work queue of keys, in the manner of client-go's
// workqueue: a key added many times while it waits is handed out once; a key
// is never handed to two workers at once; a key added while a worker holds it
// is handed out again after that worker calls done.
type queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []string            // keys waiting, in arrival order
	dirty      map[string]struct{} // keys that need processing (waiting or re-added while processing)
	processing map[string]struct{} // keys held by a worker
	timers     map[string]delayed  // keys scheduled by addAfter
	shutdown   bool
	onDepth    func(int) // reports the number of waiting keys
}

type delayed struct {
	at    time.Time
	timer *time.Timer
}

func newQueue(onDepth func(int)) *queue {
	q := &queue{
		dirty:      make(map[string]struct{}),
		processing: make(map[string]struct{}),
		timers:     make(map[string]delayed),
		onDepth:    onDepth,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues key unless it is already waiting.
func (q *queue) add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *queue) addLocked(key string) {
	if q.shutdown {
		return
	}
	if _, ok := q.dirty[key]; ok {
		return
	}
	q.dirty[key] = struct{}{}
	if _, ok := q.processing[key]; ok {
		// done will queue it again; queuing it now would let a second
		// worker take it.
		return
	}
	q.order = append(q.order, key)
	q.reportDepth()
	q.cond.Signal()
}

// addAfter queues key after d. If the key is already scheduled earlier, the
// earlier time wins, so a resync or a retry never delays a sooner requeue.
func (q *queue) addAfter(key string, d time.Duration) {
	if d <= 0 {
		q.add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	at := time.Now().Add(d)
	if old, ok := q.timers[key]; ok {
		if !old.at.After(at) {
			return
		}
		old.timer.Stop()
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if cur, ok := q.timers[key]; ok && cur.timer == t {
			delete(q.timers, key)
		}
		q.addLocked(key)
	})
	q.timers[key] = delayed{at: at, timer: t}
}

// get blocks until a key is available and marks it as processing. It returns
// ok == false once the queue is shut down.
func (q *queue) get() (key string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", false
	}
	key = q.order[0]
	q.order[0] = ""
	q.order = q.order[1:]
	delete(q.dirty, key)
	q.processing[key] = struct{}{}
	q.reportDepth()
	return key, true
}

// done releases key; if it was added again meanwhile, it is queued again.
func (q *queue) done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if _, ok := q.dirty[key]; ok && !q.shutdown {
		q.order = append(q.order, key)
		q.reportDepth()
		q.cond.Signal()
	}
}

// len returns the number of waiting keys.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// shutDown makes get return false to every waiting and future caller and
// stops the delay timers. Keys being processed may still call done.
func (q *queue) shutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for k, d := range q.timers {
		d.timer.Stop()
		delete(q.timers, k)
	}
	q.cond.Broadcast()
}

func (q *queue) reportDepth() {
	if q.onDepth != nil {
		q.onDepth(len(q.order))
	}
}

// backoff computes per-key exponential delays: base, 2·base, 4·base, ...
// capped at max, until forget resets the key.
type backoff struct {
	mu       sync.Mutex
	base     time.Duration
	max      time.Duration
	failures map[string]int
}

func newBackoff(base, max time.Duration) *backoff {
	return &backoff{base: base, max: max, failures: make(map[string]int)}
}

// next records one more failure of key and returns how long to wait.
func (b *backoff) next(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.failures[key]
	b.failures[key] = n + 1
	d := b.base
	for i := 0; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// forget resets key's failure count.
func (b *backoff) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.failures, key)
}

// count returns how many times in a row key has failed.
func (b *backoff) count(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures[key]
}
