package v1alpha1

import (
	"encoding/json"
	"strconv"
	"time"
)

// Group, Version and APIVersion identify this API in every document.
const (
	Group      = "logpipe.io"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
)

// TypeMeta is the apiVersion and kind every document starts with.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// ObjectMeta is the metadata every object carries. Users set Name, Labels and
// Annotations; the store sets the rest.
type ObjectMeta struct {
	// Name identifies the object within its kind. Topic names follow Kafka's
	// topic rules; the other kinds follow DNS-1123 subdomain rules.
	Name string `json:"name"`
	// Labels are key/value pairs used by selectors (logpipectl get -l, and
	// the applyset label of logpipectl apply --prune).
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are free-form key/value pairs that logpipe never interprets,
	// except the ones it documents under the logpipe.io/ prefix.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Generation rises by one each time spec changes; set by the store.
	Generation int64 `json:"generation,omitempty"`
	// ResourceVersion is the etcd mod revision of the stored object; set by
	// the store. An apply that carries a non-zero ResourceVersion succeeds
	// only if the stored object still has it (optimistic concurrency).
	ResourceVersion int64 `json:"resourceVersion,omitempty"`
	// CreationTimestamp is when the object was first stored; set by the store.
	CreationTimestamp time.Time `json:"creationTimestamp,omitzero"`
}

// Object is the contract every kind in this package meets.
type Object interface {
	// ObjectKind returns the kind of the object, fixed by its Go type.
	ObjectKind() Kind
	// Header returns the apiVersion and kind as written in the document.
	Header() *TypeMeta
	// Meta returns the object's metadata, for reading and writing.
	Meta() *ObjectMeta
	// Default fills every unset optional field of spec with its documented
	// default and sets apiVersion and kind. It is idempotent.
	Default()
	// Validate reports every problem of the object at once as a
	// *ValidationError, or returns nil. Call it after Default.
	Validate() error
	// SpecJSON returns the canonical JSON of spec, used to decide whether
	// spec changed (and so whether generation rises).
	SpecJSON() ([]byte, error)
	// StatusPtr returns a pointer to the object's status, for decoding into.
	StatusPtr() any
	// DeepCopyObject returns an independent copy.
	DeepCopyObject() Object
}

// Duration is a time.Duration written as a Go duration string ("10s",
// "5m", "1h30m") in YAML and JSON.
type Duration struct {
	time.Duration
}

// MarshalJSON writes the duration as a string such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}

// UnmarshalJSON reads a duration string such as "10s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &durationError{raw: string(b)}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &durationError{raw: strconv.Quote(s)}
	}
	d.Duration = v
	return nil
}

type durationError struct{ raw string }

func (e *durationError) Error() string {
	return "invalid duration " + e.raw + `: want a string such as "10s" or "5m"`
}

