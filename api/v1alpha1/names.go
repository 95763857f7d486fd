package v1alpha1

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTopicNameLength is the longest topic name Kafka accepts.
const MaxTopicNameLength = 249

// ValidTopicName reports whether s is a legal Kafka topic name: 1 to 249
// ASCII letters, digits, '.', '_' and '-', and neither "." nor "..". The
// error names the topic and what would have been legal.
func ValidTopicName(s string) error {
	if s == "" {
		return errors.New(`invalid topic name "": want 1 to 249 ASCII letters, digits, '.', '_' or '-'`)
	}
	if s == "." || s == ".." {
		return fmt.Errorf(`invalid topic name %q: "." and ".." are not allowed`, s)
	}
	if len(s) > MaxTopicNameLength {
		return fmt.Errorf("invalid topic name %q: %d characters long, want at most %d", s, len(s), MaxTopicNameLength)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("invalid topic name %q: %s at position %d is not allowed: want only ASCII letters, digits, '.', '_' and '-'", s, quoteByteAt(s, i), i+1)
		}
	}
	return nil
}

// maxDNSSubdomainLength is the longest DNS-1123 subdomain.
const maxDNSSubdomainLength = 253

// validDNSSubdomain reports whether s is a DNS-1123 subdomain: dot-separated
// parts of lower-case letters, digits and '-', each starting and ending with
// a letter or digit, 253 characters at most.
func validDNSSubdomain(s string) error {
	if len(s) > maxDNSSubdomainLength {
		return fmt.Errorf("invalid name %q: %d characters long, want at most %d", s, len(s), maxDNSSubdomainLength)
	}
	if !isDNSSubdomain(s) {
		return fmt.Errorf("invalid name %q: want a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit", s)
	}
	return nil
}

func isDNSSubdomain(s string) bool {
	if s == "" {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || !isLowerAlnum(part[0]) || !isLowerAlnum(part[len(part)-1]) {
			return false
		}
		for i := 0; i < len(part); i++ {
			if !isLowerAlnum(part[i]) && part[i] != '-' {
				return false
			}
		}
	}
	return true
}

// maxLabelNameLength is the longest label value, and the longest label key
// after its optional prefix.
const maxLabelNameLength = 63

// validLabelKey reports whether k is a legal label or annotation key, as in
// Kubernetes: an optional DNS-1123 subdomain prefix and '/', then a name of
// at most 63 letters, digits, '-', '_' and '.' that starts and ends with a
// letter or digit. what says which kind of key ("label", "annotation").
func validLabelKey(what, k string) error {
	name := k
	if prefix, rest, ok := strings.Cut(k, "/"); ok {
		if prefix == "" || !isDNSSubdomain(prefix) || len(prefix) > maxDNSSubdomainLength {
			return fmt.Errorf("invalid %s key %q: prefix %q is not a DNS-1123 subdomain: want lower-case letters, digits, '-' and '.' before the '/', such as \"example.com/\"", what, k, prefix)
		}
		name = rest
	}
	if name == "" {
		return fmt.Errorf("invalid %s key %q: want a name of letters, digits, '-', '_' and '.', such as \"app\" or \"example.com/app\"", what, k)
	}
	if len(name) > maxLabelNameLength {
		return fmt.Errorf("invalid %s key %q: name %d characters long, want at most %d", what, k, len(name), maxLabelNameLength)
	}
	if !isLabelName(name) {
		return fmt.Errorf("invalid %s key %q: want letters, digits, '-', '_' and '.' after the optional prefix, starting and ending with a letter or digit", what, k)
	}
	return nil
}

// validLabelValue reports whether v is a legal label value: empty, or at
// most 63 letters, digits, '-', '_' and '.' that start and end with a letter
// or digit.
func validLabelValue(v string) error {
	if len(v) > maxLabelNameLength {
		return fmt.Errorf("invalid label value %q: %d characters long, want at most %d", v, len(v), maxLabelNameLength)
	}
	if v != "" && !isLabelName(v) {
		return fmt.Errorf("invalid label value %q: want letters, digits, '-', '_' and '.', starting and ending with a letter or digit, or empty", v)
	}
	return nil
}

func isLabelName(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isLowerAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
}

// quoteByteAt quotes the character at byte offset i of s for an error
// message, decoding a whole UTF-8 sequence when one starts there.
func quoteByteAt(s string, i int) string {
	for _, r := range s[i:] {
		return fmt.Sprintf("%q", string(r))
	}
	return `""`
}

// ParseLabels parses "k=v,k2=v2" (as given to logpipe agent --labels) into
// labels, checking keys and values as metadata.labels are checked. An empty
// string gives no labels.
func ParseLabels(s string) (map[string]string, error) {
	labels := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("label %q: want key=value", kv)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if err := validLabelKey("label", k); err != nil {
			return nil, err
		}
		if err := validLabelValue(v); err != nil {
			return nil, err
		}
		if _, dup := labels[k]; dup {
			return nil, fmt.Errorf("label %q given twice", k)
		}
		labels[k] = v
	}
	return labels, nil
}
