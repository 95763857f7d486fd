package v1alpha1

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind names a resource kind of this API.
type Kind string

// The kinds of this API.
const (
	KindCollectEntry  Kind = "CollectEntry"
	KindTopic         Kind = "Topic"
	KindIndexTemplate Kind = "IndexTemplate"
)

// Kinds returns every kind, in the order objects are best applied (topics
// before the entries that produce to them).
func Kinds() []Kind {
	return []Kind{KindTopic, KindIndexTemplate, KindCollectEntry}
}

// Lower returns the kind in lower case ("collectentry"), as used in etcd keys
// and in logpipectl output such as "collectentry/web-app created".
func (k Kind) Lower() string { return strings.ToLower(string(k)) }

// Plural returns the lower-case plural ("collectentries").
func (k Kind) Plural() string {
	if k == KindCollectEntry {
		return "collectentries"
	}
	return k.Lower() + "s"
}

// Short returns the short name ("ce", "tp", "it").
func (k Kind) Short() string {
	switch k {
	case KindCollectEntry:
		return "ce"
	case KindTopic:
		return "tp"
	case KindIndexTemplate:
		return "it"
	}
	return ""
}

// ParseKind accepts a kind by its name, lower-case name, plural or short
// name, in any case.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if strings.EqualFold(s, string(k)) || strings.EqualFold(s, k.Plural()) || strings.EqualFold(s, k.Short()) {
			return k, nil
		}
	}
	names := make([]string, 0, 3*len(Kinds()))
	for _, k := range Kinds() {
		names = append(names, k.Lower(), k.Plural(), k.Short())
	}
	slices.Sort(names)
	return "", fmt.Errorf("unknown kind %q: want one of %s", s, strings.Join(names, ", "))
}

// New returns an empty object of kind k with its apiVersion and kind set.
func New(k Kind) (Object, error) {
	var o Object
	switch k {
	case KindCollectEntry:
		o = &CollectEntry{}
	case KindTopic:
		o = &Topic{}
	case KindIndexTemplate:
		o = &IndexTemplate{}
	default:
		return nil, fmt.Errorf("unknown kind %q", string(k))
	}
	*o.Header() = TypeMeta{APIVersion: APIVersion, Kind: string(k)}
	return o, nil
}

// Ref returns "collectentry/web-app", the way logpipectl names an object.
func Ref(o Object) string { return o.ObjectKind().Lower() + "/" + o.Meta().Name }

// Header returns the apiVersion and kind of the document.
func (t *TypeMeta) Header() *TypeMeta { return t }

// ObjectKind returns KindCollectEntry.
func (*CollectEntry) ObjectKind() Kind { return KindCollectEntry }

// ObjectKind returns KindTopic.
func (*Topic) ObjectKind() Kind { return KindTopic }

// ObjectKind returns KindIndexTemplate.
func (*IndexTemplate) ObjectKind() Kind { return KindIndexTemplate }

// Meta returns the object's metadata.
func (c *CollectEntry) Meta() *ObjectMeta { return &c.Metadata }

// Meta returns the object's metadata.
func (t *Topic) Meta() *ObjectMeta { return &t.Metadata }

// Meta returns the object's metadata.
func (t *IndexTemplate) Meta() *ObjectMeta { return &t.Metadata }

// SpecJSON returns the canonical JSON of spec.
func (c *CollectEntry) SpecJSON() ([]byte, error) { return json.Marshal(c.Spec) }

// SpecJSON returns the canonical JSON of spec.
func (t *Topic) SpecJSON() ([]byte, error) { return json.Marshal(t.Spec) }

