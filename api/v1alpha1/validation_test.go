package v1alpha1

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func minimalEntry() *CollectEntry {
	return &CollectEntry{
		Metadata: ObjectMeta{Name: "web-app"},
		Spec:     CollectEntrySpec{Paths: []string{"/var/log/web/*.log"}, Topic: "web_log"},
	}
}

func minimalTopic() *Topic {
	return &Topic{Metadata: ObjectMeta{Name: "web_log"}}
}

func minimalTemplate() *IndexTemplate {
	return &IndexTemplate{
		Metadata: ObjectMeta{Name: "web"},
		Spec:     IndexTemplateSpec{IndexPatterns: []string{"web-*"}},
	}
}

func entry(f func(*CollectEntry)) Object {
	c := minimalEntry()
	f(c)
	return c
}

func topic(f func(*Topic)) Object {
	t := minimalTopic()
	f(t)
	return t
}

func template(f func(*IndexTemplate)) Object {
	t := minimalTemplate()
	f(t)
	return t
}

func dur(d time.Duration) *Duration { return &Duration{d} }

func ptr[T any](v T) *T { return &v }

// asJSON shows an object in a test failure.
func asJSON(o any) string {
	b, err := json.Marshal(o)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestValidateRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name string
		obj  Object
		want string
	}{
		// Metadata, shared by every kind.
		{"name missing", entry(func(c *CollectEntry) { c.Metadata.Name = "" }),
			`CollectEntry: metadata.name: required`},
		{"name not DNS", entry(func(c *CollectEntry) { c.Metadata.Name = "Web_App" }),
			`CollectEntry "Web_App": metadata.name: invalid name "Web_App": want a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit`},
		{"name empty DNS part", template(func(t *IndexTemplate) { t.Metadata.Name = "web..logs" }),
			`IndexTemplate "web..logs": metadata.name: invalid name "web..logs": want a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit`},
		{"name DNS part ends with dash", template(func(t *IndexTemplate) { t.Metadata.Name = "web-.logs" }),
			`IndexTemplate "web-.logs": metadata.name: invalid name "web-.logs": want a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit`},
		{"name too long", entry(func(c *CollectEntry) { c.Metadata.Name = long(254) }),
			`CollectEntry "` + long(254) + `": metadata.name: invalid name "` + long(254) + `": 254 characters long, want at most 253`},
		{"label key with space", entry(func(c *CollectEntry) { c.Metadata.Labels = map[string]string{"bad key": "x"} }),
			`CollectEntry "web-app": metadata.labels["bad key"]: invalid label key "bad key": want letters, digits, '-', '_' and '.' after the optional prefix, starting and ending with a letter or digit`},
		{"label key prefix upper case", entry(func(c *CollectEntry) { c.Metadata.Labels = map[string]string{"Example.com/app": "x"} }),
			`CollectEntry "web-app": metadata.labels["Example.com/app"]: invalid label key "Example.com/app": prefix "Example.com" is not a DNS-1123 subdomain: want lower-case letters, digits, '-' and '.' before the '/', such as "example.com/"`},
		{"label key name too long", entry(func(c *CollectEntry) { c.Metadata.Labels = map[string]string{"example.com/" + long(64): "x"} }),
			`CollectEntry "web-app": metadata.labels["example.com/` + long(64) + `"]: invalid label key "example.com/` + long(64) + `": name 64 characters long, want at most 63`},
		{"label value starts with dash", entry(func(c *CollectEntry) { c.Metadata.Labels = map[string]string{"team": "-web"} }),
			`CollectEntry "web-app": metadata.labels["team"]: invalid label value "-web": want letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty`},
		{"label value too long", entry(func(c *CollectEntry) { c.Metadata.Labels = map[string]string{"team": long(64)} }),
			`CollectEntry "web-app": metadata.labels["team"]: invalid label value "` + long(64) + `": 64 characters long, want at most 63`},
		{"annotation key empty prefix", entry(func(c *CollectEntry) { c.Metadata.Annotations = map[string]string{"/note": "free text is fine"} }),
			`CollectEntry "web-app": metadata.annotations["/note"]: invalid annotation key "/note": prefix "" is not a DNS-1123 subdomain: want lower-case letters, digits, '-' and '.' before the '/', such as "example.com/"`},
		{"annotation key empty name", entry(func(c *CollectEntry) { c.Metadata.Annotations = map[string]string{"logpipe.io/": "x"} }),
			`CollectEntry "web-app": metadata.annotations["logpipe.io/"]: invalid annotation key "logpipe.io/": want a name of letters, digits, '-', '_' and '.', such as "app" or "example.com/app"`},

		// CollectEntry.
		{"no paths", entry(func(c *CollectEntry) { c.Spec.Paths = nil }),
			`CollectEntry "web-app": spec.paths: required: want at least one absolute glob such as "/var/log/app/*.log"`},
		{"empty path", entry(func(c *CollectEntry) { c.Spec.Paths = []string{""} }),
			`CollectEntry "web-app": spec.paths[0]: must not be empty: want an absolute glob such as "/var/log/app/*.log"`},
		{"malformed glob", entry(func(c *CollectEntry) { c.Spec.Paths = []string{"/var/log/*.log", "/var/log/[a"} }),
			`CollectEntry "web-app": spec.paths[1]: malformed glob "/var/log/[a"`},
		{"relative path", entry(func(c *CollectEntry) { c.Spec.Paths = []string{"var/log/*.log"} }),
			`CollectEntry "web-app": spec.paths[0]: path "var/log/*.log" is not absolute: want a path starting with "/"`},
		{"relative malformed path", entry(func(c *CollectEntry) { c.Spec.Paths = []string{"/ok/*.log", "[a"} }),
			`CollectEntry "web-app": spec.paths[1]: malformed glob "[a"` + "\n" +
				`CollectEntry "web-app": spec.paths[1]: path "[a" is not absolute: want a path starting with "/"`},
		{"malformed exclude", entry(func(c *CollectEntry) { c.Spec.Exclude = []string{"*.gz", "{a,b"} }),
			`CollectEntry "web-app": spec.exclude[1]: malformed glob "{a,b"`},
		{"empty exclude", entry(func(c *CollectEntry) { c.Spec.Exclude = []string{""} }),
			`CollectEntry "web-app": spec.exclude[0]: must not be empty: want a glob such as "/var/log/app/*.gz"`},
		{"no topic", entry(func(c *CollectEntry) { c.Spec.Topic = "" }),
			`CollectEntry "web-app": spec.topic: required: want the Kafka topic the lines go to`},
		{"topic with space", entry(func(c *CollectEntry) { c.Spec.Topic = "web log" }),
			`CollectEntry "web-app": spec.topic: invalid topic name "web log": " " at position 4 is not allowed: want only ASCII letters, digits, '.', '_' and '-'`},
		{"topic dot dot", entry(func(c *CollectEntry) { c.Spec.Topic = ".." }),
			`CollectEntry "web-app": spec.topic: invalid topic name "..": "." and ".." are not allowed`},
		{"topic non-ASCII", entry(func(c *CollectEntry) { c.Spec.Topic = "wéb" }),
			`CollectEntry "web-app": spec.topic: invalid topic name "wéb": "é" at position 2 is not allowed: want only ASCII letters, digits, '.', '_' and '-'`},
		{"unknown format", entry(func(c *CollectEntry) { c.Spec.Format = "xml" }),
			`CollectEntry "web-app": spec.format: unknown format "xml": want one of json, text`},
		{"unknown startAt", entry(func(c *CollectEntry) { c.Spec.StartAt = "middle" }),
			`CollectEntry "web-app": spec.startAt: unknown start position "middle": want one of beginning, end`},
		{"include regexp", entry(func(c *CollectEntry) { c.Spec.IncludeLines = []string{"ERROR", "("} }),
			`CollectEntry "web-app": spec.includeLines[1]: invalid regular expression "(": missing closing )`},
		{"exclude regexp with detail", entry(func(c *CollectEntry) { c.Spec.ExcludeLines = []string{`a(?P<>b)`} }),
			`CollectEntry "web-app": spec.excludeLines[0]: invalid regular expression "a(?P<>b)": invalid named capture in "(?P<>"`},
		{"exclude regexp Perl-only", entry(func(c *CollectEntry) { c.Spec.ExcludeLines = []string{`(?<=a)b`} }),
			`CollectEntry "web-app": spec.excludeLines[0]: invalid regular expression "(?<=a)b": invalid named capture`},
		{"multiline without pattern", entry(func(c *CollectEntry) { c.Spec.Multiline = &Multiline{} }),
			`CollectEntry "web-app": spec.multiline.pattern: required: want a regular expression such as "^[0-9]{4}-"`},
		{"multiline bad pattern", entry(func(c *CollectEntry) { c.Spec.Multiline = &Multiline{Pattern: "[a-"} }),
			`CollectEntry "web-app": spec.multiline.pattern: invalid regular expression "[a-": missing closing ]`},
		{"multiline unknown match", entry(func(c *CollectEntry) { c.Spec.Multiline = &Multiline{Pattern: "^ ", Match: "middle"} }),
			`CollectEntry "web-app": spec.multiline.match: unknown match "middle": want one of after, before`},
		{"multiline limits", entry(func(c *CollectEntry) {
			c.Spec.Multiline = &Multiline{Pattern: "^ ", MaxLines: -1, MaxBytes: -5, FlushTimeout: dur(0)}
		}),
			`CollectEntry "web-app": spec.multiline.maxLines: must be at least 1, got -1` + "\n" +
				`CollectEntry "web-app": spec.multiline.maxBytes: must be at least 1, got -5` + "\n" +
				`CollectEntry "web-app": spec.multiline.flushTimeout: must be a positive duration such as "10s", got "0s"`},
		{"fields empty key", entry(func(c *CollectEntry) { c.Spec.Fields = map[string]string{"": "x", "service": "web"} }),
			`CollectEntry "web-app": spec.fields[""]: key must not be empty: want a field name such as "service"`},
		{"negative maxLineBytes", entry(func(c *CollectEntry) { c.Spec.MaxLineBytes = -1 }),
			`CollectEntry "web-app": spec.maxLineBytes: must be at least 1, got -1`},
		{"negative durations", entry(func(c *CollectEntry) {
			c.Spec.ScanInterval = dur(-time.Second)
			c.Spec.CloseInactive = dur(0)
		}),
			`CollectEntry "web-app": spec.scanInterval: must be a positive duration such as "10s", got "-1s"` + "\n" +
				`CollectEntry "web-app": spec.closeInactive: must be a positive duration such as "10s", got "0s"`},
		{"selector matchLabels", entry(func(c *CollectEntry) {
			c.Spec.AgentSelector = &LabelSelector{MatchLabels: map[string]string{"role": "web server"}}
		}),
			`CollectEntry "web-app": spec.agentSelector.matchLabels["role"]: invalid label value "web server": want letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty`},
		{"selector expressions", entry(func(c *CollectEntry) {
			c.Spec.AgentSelector = &LabelSelector{MatchExpressions: []LabelSelectorRequirement{
				{Key: "role", Operator: SelectorOpIn},
				{Key: "role", Operator: SelectorOpNotIn},
				{Key: "role", Operator: SelectorOpExists, Values: []string{"web"}},
				{Key: "role", Operator: SelectorOpDoesNotExist, Values: []string{"web"}},
				{Key: "role", Operator: "Equals", Values: []string{"web"}},
				{Key: "role"},
				{Operator: SelectorOpExists},
				{Key: "a b", Operator: SelectorOpIn, Values: []string{"ok", "not ok"}},
			}}
		}),
			`CollectEntry "web-app": spec.agentSelector.matchExpressions[0].values: required for operator In: want at least one value` + "\n" +
				`CollectEntry "web-app": spec.agentSelector.matchExpressions[1].values: required for operator NotIn: want at least one value` + "\n" +
				`CollectEntry "web-app": spec.agentSelector.matchExpressions[2].values: must be empty for operator Exists` + "\n" +
				`CollectEntry "web-app": spec.agentSelector.matchExpressions[3].values: must be empty for operator DoesNotExist` + "\n" +
				`CollectEntry "web-app": spec.agentSelector.matchExpressions[4].operator: unknown operator "Equals": want one of DoesNotExist, Exists, In, NotIn` + "\n" +
				`CollectEntry "web-app": spec.agentSelector.matchExpressions[5].operator: required: want one of DoesNotExist, Exists, In, NotIn` + "\n" +
				`CollectEntry "web-app": spec.agentSelector.matchExpressions[6].key: required: want a label key such as "role"` + "\n" +
				`CollectEntry "web-app": spec.agentSelector.matchExpressions[7].key: invalid label key "a b": want letters, digits, '-', '_' and '.' after the optional prefix, starting and ending with a letter or digit` + "\n" +
				`CollectEntry "web-app": spec.agentSelector.matchExpressions[7].values[1]: invalid label value "not ok": want letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty`},

		// Topic.
		{"topic name missing", topic(func(t *Topic) { t.Metadata.Name = "" }),
			`Topic: metadata.name: required`},
		{"topic name with slash", topic(func(t *Topic) { t.Metadata.Name = "web/log" }),
			`Topic "web/log": metadata.name: invalid topic name "web/log": "/" at position 4 is not allowed: want only ASCII letters, digits, '.', '_' and '-'`},
		{"topic name dot", topic(func(t *Topic) { t.Metadata.Name = "." }),
			`Topic ".": metadata.name: invalid topic name ".": "." and ".." are not allowed`},
		{"topic name too long", topic(func(t *Topic) { t.Metadata.Name = long(250) }),
			`Topic "` + long(250) + `": metadata.name: invalid topic name "` + long(250) + `": 250 characters long, want at most 249`},
		{"negative partitions", topic(func(t *Topic) { t.Spec.Partitions = -3 }),
			`Topic "web_log": spec.partitions: must be at least 1, got -3`},
		{"replication factor -2", topic(func(t *Topic) { t.Spec.ReplicationFactor = -2 }),
			`Topic "web_log": spec.replicationFactor: must be -1 (the broker's default) or at least 1, got -2`},
		{"config keys and values", topic(func(t *Topic) {
			t.Spec.Config = map[string]string{"Retention.MS": "1", "": "x", "cleanup.policy": ""}
		}),
			`Topic "web_log": spec.config[""]: invalid config key: want lower-case letters, digits, '.', '_' and '-', such as "retention.ms"` + "\n" +
				`Topic "web_log": spec.config["Retention.MS"]: invalid config key: want lower-case letters, digits, '.', '_' and '-', such as "retention.ms"` + "\n" +
				`Topic "web_log": spec.config["cleanup.policy"]: value must not be empty: remove the key to keep the broker's default`},
		{"topic deletion policy", topic(func(t *Topic) { t.Spec.DeletionPolicy = "Keep" }),
			`Topic "web_log": spec.deletionPolicy: unknown deletion policy "Keep": want one of Delete, Retain`},
		{"index without name", topic(func(t *Topic) { t.Spec.Index = &TopicIndex{} }),
			`Topic "web_log": spec.index.name: required: want an index name pattern such as "web-{yyyy.MM.dd}"`},
		{"index name unclosed placeholder", topic(func(t *Topic) { t.Spec.Index = &TopicIndex{Name: "web-{yyyy.MM"} }),
			`Topic "web_log": spec.index.name: invalid index name pattern "web-{yyyy.MM": unclosed "{" at position 5: want a placeholder such as {yyyy.MM.dd}`},
		{"index name upper-case token", topic(func(t *Topic) { t.Spec.Index = &TopicIndex{Name: "web-{YYYY.MM.dd}"} }),
			`Topic "web_log": spec.index.name: invalid index name pattern "web-{YYYY.MM.dd}": unknown date token "YYYY" at position 6: want yyyy, yy, MM, dd or HH, separated by '.', '-' or '_'`},
		{"index name upper case", topic(func(t *Topic) { t.Spec.Index = &TopicIndex{Name: "Web-{yyyy}"} }),
			`Topic "web_log": spec.index.name: invalid index name pattern "Web-{yyyy}": upper-case "W" at position 1: index names must be lower case`},
		{"index name forbidden character", topic(func(t *Topic) { t.Spec.Index = &TopicIndex{Name: "web*"} }),
			`Topic "web_log": spec.index.name: invalid index name pattern "web*": "*" at position 4: index names must not contain white space or any of \ / * ? " < > | , # :`},
		{"index name leading underscore", topic(func(t *Topic) { t.Spec.Index = &TopicIndex{Name: "_web"} }),
			`Topic "web_log": spec.index.name: invalid index name pattern "_web": starts with "_": index names must not start with '-', '_' or '+'`},
		{"index name too long", topic(func(t *Topic) { t.Spec.Index = &TopicIndex{Name: long(246) + "-{yyyy.MM.dd}"} }),
			`Topic "web_log": spec.index.name: invalid index name pattern "` + long(246) + `-{yyyy.MM.dd}": names would be 257 bytes long, want at most 255`},
		{"index dead letter topic", topic(func(t *Topic) { t.Spec.Index = &TopicIndex{Name: "web", DeadLetterTopic: "web log.dlq"} }),
			`Topic "web_log": spec.index.deadLetterTopic: invalid topic name "web log.dlq": " " at position 4 is not allowed: want only ASCII letters, digits, '.', '_' and '-'`},
		{"index dead letters to itself", topic(func(t *Topic) { t.Spec.Index = &TopicIndex{Name: "web", DeadLetterTopic: "web_log"} }),
			`Topic "web_log": spec.index.deadLetterTopic: "web_log" is the topic itself: want another topic such as "web_log.dlq"`},
		{"index default dead-letter topic too long", topic(func(t *Topic) {
			t.Metadata.Name = long(249)
			t.Spec.Index = &TopicIndex{Name: "web"}
		}),
			`Topic "` + long(249) + `": spec.index.deadLetterTopic: invalid topic name "` + long(249) + `.dlq": 253 characters long, want at most 249: the default is the topic's name plus ".dlq"; set a shorter one`},
		{"index timestamp field", topic(func(t *Topic) { t.Spec.Index = &TopicIndex{Name: "web", TimestampField: "event.created."} }),
			`Topic "web_log": spec.index.timestampField: invalid field path "event.created.": want dot-separated names such as "event.created"`},

		// IndexTemplate.
		{"no index patterns", template(func(t *IndexTemplate) { t.Spec.IndexPatterns = nil }),
			`IndexTemplate "web": spec.indexPatterns: required: want at least one index pattern such as "web-*"`},
		{"bad index patterns", template(func(t *IndexTemplate) { t.Spec.IndexPatterns = []string{"Web-*", "web logs", "", "web,api", "web-*"} }),
			`IndexTemplate "web": spec.indexPatterns[0]: invalid index pattern "Web-*": upper-case "W" at position 1: index names are lower case` + "\n" +
				`IndexTemplate "web": spec.indexPatterns[1]: invalid index pattern "web logs": " " at position 4: index patterns must not contain white space or any of \ / ? " < > | , #` + "\n" +
				`IndexTemplate "web": spec.indexPatterns[2]: must not be empty: want an index pattern such as "web-*"` + "\n" +
				`IndexTemplate "web": spec.indexPatterns[3]: invalid index pattern "web,api": "," at position 4: index patterns must not contain white space or any of \ / ? " < > | , #`},
		{"negative priority and version", template(func(t *IndexTemplate) { t.Spec.Priority = ptr[int64](-1); t.Spec.Version = ptr[int64](-2) }),
			`IndexTemplate "web": spec.priority: must be at least 0, got -1` + "\n" +
				`IndexTemplate "web": spec.version: must be at least 0, got -2`},
		{"empty component template", template(func(t *IndexTemplate) { t.Spec.ComposedOf = []string{"base", ""} }),
			`IndexTemplate "web": spec.composedOf[1]: must not be empty: want a component template name`},
		{"raw blocks not objects", template(func(t *IndexTemplate) {
			t.Spec.Template = IndexTemplateBody{
				Settings: json.RawMessage(`[1]`),
				Mappings: json.RawMessage(`"text"`),
				Aliases:  json.RawMessage(`3`),
			}
			t.Spec.DataStream = json.RawMessage(`true`)
			t.Spec.Meta = json.RawMessage(`{"a":`)
		}),
			`IndexTemplate "web": spec.template.settings: must be a JSON object, got array` + "\n" +
				`IndexTemplate "web": spec.template.mappings: must be a JSON object, got string` + "\n" +
				`IndexTemplate "web": spec.template.aliases: must be a JSON object, got number` + "\n" +
				`IndexTemplate "web": spec.dataStream: must be a JSON object, got boolean` + "\n" +
				`IndexTemplate "web": spec.meta: must be a JSON object, got invalid JSON`},
		{"raw null", template(func(t *IndexTemplate) { t.Spec.Template.Settings = json.RawMessage(` null`) }),
			`IndexTemplate "web": spec.template.settings: must be a JSON object, got null`},
		{"template deletion policy", template(func(t *IndexTemplate) { t.Spec.DeletionPolicy = "retain" }),
			`IndexTemplate "web": spec.deletionPolicy: unknown deletion policy "retain": want one of Delete, Retain`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := asJSON(tt.obj)
			got := errText(tt.obj.Validate())
			if got != tt.want {
				t.Errorf("Validate(%s)\n got: %s\nwant: %s", in, got, tt.want)
			}
			tt.obj.Default()
			if again := errText(tt.obj.Validate()); again != got {
				t.Errorf("Validate after Default(%s)\n got: %s\nwant: %s", in, again, got)
			}
		})
	}
}

