package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/reconciler"
)

// desiredCache keeps, in DataDir, the CollectEntries that selected this
// agent, so that a restart while etcd is unreachable still tails. Changes
// are written by run, at most once per interval: writing the whole file at
// every change made starting with a thousand entries take minutes.
type desiredCache struct {
	path string

	mu      sync.Mutex
	entries map[string]json.RawMessage
	dirty   bool // entries changed since the last write
}

const desiredFile = "desired.json"

func openDesiredCache(dir string) (*desiredCache, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	c := &desiredCache{path: filepath.Join(dir, desiredFile), entries: map[string]json.RawMessage{}}
	b, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", c.path, err)
	}
	if err := json.Unmarshal(b, &c.entries); err != nil {
		// A damaged cache only costs the ability to start without etcd.
		c.entries = map[string]json.RawMessage{}
	}
	return c, nil
}

func (c *desiredCache) get(name string) (*api.CollectEntry, bool) {
	c.mu.Lock()
	raw, ok := c.entries[name]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	var ce api.CollectEntry
	if json.Unmarshal(raw, &ce) != nil {
		return nil, false
	}
	return &ce, true
}

func (c *desiredCache) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.entries))
	for n := range c.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// put records ce, writing the file only when it changed.
func (c *desiredCache) put(ce *api.CollectEntry) error {
	cp := *ce
	cp.Status = api.CollectEntryStatus{}
	raw, err := json.Marshal(&cp)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if string(c.entries[ce.Metadata.Name]) == string(raw) {
		return nil
	}
	c.entries[ce.Metadata.Name] = raw
	c.dirty = true
	return nil
}

func (c *desiredCache) delete(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[name]; !ok {
		return nil
	}
	delete(c.entries, name)
	c.dirty = true
	return nil
}

// run writes the changes every interval, and once more when ctx ends.
func (c *desiredCache) run(ctx context.Context, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := c.flush(); err != nil {
				log.Warn("cannot write the desired-state cache", "err", err)
			}
			return
		case <-tick.C:
			if err := c.flush(); err != nil {
				log.Warn("cannot write the desired-state cache; retrying", "err", err)
			}
		}
	}
}

// flush writes the entries if they changed since the last write.
func (c *desiredCache) flush() error {
	c.mu.Lock()
	if !c.dirty {
		c.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(c.entries)
	c.dirty = false
	c.mu.Unlock()
	if err == nil {
		err = writeFileAtomic(c.path, b)
	}
	if err != nil {
		c.mu.Lock()
		c.dirty = true
		c.mu.Unlock()
	}
	return err
}

// writeFileAtomic writes b to path so that a crash leaves either the old or
// the new content: a temporary file, fsync, rename, fsync of the directory.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return werr
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// cachedSource feeds the engine the entry names from etcd and, when etcd
// cannot be listed at start, from the cache.
type cachedSource struct {
	cache  *desiredCache
	live   *reconciler.KindSource
	listed chan struct{} // closed once the initial names were enqueued
	once   sync.Once
	// changed is told of every name listed or watched: its spec must be
	// read again. Other wake-ups (the periodic rescan) reuse the last one.
	changed func(name string)
}

func (s *cachedSource) Keys(ctx context.Context) ([]string, error) {
	keys, err := s.live.Keys(ctx)
	if err != nil {
		return nil, err
	}
	// Cached names the store no longer has must be reconciled too: that is
	// how their tailers stop after a deletion missed while etcd was away.
	keys = append(keys, s.cache.names()...)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range keys {
		s.changed(k)
	}
	return keys, nil
}

func (s *cachedSource) Watch(ctx context.Context, enqueue func(string)) error {
	listCtx, cancel := context.WithTimeout(ctx, listTimeout)
	keys, err := s.Keys(listCtx)
	cancel()
	if err != nil {
		keys = s.cache.names()
	}
	for _, k := range keys {
		s.changed(k)
		enqueue(k)
	}
	s.once.Do(func() { close(s.listed) })
	return s.live.Watch(ctx, func(k string) {
		s.changed(k)
		enqueue(k)
	})
}
