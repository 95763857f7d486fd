package store_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/store"
)

func TestApplyLifecycle(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	cl := s.Client()
	before := time.Now().UTC().Truncate(time.Second)

	res := apply(t, s, store.ApplyOptions{}, topic("web_log", 1, nil))
	if got, want := outcomes(res), []string{"topic/web_log created"}; !slices.Equal(got, want) {
		t.Fatalf("first apply = %v, want %v", got, want)
	}
	created := res[0].Object.Meta()
	if created.Generation != 1 || created.ResourceVersion != srv.Revision(t) {
		t.Fatalf("created: generation %d, resourceVersion %d; want 1, %d", created.Generation, created.ResourceVersion, srv.Revision(t))
	}
	ts := created.CreationTimestamp
	if ts.Before(before) || ts.After(time.Now()) || ts.Location() != time.UTC || ts.Nanosecond() != 0 {
		t.Fatalf("creationTimestamp = %v, want now in UTC, whole seconds", ts)
	}

	// Stored values hold neither status nor resourceVersion.
	raw := rawValue(t, cl, s.SpecKey(api.KindTopic, "web_log"))
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		t.Fatal(err)
	}
	if _, ok := fields["status"]; ok {
		t.Errorf("stored value has a status: %s", raw)
	}
	if strings.Contains(raw, "resourceVersion") {
		t.Errorf("stored value has a resourceVersion: %s", raw)
	}

	// The same object again, or as read back (with status and
	// resourceVersion), is unchanged and writes nothing.
	rev := srv.Revision(t)
	got := get(t, s, api.KindTopic, "web_log").(*api.Topic)
	got.Status.Partitions = 7
	for _, o := range []api.Object{topic("web_log", 1, nil), got} {
		res = apply(t, s, store.ApplyOptions{}, o)
		if got, want := outcomes(res), []string{"topic/web_log unchanged"}; !slices.Equal(got, want) {
			t.Fatalf("re-apply = %v, want %v", got, want)
		}
	}
	if srv.Revision(t) != rev {
		t.Fatalf("unchanged apply moved the revision from %d to %d", rev, srv.Revision(t))
	}
	if m := res[0].Object.Meta(); m.Generation != 1 || m.ResourceVersion != rev {
		t.Fatalf("unchanged: generation %d, resourceVersion %d; want 1, %d", m.Generation, m.ResourceVersion, rev)
	}
}

func TestApplyGivenTwiceIsRefused(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	rev := srv.Revision(t)
	_, err := s.Apply(t.Context(), []api.Object{topic("a", 1, nil), topic("a", 2, nil)}, store.ApplyOptions{})
	if want := "store: apply: nothing written: topic/a: given more than once"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if srv.Revision(t) != rev {
		t.Fatal("a refused apply wrote something")
	}
}

func TestApplyGenerations(t *testing.T) {
	t.Parallel()
	_, s := newStore(t)
	first := apply(t, s, store.ApplyOptions{}, topic("t", 1, nil))[0].Object.Meta()

	steps := []struct {
		name    string
		obj     *api.Topic
		action  store.Action
		wantGen int64
	}{
		{"spec change", topic("t", 2, nil), store.ActionConfigured, 2},
		{"same spec", topic("t", 2, nil), store.ActionUnchanged, 2},
		{"labels only", topic("t", 2, map[string]string{"team": "web"}), store.ActionConfigured, 2},
		{"annotations only", func() *api.Topic {
			o := topic("t", 2, map[string]string{"team": "web"})
			o.Metadata.Annotations = map[string]string{"owner": "ops"}
			return o
		}(), store.ActionConfigured, 2},
		{"spec and labels", topic("t", 3, nil), store.ActionConfigured, 3},
		{"spec back", topic("t", 1, nil), store.ActionConfigured, 4},
	}
	prevRV := first.ResourceVersion
	for _, st := range steps {
		res := apply(t, s, store.ApplyOptions{}, st.obj)
		m := res[0].Object.Meta()
		if res[0].Action != st.action || m.Generation != st.wantGen {
			t.Fatalf("%s: %s at generation %d, want %s at %d", st.name, res[0].Action, m.Generation, st.action, st.wantGen)
		}
		if st.action == store.ActionUnchanged && m.ResourceVersion != prevRV {
			t.Fatalf("%s: resourceVersion %d, want the stored %d", st.name, m.ResourceVersion, prevRV)
		}
		if st.action != store.ActionUnchanged && m.ResourceVersion <= prevRV {
			t.Fatalf("%s: resourceVersion %d, want above %d", st.name, m.ResourceVersion, prevRV)
		}
		prevRV = m.ResourceVersion
		stored := get(t, s, api.KindTopic, "t").Meta()
		if stored.Generation != st.wantGen || stored.ResourceVersion != m.ResourceVersion {
			t.Fatalf("%s: stored generation %d, resourceVersion %d; want %d, %d", st.name, stored.Generation, stored.ResourceVersion, st.wantGen, m.ResourceVersion)
		}
		if !stored.CreationTimestamp.Equal(first.CreationTimestamp) {
			t.Fatalf("%s: creationTimestamp %v, want the original %v", st.name, stored.CreationTimestamp, first.CreationTimestamp)
		}
	}
}

