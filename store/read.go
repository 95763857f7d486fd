package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// Get returns the object of kind named name, with its status merged in (see
// the package documentation) and Meta().ResourceVersion set to the mod
// revision of its spec key. The object, its status and its reports are read
// at one revision. It returns a *NotFoundError (errors.Is ErrNotFound) when
// the object is not stored.
func (s *Store) Get(ctx context.Context, kind api.Kind, name string) (api.Object, error) {
	if err := checkKindName(kind, name); err != nil {
		return nil, err
	}
	// A prefix range over the status key alone would also catch the status
	// of "web2" when reading "web", hence the exact key plus "web/".
	resp, err := s.cl.Txn(ctx).Then(
		clientv3.OpGet(s.SpecKey(kind, name)),
		clientv3.OpGet(s.StatusKey(kind, name)),
		clientv3.OpGet(s.ReportPrefix(kind, name), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("store: get %s %q: %w", kind.Lower(), name, err)
	}
	specs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(specs) == 0 {
		return nil, &NotFoundError{Kind: kind, Name: name}
	}
	o, err := decodeSpec(kind, name, specs[0])
	if err != nil {
		return nil, err
	}
	var st status
	if kvs := resp.Responses[1].GetResponseRange().GetKvs(); len(kvs) > 0 {
		st.controller = kvs[0]
	}
	reportPrefix := s.ReportPrefix(kind, name)
	for _, kv := range resp.Responses[2].GetResponseRange().GetKvs() {
		st.reports = append(st.reports, report{reporter: strings.TrimPrefix(string(kv.Key), reportPrefix), kv: kv})
	}
	if err := mergeStatus(o, st); err != nil {
		return nil, err
	}
	return o, nil
}

// List returns the objects of kind whose labels satisfy match (nil matches
// every object), sorted by name, each with its status merged in and its
// ResourceVersion set, and the etcd revision the whole list was read at:
// pass it to Watch to see every change after the list. Objects and statuses
// come from one consistent read.
func (s *Store) List(ctx context.Context, kind api.Kind, match func(labels map[string]string) bool) ([]api.Object, int64, error) {
	if err := checkKind(kind); err != nil {
		return nil, 0, err
	}
	specPrefix, statusPrefix := s.SpecPrefix(kind), s.StatusPrefix(kind)
	resp, err := s.cl.Txn(ctx).Then(
		clientv3.OpGet(specPrefix, clientv3.WithPrefix()),
		clientv3.OpGet(statusPrefix, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, 0, fmt.Errorf("store: list %s: %w", kind.Plural(), err)
	}
	var objs []api.Object
	byName := make(map[string]api.Object)
	for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
		name, ok := childName(kv.Key, specPrefix)
		if !ok {
			continue
		}
		o, err := decodeSpec(kind, name, kv)
		if err != nil {
			return nil, 0, err
		}
		if match != nil && !match(o.Meta().Labels) {
			continue
		}
		objs = append(objs, o)
		byName[name] = o
	}
	statuses := make(map[string]*status)
	for _, kv := range resp.Responses[1].GetResponseRange().GetKvs() {
		name, reporter, isReport := strings.Cut(strings.TrimPrefix(string(kv.Key), statusPrefix), "/")
		if byName[name] == nil {
			continue
		}
		st := statuses[name]
		if st == nil {
			st = &status{}
			statuses[name] = st
		}
		if isReport {
			st.reports = append(st.reports, report{reporter: reporter, kv: kv})
		} else {
			st.controller = kv
		}
	}
	for name, st := range statuses {
		if err := mergeStatus(byName[name], *st); err != nil {
			return nil, 0, err
		}
	}
	// etcd returns keys in byte order, which is name order already; sorting
	// again keeps the promise independent of that.
	slices.SortFunc(objs, func(a, b api.Object) int { return strings.Compare(a.Meta().Name, b.Meta().Name) })
	return objs, resp.Header.Revision, nil
}

// childName returns the part of key after prefix, and false when that part
// is empty or nested (a key no store method writes).
func childName(key []byte, prefix string) (string, bool) {
	name := strings.TrimPrefix(string(key), prefix)
	if name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// decodeSpec decodes a spec key's value. The key, not the value, is
// authoritative for the name, and the mod revision is the resourceVersion.
// Status is cleared: it is never part of a spec value, whatever was written
// around the store.
func decodeSpec(kind api.Kind, name string, kv *mvccpb.KeyValue) (api.Object, error) {
	o, err := api.New(kind)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// Not strict: values written by a newer logpipe may carry fields this
	// one does not know, and must still be readable.
	if err := json.Unmarshal(kv.Value, o); err != nil {
		return nil, fmt.Errorf("store: decode %s %q at %s: %w", kind.Lower(), name, kv.Key, err)
	}
	clearStatus(o)
	m := o.Meta()
	m.Name = name
	m.ResourceVersion = kv.ModRevision
	return o, nil
}

// clearStatus sets the object's status to its zero value.
func clearStatus(o api.Object) {
	reflect.ValueOf(o.StatusPtr()).Elem().SetZero()
}

// status holds the status keys of one object: the controller's and the
// per-reporter reports, in key order.
type status struct {
	controller *mvccpb.KeyValue
	reports    []report
}

type report struct {
	reporter string
	kv       *mvccpb.KeyValue
}

// mergeStatus decodes the controller's status into the object's status and
// then adds each report: for a CollectEntry to Status.Agents, for a Topic to
// Status.Consumers, each list sorted by reporter. An IndexTemplate has no
// reports; keys found there are ignored.
func mergeStatus(o api.Object, st status) error {
	if st.controller != nil {
		if err := json.Unmarshal(st.controller.Value, o.StatusPtr()); err != nil {
			return fmt.Errorf("store: decode status of %s at %s: %w", api.Ref(o), st.controller.Key, err)
		}
	}
	if len(st.reports) == 0 {
		return nil
	}
	switch o := o.(type) {
	case *api.CollectEntry:
		for _, r := range st.reports {
			var a api.CollectEntryAgentStatus
			if err := json.Unmarshal(r.kv.Value, &a); err != nil {
				return fmt.Errorf("store: decode report of %s at %s: %w", api.Ref(o), r.kv.Key, err)
			}
			// The key names the reporter; a report that omits its own
			// name still says whose it is.
			if a.Agent == "" {
				a.Agent = r.reporter
			}
			o.Status.Agents = append(o.Status.Agents, a)
		}
		slices.SortStableFunc(o.Status.Agents, func(a, b api.CollectEntryAgentStatus) int { return strings.Compare(a.Agent, b.Agent) })
	case *api.Topic:
		for _, r := range st.reports {
			var c api.TopicConsumerStatus
			if err := json.Unmarshal(r.kv.Value, &c); err != nil {
				return fmt.Errorf("store: decode report of %s at %s: %w", api.Ref(o), r.kv.Key, err)
			}
			if c.Transfer == "" {
				c.Transfer = r.reporter
			}
			o.Status.Consumers = append(o.Status.Consumers, c)
		}
		slices.SortStableFunc(o.Status.Consumers, func(a, b api.TopicConsumerStatus) int { return strings.Compare(a.Transfer, b.Transfer) })
	}
	return nil
}

// reportType returns the type of the reports kind takes, or nil when kind
// takes none.
func reportType(kind api.Kind) reflect.Type {
	switch kind {
	case api.KindCollectEntry:
		return reflect.TypeFor[api.CollectEntryAgentStatus]()
	case api.KindTopic:
		return reflect.TypeFor[api.TopicConsumerStatus]()
	}
	return nil
}