// LabelSelector selects objects or agents by their labels. An empty selector
// selects everything. MatchLabels and MatchExpressions are ANDed.
type LabelSelector struct {
	// MatchLabels requires each key to have exactly this value.
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	// MatchExpressions are further requirements, all of which must hold.
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// SelectorOperator is the operator of a LabelSelectorRequirement.
type SelectorOperator string

// The operators a LabelSelectorRequirement accepts.
const (
	SelectorOpIn           SelectorOperator = "In"
	SelectorOpNotIn        SelectorOperator = "NotIn"
	SelectorOpExists       SelectorOperator = "Exists"
	SelectorOpDoesNotExist SelectorOperator = "DoesNotExist"
)

// LabelSelectorRequirement is one requirement of a LabelSelector.
type LabelSelectorRequirement struct {
	// Key is the label key the requirement applies to.
	Key string `json:"key"`
	// Operator is In, NotIn, Exists or DoesNotExist.
	Operator SelectorOperator `json:"operator"`
	// Values must be non-empty for In and NotIn and empty otherwise.
	Values []string `json:"values,omitempty"`
}

// ConditionStatus is the status of a Condition.
type ConditionStatus string

// The values a Condition's status takes.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// Condition is one observation of an object's state, in the shape
// Kubernetes conditions have.
type Condition struct {
	// Type names the condition; logpipe sets ConditionReady.
	Type string `json:"type"`
	// Status is True, False or Unknown.
	Status ConditionStatus `json:"status"`
	// Reason is a CamelCase word naming why (see the Reason constants).
	Reason string `json:"reason,omitempty"`
	// Message is a human-readable sentence with details.
	Message string `json:"message,omitempty"`
	// LastTransitionTime is when Status last changed.
	LastTransitionTime time.Time `json:"lastTransitionTime,omitzero"`
}

// DeletionPolicy says what happens to what an object owns outside logpipe
// (a Kafka topic, an index template) when the object is deleted.
type DeletionPolicy string

// The deletion policies.
const (
	// DeletionRetain leaves the Kafka topic or index template in place when
	// its spec is deleted. It is the default.
	DeletionRetain DeletionPolicy = "Retain"
	// DeletionDelete removes the Kafka topic or index template when its spec
	// is deleted.
	DeletionDelete DeletionPolicy = "Delete"
)

// LogFormat says how the transfer turns a line into a document.
type LogFormat string

// The log formats.
const (
	// FormatText indexes each line as {"message": line}. It is the default.
	FormatText LogFormat = "text"
	// FormatJSON indexes each line's JSON object; a line that is not a JSON
	// object is indexed as text with a parse-error flag.
	FormatJSON LogFormat = "json"
)

// StartPosition says where an agent starts reading a file it has never seen.
type StartPosition string

// The start positions.
const (
	// StartBeginning reads new files from their first byte. It is the
	// default: nothing written before the agent started is lost.
	StartBeginning StartPosition = "beginning"
	// StartEnd reads only what is written after the file is first seen.
	StartEnd StartPosition = "end"
)

// MultilineMatch says to which line a continuation line belongs.
type MultilineMatch string

// The multiline match modes, as in Filebeat.
const (
	// MultilineAfter appends matching lines to the line before them
	// (Java stack traces). It is the default.
	MultilineAfter MultilineMatch = "after"
	// MultilineBefore prepends matching lines to the line after them
	// (lines ending in a continuation marker).
	MultilineBefore MultilineMatch = "before"
)

// CollectEntry says which files every matching agent tails and where it ships
// their lines.
type CollectEntry struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta         `json:"metadata"`
	Spec     CollectEntrySpec   `json:"spec"`
	Status   CollectEntryStatus `json:"status,omitzero"`
}

// CollectEntrySpec is the desired state of a CollectEntry.
type CollectEntrySpec struct {
	// Paths are the glob patterns of the files to tail; "**" matches any
	// number of directories. At least one is required, each absolute.
	Paths []string `json:"paths"`
	// Exclude are glob patterns of files to leave out even though they match
	// Paths (for example rotated "*.gz" files).
	Exclude []string `json:"exclude,omitempty"`
	// Topic is the Kafka topic the lines are produced to.
	Topic string `json:"topic"`
	// AgentSelector picks the agents, by their labels, that tail these files.
	// Unset or empty selects every agent.
	AgentSelector *LabelSelector `json:"agentSelector,omitempty"`
	// Format is "text" (the default) or "json": how the transfer turns each
	// line into a document. It travels with every record as a header.
	Format LogFormat `json:"format,omitempty"`
	// Multiline joins continuation lines into one event; unset means every
	// line is its own event.
	Multiline *Multiline `json:"multiline,omitempty"`
	// IncludeLines are regular expressions (RE2); when set, only lines
	// matching at least one are shipped.
	IncludeLines []string `json:"includeLines,omitempty"`
	// ExcludeLines are regular expressions (RE2); lines matching any are
	// dropped. They apply after IncludeLines.
	ExcludeLines []string `json:"excludeLines,omitempty"`
	// Fields are static key/value pairs added to every event.
	Fields map[string]string `json:"fields,omitempty"`
	// StartAt is where a file never seen before is read from: "beginning"
	// (the default) or "end". A file with a checkpoint always resumes there.
	StartAt StartPosition `json:"startAt,omitempty"`
	// MaxLineBytes is the longest line shipped whole; a longer line is cut
	// at this size and flagged as truncated. Default 1 MiB.
	MaxLineBytes int64 `json:"maxLineBytes,omitempty"`
	// ScanInterval is how often the agent re-evaluates Paths, besides
	// reacting to file system events. Default 10s.
	ScanInterval *Duration `json:"scanInterval,omitempty"`
	// CloseInactive closes a file that has not grown for this long; it is
	// reopened when it grows again. Default 5m.
	CloseInactive *Duration `json:"closeInactive,omitempty"`
}

// Multiline configures how continuation lines are joined, as Filebeat's
// multiline settings do.
type Multiline struct {
	// Pattern is the regular expression (RE2) that marks a line.
	Pattern string `json:"pattern"`
	// Negate inverts Pattern: lines NOT matching it are continuations.
	Negate bool `json:"negate,omitempty"`
	// Match is "after" (the default) or "before".
	Match MultilineMatch `json:"match,omitempty"`
	// MaxLines caps the lines of one event; the rest are dropped from that
	// event and it is flagged as truncated. Default 500.
	MaxLines int `json:"maxLines,omitempty"`
	// MaxBytes caps the bytes of one event. Default 10 MiB.
	MaxBytes int64 `json:"maxBytes,omitempty"`
	// FlushTimeout ships a pending event when no further line arrives in
	// this time. Default 5s.
	FlushTimeout *Duration `json:"flushTimeout,omitempty"`
}