// TestValidateTypeMeta checks the header of objects built in code: wrong
// values are reported, and Default, which sets them, repairs them.
func TestValidateTypeMeta(t *testing.T) {
	c := minimalEntry()
	c.TypeMeta = TypeMeta{APIVersion: "v1", Kind: "Topic"}
	want := `CollectEntry "web-app": apiVersion: got "v1", want "logpipe.io/v1alpha1"` + "\n" +
		`CollectEntry "web-app": kind: got "Topic", want "CollectEntry"`
	if got := errText(c.Validate()); got != want {
		t.Errorf("Validate(%s)\n got: %s\nwant: %s", asJSON(c), got, want)
	}
	c.Default()
	if got := errText(c.Validate()); got != "<nil>" {
		t.Errorf("Validate(%s) after Default\n got: %s\nwant: <nil>", asJSON(c), got)
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		obj  Object
	}{
		{"minimal entry", minimalEntry()},
		{"minimal topic", minimalTopic()},
		{"minimal template", minimalTemplate()},
		{"entry with everything", entry(func(c *CollectEntry) {
			c.Metadata.Labels = map[string]string{"app": "web", "example.com/tier": "front_end.v2", "empty": ""}
			c.Metadata.Annotations = map[string]string{"logpipe.io/applyset": "anything at all: spaces, UPPER"}
			c.Spec.Paths = []string{"/var/log/**/*.log", "/srv/{a,b}/[0-9].log"}
			c.Spec.Exclude = []string{"*.gz", "/var/log/**/old/*"}
			c.Spec.Topic = "Web.Log-2_x"
			c.Spec.AgentSelector = &LabelSelector{
				MatchLabels: map[string]string{"role": "web"},
				MatchExpressions: []LabelSelectorRequirement{
					{Key: "zone", Operator: SelectorOpIn, Values: []string{"a", "b"}},
					{Key: "canary", Operator: SelectorOpDoesNotExist},
				},
			}
			c.Spec.Format = FormatJSON
			c.Spec.Multiline = &Multiline{Pattern: `^\s`, Match: MultilineBefore, MaxLines: 1, MaxBytes: 1, FlushTimeout: dur(time.Millisecond)}
			c.Spec.IncludeLines = []string{"ERROR|WARN"}
			c.Spec.ExcludeLines = []string{"^DEBUG"}
			c.Spec.Fields = map[string]string{"service": "web"}
			c.Spec.StartAt = StartEnd
			c.Spec.MaxLineBytes = 1
		})},
		{"topic with everything", topic(func(t *Topic) {
			t.Spec.Partitions = 12
			t.Spec.ReplicationFactor = 3
			t.Spec.Config = map[string]string{"retention.ms": "604800000", "cleanup.policy": "compact,delete"}
			t.Spec.DeletionPolicy = DeletionDelete
			t.Spec.Index = &TopicIndex{Name: "web-{yyyy.MM.dd}-{HH}", TimestampField: "event.created", DeadLetterTopic: "errors", DataStream: true, Pipeline: "geoip"}
		})},
		{"topic named 249 characters", topic(func(t *Topic) { t.Metadata.Name = strings.Repeat("x", 249) })},
		{"template with everything", template(func(t *IndexTemplate) {
			t.Spec.IndexPatterns = []string{"web-*", "api-2026.*"}
			t.Spec.Priority = ptr[int64](0)
			t.Spec.Version = ptr[int64](7)
			t.Spec.ComposedOf = []string{"base"}
			t.Spec.Template = IndexTemplateBody{Settings: json.RawMessage(` {"number_of_shards": 1}`), Mappings: json.RawMessage(`{}`), Aliases: json.RawMessage(`{"web": {}}`)}
			t.Spec.DataStream = json.RawMessage(`{}`)
			t.Spec.Meta = json.RawMessage(`{"owner": "web"}`)
			t.Spec.DeletionPolicy = DeletionDelete
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.obj.Validate(); err != nil {
				t.Errorf("Validate(%s)\n got: %v\nwant: <nil>", asJSON(tt.obj), err)
			}
		})
	}
}

// TestValidateReportsEveryProblem checks that problems in different parts
// of one object are all reported, in field order, as one *ValidationError.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := &CollectEntry{
		Metadata: ObjectMeta{Name: "Web", Labels: map[string]string{"team": "a b"}},
		Spec: CollectEntrySpec{
			Paths:        []string{"/ok/*.log", "/var/log/[a", "relative.log"},
			Topic:        "web log",
			Format:       "xml",
			Multiline:    &Multiline{Pattern: "(", MaxLines: -1},
			IncludeLines: []string{"["},
			StartAt:      "now",
			ScanInterval: dur(-time.Second),
		},
	}
	err := c.Validate()
	want := []FieldError{
		{"metadata.name", `invalid name "Web": want a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit`},
		{`metadata.labels["team"]`, `invalid label value "a b": want letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty`},
		{"spec.paths[1]", `malformed glob "/var/log/[a"`},
		{"spec.paths[2]", `path "relative.log" is not absolute: want a path starting with "/"`},
		{"spec.topic", `invalid topic name "web log": " " at position 4 is not allowed: want only ASCII letters, digits, '.', '_' and '-'`},
		{"spec.format", `unknown format "xml": want one of json, text`},
		{"spec.multiline.pattern", `invalid regular expression "(": missing closing )`},
		{"spec.multiline.maxLines", `must be at least 1, got -1`},
		{"spec.includeLines[0]", `invalid regular expression "[": missing closing ]`},
		{"spec.startAt", `unknown start position "now": want one of beginning, end`},
		{"spec.scanInterval", `must be a positive duration such as "10s", got "-1s"`},
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate(%s) = %v (%T), want a *ValidationError", asJSON(c), err, err)
	}
	if ve.Kind != KindCollectEntry || ve.Name != "Web" {
		t.Errorf("ValidationError names %s %q, want CollectEntry \"Web\"", ve.Kind, ve.Name)
	}
	if diff := cmp.Diff(want, ve.Errors); diff != "" {
		t.Errorf("Validate(%s) problems (-want +got):\n%s", asJSON(c), diff)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("Error() has %d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i, l := range lines {
		if w := `CollectEntry "Web": ` + want[i].Field + ": " + want[i].Reason; l != w {
			t.Errorf("Error() line %d\n got: %s\nwant: %s", i+1, l, w)
		}
	}
}

func TestValidTopicName(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"web_log", "<nil>"},
		{"a", "<nil>"},
		{"A.b-C_9", "<nil>"},
		{"...", "<nil>"},
		{"", `invalid topic name "": want 1 to 249 ASCII letters, digits, '.', '_' or '-'`},
		{".", `invalid topic name ".": "." and ".." are not allowed`},
		{"..", `invalid topic name "..": "." and ".." are not allowed`},
		{"web:log", `invalid topic name "web:log": ":" at position 4 is not allowed: want only ASCII letters, digits, '.', '_' and '-'`},
		{strings.Repeat("t", 249), "<nil>"},
		{strings.Repeat("t", 250), `invalid topic name "` + strings.Repeat("t", 250) + `": 250 characters long, want at most 249`},
	}
	for _, tt := range tests {
		if got := errText(ValidTopicName(tt.in)); got != tt.want {
			t.Errorf("ValidTopicName(%q)\n got: %s\nwant: %s", tt.in, got, tt.want)
		}
	}
}
