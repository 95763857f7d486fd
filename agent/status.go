package agent

import (
	"context"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// maxFilesInReport caps the per-file details of a report, to keep etcd
// values small; the totals always cover every file.
const maxFilesInReport = 50

// statusLoop writes, every StatusInterval, the report of each entry whose
// report changed, on the registration lease.
func (a *Agent) statusLoop(ctx context.Context) {
	last := map[string]api.CollectEntryAgentStatus{}
	t := time.NewTicker(a.opts.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lease := a.currentLease()
		if lease == clientv3.NoLease {
			continue
		}
		a.mu.Lock()
		entries := make([]*entryState, 0, len(a.entries))
		for _, e := range a.entries {
			entries = append(entries, e)
		}
		a.mu.Unlock()
		for _, e := range entries {
			rep, cond, ok := a.report(e)
			if !ok {
				continue
			}
			prev, seen := last[e.name]
			rep.Conditions = slices.Clone(prev.Conditions)
			api.SetCondition(&rep.Conditions, cond, time.Now())
			rep.UpdateTime = prev.UpdateTime
			if seen && reflect.DeepEqual(prev, rep) {
				continue
			}
			rep.UpdateTime = time.Now().UTC().Truncate(time.Second)
			wctx, cancel := context.WithTimeout(ctx, listTimeout)
			err := a.opts.Store.SetReport(wctx, api.KindCollectEntry, e.name, a.opts.Name, rep, lease)
			cancel()
			if err != nil {
				a.log.Debug("cannot write report", "entry", e.name, "err", err)
				continue
			}
			last[e.name] = rep
		}
	}
}

// report builds the entry's report: files, bytes read and behind, events
// shipped, last error and the Ready condition.
func (a *Agent) report(e *entryState) (api.CollectEntryAgentStatus, api.Condition, bool) {
	e.mu.Lock()
	spec := e.spec
	lastErr := e.lastError
	refused := slices.Clone(e.refused)
	shipped := e.shipped
	tailers := make([]*runningTailer, 0, len(e.tailers))
	for _, t := range e.tailers {
		tailers = append(tailers, t)
	}
	e.mu.Unlock()
	if spec == nil {
		return api.CollectEntryAgentStatus{}, api.Condition{}, false
	}
	rep := api.CollectEntryAgentStatus{
		Agent:              a.opts.Name,
		ObservedGeneration: spec.Metadata.Generation,
		FilesTailed:        len(tailers),
		LinesShipped:       shipped,
		LastError:          lastErr,
	}
	checkpoints := map[string]int64{}
	for _, p := range a.ckpt.Positions(e.name) {
		checkpoints[p.FileID] = p.Offset
	}
	slices.SortFunc(tailers, func(x, y *runningTailer) int { return strings.Compare(x.path, y.path) })
	for _, t := range tailers {
		size := max(t.size.Load(), t.tailer.Size())
		// A file read and acknowledged to its last known size is idle, and
		// its tailer hears of growth; the others are looked at, for the
		// bytes behind a tailer held up by Kafka. Looking at 10,000 idle
		// files every interval was a good part of an idle agent's work.
		if read := t.tailer.Offset(); checkpoints[t.fileID] < read || read < size {
			if fi, err := os.Stat(t.path); err == nil && sameInode(fi, t.identity.Inode) {
				size = fi.Size()
				t.size.Store(size)
			}
		}
		// Keep the checkpoint's fingerprint growing with the file, so
		// that a file first seen short is still recognised once rotated.
		_ = a.ckpt.Update(e.name, t.fileID, t.path, t.tailer.Identity())
		read := t.tailer.Offset()
		behind := max(size-checkpoints[t.fileID], 0)
		rep.BytesRead += read
		rep.BytesBehind += behind
		if len(rep.Files) < maxFilesInReport {
			rep.Files = append(rep.Files, api.FileStatus{Path: t.path, Offset: checkpoints[t.fileID], Size: size, BytesBehind: behind})
		}
	}
	var cond api.Condition
	switch {
	case len(refused) > 0:
		cond = api.NotReady(api.ReasonPathNotAllowed,
			"refused, outside --allow-path "+a.opts.Allow.String()+": "+strings.Join(refused, ", "))
	case lastErr != "":
		cond = api.NotReady(api.ReasonKafkaError, lastErr)
	case len(tailers) == 0:
		cond = api.NotReady(api.ReasonNoFiles, "no file matches spec.paths on this agent")
	default:
		cond = api.Ready(api.ReasonTailing, "")
	}
	return rep, cond, true
}