// SpecJSON returns the canonical JSON of spec. Raw JSON blocks are compacted
// first so that whitespace alone never counts as a change.
func (t *IndexTemplate) SpecJSON() ([]byte, error) {
	b, err := json.Marshal(t.Spec)
	if err != nil {
		return nil, err
	}
	// Round-trip through any so that key order and spacing inside raw
	// blocks are canonical (encoding/json sorts map keys).
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// StatusPtr returns &c.Status.
func (c *CollectEntry) StatusPtr() any { return &c.Status }

// StatusPtr returns &t.Status.
func (t *Topic) StatusPtr() any { return &t.Status }

// StatusPtr returns &t.Status.
func (t *IndexTemplate) StatusPtr() any { return &t.Status }

// DeepCopyObject returns an independent copy.
func (c *CollectEntry) DeepCopyObject() Object { return deepCopy(c) }

// DeepCopyObject returns an independent copy.
func (t *Topic) DeepCopyObject() Object { return deepCopy(t) }

// DeepCopyObject returns an independent copy.
func (t *IndexTemplate) DeepCopyObject() Object { return deepCopy(t) }

// deepCopy copies through JSON: every field of these types round-trips, and
// copies are rare enough (once per reconcile) that speed does not matter.
func deepCopy[T any, P interface {
	*T
	Object
}](o P) Object {
	b, err := json.Marshal(o)
	if err != nil {
		panic(fmt.Sprintf("v1alpha1: copy %s: %v", o.ObjectKind(), err))
	}
	var c T
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("v1alpha1: copy %s: %v", o.ObjectKind(), err))
	}
	return P(&c)
}

// ConditionReady is the condition type every reconciler sets.
const ConditionReady = "Ready"

// Condition reasons. Reconcilers use these words and no others, so that
// operators and alerts can rely on them.
const (
	// ReasonReconciled: the live state matches the spec.
	ReasonReconciled = "Reconciled"
	// ReasonPending: not acted on yet.
	ReasonPending = "Pending"
	// ReasonPartitionsCannotDecrease: the spec asks for fewer partitions
	// than the topic has; Kafka cannot remove partitions, so nothing changed.
	ReasonPartitionsCannotDecrease = "PartitionsCannotDecrease"
	// ReasonKafkaError: Kafka refused a request or could not be reached.
	ReasonKafkaError = "KafkaError"
	// ReasonInvalidConfig: Kafka rejected a topic config key or value.
	ReasonInvalidConfig = "InvalidConfig"
	// ReasonRejected: the search engine rejected the template (HTTP 4xx).
	ReasonRejected = "Rejected"
	// ReasonEngineUnavailable: the search engine could not be reached or
	// answered 5xx; the reconciler retries with backoff.
	ReasonEngineUnavailable = "EngineUnavailable"
	// ReasonPathNotAllowed: a path of the entry is outside every allowed
	// path of the agent.
	ReasonPathNotAllowed = "PathNotAllowed"
	// ReasonTailing: the agent tails the entry's files.
	ReasonTailing = "Tailing"
	// ReasonNoFiles: no file matches the entry's paths on this agent.
	ReasonNoFiles = "NoFiles"
	// ReasonConsuming: the transfer consumes and indexes the topic.
	ReasonConsuming = "Consuming"
	// ReasonBackpressure: the transfer paused consumption while the engine
	// or the dead-letter topic refuses writes.
	ReasonBackpressure = "Backpressure"
)

// Ready returns a Ready=True condition with reason and message.
func Ready(reason, msg string) Condition {
	return Condition{Type: ConditionReady, Status: ConditionTrue, Reason: reason, Message: msg}
}

// NotReady returns a Ready=False condition with reason and message.
func NotReady(reason, msg string) Condition {
	return Condition{Type: ConditionReady, Status: ConditionFalse, Reason: reason, Message: msg}
}

// SetCondition sets c in conds, replacing the condition of the same type.
// LastTransitionTime is kept when the status did not change and set to now
// when it did (or when c is new). It reports whether anything changed.
func SetCondition(conds *[]Condition, c Condition, now time.Time) bool {
	for i := range *conds {
		old := &(*conds)[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		} else {
			c.LastTransitionTime = now.UTC().Truncate(time.Second)
		}
		changed := *old != c
		*old = c
		return changed
	}
	c.LastTransitionTime = now.UTC().Truncate(time.Second)
	*conds = append(*conds, c)
	return true
}

// FindCondition returns the condition of type t, or nil.
func FindCondition(conds []Condition, t string) *Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
