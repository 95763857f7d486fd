package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// DefaultPrefix is the key prefix New uses when given "".
const DefaultPrefix = "/logpipe"

// ApplySetLabel is the label Apply sets to ApplyOptions.ApplySet on every
// object it applies, and by which Prune finds the objects of a set.
const ApplySetLabel = "logpipe.io/applyset"

// MaxTxnOps is the number of operations (and, separately, of comparisons)
// Apply puts at most into its single transaction. It is etcd's default
// --max-txn-ops; a server configured lower makes larger applies fail with an
// error that names the limit.
const MaxTxnOps = 128

// Store gives typed access to logpipe's objects in etcd. It holds no state
// besides the client and the key prefix, so it is safe for concurrent use
// and as cheap to create as to share.
type Store struct {
	cl     *clientv3.Client
	prefix string

	// beforeWatch, when set (by tests), is called before each etcd watch is
	// opened, with the revision the watch resumes after.
	beforeWatch func(rev int64)
	// beforeCommit, when set (by tests), is called between Apply's read
	// and its transaction, with the attempt number.
	beforeCommit func(attempt int)
}

// New returns a Store that keeps its keys under prefix. An empty prefix
// means DefaultPrefix; a trailing slash is dropped. The caller keeps
// ownership of cl and closes it after the last use of the Store.
func New(cl *clientv3.Client, prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Store{cl: cl, prefix: strings.TrimRight(prefix, "/")}
}

// Client returns the etcd client the Store uses.
func (s *Store) Client() *clientv3.Client { return s.cl }

// Prefix returns the key prefix, without a trailing slash ("/logpipe").
func (s *Store) Prefix() string { return s.prefix }

// SpecPrefix returns the prefix of the spec keys of kind,
// "<prefix>/specs/<kind>/".
func (s *Store) SpecPrefix(kind api.Kind) string {
	return s.prefix + "/specs/" + kind.Lower() + "/"
}

// SpecKey returns the key holding the object of kind named name,
// "<prefix>/specs/<kind>/<name>".
func (s *Store) SpecKey(kind api.Kind, name string) string { return s.SpecPrefix(kind) + name }

// StatusPrefix returns the prefix of the status keys of kind,
// "<prefix>/status/<kind>/".
func (s *Store) StatusPrefix(kind api.Kind) string {
	return s.prefix + "/status/" + kind.Lower() + "/"
}

// StatusKey returns the key of the controller's status of an object,
// "<prefix>/status/<kind>/<name>".
func (s *Store) StatusKey(kind api.Kind, name string) string { return s.StatusPrefix(kind) + name }

// ReportPrefix returns the prefix of the per-reporter reports about an
// object, "<prefix>/status/<kind>/<name>/".
func (s *Store) ReportPrefix(kind api.Kind, name string) string {
	return s.StatusKey(kind, name) + "/"
}

// ReportKey returns the key of one reporter's report about an object,
// "<prefix>/status/<kind>/<name>/<reporter>".
func (s *Store) ReportKey(kind api.Kind, name, reporter string) string {
	return s.ReportPrefix(kind, name) + reporter
}

// AgentPrefix returns the prefix of the agent registrations,
// "<prefix>/agents/".
func (s *Store) AgentPrefix() string { return s.prefix + "/agents/" }

// AgentKey returns the key of an agent's registration,
// "<prefix>/agents/<name>".
func (s *Store) AgentKey(name string) string { return s.AgentPrefix() + name }

// LeaderPrefix returns the election prefix of role ("controller"),
// "<prefix>/leader/<role>", for concurrency.NewElection, which adds a slash
// and the candidate's lease ID.
func (s *Store) LeaderPrefix(role string) string { return s.prefix + "/leader/" + role }

// NewSession grants a lease of ttl (rounded up to whole seconds; zero or
// less means etcd's concurrency default of 60 s) and keeps it alive until
// ctx is done or the session is closed. Leader election and the leases of
// agent registrations and status reports build on it: put keys with
// clientv3.WithLease(session.Lease()). The session's Done channel closes
// when the lease can no longer be kept alive (ctx done, Close, or etcd
// unreachable for longer than ttl); everything written on the lease is gone
// once it expires. The caller must call Close (which revokes the lease) or
// Orphan.
func (s *Store) NewSession(ctx context.Context, ttl time.Duration) (*concurrency.Session, error) {
	opts := []concurrency.SessionOption{concurrency.WithContext(ctx)}
	if ttl > 0 {
		opts = append(opts, concurrency.WithTTL(int((ttl+time.Second-1)/time.Second)))
	}
	sess, err := concurrency.NewSession(s.cl, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: new session: %w", err)
	}
	return sess, nil
}

// ErrNotFound is matched (with errors.Is) by every *NotFoundError.
var ErrNotFound = errors.New("store: not found")

// NotFoundError says that no object of Kind named Name is stored.
type NotFoundError struct {
	Kind api.Kind
	Name string
}

// Error returns a message such as `collectentry "web-app" not found`.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q not found", e.Kind.Lower(), e.Name)
}

// Is reports whether target is ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// ErrConflict is matched (with errors.Is) by every *ConflictError.
var ErrConflict = errors.New("store: conflict")

// ConflictError says that an apply carried resourceVersion Want for an
// object whose stored mod revision is Have (0 when it is not stored), so
// the object changed since the caller read it. Nothing was written.
type ConflictError struct {
	Kind       api.Kind
	Name       string
	Want, Have int64
}

// Error returns a message such as `store: collectentry "web-app":
// resourceVersion 12 is stale, the stored object is at 15`.
func (e *ConflictError) Error() string {
	if e.Have == 0 {
		return fmt.Sprintf("store: %s %q: resourceVersion %d is stale, the object is not stored", e.Kind.Lower(), e.Name, e.Want)
	}
	return fmt.Sprintf("store: %s %q: resourceVersion %d is stale, the stored object is at %d", e.Kind.Lower(), e.Name, e.Want, e.Have)
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// checkKind refuses kinds the api does not know, which would otherwise read
// and write keys no component looks at.
func checkKind(kind api.Kind) error {
	if _, err := api.New(kind); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// checkName refuses names that would escape their key: a slash would turn a
// spec key into something that looks like a report key.
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("store: empty %s name", what)
	}
	if strings.Contains(name, "/") {
		return fmt.Errorf("store: %s name %q contains a slash", what, name)
	}
	return nil
}

func checkKindName(kind api.Kind, name string) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	return checkName(kind.Lower(), name)
}
