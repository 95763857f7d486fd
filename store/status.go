package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// Delete deletes the object of kind named name together with its
// controller status and its reports, in one transaction, and returns the
// object as it was stored (without status). For kinds that own something
// outside logpipe (a Kafka topic, an index template), the same transaction
// leaves a tombstone (see Tombstones) so that the controller acts on the
// deletion even if it learns of it late. Delete returns a *NotFoundError
// (errors.Is ErrNotFound) when the object is not stored.
func (s *Store) Delete(ctx context.Context, kind api.Kind, name string) (api.Object, error) {
	if err := checkKindName(kind, name); err != nil {
		return nil, err
	}
	key := s.SpecKey(kind, name)
	// Read first so the tombstone can carry the object; the compare on the
	// mod revision makes read and delete one atomic step, retried if a
	// writer got in between.
	for attempt := 0; ; attempt++ {
		got, err := s.cl.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("store: delete %s %q: %w", kind.Lower(), name, err)
		}
		if len(got.Kvs) == 0 {
			return nil, &NotFoundError{Kind: kind, Name: name}
		}
		kv := got.Kvs[0]
		resp, err := s.cl.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(s.deleteOps(kind, name, kv.Value)...).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("store: delete %s %q: %w", kind.Lower(), name, err)
		}
		if resp.Succeeded {
			return decodeSpec(kind, name, kv)
		}
		if attempt+1 >= applyAttempts {
			return nil, fmt.Errorf("store: delete %s %q: still changing after %d attempts", kind.Lower(), name, attempt+1)
		}
		if err := sleep(ctx, backoff(attempt+1)); err != nil {
			return nil, fmt.Errorf("store: delete %s %q: %w", kind.Lower(), name, err)
		}
	}
}

// deleteOps deletes an object's spec, status and reports and, for kinds with
// a tombstone, records the deleted spec (stored, its JSON) as one.
func (s *Store) deleteOps(kind api.Kind, name string, stored []byte) []clientv3.Op {
	ops := []clientv3.Op{
		clientv3.OpDelete(s.SpecKey(kind, name)),
		clientv3.OpDelete(s.StatusKey(kind, name)),
		// Reports are on their reporters' leases and would expire, but
		// until then a new object of the same name would show them as its
		// own.
		clientv3.OpDelete(s.ReportPrefix(kind, name), clientv3.WithPrefix()),
	}
	if hasTombstone(kind) {
		ops = append(ops, clientv3.OpPut(s.TombstoneKey(kind, name), string(stored)))
	}
	return ops
}

// SetStatus writes the controller's status of the object of kind named
// name. status must be the kind's status type (api.TopicStatus for a Topic,
// api.IndexTemplateStatus for an IndexTemplate, api.CollectEntryStatus for a
// CollectEntry), as a value or a non-nil pointer. The write happens only if
// the object is stored; otherwise SetStatus returns a *NotFoundError
// (errors.Is ErrNotFound), so a status never outlives its object. Writing
// status changes neither generation nor resourceVersion.
func (s *Store) SetStatus(ctx context.Context, kind api.Kind, name string, status any) error {
	if err := checkKindName(kind, name); err != nil {
		return err
	}
	o, _ := api.New(kind)
	if err := checkType(status, reflect.TypeOf(o.StatusPtr()).Elem()); err != nil {
		return fmt.Errorf("store: set status of %s %q: %w", kind.Lower(), name, err)
	}
	return s.putIfStored(ctx, kind, name, s.StatusKey(kind, name), status, clientv3.NoLease, "set status of")
}

// SetReport writes reporter's report about the object of kind named name:
// an api.CollectEntryAgentStatus from an agent about a CollectEntry, or an
// api.TopicConsumerStatus from a transfer about a Topic (as a value or a
// non-nil pointer). With a lease other than clientv3.NoLease the report is
// deleted when the lease expires or is revoked, so a dead reporter's report
// disappears. The write happens only if the object is stored; otherwise
// SetReport returns a *NotFoundError (errors.Is ErrNotFound). An unknown or
// expired lease makes it fail with etcd's rpctypes.ErrLeaseNotFound.
func (s *Store) SetReport(ctx context.Context, kind api.Kind, name, reporter string, report any, lease clientv3.LeaseID) error {
	if err := checkKindName(kind, name); err != nil {
		return err
	}
	if err := checkName("reporter", reporter); err != nil {
		return err
	}
	want := reportType(kind)
	if want == nil {
		return fmt.Errorf("store: report on %s %q: %s takes no reports", kind.Lower(), name, kind.Lower())
	}
	if err := checkType(report, want); err != nil {
		return fmt.Errorf("store: report on %s %q: %w", kind.Lower(), name, err)
	}
	return s.putIfStored(ctx, kind, name, s.ReportKey(kind, name, reporter), report, lease, "report on")
}

// DeleteReport deletes reporter's report about the object of kind named
// name. Deleting a report that does not exist is not an error.
func (s *Store) DeleteReport(ctx context.Context, kind api.Kind, name, reporter string) error {
	if err := checkKindName(kind, name); err != nil {
		return err
	}
	if err := checkName("reporter", reporter); err != nil {
		return err
	}
	if _, err := s.cl.Delete(ctx, s.ReportKey(kind, name, reporter)); err != nil {
		return fmt.Errorf("store: delete report of %s on %s %q: %w", reporter, kind.Lower(), name, err)
	}
	return nil
}

// putIfStored puts v as JSON at key, on lease, if the spec key of kind/name
// exists.
func (s *Store) putIfStored(ctx context.Context, kind api.Kind, name, key string, v any, lease clientv3.LeaseID, verb string) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: %s %s %q: %w", verb, kind.Lower(), name, err)
	}
	var opts []clientv3.OpOption
	if lease != clientv3.NoLease {
		opts = append(opts, clientv3.WithLease(lease))
	}
	spec := s.SpecKey(kind, name)
	resp, err := s.cl.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(spec), ">", 0)).
		Then(clientv3.OpPut(key, string(b), opts...)).
		Commit()
	if err != nil {
		return fmt.Errorf("store: %s %s %q: %w", verb, kind.Lower(), name, err)
	}
	if !resp.Succeeded {
		return &NotFoundError{Kind: kind, Name: name}
	}
	return nil
}

// checkType accepts a value of type want or a non-nil pointer to one. A
// status of the wrong type would decode into an empty status on the next
// read, silently.
func checkType(v any, want reflect.Type) error {
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		if reflect.ValueOf(v).IsNil() {
			return fmt.Errorf("nil %v", t)
		}
		t = t.Elem()
	}
	if t != want {
		return fmt.Errorf("got a %v, want a %v", reflect.TypeOf(v), want)
	}
	return nil
}
