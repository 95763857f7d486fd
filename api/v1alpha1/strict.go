package v1alpha1

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// strictChecker walks a generic JSON value (as produced by readJSON: maps,
// slices, strings, json.Number, bools and nil) against the Go type it will
// be decoded into. It reports, with field paths, what encoding/json would
// either reject with a message naming no field, or silently accept:
// unknown fields, fields whose case differs, values of the wrong type,
// malformed durations and times. It returns the value with every problem
// removed, ready for json.Unmarshal.
//
// In YAML mode a number or boolean where a string belongs is turned into
// its text, as sigs.k8s.io/yaml does, so that `retention.ms: 604800000`
// means the string "604800000". JSON input is taken as typed.
type strictChecker struct {
	yaml bool
	errs fieldErrors
	// rejected holds the paths of fields left unset because of a problem,
	// including the intended field of a key whose case differs.
	rejected []string
}

func (c *strictChecker) reject(path, format string, args ...any) {
	c.errs.add(path, format, args...)
	c.rejected = append(c.rejected, path)
}

var (
	durationType = reflect.TypeFor[Duration]()
	timeType     = reflect.TypeFor[time.Time]()
	rawType      = reflect.TypeFor[json.RawMessage]()
)

// lenientFields are the top-level fields whose unknown sub-fields are
// dropped instead of rejected: status is written by logpipe, accepted in
// input only so that the output of "get -o yaml" can be applied again, and
// ignored by the store, so a newer logpipe's status fields must not make an
// older one refuse the document.
var lenientFields = []string{"status"}

func (c *strictChecker) check(path string, v any, t reflect.Type, lenient bool) any {
	switch t {
	case durationType:
		s, ok := v.(string)
		if !ok {
			c.reject(path, `must be a duration such as "10s" or "5m", got %s`, describe(v))
			return nil
		}
		if _, err := time.ParseDuration(s); err != nil {
			c.reject(path, "%s", (&durationError{raw: strconv.Quote(s)}).Error())
			return nil
		}
		return s
	case timeType:
		s, ok := v.(string)
		if !ok {
			c.reject(path, `must be an RFC 3339 time such as "2026-12-06T10:00:00Z", got %s`, describe(v))
			return nil
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			c.reject(path, `must be an RFC 3339 time such as "2026-12-06T10:00:00Z", got %s`, describe(v))
			return nil
		}
		return s
	case rawType:
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		return c.check(path, v, t.Elem(), lenient)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			c.reject(path, "must be an object, got %s", describe(v))
			return nil
		}
		fields := jsonFields(t)
		out := make(map[string]any, len(m))
		for _, k := range sortedKeys(m) {
			fieldPath := joinPath(path, k)
			ft, known := fields.types[k]
			if !known {
				if !lenient {
					c.reject(fieldPath, "%s", fields.unknown(k))
					if n, ok := fields.caseFold(k); ok {
						c.rejected = append(c.rejected, joinPath(path, n))
					}
				}
				continue
			}
			if m[k] == nil {
				// null means unset; dropping it keeps encoding/json from
				// storing the literal null in raw fields.
				continue
			}
			out[k] = c.check(fieldPath, m[k], ft, lenient || path == "" && slices.Contains(lenientFields, k))
		}
		return out
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			c.reject(path, "must be an object, got %s", describe(v))
			return nil
		}
		out := make(map[string]any, len(m))
		for _, k := range sortedKeys(m) {
			out[k] = c.check(keyPath(path, k), m[k], t.Elem(), lenient)
		}
		return out
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			c.reject(path, "must be an array, got %s", describe(v))
			return nil
		}
		out := make([]any, len(s))
		for i, e := range s {
			out[i] = c.check(indexPath(path, i), e, t.Elem(), lenient)
		}
		return out
	case reflect.String:
		switch x := v.(type) {
		case nil, string:
			return x
		case json.Number:
			if c.yaml {
				return string(x)
			}
		case bool:
			if c.yaml {
				return strconv.FormatBool(x)
			}
		}
		c.reject(path, "must be a string, got %s", describe(v))
		return nil
	case reflect.Bool:
		if _, ok := v.(bool); ok || v == nil {
			return v
		}
		c.reject(path, "must be true or false, got %s", describe(v))
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return c.integer(path, v, t.Bits(), true)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return c.integer(path, v, t.Bits(), false)
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); ok || v == nil {
			return v
		}
		c.reject(path, "must be a number, got %s", describe(v))
		return nil
	case reflect.Interface:
		return v
	}
	c.reject(path, "cannot be decoded into %s", t)
	return nil
}

func (c *strictChecker) integer(path string, v any, bits int, signed bool) any {
	if v == nil {
		return nil
	}
	n, ok := v.(json.Number)
	if !ok {
		c.reject(path, "must be an integer, got %s", describe(v))
		return nil
	}
	var err error
	lo, hi := "0", strconv.FormatUint(math.MaxUint64>>(64-bits), 10)
	if signed {
		_, err = strconv.ParseInt(string(n), 10, bits)
		lo = strconv.FormatInt(math.MinInt64>>(64-bits), 10)
		hi = strconv.FormatInt(math.MaxInt64>>(64-bits), 10)
	} else {
		_, err = strconv.ParseUint(string(n), 10, bits)
	}
	var ne *strconv.NumError
	switch {
	case err == nil:
		return n
	case errors.As(err, &ne) && ne.Err == strconv.ErrRange:
		c.reject(path, "must be an integer from %s to %s, got %s", lo, hi, n)
	default:
		c.reject(path, "must be an integer, got %s", describe(v))
	}
	return nil
}

// describe names a generic JSON value's type, with the value when short.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + strconv.Quote(x)
	case json.Number:
		return "number " + string(x)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// structFields describes the JSON fields of a struct type.
type structFields struct {
	types map[string]reflect.Type
	names []string // sorted, for "want one of"
}

// unknown says why k is not a field, suggesting the field it differs from
// only in case.
func (f *structFields) unknown(k string) string {
	if n, ok := f.caseFold(k); ok {
		return fmt.Sprintf("unknown field: field names are case-sensitive, did you mean %q?", n)
	}
	return "unknown field: want one of " + strings.Join(f.names, ", ")
}

// caseFold returns the field whose name equals k but for case.
func (f *structFields) caseFold(k string) (string, bool) {
	for _, n := range f.names {
		if strings.EqualFold(n, k) {
			return n, true
		}
	}
	return "", false
}

var fieldCache sync.Map // reflect.Type → *structFields

// jsonFields lists the fields encoding/json reads for struct type t,
// flattening embedded structs without a JSON name as encoding/json does.
func jsonFields(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{types: map[string]reflect.Type{}}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for sf := range t.Fields() {
			if !sf.IsExported() && !sf.Anonymous {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
				walk(sf.Type)
				continue
			}
			if name == "" {
				name = sf.Name
			}
			f.types[name] = sf.Type
		}
	}
	walk(t)
	f.names = sortedKeys(f.types)
	fieldCache.Store(t, f)
	return f
}
