package transfer

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// This file holds a small validating JSON scanner. It exists for speed: the
// transfer must check that a JSON line is one object and find its top-level
// members (to detect names that collide with the fields logpipe adds, and
// to read the timestamp field) without building a map[string]any, which
// costs more than everything else the transfer does per line together.
// It follows RFC 8259; input is valid UTF-8 by the time it gets here.

// maxJSONDepth bounds nesting, as encoding/json does, so a line of ten
// thousand '[' cannot exhaust the stack.
const maxJSONDepth = 10000

// member is one top-level member of an object: the key's raw bytes (between
// the quotes, escapes not decoded) and the value's span.
type member struct {
	keyStart, keyEnd int // inside the quotes
	valStart, valEnd int
	keyEscaped       bool
}

// syntaxError says where a line stopped being JSON.
type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string {
	return e.msg + " at byte " + strconv.Itoa(e.offset)
}

var errNotObject = errors.New("not a JSON object")

// scanObject checks that b is exactly one JSON object, surrounded by
// optional white space, and appends its top-level members to ms.
func scanObject(b []byte, ms []member) ([]member, error) {
	i := skipSpace(b, 0)
	if i >= len(b) {
		return ms, &syntaxError{"unexpected end of input", i}
	}
	if b[i] != '{' {
		// Still tell a malformed line from a valid non-object one.
		if end, err := scanValue(b, i, 0); err != nil {
			return ms, err
		} else if skipSpace(b, end) != len(b) {
			return ms, &syntaxError{"invalid character " + quoteChar(b[skipSpace(b, end)]) + " after top-level value", skipSpace(b, end)}
		}
		return ms, errNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return ms, checkTrailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return ms, expected(b, i, "'\"' starting an object key")
		}
		end, escaped, err := scanString(b, i)
		if err != nil {
			return ms, err
		}
		m := member{keyStart: i + 1, keyEnd: end - 1, keyEscaped: escaped}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return ms, expected(b, i, "':' after object key")
		}
		i = skipSpace(b, i+1)
		m.valStart = i
		if i, err = scanValue(b, i, 1); err != nil {
			return ms, err
		}
		m.valEnd = i
		ms = append(ms, m)
		i = skipSpace(b, i)
		if i >= len(b) {
			return ms, &syntaxError{"unexpected end of input", i}
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return ms, checkTrailing(b, i+1)
		default:
			return ms, expected(b, i, "',' or '}' after object member")
		}
	}
}

func checkTrailing(b []byte, i int) error {
	if j := skipSpace(b, i); j != len(b) {
		return &syntaxError{"invalid character " + quoteChar(b[j]) + " after top-level value", j}
	}
	return nil
}

func expected(b []byte, i int, what string) error {
	if i >= len(b) {
		return &syntaxError{"unexpected end of input, want " + what, i}
	}
	return &syntaxError{"invalid character " + quoteChar(b[i]) + ", want " + what, i}
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c < 0x20 || c >= 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "'" + string(c) + "'"
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanValue returns the end of the value starting at b[i].
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, &syntaxError{"unexpected end of input, want a value", i}
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{':
		return scanNested(b, i, depth, '}')
	case c == '[':
		return scanNested(b, i, depth, ']')
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	}
	return i, expected(b, i, "a value")
}

func scanNested(b []byte, i, depth int, closer byte) (int, error) {
	if depth >= maxJSONDepth {
		return i, &syntaxError{"nested too deeply", i}
	}
	start := i
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		if closer == '}' {
			if i >= len(b) || b[i] != '"' {
				return i, expected(b, i, "'\"' starting an object key")
			}
			end, _, err := scanString(b, i)
			if err != nil {
				return i, err
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return i, expected(b, i, "':' after object key")
			}
			i = skipSpace(b, i+1)
		}
		end, err := scanValue(b, i, depth+1)
		if err != nil {
			return end, err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return i, &syntaxError{"unexpected end of input in the value at byte " + strconv.Itoa(start) + ",", i}
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case closer:
			return i + 1, nil
		default:
			return i, expected(b, i, "',' or '"+string(closer)+"'")
		}
	}
}

// scanString returns the end (after the closing quote) of the string
// starting at b[i], and whether it holds escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	start := i
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return i, escaped, &syntaxError{"unexpected end of input in string", i}
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, escaped, &syntaxError{"invalid \\u escape in string", i}
				}
				i += 6
			default:
				return i, escaped, &syntaxError{"invalid escape " + quoteChar(b[i+1]) + " in string", i}
			}
		case c < 0x20:
			return i, escaped, &syntaxError{"invalid control character " + quoteChar(c) + " in string", i}
		default:
			i++
		}
	}
	return i, escaped, &syntaxError{"unterminated string", start}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return i, &syntaxError{"invalid number", start}
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return i, &syntaxError{"invalid number", start}
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, &syntaxError{"invalid number", start}
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, nil
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, &syntaxError{"invalid literal, want " + lit, i}
	}
	return i + len(lit), nil
}

// lookupMember finds the member of the object in b whose name is path[0],
// descending for further elements; a member whose name is the remaining
// path joined with dots ("event.created") matches too. It returns the
// value's span, or ok false. b must have passed scanObject.
func lookupMember(b []byte, path []string) (start, end int, ok bool) {
	var buf [16]member
	ms, err := scanObject(b, buf[:0])
	if err != nil {
		return 0, 0, false
	}
	return lookupIn(b, ms, path)
}

func lookupIn(b []byte, ms []member, path []string) (start, end int, ok bool) {
	for _, m := range ms {
		key := b[m.keyStart:m.keyEnd]
		if m.keyEscaped {
			continue // such keys are not worth the unescaping here
		}
		if string(key) == path[0] {
			if len(path) == 1 {
				return m.valStart, m.valEnd, true
			}
			if b[m.valStart] == '{' {
				s, e, ok := lookupMember(b[m.valStart:m.valEnd], path[1:])
				if ok {
					return m.valStart + s, m.valStart + e, true
				}
			}
			continue
		}
		if len(path) > 1 && len(key) > len(path[0]) && key[len(path[0])] == '.' && string(key[:len(path[0])]) == path[0] &&
			string(key) == joinDots(path) {
			return m.valStart, m.valEnd, true
		}
	}
	return 0, 0, false
}

func joinDots(path []string) string {
	n := len(path) - 1
	for _, p := range path {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range path {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, p...)
	}
	return string(b)
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes that need no escaping in a JSON string.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString appends s as a JSON string. Invalid UTF-8 is replaced by
// U+FFFD, as encoding/json does, so that the result is always valid JSON
// (engines reject documents with invalid UTF-8 outright).
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		var r rune
		var size int
		switch v := any(s).(type) {
		case string:
			r, size = utf8.DecodeRuneInString(v[i:])
		case []byte:
			r, size = utf8.DecodeRune(v[i:])
		default:
			r, size = utf8.DecodeRuneInString(string(s[i:]))
		}
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript readers of
		// the source; encoding/json escapes them too.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
