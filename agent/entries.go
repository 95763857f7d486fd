package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/logpipe/logpipe/agent/tail"
	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/store"
)

// listTimeout bounds one read of etcd by the reconciler, so that an
// unreachable etcd makes the agent fall back to its cache quickly.
const listTimeout = 5 * time.Second

// entryState is what the agent runs for one CollectEntry.
type entryState struct {
	name string

	mu        sync.Mutex
	spec      *api.CollectEntry
	hash      string // of the spec fields that affect a tailer
	compiled  *compiledEntry
	tailers   map[string]*runningTailer // by file ID
	idle      map[string]idleFile       // closed for inactivity, by file ID
	lastError string
	refused   []string
	shipped   int64
	dirs      map[string]*dirWatch // directories whose events trigger a rescan
}

// dirWatch rescans an entry when a file appears in a directory its globs
// look at, so that a new file is tailed at once rather than at the next
// scanInterval.
type dirWatch struct {
	sub  *tail.Subscription
	stop chan struct{}
}

// rescanEvery limits event-driven rescans of one entry: a directory whose
// files are written to wakes all the time, and the scan interval still
// catches what a coalesced wake-up missed.
const rescanEvery = time.Second

// watchDirs makes the entry's directory subscriptions those of patterns.
func (a *Agent) watchDirs(e *entryState, patterns []string) {
	want := map[string]bool{}
	for _, p := range patterns {
		want[staticPrefix(p)] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for dir, w := range e.dirs {
		if !want[dir] {
			w.sub.Close()
			close(w.stop)
			delete(e.dirs, dir)
		}
	}
	for dir := range want {
		if _, ok := e.dirs[dir]; ok {
			continue
		}
		sub, err := a.watcher.SubscribeDir(dir)
		if err != nil {
			continue // not there yet: the scan interval finds its files
		}
		w := &dirWatch{sub: sub, stop: make(chan struct{})}
		e.dirs[dir] = w
		go func() {
			for {
				select {
				case <-w.stop:
					return
				case <-w.sub.C:
				}
				a.engine.Enqueue(e.name)
				select {
				case <-w.stop:
					return
				case <-time.After(rescanEvery):
				}
			}
		}()
	}
}

// idleFile is a file closed after closeInactive; it is reopened once its
// size differs from the size it had then.
type idleFile struct {
	size int64
}

func newEntryState(name string) *entryState {
	return &entryState{name: name, tailers: map[string]*runningTailer{}, idle: map[string]idleFile{}, dirs: map[string]*dirWatch{}}
}

func (e *entryState) running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.tailers)
}

func (e *entryState) tailerList() []*runningTailer {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*runningTailer, 0, len(e.tailers))
	for _, t := range e.tailers {
		out = append(out, t)
	}
	return out
}

// compiledEntry is the parts of a spec a tailer needs, compiled once.
type compiledEntry struct {
	multiline        *tail.Multiline
	include, exclude []*regexp.Regexp
	format           string
	topic            string
	fields           map[string]string
	maxLineBytes     int
	closeInactive    time.Duration
}

func compileEntry(ce *api.CollectEntry, maxRecordBytes int) (*compiledEntry, error) {
	c := &compiledEntry{
		format: string(ce.Spec.Format),
		topic:  ce.Spec.Topic,
		fields: ce.Spec.Fields,
	}
	if ce.Spec.Multiline != nil {
		m, err := tail.NewMultiline(ce.Spec.Multiline)
		if err != nil {
			return nil, fmt.Errorf("spec.multiline: %w", err)
		}
		c.multiline = m
	}
	for i, p := range ce.Spec.IncludeLines {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("spec.includeLines[%d]: %w", i, err)
		}
		c.include = append(c.include, re)
	}
	for i, p := range ce.Spec.ExcludeLines {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("spec.excludeLines[%d]: %w", i, err)
		}
		c.exclude = append(c.exclude, re)
	}
	c.maxLineBytes = int(min(ce.Spec.MaxLineBytes, int64(maxRecordBytes)))
	if c.maxLineBytes <= 0 {
		c.maxLineBytes = maxRecordBytes
	}
	if ce.Spec.CloseInactive != nil {
		c.closeInactive = ce.Spec.CloseInactive.Duration
	}
	return c, nil
}

