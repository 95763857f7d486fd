package v1alpha1

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func TestDefault(t *testing.T) {
	tests := []struct {
		name string
		in   Object
		want Object
	}{
		{
			name: "minimal entry",
			in:   minimalEntry(),
			want: &CollectEntry{
				TypeMeta: TypeMeta{APIVersion: "logpipe.io/v1alpha1", Kind: "CollectEntry"},
				Metadata: ObjectMeta{Name: "web-app"},
				Spec: CollectEntrySpec{
					Paths:         []string{"/var/log/web/*.log"},
					Topic:         "web_log",
					Format:        "text",
					StartAt:       "beginning",
					MaxLineBytes:  1048576,
					ScanInterval:  dur(10 * time.Second),
					CloseInactive: dur(5 * time.Minute),
				},
			},
		},
		{
			name: "entry with empty multiline",
			in:   entry(func(c *CollectEntry) { c.Spec.Multiline = &Multiline{Pattern: `^\s`} }),
			want: &CollectEntry{
				TypeMeta: TypeMeta{APIVersion: "logpipe.io/v1alpha1", Kind: "CollectEntry"},
				Metadata: ObjectMeta{Name: "web-app"},
				Spec: CollectEntrySpec{
					Paths:  []string{"/var/log/web/*.log"},
					Topic:  "web_log",
					Format: "text",
					Multiline: &Multiline{
						Pattern:      `^\s`,
						Match:        "after",
						MaxLines:     500,
						MaxBytes:     10485760,
						FlushTimeout: dur(5 * time.Second),
					},
					StartAt:       "beginning",
					MaxLineBytes:  1048576,
					ScanInterval:  dur(10 * time.Second),
					CloseInactive: dur(5 * time.Minute),
				},
			},
		},
		{
			name: "entry keeps what is set",
			in: entry(func(c *CollectEntry) {
				c.Spec.Format = FormatJSON
				c.Spec.StartAt = StartEnd
				c.Spec.MaxLineBytes = 10
				c.Spec.ScanInterval = dur(time.Second)
				c.Spec.CloseInactive = dur(time.Hour)
				c.Spec.Multiline = &Multiline{Pattern: "x", Match: MultilineBefore, MaxLines: 2, MaxBytes: 3, FlushTimeout: dur(time.Millisecond)}
			}),
			want: &CollectEntry{
				TypeMeta: TypeMeta{APIVersion: "logpipe.io/v1alpha1", Kind: "CollectEntry"},
				Metadata: ObjectMeta{Name: "web-app"},
				Spec: CollectEntrySpec{
					Paths:         []string{"/var/log/web/*.log"},
					Topic:         "web_log",
					Format:        "json",
					Multiline:     &Multiline{Pattern: "x", Match: "before", MaxLines: 2, MaxBytes: 3, FlushTimeout: dur(time.Millisecond)},
					StartAt:       "end",
					MaxLineBytes:  10,
					ScanInterval:  dur(time.Second),
					CloseInactive: dur(time.Hour),
				},
			},
		},
		{
			name: "minimal topic",
			in:   minimalTopic(),
			want: &Topic{
				TypeMeta: TypeMeta{APIVersion: "logpipe.io/v1alpha1", Kind: "Topic"},
				Metadata: ObjectMeta{Name: "web_log"},
				Spec:     TopicSpec{Partitions: 1, ReplicationFactor: -1, DeletionPolicy: "Retain"},
			},
		},
		{
			name: "topic with index",
			in:   topic(func(t *Topic) { t.Spec.Index = &TopicIndex{Name: "web-{yyyy.MM.dd}"} }),
			want: &Topic{
				TypeMeta: TypeMeta{APIVersion: "logpipe.io/v1alpha1", Kind: "Topic"},
				Metadata: ObjectMeta{Name: "web_log"},
				Spec: TopicSpec{
					Partitions: 1, ReplicationFactor: -1, DeletionPolicy: "Retain",
					Index: &TopicIndex{Name: "web-{yyyy.MM.dd}", DeadLetterTopic: "web_log.dlq"},
				},
			},
		},
		{
			name: "topic keeps what is set",
			in: topic(func(t *Topic) {
				t.Spec = TopicSpec{Partitions: 6, ReplicationFactor: 3, DeletionPolicy: DeletionDelete, Index: &TopicIndex{Name: "web", DeadLetterTopic: "errors"}}
			}),
			want: &Topic{
				TypeMeta: TypeMeta{APIVersion: "logpipe.io/v1alpha1", Kind: "Topic"},
				Metadata: ObjectMeta{Name: "web_log"},
				Spec:     TopicSpec{Partitions: 6, ReplicationFactor: 3, DeletionPolicy: "Delete", Index: &TopicIndex{Name: "web", DeadLetterTopic: "errors"}},
			},
		},
		{
			name: "nameless topic gets no dead-letter topic",
			in:   &Topic{Spec: TopicSpec{Index: &TopicIndex{Name: "web"}}},
			want: &Topic{
				TypeMeta: TypeMeta{APIVersion: "logpipe.io/v1alpha1", Kind: "Topic"},
				Spec:     TopicSpec{Partitions: 1, ReplicationFactor: -1, DeletionPolicy: "Retain", Index: &TopicIndex{Name: "web"}},
			},
		},
		{
			name: "minimal template",
			in:   minimalTemplate(),
			want: &IndexTemplate{
				TypeMeta: TypeMeta{APIVersion: "logpipe.io/v1alpha1", Kind: "IndexTemplate"},
				Metadata: ObjectMeta{Name: "web"},
				Spec:     IndexTemplateSpec{IndexPatterns: []string{"web-*"}, DeletionPolicy: "Retain"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := asJSON(tt.in)
			tt.in.Default()
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("Default(%s) (-want +got):\n%s", in, diff)
			}
			tt.in.Default()
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("Default twice (%s) (-want +got):\n%s", in, diff)
			}
			if tt.in.Meta().Name != "" {
				if err := tt.in.Validate(); err != nil {
					t.Errorf("Validate(Default(%s)) = %v, want <nil>", in, err)
				}
			}
		})
	}
}

