package v1alpha1

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxIndexNameBytes is the longest index name Elasticsearch and OpenSearch
// accept, in bytes.
const MaxIndexNameBytes = 255

// indexNameForbidden lists the characters no index name may contain besides
// white space. ':' is included because Elasticsearch 7 and later reserve it
// for cross-cluster names.
const indexNameForbidden = `\/*?"<>|,#:`

// dateToken is one date field of an index name placeholder.
type dateToken uint8

const (
	partLiteral dateToken = iota // not a token: the part is literal text
	partYear4                    // yyyy
	partYear2                    // yy
	partMonth                    // MM
	partDay                      // dd
	partHour                     // HH
)

// dateTokens are tried in order, longest first, so that "yyyy" is not read
// as two "yy".
var dateTokens = []struct {
	text  string
	tok   dateToken
	width int
}{
	{"yyyy", partYear4, 4},
	{"yy", partYear2, 2},
	{"MM", partMonth, 2},
	{"dd", partDay, 2},
	{"HH", partHour, 2},
}

type namePart struct {
	tok dateToken
	lit string // the text of a partLiteral part
}

// IndexNamer is a compiled index name pattern such as "web-{yyyy.MM.dd}".
// Build one with CompileIndexName. It is safe for concurrent use.
type IndexNamer struct {
	pattern string
	parts   []namePart
	// static is true when the pattern has no placeholder; Name then always
	// returns pattern.
	static bool
	maxLen int
	// last caches the most recent name: consecutive documents nearly always
	// fall in the same hour, so Name allocates only when the hour changes.
	last atomic.Pointer[cachedName]
}

type cachedName struct {
	key  int64 // yyyymmddhh of the time the name was built for
	name string
}

// IndexNameError says why an index name pattern is not usable.
type IndexNameError struct {
	// Pattern is the pattern as given.
	Pattern string
	// Reason says what is wrong and what would have worked.
	Reason string
}

// Error returns `invalid index name pattern "<pattern>": <reason>`.
func (e *IndexNameError) Error() string {
	return fmt.Sprintf("invalid index name pattern %q: %s", e.Pattern, e.Reason)
}

// CompileIndexName parses an index name pattern. Literal text is kept as
// written; placeholders in braces hold Joda-style date tokens (yyyy, yy, MM,
// dd, HH) with '.', '-' or '_' between them, as in "web-{yyyy.MM.dd}". The
// pattern is rejected, with an *IndexNameError, unless every name it can
// produce is a legal index name: lower case, none of \ / * ? " < > | , # :
// or white space, not starting with '-', '_' or '+', not "." or "..", and at
// most MaxIndexNameBytes bytes long.
func CompileIndexName(pattern string) (*IndexNamer, error) {
	fail := func(format string, args ...any) (*IndexNamer, error) {
		return nil, &IndexNameError{Pattern: pattern, Reason: fmt.Sprintf(format, args...)}
	}
	if pattern == "" {
		return fail(`empty: want a name such as "web-{yyyy.MM.dd}"`)
	}
	n := &IndexNamer{pattern: pattern, static: true}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			n.parts = append(n.parts, namePart{lit: lit.String()})
			n.maxLen += lit.Len()
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); {
		r, size := utf8.DecodeRuneInString(pattern[i:])
		switch {
		case r == '{':
			end := strings.IndexByte(pattern[i:], '}')
			if end < 0 {
				return fail(`unclosed "{" at position %d: want a placeholder such as {yyyy.MM.dd}`, i+1)
			}
			body := pattern[i+1 : i+end]
			if j := strings.IndexByte(body, '{'); j >= 0 {
				return fail(`unclosed "{" at position %d: want a placeholder such as {yyyy.MM.dd}`, i+1)
			}
			flush()
			parts, width, err := parsePlaceholder(body, i+2)
			if err != "" {
				return fail("%s", err)
			}
			n.parts = append(n.parts, parts...)
			n.maxLen += width
			n.static = false
			i += end + 1
			continue
		case r == '}':
			return fail(`unmatched "}" at position %d: want placeholders such as {yyyy.MM.dd}`, i+1)
		case unicode.IsUpper(r):
			return fail("upper-case %q at position %d: index names must be lower case", string(r), i+1)
		case unicode.IsSpace(r) || strings.ContainsRune(indexNameForbidden, r):
			return fail(`%q at position %d: index names must not contain white space or any of \ / * ? " < > | , # :`, string(r), i+1)
		case r == utf8.RuneError && size == 1:
			return fail("invalid UTF-8 at position %d", i+1)
		}
		lit.WriteString(pattern[i : i+size])
		i += size
	}
	flush()
	if first := n.parts[0]; first.tok == partLiteral && strings.ContainsAny(first.lit[:1], "-_+") {
		return fail("starts with %q: index names must not start with '-', '_' or '+'", first.lit[:1])
	}
	if pattern == "." || pattern == ".." {
		return fail(`"." and ".." are not index names`)
	}
	if n.maxLen > MaxIndexNameBytes {
		return fail("names would be %d bytes long, want at most %d", n.maxLen, MaxIndexNameBytes)
	}
	return n, nil
}