func TestApplyStaleResourceVersion(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	old := apply(t, s, store.ApplyOptions{}, entry("web-app", nil))[0].Object
	cur := apply(t, s, store.ApplyOptions{}, entry("web-app", map[string]string{"v": "2"}))[0].Object
	stale := old.Meta().ResourceVersion
	have := cur.Meta().ResourceVersion

	// A batch with a new object and a stale one writes neither.
	edit := entry("web-app", map[string]string{"v": "3"})
	edit.Metadata.ResourceVersion = stale
	rev := srv.Revision(t)
	_, err := s.Apply(t.Context(), []api.Object{topic("new", 1, nil), edit}, store.ApplyOptions{})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	var ce *store.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %#v, want a *ConflictError", err)
	}
	if want := (store.ConflictError{Kind: api.KindCollectEntry, Name: "web-app", Want: stale, Have: have}); *ce != want {
		t.Fatalf("conflict = %+v, want %+v", *ce, want)
	}
	if got, want := err.Error(), fmt.Sprintf(`store: collectentry "web-app": resourceVersion %d is stale, the stored object is at %d`, stale, have); got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
	if srv.Revision(t) != rev {
		t.Fatalf("conflicting batch moved the revision from %d to %d", rev, srv.Revision(t))
	}
	if _, err := s.Get(t.Context(), api.KindTopic, "new"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get(new) after a failed batch: err = %v, want ErrNotFound", err)
	}

	// The current resourceVersion is accepted.
	edit.Metadata.ResourceVersion = have
	res := apply(t, s, store.ApplyOptions{}, edit)
	if res[0].Action != store.ActionConfigured {
		t.Fatalf("apply at the current resourceVersion: %s, want configured", res[0].Action)
	}

	// A resourceVersion for an object that is not stored conflicts too.
	ghost := topic("ghost", 1, nil)
	ghost.Metadata.ResourceVersion = 5
	_, err = s.Apply(t.Context(), []api.Object{ghost}, store.ApplyOptions{})
	if !errors.As(err, &ce) || ce.Have != 0 || ce.Want != 5 {
		t.Fatalf("err = %v, want a *ConflictError with Have 0", err)
	}
}

func TestApplyRefusesInvalidObjects(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	bad := topic("bad", 1, nil)
	bad.Spec.Partitions = -3
	rev := srv.Revision(t)
	_, err := s.Apply(t.Context(), []api.Object{topic("good", 1, nil), bad}, store.ApplyOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "store: apply: nothing written: topic/bad: ") || !strings.Contains(err.Error(), "spec.partitions") {
		t.Fatalf("err = %v, want a refusal naming topic/bad and spec.partitions", err)
	}
	if srv.Revision(t) != rev {
		t.Fatal("an invalid batch wrote something")
	}
}

func TestApplyRefusesOversizedTransaction(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	objs := make([]api.Object, store.MaxTxnOps+1)
	for i := range objs {
		objs[i] = topic(fmt.Sprintf("t%03d", i), 1, nil)
	}
	rev := srv.Revision(t)
	_, err := s.Apply(t.Context(), objs, store.ApplyOptions{})
	if want := "store: apply: 129 objects do not fit in one etcd transaction of at most 128; apply fewer objects at once"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if srv.Revision(t) != rev {
		t.Fatal("an oversized batch wrote something")
	}
	// MaxTxnOps objects fit.
	res := apply(t, s, store.ApplyOptions{}, objs[:store.MaxTxnOps]...)
	if len(res) != store.MaxTxnOps || srv.Revision(t) != rev+1 {
		t.Fatalf("%d objects: %d results, revision %d; want %d results in one revision %d", store.MaxTxnOps, len(res), srv.Revision(t), store.MaxTxnOps, rev+1)
	}
}

