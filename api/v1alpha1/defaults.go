package v1alpha1

import "time"

// The defaults Default fills in. Each applies only when the field is unset
// (its zero value, or nil for pointers).
const (
	// DefaultFormat is CollectEntrySpec.Format's default.
	DefaultFormat = FormatText
	// DefaultStartAt is CollectEntrySpec.StartAt's default: read new files
	// from their first byte so that nothing written before the agent saw
	// them is lost.
	DefaultStartAt = StartBeginning
	// DefaultMaxLineBytes is CollectEntrySpec.MaxLineBytes's default, 1 MiB.
	DefaultMaxLineBytes int64 = 1 << 20
	// DefaultScanInterval is CollectEntrySpec.ScanInterval's default.
	DefaultScanInterval = 10 * time.Second
	// DefaultCloseInactive is CollectEntrySpec.CloseInactive's default.
	DefaultCloseInactive = 5 * time.Minute

	// DefaultMultilineMatch is Multiline.Match's default.
	DefaultMultilineMatch = MultilineAfter
	// DefaultMultilineMaxLines is Multiline.MaxLines's default.
	DefaultMultilineMaxLines = 500
	// DefaultMultilineMaxBytes is Multiline.MaxBytes's default, 10 MiB.
	DefaultMultilineMaxBytes int64 = 10 << 20
	// DefaultMultilineFlushTimeout is Multiline.FlushTimeout's default.
	DefaultMultilineFlushTimeout = 5 * time.Second

	// DefaultPartitions is TopicSpec.Partitions's default.
	DefaultPartitions int32 = 1
	// DefaultReplicationFactor is TopicSpec.ReplicationFactor's default:
	// -1 lets the broker apply its default.replication.factor.
	DefaultReplicationFactor int16 = -1
	// DeadLetterSuffix is appended to a topic's name to form the default
	// TopicIndex.DeadLetterTopic ("web_log" → "web_log.dlq").
	DeadLetterSuffix = ".dlq"

	// DefaultDeletionPolicy is the default DeletionPolicy of Topic and
	// IndexTemplate: deleting a spec never deletes data unless asked to.
	DefaultDeletionPolicy = DeletionRetain
)

// Default sets apiVersion and kind and fills every unset optional field of
// spec with its documented default. It is idempotent.
func (c *CollectEntry) Default() {
	c.TypeMeta = TypeMeta{APIVersion: APIVersion, Kind: string(KindCollectEntry)}
	s := &c.Spec
	if s.Format == "" {
		s.Format = DefaultFormat
	}
	if s.StartAt == "" {
		s.StartAt = DefaultStartAt
	}
	if s.MaxLineBytes == 0 {
		s.MaxLineBytes = DefaultMaxLineBytes
	}
	if s.ScanInterval == nil {
		s.ScanInterval = &Duration{DefaultScanInterval}
	}
	if s.CloseInactive == nil {
		s.CloseInactive = &Duration{DefaultCloseInactive}
	}
	if m := s.Multiline; m != nil {
		if m.Match == "" {
			m.Match = DefaultMultilineMatch
		}
		if m.MaxLines == 0 {
			m.MaxLines = DefaultMultilineMaxLines
		}
		if m.MaxBytes == 0 {
			m.MaxBytes = DefaultMultilineMaxBytes
		}
		if m.FlushTimeout == nil {
			m.FlushTimeout = &Duration{DefaultMultilineFlushTimeout}
		}
	}
}

// Default sets apiVersion and kind and fills every unset optional field of
// spec with its documented default. The dead-letter topic defaults to the
// topic's name plus DeadLetterSuffix, and is left unset while the topic has
// no name. It is idempotent.
func (t *Topic) Default() {
	t.TypeMeta = TypeMeta{APIVersion: APIVersion, Kind: string(KindTopic)}
	s := &t.Spec
	if s.Partitions == 0 {
		s.Partitions = DefaultPartitions
	}
	// Zero is not a usable replication factor, so it can safely mean unset,
	// as omitempty already makes it mean in JSON.
	if s.ReplicationFactor == 0 {
		s.ReplicationFactor = DefaultReplicationFactor
	}
	if s.DeletionPolicy == "" {
		s.DeletionPolicy = DefaultDeletionPolicy
	}
	if ix := s.Index; ix != nil && ix.DeadLetterTopic == "" && t.Metadata.Name != "" {
		ix.DeadLetterTopic = t.Metadata.Name + DeadLetterSuffix
	}
}

// Default sets apiVersion and kind and fills every unset optional field of
// spec with its documented default. It is idempotent.
func (t *IndexTemplate) Default() {
	t.TypeMeta = TypeMeta{APIVersion: APIVersion, Kind: string(KindIndexTemplate)}
	if t.Spec.DeletionPolicy == "" {
		t.Spec.DeletionPolicy = DefaultDeletionPolicy
	}
}
