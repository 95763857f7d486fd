package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// Action says what Apply did, or in a dry run would do, to one object.
type Action string

// The actions of a Result.
const (
	// ActionCreated: the object was not stored and now is, at generation 1.
	ActionCreated Action = "created"
	// ActionConfigured: the stored object changed. Its generation rose by
	// one if its spec changed and stayed if only labels or annotations did.
	ActionConfigured Action = "configured"
	// ActionUnchanged: the stored object already was as applied; nothing
	// was written for it.
	ActionUnchanged Action = "unchanged"
	// ActionDeleted: the object was pruned (ApplyOptions.Prune).
	ActionDeleted Action = "deleted"
)

// Result is the outcome of Apply for one object.
type Result struct {
	// Object is the object as stored after the apply (without status), or
	// for ActionDeleted as it was stored before.
	Object api.Object
	// Action says what happened to it.
	Action Action
}

// String returns "collectentry/web-app created", the way logpipectl
// reports an apply.
func (r Result) String() string { return api.Ref(r.Object) + " " + string(r.Action) }

// ApplyOptions modify Apply. The zero value applies the objects and
// nothing else.
type ApplyOptions struct {
	// DryRun computes the results, conflicts and errors as Apply would, and
	// writes nothing.
	DryRun bool
	// ApplySet, when set, is written as the ApplySetLabel of every applied
	// object, marking it as a member of that set.
	ApplySet string
	// Prune, which requires ApplySet, deletes every stored object of any
	// kind that carries ApplySetLabel=ApplySet and is not among the applied
	// objects, in the same transaction.
	Prune bool
}

// applyAttempts bounds how often Apply re-reads and retries when another
// writer changed one of its objects between its read and its transaction.
const applyAttempts = 10

// Apply writes objs, which must be defaulted and valid, to the store in one
// etcd transaction: every object (and every pruned deletion) is written, or
// none is. For each object it compares the spec, labels and annotations with
// the stored object and creates it (generation 1, creationTimestamp now),
// configures it (generation +1 if the spec changed; creationTimestamp kept)
// or leaves it unchanged (nothing written). Status is never written (it is
// stripped), nor is resourceVersion, which is etcd's mod revision.
//
// An object with a non-zero ResourceVersion is applied only if its stored
// mod revision still equals it; otherwise Apply returns a *ConflictError
// (errors.Is ErrConflict) and writes nothing. Objects with ResourceVersion 0
// carry no precondition: when another writer changes one of the objects
// between Apply's read and its transaction, Apply reads again and retries,
// up to 10 times with a short jittered backoff, so that no concurrent update
// is lost, and then gives up with an error.
//
// Apply calls Validate on every object again and refuses to write anything
// if one is invalid, if two objects share kind and name, or if the
// transaction would exceed MaxTxnOps. It does not modify objs.
//
// The results are in the order of objs, followed by the pruned objects
// (ActionDeleted) sorted by kind and then name. Written objects carry their
// new generation and, as ResourceVersion, the revision of the transaction;
// in a dry run written objects carry ResourceVersion 0, since no revision
// was made.
func (s *Store) Apply(ctx context.Context, objs []api.Object, opts ApplyOptions) ([]Result, error) {
	if opts.Prune && opts.ApplySet == "" {
		return nil, errors.New("store: apply: prune needs an applyset")
	}
	in, err := s.prepare(objs, opts)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	for attempt := 1; ; attempt++ {
		p, err := s.plan(ctx, in, opts, now)
		if err != nil {
			return nil, err
		}
		if err := p.checkSize(); err != nil {
			return nil, err
		}
		if opts.DryRun || len(p.ops) == 0 {
			return p.results, nil
		}
		if s.beforeCommit != nil {
			s.beforeCommit(attempt)
		}
		resp, err := s.cl.Txn(ctx).If(p.cmps...).Then(p.ops...).Commit()
		if errors.Is(err, rpctypes.ErrTooManyOps) {
			return nil, fmt.Errorf("store: apply: %d objects do not fit in one etcd transaction, whose limit (--max-txn-ops) is lower than %d; apply fewer objects at once: %w", len(p.results), MaxTxnOps, err)
		}
		if err != nil {
			return nil, fmt.Errorf("store: apply: %w", err)
		}
		if resp.Succeeded {
			for _, o := range p.written {
				o.Meta().ResourceVersion = resp.Header.Revision
			}
			return p.results, nil
		}
		if attempt == applyAttempts {
			return nil, fmt.Errorf("store: apply: other writers changed these objects during each of %d attempts; try again", applyAttempts)
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return nil, fmt.Errorf("store: apply: %w", err)
		}
	}
}