// CollectEntryStatus is what the agents report about a CollectEntry, one
// element per agent that tails it.
type CollectEntryStatus struct {
	// Agents holds one report per agent that tails the entry, sorted by
	// agent name.
	Agents []CollectEntryAgentStatus `json:"agents,omitempty"`
}

// CollectEntryAgentStatus is one agent's report about one CollectEntry.
type CollectEntryAgentStatus struct {
	// Agent is the reporting agent's name.
	Agent string `json:"agent"`
	// ObservedGeneration is the entry generation this report reflects.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions include ConditionReady.
	Conditions []Condition `json:"conditions,omitempty"`
	// FilesTailed is how many files this agent tails for the entry.
	FilesTailed int `json:"filesTailed"`
	// BytesRead is the sum over those files of bytes read.
	BytesRead int64 `json:"bytesRead"`
	// BytesBehind is the sum over those files of size minus checkpoint.
	BytesBehind int64 `json:"bytesBehind"`
	// LinesShipped counts lines acknowledged by Kafka since the agent started.
	LinesShipped int64 `json:"linesShipped"`
	// LastError is the most recent error, empty when none.
	LastError string `json:"lastError,omitempty"`
	// Files details each tailed file.
	Files []FileStatus `json:"files,omitempty"`
	// UpdateTime is when the agent wrote this report.
	UpdateTime time.Time `json:"updateTime,omitzero"`
}

// FileStatus is one tailed file in a CollectEntryAgentStatus.
type FileStatus struct {
	// Path is where the agent opened the file.
	Path string `json:"path"`
	// Offset is the checkpoint: every byte before it reached Kafka.
	Offset int64 `json:"offset"`
	// Size is the file's size when the report was written.
	Size int64 `json:"size"`
	// BytesBehind is Size minus Offset.
	BytesBehind int64 `json:"bytesBehind"`
	// LastError is the file's most recent error, empty when none.
	LastError string `json:"lastError,omitempty"`
}

// Topic declares a Kafka topic and, optionally, how the transfer indexes its
// records. Its name is the Kafka topic's name.
type Topic struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     TopicSpec   `json:"spec"`
	Status   TopicStatus `json:"status,omitzero"`
}

// TopicSpec is the desired state of a Topic.
type TopicSpec struct {
	// Partitions is the number of partitions, at least 1. Default 1. It can
	// be raised later; Kafka cannot lower it.
	Partitions int32 `json:"partitions,omitempty"`
	// ReplicationFactor is the number of replicas of each partition; -1 (the
	// default) uses the broker's default.replication.factor. It is used only
	// when the topic is created.
	ReplicationFactor int16 `json:"replicationFactor,omitempty"`
	// Config holds topic-level Kafka configs (retention.ms,
	// cleanup.policy, ...). Only the keys named here are set; others keep
	// their broker defaults or values set elsewhere.
	Config map[string]string `json:"config,omitempty"`
	// DeletionPolicy is Retain (the default: deleting the spec leaves the
	// Kafka topic) or Delete (deleting the spec deletes the topic).
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// Index, when set, makes the transfer consume this topic and index its
	// records. Without it the transfer ignores the topic.
	Index *TopicIndex `json:"index,omitempty"`
}

// TopicIndex says how the transfer indexes a topic's records.
type TopicIndex struct {
	// Name is the index (or data stream) name pattern. Date placeholders in
	// braces, in Joda/Elasticsearch style ({yyyy.MM.dd}, {yyyy-MM},
	// {yyyy.MM.dd.HH}), are filled from the document's @timestamp in UTC.
	Name string `json:"name"`
	// TimestampField is the field of a JSON line that holds the event time
	// (RFC 3339 or epoch milliseconds). When unset or missing, @timestamp is
	// the time the agent read the line.
	TimestampField string `json:"timestampField,omitempty"`
	// DeadLetterTopic receives documents the engine rejects, with the error.
	// Default "<topic>.dlq".
	DeadLetterTopic string `json:"deadLetterTopic,omitempty"`
	// DataStream writes with op_type create, as data streams require; a
	// document already present (409) counts as indexed.
	DataStream bool `json:"dataStream,omitempty"`
	// Pipeline is an ingest pipeline the engine runs on every document.
	Pipeline string `json:"pipeline,omitempty"`
}