// tailerHash hashes the spec fields that change what a tailer does or
// ships; a change of any other field (paths, exclude, agentSelector,
// scanInterval, startAt for files already seen) leaves running tailers
// alone.
func tailerHash(ce *api.CollectEntry) string {
	b, _ := json.Marshal(struct {
		Topic         string
		Format        api.LogFormat
		Multiline     *api.Multiline
		Include       []string
		Exclude       []string
		Fields        map[string]string
		MaxLineBytes  int64
		CloseInactive *api.Duration
	}{ce.Spec.Topic, ce.Spec.Format, ce.Spec.Multiline, ce.Spec.IncludeLines, ce.Spec.ExcludeLines,
		ce.Spec.Fields, ce.Spec.MaxLineBytes, ce.Spec.CloseInactive})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// selected reports whether the entry's agentSelector matches the agent.
func (a *Agent) selected(ce *api.CollectEntry) bool {
	return ce.Spec.AgentSelector.Matches(a.opts.Labels)
}

// fetch returns the entry named name: from etcd, or from the cache when
// etcd cannot answer. It returns nil when the entry does not exist.
func (a *Agent) fetch(ctx context.Context, name string) (*api.CollectEntry, error) {
	gctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	o, err := a.opts.Store.Get(gctx, api.KindCollectEntry, name)
	switch {
	case err == nil:
		return o.(*api.CollectEntry), nil
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	if ce, ok := a.cache.get(name); ok {
		a.log.Debug("etcd unreachable; using the cached entry", "entry", name, "err", err)
		return ce, nil
	}
	return nil, err
}

func (a *Agent) markChanged(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.changed[name] = true
}

// spec returns entry name's spec: read from etcd when it was listed or
// watched since the last read, else the one its tailers run with. The
// periodic rescan of 1,000 entries thus costs no etcd reads; the resync
// lists every entry again.
func (a *Agent) spec(ctx context.Context, name string) (*api.CollectEntry, error) {
	a.mu.Lock()
	changed := a.changed[name]
	delete(a.changed, name)
	var last *api.CollectEntry
	if e, ok := a.entries[name]; ok && !changed {
		e.mu.Lock()
		last = e.spec
		e.mu.Unlock()
	}
	a.mu.Unlock()
	if last != nil {
		return last, nil
	}
	ce, err := a.fetch(ctx, name)
	if err != nil {
		a.markChanged(name) // read it again at the retry
		return nil, err
	}
	if ce != nil && a.selected(ce) {
		if err := a.cache.put(ce); err != nil {
			a.log.Warn("cannot update the desired-state cache", "err", err)
		}
	}
	return ce, nil
}

// reconcile brings the tailers of entry name in line with its spec.
func (a *Agent) reconcile(ctx context.Context, name string) (reconciler.Result, error) {
	ce, err := a.spec(ctx, name)
	if err != nil {
		return reconciler.Result{}, err
	}
	if ce == nil || !a.selected(ce) {
		a.removeEntry(name)
		if err := a.cache.delete(name); err != nil {
			a.log.Warn("cannot update the desired-state cache", "err", err)
		}
		return reconciler.Result{}, nil
	}
	a.mu.Lock()
	e, ok := a.entries[name]
	if !ok {
		e = newEntryState(name)
		a.entries[name] = e
	}
	a.mu.Unlock()

	a.sync(e, ce)
	interval := api.DefaultScanInterval
	if ce.Spec.ScanInterval != nil {
		interval = ce.Spec.ScanInterval.Duration
	}
	return reconciler.Result{RequeueAfter: interval}, nil
}

// removeEntry stops every tailer of an entry that was deleted or no longer
// selects this agent, and forgets its checkpoints and report.
func (a *Agent) removeEntry(name string) {
	a.mu.Lock()
	e, ok := a.entries[name]
	delete(a.entries, name)
	a.mu.Unlock()
	if !ok {
		return
	}
	a.watchDirs(e, nil)
	for _, t := range e.tailerList() {
		t.stop(drainTimeout)
		a.ckpt.Forget(name, t.fileID)
	}
	for _, p := range a.ckpt.Positions(name) {
		a.ckpt.Forget(name, p.FileID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	if err := a.opts.Store.DeleteReport(ctx, api.KindCollectEntry, name, a.opts.Name); err != nil {
		a.log.Debug("cannot delete report", "entry", name, "err", err)
	}
	a.log.Info("stopped entry", "entry", name)
}

// sync diffs the files matching the spec with the running tailers.
func (a *Agent) sync(e *entryState, ce *api.CollectEntry) {
	hash := tailerHash(ce)
	e.mu.Lock()
	restart := e.hash != "" && e.hash != hash
	e.mu.Unlock()
	if restart {
		// Stop outside the lock: stopping waits for in-flight records.
		for _, t := range e.tailerList() {
			t.stop(drainTimeout)
		}
		e.mu.Lock()
		e.tailers = map[string]*runningTailer{}
		e.idle = map[string]idleFile{}
		e.mu.Unlock()
		a.log.Info("restarting the tailers of a changed entry", "entry", e.name)
	}
	compiled, err := compileEntry(ce, a.opts.MaxRecordBytes)

	e.mu.Lock()
	e.spec = ce
	e.hash = hash
	e.compiled = compiled
	e.mu.Unlock()
	if err != nil {
		e.setError(err.Error())
		return
	}

	// A pattern whose directory is outside the allow list is reported as
	// such, not file by file.
	refused := refusedPatterns(ce.Spec.Paths, a.opts.Allow)
	var allowed []string
	for _, p := range ce.Spec.Paths {
		if !slices.Contains(refused, p) {
			allowed = append(allowed, p)
		}
	}
	a.watchDirs(e, allowed)
	files, refusedFiles, scanErr := scan(allowed, ce.Spec.Exclude, a.opts.Allow)
	refused = append(refused, refusedFiles...)
	slices.Sort(refused)
	refused = slices.Compact(refused)

	present := map[string]bool{} // file IDs found by this scan
	var problems []string
	for _, m := range files {
		// A running tailer holds its file open, so its inode cannot have
		// been reused: the inode alone recognises it, without reading.
		if fid := e.runningInode(m.info); fid != "" {
			present[fid] = true
			continue
		}
		fid, err := a.startTailer(e, ce, compiled, m)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", m.path, err))
			continue
		}
		if fid != "" {
			present[fid] = true
		}
	}
	for _, t := range e.tailerList() {
		t.setPresent(present[t.fileID])
	}

	e.mu.Lock()
	e.refused = refused
	switch {
	case len(problems) > 0:
		e.lastError = strings.Join(problems, "; ")
	case scanErr != nil:
		e.lastError = scanErr.Error()
	case len(refused) > 0:
		e.lastError = fmt.Sprintf("outside the allowed paths (%s): %s", a.opts.Allow, strings.Join(refused, ", "))
	default:
		e.lastError = ""
	}
	e.mu.Unlock()
}

func (e *entryState) setError(msg string) {
	e.mu.Lock()
	e.lastError = msg
	e.mu.Unlock()
}

// runningInode returns the file ID of the running tailer that reads the
// inode fi describes, or "".
func (e *entryState) runningInode(fi os.FileInfo) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for fid, t := range e.tailers {
		if sameInode(fi, t.identity.Inode) && sameDevice(fi, t.identity.Dev) {
			return fid
		}
	}
	return ""
}

// startTailer starts reading the file of m, resuming at its checkpoint, and
// returns its file ID ("" when the file is idle and has not changed).
func (a *Agent) startTailer(e *entryState, ce *api.CollectEntry, c *compiledEntry, m match) (string, error) {
	f, err := os.Open(m.resolved)
	if err != nil {
		return "", err
	}
	id, fi, err := tail.Identify(f)
	if err != nil {
		f.Close()
		return "", err
	}
	size := fi.Size()
	var written func() error // set for a new file: its FileID is not on disk yet
	pos, known, err := a.ckpt.Lookup(e.name, m.resolved, id)
	if err != nil {
		f.Close()
		return "", err
	}
	if known && size < pos.Offset {
		// Truncated (copytruncate) while no tailer watched it: the offsets
		// now hold other lines, so the file gets a new ID.
		a.metrics.truncations.Inc()
		a.ckpt.Forget(e.name, pos.FileID)
		known = false
	}
	if known {
		e.mu.Lock()
		idle, wasIdle := e.idle[pos.FileID]
		e.mu.Unlock()
		if wasIdle && idle.size == size {
			f.Close()
			return pos.FileID, nil
		}
	} else {
		start := int64(0)
		if ce.Spec.StartAt == api.StartEnd {
			start = size
		}
		pos, written, err = a.ckpt.RegisterDeferred(e.name, m.resolved, id, start)
		if err != nil {
			f.Close()
			return "", fmt.Errorf("checkpoint: %w", err)
		}
	}
	t, err := a.newRunningTailer(e, c, m.resolved, f, pos)
	if err != nil {
		f.Close()
		return "", err
	}
	t.registered = written
	t.size.Store(size)
	e.mu.Lock()
	delete(e.idle, pos.FileID)
	e.tailers[pos.FileID] = t
	e.mu.Unlock()
	t.start()
	return pos.FileID, nil
}