// parsePlaceholder parses the text between braces, which starts at 1-based
// position pos of the pattern. It returns the parts, their total width and
// a reason when the text is not a placeholder.
func parsePlaceholder(body string, pos int) (parts []namePart, width int, reason string) {
	if body == "" {
		return nil, 0, fmt.Sprintf("empty placeholder at position %d: want date tokens such as {yyyy.MM.dd}", pos-1)
	}
	tokens := 0
	for i := 0; i < len(body); {
		if c := body[i]; c == '.' || c == '-' || c == '_' {
			parts = append(parts, namePart{lit: body[i : i+1]})
			width++
			i++
			continue
		}
		matched := false
		for _, t := range dateTokens {
			if strings.HasPrefix(body[i:], t.text) {
				parts = append(parts, namePart{tok: t.tok})
				width += t.width
				i += len(t.text)
				tokens++
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		// Quote the whole run of letters ("YYYY", "mm") rather than its
		// first letter, so the user sees which token was meant.
		end := i + 1
		for end < len(body) && isLetter(body[i]) && isLetter(body[end]) {
			end++
		}
		if !isLetter(body[i]) {
			_, size := utf8.DecodeRuneInString(body[i:])
			end = i + size
		}
		return nil, 0, fmt.Sprintf("unknown date token %q at position %d: want yyyy, yy, MM, dd or HH, separated by '.', '-' or '_'", body[i:end], pos+i)
	}
	if tokens == 0 {
		return nil, 0, fmt.Sprintf("placeholder at position %d has no date token: want one such as {yyyy.MM.dd}", pos-1)
	}
	return parts, width, ""
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// Pattern returns the pattern the namer was compiled from.
func (n *IndexNamer) Pattern() string { return n.pattern }

// Name returns the index name for a document with timestamp t: the
// placeholders filled from t in UTC. Years outside 0 to 9999 are clamped to
// that range so that every name keeps the length CompileIndexName checked.
// Name allocates only when t falls in another hour than the previous call's.
func (n *IndexNamer) Name(t time.Time) string {
	if n.static {
		return n.pattern
	}
	t = t.UTC()
	year, month, day := t.Date()
	hour := t.Hour()
	year = min(max(year, 0), 9999)
	key := ((int64(year)*100+int64(month))*100+int64(day))*100 + int64(hour)
	if c := n.last.Load(); c != nil && c.key == key {
		return c.name
	}
	var b strings.Builder
	b.Grow(n.maxLen)
	for _, p := range n.parts {
		switch p.tok {
		case partLiteral:
			b.WriteString(p.lit)
		case partYear4:
			writeDigits(&b, year/100)
			writeDigits(&b, year%100)
		case partYear2:
			writeDigits(&b, year%100)
		case partMonth:
			writeDigits(&b, int(month))
		case partDay:
			writeDigits(&b, day)
		case partHour:
			writeDigits(&b, hour)
		}
	}
	name := b.String()
	n.last.Store(&cachedName{key: key, name: name})
	return name
}

// writeDigits writes v, which is below 100, as two digits.
func writeDigits(b *strings.Builder, v int) {
	b.WriteByte(byte('0' + v/10))
	b.WriteByte(byte('0' + v%10))
}

// ExpandIndexName returns the index name pattern's name for time t, with
// date placeholders filled from t in UTC: "web-{yyyy.MM.dd}" on 6 December
// 2026 gives "web-2026.12.06". Callers naming many documents should compile
// the pattern once with CompileIndexName.
func ExpandIndexName(pattern string, t time.Time) (string, error) {
	n, err := CompileIndexName(pattern)
	if err != nil {
		return "", err
	}
	return n.Name(t), nil
}