// TopicStatus is what logpipe observed about a Topic.
type TopicStatus struct {
	// ObservedGeneration is the generation the controller last acted on.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions include ConditionReady.
	Conditions []Condition `json:"conditions,omitempty"`
	// Partitions is the partition count the topic has in Kafka.
	Partitions int32 `json:"partitions,omitempty"`
	// ReplicationFactor is the topic's replication factor in Kafka.
	ReplicationFactor int16 `json:"replicationFactor,omitempty"`
	// Consumers holds each transfer's report on consuming this topic.
	Consumers []TopicConsumerStatus `json:"consumers,omitempty"`
}

// TopicConsumerStatus is one transfer process's report on a Topic.
type TopicConsumerStatus struct {
	// Transfer is the reporting transfer's name.
	Transfer string `json:"transfer"`
	// Group is the Kafka consumer group.
	Group string `json:"group"`
	// Lag is the group's total lag on the topic (log end minus committed)
	// over the partitions this transfer owns.
	Lag int64 `json:"lag"`
	// Conditions include ConditionReady.
	Conditions []Condition `json:"conditions,omitempty"`
	// UpdateTime is when the transfer wrote this report.
	UpdateTime time.Time `json:"updateTime,omitzero"`
}

// IndexTemplate declares a composable index template
// (PUT _index_template/<name>) in Elasticsearch or OpenSearch.
type IndexTemplate struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta          `json:"metadata"`
	Spec     IndexTemplateSpec   `json:"spec"`
	Status   IndexTemplateStatus `json:"status,omitzero"`
}

// IndexTemplateSpec is the desired state of an IndexTemplate. Its fields
// mirror the body of the engine's composable index template API.
type IndexTemplateSpec struct {
	// IndexPatterns are the index name patterns (wildcards allowed) the
	// template applies to. At least one is required.
	IndexPatterns []string `json:"indexPatterns"`
	// Priority decides between templates matching the same index; the
	// highest wins. Unset means 0.
	Priority *int64 `json:"priority,omitempty"`
	// Version is a user-chosen version number stored with the template.
	Version *int64 `json:"version,omitempty"`
	// ComposedOf names component templates merged into this one, in order.
	ComposedOf []string `json:"composedOf,omitempty"`
	// Template holds the settings, mappings and aliases of matching indices.
	Template IndexTemplateBody `json:"template,omitzero"`
	// DataStream, when set (usually {}), makes matching names data streams.
	DataStream json.RawMessage `json:"dataStream,omitempty"`
	// Meta is free-form metadata stored with the template (_meta).
	Meta json.RawMessage `json:"meta,omitempty"`
	// DeletionPolicy is Retain (the default) or Delete.
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// IndexTemplateBody is the template block of an index template. Each field
// is passed to the engine as written and must be a JSON object.
type IndexTemplateBody struct {
	// Settings are index settings (number_of_shards, refresh_interval, ...).
	Settings json.RawMessage `json:"settings,omitempty"`
	// Mappings are the field mappings (properties, dynamic_templates, ...).
	Mappings json.RawMessage `json:"mappings,omitempty"`
	// Aliases are the aliases every matching index gets.
	Aliases json.RawMessage `json:"aliases,omitempty"`
}

// IndexTemplateStatus is what the controller observed about an IndexTemplate.
type IndexTemplateStatus struct {
	// ObservedGeneration is the generation the controller last acted on.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions include ConditionReady.
	Conditions []Condition `json:"conditions,omitempty"`
	// Applied is true when the engine holds the template as specified.
	Applied bool `json:"applied,omitempty"`
	// LastAppliedTime is when the controller last PUT the template.
	LastAppliedTime time.Time `json:"lastAppliedTime,omitzero"`
}

// Agent is an agent's registration: who it is and what it runs. Agents
// write it on a lease, so it disappears when the agent dies.
type Agent struct {
	// Name is the agent's unique name (by default the host name).
	Name string `json:"name"`
	// Labels are matched by CollectEntry agentSelectors.
	Labels map[string]string `json:"labels,omitempty"`
	// Version is the logpipe version the agent runs.
	Version string `json:"version,omitempty"`
	// Address is the agent's HTTP address (metrics, health).
	Address string `json:"address,omitempty"`
	// Host is the host name the agent runs on.
	Host string `json:"host,omitempty"`
	// StartTime is when the agent started.
	StartTime time.Time `json:"startTime,omitzero"`
	// FilesTailed is how many files the agent tails right now.
	FilesTailed int `json:"filesTailed"`
}