func TestApplyDryRun(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	apply(t, s, store.ApplyOptions{}, topic("keep", 1, nil), topic("change", 1, nil), topic("prune-me", 1, nil))
	apply(t, s, store.ApplyOptions{ApplySet: "set"}, topic("prune-me", 1, nil))
	batch := []api.Object{topic("keep", 1, nil), topic("change", 2, nil), topic("new", 1, nil)}
	opts := store.ApplyOptions{ApplySet: "set", Prune: true}
	want := []string{"topic/keep configured", "topic/change configured", "topic/new created", "topic/prune-me deleted"}

	rev := srv.Revision(t)
	opts.DryRun = true
	dry, err := s.Apply(t.Context(), batch, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(dry); !slices.Equal(got, want) {
		t.Fatalf("dry run = %v, want %v", got, want)
	}
	if srv.Revision(t) != rev {
		t.Fatalf("dry run moved the revision from %d to %d", rev, srv.Revision(t))
	}
	if g := dry[1].Object.Meta().Generation; g != 2 {
		t.Fatalf("dry run: change at generation %d, want 2", g)
	}

	opts.DryRun = false
	real := apply(t, s, opts, batch...)
	if got := outcomes(real); !slices.Equal(got, want) {
		t.Fatalf("apply after dry run = %v, want %v", got, want)
	}
	if srv.Revision(t) != rev+1 {
		t.Fatalf("apply took revisions %d..%d, want exactly one", rev, srv.Revision(t))
	}
}

func TestApplyPrune(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	ctx := t.Context()
	set := store.ApplyOptions{ApplySet: "web"}
	apply(t, s, set, topic("a", 1, nil), topic("b", 1, nil), entry("e", nil))
	apply(t, s, store.ApplyOptions{ApplySet: "other"}, topic("c", 1, nil))
	apply(t, s, store.ApplyOptions{}, topic("d", 1, map[string]string{"team": "web"}))
	if err := s.SetStatus(ctx, api.KindTopic, "b", api.TopicStatus{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetReport(ctx, api.KindCollectEntry, "e", "host-1", api.CollectEntryAgentStatus{FilesTailed: 1}, 0); err != nil {
		t.Fatal(err)
	}
	if a := get(t, s, api.KindTopic, "a"); a.Meta().Labels[store.ApplySetLabel] != "web" {
		t.Fatalf("applied object labels = %v, want %s=web", a.Meta().Labels, store.ApplySetLabel)
	}

	rev := srv.Revision(t)
	set.Prune = true
	res := apply(t, s, set, topic("a", 1, nil))
	want := []string{"topic/a unchanged", "collectentry/e deleted", "topic/b deleted"}
	if got := outcomes(res); !slices.Equal(got, want) {
		t.Fatalf("prune = %v, want %v", got, want)
	}
	if srv.Revision(t) != rev+1 {
		t.Fatalf("prune took revisions %d..%d, want one transaction", rev, srv.Revision(t))
	}
	topics, _, err := s.List(ctx, api.KindTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(topics); !slices.Equal(got, []string{"a", "c", "d"}) {
		t.Fatalf("topics after prune = %v, want [a c d]", got)
	}
	entries, _, err := s.List(ctx, api.KindCollectEntry, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("entries after prune = %v, want none", names(entries))
	}
	for _, key := range []string{s.StatusKey(api.KindTopic, "b"), s.ReportKey(api.KindCollectEntry, "e", "host-1")} {
		if v := rawValue(t, s.Client(), key); v != "" {
			t.Errorf("%s survived the prune: %s", key, v)
		}
	}

	_, err = s.Apply(ctx, nil, store.ApplyOptions{Prune: true})
	if want := "store: apply: prune needs an applyset"; err == nil || err.Error() != want {
		t.Fatalf("prune without applyset: err = %v, want %q", err, want)
	}
}

// TestConcurrentAppliersLoseNothing runs writers that each change a shared
// object and their own object, in one batch, many times. Every change must
// survive as one generation step.
func TestConcurrentAppliersLoseNothing(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	const writers, changes = 4, 8
	seed := []api.Object{topic("shared", 1, nil)}
	for w := range writers {
		seed = append(seed, topic(fmt.Sprintf("own-%d", w), 1, nil))
	}
	apply(t, s, store.ApplyOptions{}, seed...)

	withConfig := func(name, v string) *api.Topic {
		o := topic(name, 1, nil)
		o.Spec.Config = map[string]string{"logpipe.test": v}
		return o
	}
	var wg sync.WaitGroup
	gens := make([][]int64, writers) // generations of "shared" each writer saw
	errs := make([]error, writers)
	for w := range writers {
		ws := store.New(srv.Client(t), "")
		wg.Go(func() {
			for i := range changes {
				v := fmt.Sprintf("w%d-%d", w, i)
				res, err := ws.Apply(t.Context(), []api.Object{withConfig("shared", v), withConfig(fmt.Sprintf("own-%d", w), v)}, store.ApplyOptions{})
				if err != nil {
					errs[w] = err
					return
				}
				if res[0].Action != store.ActionConfigured || res[1].Action != store.ActionConfigured {
					errs[w] = fmt.Errorf("change %s: %v", v, outcomes(res))
					return
				}
				gens[w] = append(gens[w], res[0].Object.Meta().Generation)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if g := get(t, s, api.KindTopic, "shared").Meta().Generation; g != 1+writers*changes {
		t.Fatalf("shared generation = %d, want %d", g, 1+writers*changes)
	}
	var all []int64
	for _, g := range gens {
		all = append(all, g...)
	}
	slices.Sort(all)
	for i, g := range all {
		if g != int64(i+2) {
			t.Fatalf("generations handed out = %v, want each of 2..%d once", all, 1+writers*changes)
		}
	}
	for w := range writers {
		if g := get(t, s, api.KindTopic, fmt.Sprintf("own-%d", w)).Meta().Generation; g != 1+changes {
			t.Errorf("own-%d generation = %d, want %d", w, g, 1+changes)
		}
	}
}

// TestApplyRetriesAfterInterleavedWrite writes between Apply's read and its
// transaction: without a resourceVersion Apply retries and both changes
// count; with one, the interleaved write is a conflict.
func TestApplyRetriesAfterInterleavedWrite(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	other := store.New(srv.Client(t), "")
	apply(t, s, store.ApplyOptions{}, topic("t", 1, nil))

	var attempts []int
	store.SetBeforeCommit(s, func(attempt int) {
		attempts = append(attempts, attempt)
		if attempt == 1 {
			apply(t, other, store.ApplyOptions{}, topic("t", 2, nil))
		}
	})
	res := apply(t, s, store.ApplyOptions{}, topic("t", 3, nil))
	if !slices.Equal(attempts, []int{1, 2}) {
		t.Fatalf("attempts = %v, want [1 2]", attempts)
	}
	if m := res[0].Object.Meta(); res[0].Action != store.ActionConfigured || m.Generation != 3 {
		t.Fatalf("result = %s at generation %d, want configured at 3 (the interleaved change counts)", res[0].Action, m.Generation)
	}
	if tp := get(t, s, api.KindTopic, "t").(*api.Topic); tp.Spec.Partitions != 3 || tp.Metadata.Generation != 3 {
		t.Fatalf("stored partitions %d, generation %d; want 3, 3", tp.Spec.Partitions, tp.Metadata.Generation)
	}

	attempts = nil
	edit := get(t, s, api.KindTopic, "t").(*api.Topic)
	want := edit.Metadata.ResourceVersion
	edit.Spec.Partitions = 5
	var have int64
	store.SetBeforeCommit(s, func(attempt int) {
		attempts = append(attempts, attempt)
		if attempt == 1 {
			have = apply(t, other, store.ApplyOptions{}, topic("t", 4, nil))[0].Object.Meta().ResourceVersion
		}
	})
	_, err := s.Apply(t.Context(), []api.Object{edit}, store.ApplyOptions{})
	var ce *store.ConflictError
	if !errors.As(err, &ce) || ce.Want != want || ce.Have != have {
		t.Fatalf("err = %v, want a *ConflictError from %d to %d", err, want, have)
	}
	if !slices.Equal(attempts, []int{1}) {
		t.Fatalf("attempts = %v, want [1]", attempts)
	}
	if tp := get(t, s, api.KindTopic, "t").(*api.Topic); tp.Spec.Partitions != 4 {
		t.Fatalf("stored partitions %d, want the interleaved 4", tp.Spec.Partitions)
	}
}

func TestApplyNothing(t *testing.T) {
	t.Parallel()
	srv, s := newStore(t)
	rev := srv.Revision(t)
	res, err := s.Apply(t.Context(), nil, store.ApplyOptions{})
	if err != nil || len(res) != 0 || srv.Revision(t) != rev {
		t.Fatalf("Apply(nil) = %v, %v, revision %d→%d; want no results, no error, no write", res, err, rev, srv.Revision(t))
	}
}