// input is one object to apply, as prepared from the caller's object.
type input struct {
	obj    api.Object // a copy: labelled, without status and resourceVersion
	wantRV int64      // the caller's resourceVersion precondition, 0 for none
	key    string
}

// prepare copies, labels and validates the objects.
func (s *Store) prepare(objs []api.Object, opts ApplyOptions) ([]input, error) {
	if len(objs) > MaxTxnOps {
		return nil, tooManyError(len(objs), "objects")
	}
	in := make([]input, 0, len(objs))
	seen := make(map[string]bool, len(objs))
	var errs []error
	for i, o := range objs {
		if o == nil {
			errs = append(errs, fmt.Errorf("object %d is nil", i))
			continue
		}
		c := o.DeepCopyObject()
		m := c.Meta()
		want := m.ResourceVersion
		m.ResourceVersion = 0
		clearStatus(c)
		if opts.ApplySet != "" {
			m.Labels = maps.Clone(m.Labels)
			if m.Labels == nil {
				m.Labels = make(map[string]string, 1)
			}
			m.Labels[ApplySetLabel] = opts.ApplySet
		}
		// Validating after labelling also checks the applyset as a label
		// value.
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", api.Ref(c), err))
			continue
		}
		if err := checkName(c.ObjectKind().Lower(), m.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		key := s.SpecKey(c.ObjectKind(), m.Name)
		if seen[key] {
			errs = append(errs, fmt.Errorf("%s: given more than once", api.Ref(c)))
			continue
		}
		seen[key] = true
		in = append(in, input{obj: c, wantRV: want, key: key})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("store: apply: nothing written: %w", errors.Join(errs...))
	}
	return in, nil
}

// tooManyError refuses an apply that needs more than MaxTxnOps operations
// or comparisons: splitting it would give up all-or-nothing.
func tooManyError(n int, what string) error {
	return fmt.Errorf("store: apply: %d %s do not fit in one etcd transaction of at most %d; apply fewer objects at once", n, what, MaxTxnOps)
}

// plan is one attempt's transaction and the results it will have.
type plan struct {
	results []Result
	written []api.Object // the results' objects that the transaction writes
	cmps    []clientv3.Cmp
	ops     []clientv3.Op
}

func (p *plan) checkSize() error {
	if n := max(len(p.cmps), len(p.ops)); n > MaxTxnOps {
		return tooManyError(n, "operations")
	}
	return nil
}

// stored is an object as read by Apply.
type stored struct {
	obj    api.Object
	modRev int64
}

// plan reads the stored objects and computes what to write. Each read key
// gets a comparison on its mod revision (or on its absence), so that the
// transaction fails, and Apply retries, if another writer got in between.
func (s *Store) plan(ctx context.Context, in []input, opts ApplyOptions, now time.Time) (*plan, error) {
	cur, err := s.readForApply(ctx, in, opts.Prune)
	if err != nil {
		return nil, err
	}
	p := &plan{results: make([]Result, 0, len(in))}
	var conflicts []error
	for _, x := range in {
		m := x.obj.Meta()
		old, ok := cur[x.key]
		if x.wantRV != 0 && x.wantRV != old.modRev {
			conflicts = append(conflicts, &ConflictError{Kind: x.obj.ObjectKind(), Name: m.Name, Want: x.wantRV, Have: old.modRev})
			continue
		}
		if !ok {
			o := x.obj.DeepCopyObject()
			o.Meta().Generation = 1
			o.Meta().CreationTimestamp = now
			if err := p.put(x.key, o, clientv3.Compare(clientv3.CreateRevision(x.key), "=", 0)); err != nil {
				return nil, err
			}
			p.results = append(p.results, Result{Object: o, Action: ActionCreated})
			continue
		}
		specChanged, err := specDiffers(old.obj, x.obj)
		if err != nil {
			return nil, err
		}
		om := old.obj.Meta()
		if !specChanged && maps.Equal(om.Labels, m.Labels) && maps.Equal(om.Annotations, m.Annotations) {
			// Compared although not written: the outcome "unchanged" must
			// hold at the revision the other objects are written at.
			p.cmps = append(p.cmps, clientv3.Compare(clientv3.ModRevision(x.key), "=", old.modRev))
			p.results = append(p.results, Result{Object: old.obj.DeepCopyObject(), Action: ActionUnchanged})
			continue
		}
		o := x.obj.DeepCopyObject()
		o.Meta().Generation = om.Generation
		if specChanged {
			o.Meta().Generation++
		}
		o.Meta().CreationTimestamp = om.CreationTimestamp
		if err := p.put(x.key, o, clientv3.Compare(clientv3.ModRevision(x.key), "=", old.modRev)); err != nil {
			return nil, err
		}
		p.results = append(p.results, Result{Object: o, Action: ActionConfigured})
	}
	if len(conflicts) > 0 {
		return nil, errors.Join(conflicts...)
	}
	if opts.Prune {
		if err := s.prune(p, in, cur, opts.ApplySet); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// put adds the write of o, guarded by cmp.
func (p *plan) put(key string, o api.Object, cmp clientv3.Cmp) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("store: apply: encode %s: %w", api.Ref(o), err)
	}
	p.cmps = append(p.cmps, cmp)
	p.ops = append(p.ops, clientv3.OpPut(key, string(b)))
	p.written = append(p.written, o)
	return nil
}

