package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/bmatcuk/doublestar/v4"
)

// FieldError is one problem with one field of an object.
type FieldError struct {
	// Field is the path of the field in the document, such as
	// "spec.paths[1]", "metadata.name" or `spec.config["retention.ms"]`.
	Field string
	// Reason says what is wrong and what would have worked.
	Reason string
}

// Error returns "<field>: <reason>".
func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// ValidationError lists every problem of one object.
type ValidationError struct {
	// Kind and Name identify the object. Name is empty when the object has
	// none, and Kind when the document's kind is missing or unknown.
	Kind Kind
	Name string
	// Errors holds one entry per problem, in the order of the fields.
	Errors []FieldError
}

// Error returns one line per problem, joined by "\n", each naming the
// object: `CollectEntry "web-app": spec.paths[1]: malformed glob "[a"`.
// Without a name a line starts `CollectEntry: `, and without a kind with
// the field.
func (e *ValidationError) Error() string {
	var prefix string
	switch {
	case e.Kind == "":
	case e.Name == "":
		prefix = string(e.Kind) + ": "
	default:
		prefix = string(e.Kind) + " " + strconv.Quote(e.Name) + ": "
	}
	var b strings.Builder
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(prefix)
		b.WriteString(fe.Error())
	}
	return b.String()
}

// fieldErrors collects the problems of one object.
type fieldErrors []FieldError