// TestDefaultIdempotent checks, over random specs, that a second Default
// changes nothing and that Default never changes Validate's verdict on an
// object that carries no apiVersion or kind.
func TestDefaultIdempotent(t *testing.T) {
	optDur := rapid.Custom(func(t *rapid.T) *Duration {
		if !rapid.Bool().Draw(t, "set") {
			return nil
		}
		return dur(time.Duration(rapid.Int64Range(-2, 2).Draw(t, "d")) * time.Second)
	})
	gen := rapid.Custom(func(t *rapid.T) Object {
		switch rapid.IntRange(0, 2).Draw(t, "kind") {
		case 0:
			c := minimalEntry()
			c.Spec.Format = LogFormat(rapid.SampledFrom([]string{"", "text", "json", "xml"}).Draw(t, "format"))
			c.Spec.StartAt = StartPosition(rapid.SampledFrom([]string{"", "beginning", "end"}).Draw(t, "startAt"))
			c.Spec.MaxLineBytes = rapid.Int64Range(-1, 3).Draw(t, "maxLineBytes")
			c.Spec.ScanInterval = optDur.Draw(t, "scanInterval")
			c.Spec.CloseInactive = optDur.Draw(t, "closeInactive")
			if rapid.Bool().Draw(t, "multiline") {
				c.Spec.Multiline = &Multiline{
					Pattern:      rapid.SampledFrom([]string{"", "^ ", "("}).Draw(t, "pattern"),
					Match:        MultilineMatch(rapid.SampledFrom([]string{"", "after", "before"}).Draw(t, "match")),
					MaxLines:     rapid.IntRange(-1, 3).Draw(t, "maxLines"),
					MaxBytes:     rapid.Int64Range(-1, 3).Draw(t, "maxBytes"),
					FlushTimeout: optDur.Draw(t, "flushTimeout"),
				}
			}
			return c
		case 1:
			tp := minimalTopic()
			tp.Metadata.Name = rapid.SampledFrom([]string{"", "web_log", "a b"}).Draw(t, "name")
			tp.Spec.Partitions = rapid.Int32Range(-1, 3).Draw(t, "partitions")
			tp.Spec.ReplicationFactor = rapid.Int16Range(-2, 3).Draw(t, "replicationFactor")
			tp.Spec.DeletionPolicy = DeletionPolicy(rapid.SampledFrom([]string{"", "Retain", "Delete", "Keep"}).Draw(t, "deletionPolicy"))
			if rapid.Bool().Draw(t, "index") {
				tp.Spec.Index = &TopicIndex{
					Name:            rapid.SampledFrom([]string{"", "web", "web-{yyyy"}).Draw(t, "indexName"),
					DeadLetterTopic: rapid.SampledFrom([]string{"", "dlq", "web_log"}).Draw(t, "deadLetterTopic"),
				}
			}
			return tp
		default:
			it := minimalTemplate()
			it.Spec.DeletionPolicy = DeletionPolicy(rapid.SampledFrom([]string{"", "Retain", "Delete", "Keep"}).Draw(t, "deletionPolicy"))
			return it
		}
	})
	rapid.Check(t, func(t *rapid.T) {
		o := gen.Draw(t, "object")
		before := errText(o.Validate())
		o.Default()
		once := o.DeepCopyObject()
		o.Default()
		if diff := cmp.Diff(once, o); diff != "" {
			t.Fatalf("second Default changed the object (-once +twice):\n%s", diff)
		}
		if after := errText(o.Validate()); after != before {
			t.Fatalf("Validate changed with Default\nbefore: %s\n after: %s", before, after)
		}
	})
}