// prune adds the deletion of every stored member of applySet that is not
// applied, with its status and reports.
func (s *Store) prune(p *plan, in []input, cur map[string]stored, applySet string) error {
	applied := make(map[string]bool, len(in))
	for _, x := range in {
		applied[x.key] = true
	}
	var gone []stored
	for key, st := range cur {
		if !applied[key] && st.obj.Meta().Labels[ApplySetLabel] == applySet {
			gone = append(gone, st)
		}
	}
	slices.SortFunc(gone, func(a, b stored) int {
		if c := strings.Compare(string(a.obj.ObjectKind()), string(b.obj.ObjectKind())); c != 0 {
			return c
		}
		return strings.Compare(a.obj.Meta().Name, b.obj.Meta().Name)
	})
	for _, st := range gone {
		kind, name := st.obj.ObjectKind(), st.obj.Meta().Name
		key := s.SpecKey(kind, name)
		b, err := json.Marshal(st.obj)
		if err != nil {
			return fmt.Errorf("store: apply: encode %s: %w", api.Ref(st.obj), err)
		}
		p.cmps = append(p.cmps, clientv3.Compare(clientv3.ModRevision(key), "=", st.modRev))
		p.ops = append(p.ops, s.deleteOps(kind, name, b)...)
		p.results = append(p.results, Result{Object: st.obj, Action: ActionDeleted})
	}
	return nil
}

// readForApply reads, at one revision, the stored objects Apply compares
// with: those named by in, or with prune every stored object of every kind
// (the candidates for pruning). The map is keyed by spec key.
func (s *Store) readForApply(ctx context.Context, in []input, prune bool) (map[string]stored, error) {
	var ops []clientv3.Op
	if prune {
		for _, k := range api.Kinds() {
			ops = append(ops, clientv3.OpGet(s.SpecPrefix(k), clientv3.WithPrefix()))
		}
	} else {
		for _, x := range in {
			ops = append(ops, clientv3.OpGet(x.key))
		}
	}
	cur := make(map[string]stored)
	if len(ops) == 0 {
		return cur, nil
	}
	resp, err := s.cl.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("store: apply: read stored objects: %w", err)
	}
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().GetKvs() {
			kind, name, ok := s.parseSpecKey(string(kv.Key))
			if !ok {
				continue
			}
			o, err := decodeSpec(kind, name, kv)
			if err != nil {
				return nil, err
			}
			cur[string(kv.Key)] = stored{obj: o, modRev: kv.ModRevision}
		}
	}
	return cur, nil
}

// parseSpecKey returns the kind and name of a spec key.
func (s *Store) parseSpecKey(key string) (api.Kind, string, bool) {
	for _, k := range api.Kinds() {
		if prefix := s.SpecPrefix(k); strings.HasPrefix(key, prefix) {
			name, ok := childName([]byte(key), prefix)
			return k, name, ok
		}
	}
	return "", "", false
}

// specDiffers compares the canonical JSON of two objects' specs.
func specDiffers(a, b api.Object) (bool, error) {
	ja, err := a.SpecJSON()
	if err != nil {
		return false, fmt.Errorf("store: apply: encode spec of %s: %w", api.Ref(a), err)
	}
	jb, err := b.SpecJSON()
	if err != nil {
		return false, fmt.Errorf("store: apply: encode spec of %s: %w", api.Ref(b), err)
	}
	return !bytes.Equal(ja, jb), nil
}

// backoff returns a random delay that grows with the attempt, from up to
// 10 ms to at most 500 ms; the randomness keeps retrying writers from
// colliding again in lockstep.
func backoff(attempt int) time.Duration {
	limit := min(5*time.Millisecond<<min(attempt, 10), 500*time.Millisecond)
	return limit/2 + rand.N(limit/2)
}

// sleep waits for d or until ctx is done, returning ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