func (fe *fieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (fe *fieldErrors) addErr(field string, err error) {
	if err != nil {
		*fe = append(*fe, FieldError{Field: field, Reason: err.Error()})
	}
}

// result returns nil or the *ValidationError for the collected problems.
func (fe fieldErrors) result(kind Kind, name string) error {
	if len(fe) == 0 {
		return nil
	}
	return &ValidationError{Kind: kind, Name: name, Errors: fe}
}

func indexPath(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

func keyPath(field, key string) string { return field + "[" + strconv.Quote(key) + "]" }

// sortedKeys returns m's keys in order, so that problems are reported in
// the same order every time.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// oneOf formats allowed values for "want one of ...", sorted.
func oneOf[S ~string](values ...S) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

// Validate reports every problem of the entry at once as a
// *ValidationError, or returns nil. Unset optional fields are valid (they
// stand for their defaults), so Validate gives the same answer before and
// after Default.
func (c *CollectEntry) Validate() error {
	var fe fieldErrors
	validateTypeMeta(&fe, &c.TypeMeta, KindCollectEntry)
	validateMeta(&fe, &c.Metadata, validDNSSubdomain)
	s := &c.Spec
	if len(s.Paths) == 0 {
		fe.add("spec.paths", `required: want at least one absolute glob such as "/var/log/app/*.log"`)
	}
	for i, p := range s.Paths {
		field := indexPath("spec.paths", i)
		if p == "" {
			fe.add(field, `must not be empty: want an absolute glob such as "/var/log/app/*.log"`)
			continue
		}
		if !doublestar.ValidatePattern(p) {
			fe.add(field, "malformed glob %q", p)
		}
		if !strings.HasPrefix(p, "/") {
			fe.add(field, `path %q is not absolute: want a path starting with "/"`, p)
		}
	}
	for i, p := range s.Exclude {
		field := indexPath("spec.exclude", i)
		switch {
		case p == "":
			fe.add(field, `must not be empty: want a glob such as "/var/log/app/*.gz"`)
		case !doublestar.ValidatePattern(p):
			fe.add(field, "malformed glob %q", p)
		}
	}
	if s.Topic == "" {
		fe.add("spec.topic", "required: want the Kafka topic the lines go to")
	} else {
		fe.addErr("spec.topic", ValidTopicName(s.Topic))
	}
	if s.AgentSelector != nil {
		validateLabelSelector(&fe, "spec.agentSelector", s.AgentSelector)
	}
	switch s.Format {
	case "", FormatText, FormatJSON:
	default:
		fe.add("spec.format", "unknown format %q: want one of %s", s.Format, oneOf(FormatText, FormatJSON))
	}
	if m := s.Multiline; m != nil {
		if m.Pattern == "" {
			fe.add("spec.multiline.pattern", `required: want a regular expression such as "^[0-9]{4}-"`)
		} else {
			fe.addErr("spec.multiline.pattern", validRegexp(m.Pattern))
		}
		switch m.Match {
		case "", MultilineAfter, MultilineBefore:
		default:
			fe.add("spec.multiline.match", "unknown match %q: want one of %s", m.Match, oneOf(MultilineAfter, MultilineBefore))
		}
		if m.MaxLines < 0 {
			fe.add("spec.multiline.maxLines", "must be at least 1, got %d", m.MaxLines)
		}
		if m.MaxBytes < 0 {
			fe.add("spec.multiline.maxBytes", "must be at least 1, got %d", m.MaxBytes)
		}
		validatePositive(&fe, "spec.multiline.flushTimeout", m.FlushTimeout)
	}
	for i, re := range s.IncludeLines {
		fe.addErr(indexPath("spec.includeLines", i), validRegexp(re))
	}
	for i, re := range s.ExcludeLines {
		fe.addErr(indexPath("spec.excludeLines", i), validRegexp(re))
	}
	for _, k := range sortedKeys(s.Fields) {
		if k == "" {
			fe.add(keyPath("spec.fields", k), `key must not be empty: want a field name such as "service"`)
		}
	}
	switch s.StartAt {
	case "", StartBeginning, StartEnd:
	default:
		fe.add("spec.startAt", "unknown start position %q: want one of %s", s.StartAt, oneOf(StartBeginning, StartEnd))
	}
	if s.MaxLineBytes < 0 {
		fe.add("spec.maxLineBytes", "must be at least 1, got %d", s.MaxLineBytes)
	}
	validatePositive(&fe, "spec.scanInterval", s.ScanInterval)
	validatePositive(&fe, "spec.closeInactive", s.CloseInactive)
	return fe.result(KindCollectEntry, c.Metadata.Name)
}

// Validate reports every problem of the topic at once as a
// *ValidationError, or returns nil. Unset optional fields are valid (they
// stand for their defaults), so Validate gives the same answer before and
// after Default.
func (t *Topic) Validate() error {
	var fe fieldErrors
	validateTypeMeta(&fe, &t.TypeMeta, KindTopic)
	validateMeta(&fe, &t.Metadata, ValidTopicName)
	s := &t.Spec
	if s.Partitions < 0 {
		fe.add("spec.partitions", "must be at least 1, got %d", s.Partitions)
	}
	if s.ReplicationFactor < -1 {
		fe.add("spec.replicationFactor", "must be -1 (the broker's default) or at least 1, got %d", s.ReplicationFactor)
	}
	for _, k := range sortedKeys(s.Config) {
		field := keyPath("spec.config", k)
		if !isConfigKey(k) {
			fe.add(field, `invalid config key: want lower-case letters, digits, '.', '_' and '-', such as "retention.ms"`)
		}
		if s.Config[k] == "" {
			fe.add(field, "value must not be empty: remove the key to keep the broker's default")
		}
	}
	validateDeletionPolicy(&fe, s.DeletionPolicy)
	if ix := s.Index; ix != nil {
		if ix.Name == "" {
			fe.add("spec.index.name", `required: want an index name pattern such as "web-{yyyy.MM.dd}"`)
		} else if _, err := CompileIndexName(ix.Name); err != nil {
			fe.addErr("spec.index.name", err)
		}
		if ix.TimestampField != "" && slices.Contains(strings.Split(ix.TimestampField, "."), "") {
			fe.add("spec.index.timestampField", `invalid field path %q: want dot-separated names such as "event.created"`, ix.TimestampField)
		}
		validateDeadLetterTopic(&fe, t.Metadata.Name, ix.DeadLetterTopic)
	}
	return fe.result(KindTopic, t.Metadata.Name)
}

// validateDeadLetterTopic checks the dead-letter topic of the topic named
// name, or the default Default would give it, so that Validate's verdict
// does not depend on whether Default ran.
func validateDeadLetterTopic(fe *fieldErrors, name, dlq string) {
	const field = "spec.index.deadLetterTopic"
	derived := name + DeadLetterSuffix
	if dlq == "" || dlq == derived {
		// A default derived from an invalid name is invalid for the same
		// reason, which metadata.name already reports.
		if name == "" || ValidTopicName(name) != nil {
			return
		}
		if err := ValidTopicName(derived); err != nil {
			fe.add(field, "%v: the default is the topic's name plus %q; set a shorter one", err, DeadLetterSuffix)
		}
		return
	}
	if err := ValidTopicName(dlq); err != nil {
		fe.addErr(field, err)
	} else if dlq == name {
		fe.add(field, "%q is the topic itself: want another topic such as %q", dlq, derived)
	}
}

// Validate reports every problem of the template at once as a
// *ValidationError, or returns nil. Unset optional fields are valid (they
// stand for their defaults), so Validate gives the same answer before and
// after Default.
func (t *IndexTemplate) Validate() error {
	var fe fieldErrors
	validateTypeMeta(&fe, &t.TypeMeta, KindIndexTemplate)
	validateMeta(&fe, &t.Metadata, validDNSSubdomain)
	s := &t.Spec
	if len(s.IndexPatterns) == 0 {
		fe.add("spec.indexPatterns", `required: want at least one index pattern such as "web-*"`)
	}
	for i, p := range s.IndexPatterns {
		fe.addErr(indexPath("spec.indexPatterns", i), validIndexPattern(p))
	}
	if s.Priority != nil && *s.Priority < 0 {
		fe.add("spec.priority", "must be at least 0, got %d", *s.Priority)
	}
	if s.Version != nil && *s.Version < 0 {
		fe.add("spec.version", "must be at least 0, got %d", *s.Version)
	}
	for i, name := range s.ComposedOf {
		if name == "" {
			fe.add(indexPath("spec.composedOf", i), "must not be empty: want a component template name")
		}
	}
	fe.addErr("spec.template.settings", jsonObject(s.Template.Settings))
	fe.addErr("spec.template.mappings", jsonObject(s.Template.Mappings))
	fe.addErr("spec.template.aliases", jsonObject(s.Template.Aliases))
	fe.addErr("spec.dataStream", jsonObject(s.DataStream))
	fe.addErr("spec.meta", jsonObject(s.Meta))
	validateDeletionPolicy(&fe, s.DeletionPolicy)
	return fe.result(KindIndexTemplate, t.Metadata.Name)
}

// validateTypeMeta checks apiVersion and kind when they are set; Default
// sets them, so empty values are not an error.
func validateTypeMeta(fe *fieldErrors, tm *TypeMeta, kind Kind) {
	if tm.APIVersion != "" && tm.APIVersion != APIVersion {
		fe.add("apiVersion", "got %q, want %q", tm.APIVersion, APIVersion)
	}
	if tm.Kind != "" && tm.Kind != string(kind) {
		fe.add("kind", "got %q, want %q", tm.Kind, string(kind))
	}
}

// validateMeta checks the name with validName, and the labels and
// annotations with Kubernetes' rules.
func validateMeta(fe *fieldErrors, m *ObjectMeta, validName func(string) error) {
	if m.Name == "" {
		fe.add("metadata.name", "required")
	} else {
		fe.addErr("metadata.name", validName(m.Name))
	}
	for _, k := range sortedKeys(m.Labels) {
		field := keyPath("metadata.labels", k)
		fe.addErr(field, validLabelKey("label", k))
		fe.addErr(field, validLabelValue(m.Labels[k]))
	}
	for _, k := range sortedKeys(m.Annotations) {
		fe.addErr(keyPath("metadata.annotations", k), validLabelKey("annotation", k))
	}
}

// validateLabelSelector checks ls, whose field path is field ("" when ls is
// not part of an object).
func validateLabelSelector(fe *fieldErrors, field string, ls *LabelSelector) {
	if field != "" {
		field += "."
	}
	for _, k := range sortedKeys(ls.MatchLabels) {
		f := keyPath(field+"matchLabels", k)
		fe.addErr(f, validLabelKey("label", k))
		fe.addErr(f, validLabelValue(ls.MatchLabels[k]))
	}
	for i, r := range ls.MatchExpressions {
		f := indexPath(field+"matchExpressions", i)
		if r.Key == "" {
			fe.add(f+".key", "required: want a label key such as \"role\"")
		} else {
			fe.addErr(f+".key", validLabelKey("label", r.Key))
		}
		switch r.Operator {
		case SelectorOpIn, SelectorOpNotIn:
			if len(r.Values) == 0 {
				fe.add(f+".values", "required for operator %s: want at least one value", r.Operator)
			}
		case SelectorOpExists, SelectorOpDoesNotExist:
			if len(r.Values) != 0 {
				fe.add(f+".values", "must be empty for operator %s", r.Operator)
			}
		case "":
			fe.add(f+".operator", "required: want one of %s", oneOf(selectorOperators...))
		default:
			fe.add(f+".operator", "unknown operator %q: want one of %s", r.Operator, oneOf(selectorOperators...))
		}
		for j, v := range r.Values {
			fe.addErr(indexPath(f+".values", j), validLabelValue(v))
		}
	}
}

var selectorOperators = []SelectorOperator{SelectorOpIn, SelectorOpNotIn, SelectorOpExists, SelectorOpDoesNotExist}

func validateDeletionPolicy(fe *fieldErrors, p DeletionPolicy) {
	switch p {
	case "", DeletionRetain, DeletionDelete:
	default:
		fe.add("spec.deletionPolicy", "unknown deletion policy %q: want one of %s", p, oneOf(DeletionRetain, DeletionDelete))
	}
}

// validatePositive checks an optional duration; nil stands for its default.
func validatePositive(fe *fieldErrors, field string, d *Duration) {
	if d != nil && d.Duration <= 0 {
		fe.add(field, "must be a positive duration such as \"10s\", got %q", d.String())
	}
}

// validRegexp compiles re as RE2 and explains why it does not compile.
func validRegexp(re string) error {
	_, err := regexp.Compile(re)
	if err == nil {
		return nil
	}
	if se, ok := err.(*syntax.Error); ok {
		if se.Expr != "" && se.Expr != re {
			return fmt.Errorf("invalid regular expression %q: %s in %q", re, se.Code, se.Expr)
		}
		return fmt.Errorf("invalid regular expression %q: %s", re, se.Code)
	}
	return fmt.Errorf("invalid regular expression %q: %w", re, err)
}

// isConfigKey reports whether k looks like a Kafka config name. The names
// themselves are not checked against a list: brokers of different versions
// know different ones, and the broker's answer is authoritative.
func isConfigKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !isLowerAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// indexPatternForbidden lists the characters an index template pattern may
// not contain besides white space; '*' is allowed as the wildcard.
const indexPatternForbidden = `\/?"<>|,#`

func validIndexPattern(p string) error {
	if p == "" {
		return errors.New(`must not be empty: want an index pattern such as "web-*"`)
	}
	for i, r := range p {
		switch {
		case unicode.IsUpper(r):
			return fmt.Errorf("invalid index pattern %q: upper-case %q at position %d: index names are lower case", p, string(r), i+1)
		case unicode.IsSpace(r) || strings.ContainsRune(indexPatternForbidden, r):
			return fmt.Errorf(`invalid index pattern %q: %q at position %d: index patterns must not contain white space or any of \ / ? " < > | , #`, p, string(r), i+1)
		}
	}
	return nil
}

// jsonObject reports whether raw, when set, is a JSON object.
func jsonObject(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	if !json.Valid(raw) {
		return errors.New("must be a JSON object, got invalid JSON")
	}
	var got string
	switch b := bytes.TrimLeft(raw, " \t\r\n"); b[0] {
	case '{':
		return nil
	case '[':
		got = "array"
	case '"':
		got = "string"
	case 't', 'f':
		got = "boolean"
	case 'n':
		got = "null"
	default:
		got = "number"
	}
	return fmt.Errorf("must be a JSON object, got %s", got)
}
