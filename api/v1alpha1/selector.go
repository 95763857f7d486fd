package v1alpha1

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Selector is a parsed label selector: a set of requirements on labels that
// must all hold. The zero Selector has no requirements and selects
// everything. Build one with ParseSelector or LabelSelector.Selector.
//
// As in Kubernetes, "key!=value" and "key notin (...)" also select objects
// that have no such label.
type Selector struct {
	reqs []requirement
}

type selectorOp uint8

const (
	opEquals selectorOp = iota
	opNotEquals
	opIn
	opNotIn
	opExists
	opDoesNotExist
)

type requirement struct {
	key    string
	op     selectorOp
	values []string // sorted and without duplicates
}

func (r requirement) matches(labels map[string]string) bool {
	v, ok := labels[r.key]
	switch r.op {
	case opEquals:
		return ok && v == r.values[0]
	case opNotEquals:
		return !ok || v != r.values[0]
	case opIn:
		return ok && slices.Contains(r.values, v)
	case opNotIn:
		return !ok || !slices.Contains(r.values, v)
	case opExists:
		return ok
	case opDoesNotExist:
		return !ok
	}
	return false
}

func (r requirement) String() string {
	switch r.op {
	case opEquals:
		return r.key + "=" + r.values[0]
	case opNotEquals:
		return r.key + "!=" + r.values[0]
	case opIn:
		return r.key + " in (" + strings.Join(r.values, ",") + ")"
	case opNotIn:
		return r.key + " notin (" + strings.Join(r.values, ",") + ")"
	case opExists:
		return r.key
	case opDoesNotExist:
		return "!" + r.key
	}
	return ""
}

func newSelector(reqs []requirement) Selector {
	for i := range reqs {
		slices.Sort(reqs[i].values)
		reqs[i].values = slices.Compact(reqs[i].values)
	}
	// Sorting makes String canonical: the same requirements always print
	// the same way, whatever order they were written in.
	slices.SortStableFunc(reqs, func(a, b requirement) int {
		return cmp.Or(strings.Compare(a.key, b.key), cmp.Compare(a.op, b.op))
	})
	return Selector{reqs: reqs}
}

// Matches reports whether labels satisfy every requirement of s.
func (s Selector) Matches(labels map[string]string) bool {
	for _, r := range s.reqs {
		if !r.matches(labels) {
			return false
		}
	}
	return true
}

// Empty reports whether s has no requirements, and so selects everything.
func (s Selector) Empty() bool { return len(s.reqs) == 0 }

// String returns s in the syntax ParseSelector reads, with requirements
// sorted by key: "env!=dev,role in (api,web),team=web". The empty Selector
// prints as "".
func (s Selector) String() string {
	parts := make([]string, len(s.reqs))
	for i, r := range s.reqs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// ParseSelector parses a label selector written as for kubectl's -l flag:
// comma-separated requirements, all of which must hold, each one of
//
//	key=value  key==value  key!=value
//	key in (v1,v2)  key notin (v1,v2)
//	key  !key
//
// White space around words and symbols is ignored. An empty or blank string
// selects everything. Keys and values follow the label rules of
// ObjectMeta.Labels. The error names the selector and the 1-based position
// of the problem.
func ParseSelector(s string) (Selector, error) {
	p := &selectorParser{src: s}
	reqs, err := p.parse()
	if err != nil {
		return Selector{}, fmt.Errorf("invalid label selector %q: %w", s, err)
	}
	return newSelector(reqs), nil
}

type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokWord
	tokComma
	tokOpen
	tokClose
	tokEq       // =
	tokDoubleEq // ==
	tokNotEq    // !=
	tokNot      // !
)

type token struct {
	kind tokenKind
	text string
	pos  int // 1-based byte position in the selector
}

func (t token) describe() string {
	if t.kind == tokEOF {
		return "end of selector"
	}
	return fmt.Sprintf("%q", t.text)
}

type selectorParser struct {
	src    string
	off    int
	peeked *token
}

// wordBreaks are the bytes that end a word besides white space.
const wordBreaks = ",()=!"

func (p *selectorParser) next() token {
	if t := p.peeked; t != nil {
		p.peeked = nil
		return *t
	}
	for p.off < len(p.src) && isSpace(p.src[p.off]) {
		p.off++
	}
	start := p.off
	if start == len(p.src) {
		return token{kind: tokEOF, pos: start + 1}
	}
	tok := func(k tokenKind, n int) token {
		p.off += n
		return token{kind: k, text: p.src[start:p.off], pos: start + 1}
	}
	rest := p.src[start:]
	switch {
	case rest[0] == ',':
		return tok(tokComma, 1)
	case rest[0] == '(':
		return tok(tokOpen, 1)
	case rest[0] == ')':
		return tok(tokClose, 1)
	case strings.HasPrefix(rest, "=="):
		return tok(tokDoubleEq, 2)
	case rest[0] == '=':
		return tok(tokEq, 1)
	case strings.HasPrefix(rest, "!="):
		return tok(tokNotEq, 2)
	case rest[0] == '!':
		return tok(tokNot, 1)
	}
	n := 0
	for n < len(rest) && !isSpace(rest[n]) && !strings.ContainsRune(wordBreaks, rune(rest[n])) {
		n++
	}
	return tok(tokWord, n)
}

func (p *selectorParser) peek() token {
	if p.peeked == nil {
		t := p.next()
		p.peeked = &t
	}
	return *p.peeked
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func errAt(t token, format string, args ...any) error {
	return fmt.Errorf("at position %d: %s", t.pos, fmt.Sprintf(format, args...))
}

func (p *selectorParser) parse() ([]requirement, error) {
	if p.peek().kind == tokEOF {
		return nil, nil
	}
	var reqs []requirement
	for {
		r, err := p.requirement()
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
		switch t := p.next(); t.kind {
		case tokEOF:
			return reqs, nil
		case tokComma:
			if p.peek().kind == tokEOF {
				return nil, errAt(p.peek(), `want a requirement after ","`)
			}
		default:
			return nil, errAt(t, `want "," between requirements, got %s`, t.describe())
		}
	}
}

func (p *selectorParser) requirement() (requirement, error) {
	t := p.next()
	if t.kind == tokNot {
		k := p.next()
		if k.kind != tokWord {
			return requirement{}, errAt(k, `want a label key after "!", got %s`, k.describe())
		}
		if err := validLabelKey("label", k.text); err != nil {
			return requirement{}, errAt(k, "%v", err)
		}
		return requirement{key: k.text, op: opDoesNotExist}, nil
	}
	if t.kind != tokWord {
		return requirement{}, errAt(t, "want a label key, got %s", t.describe())
	}
	if err := validLabelKey("label", t.text); err != nil {
		return requirement{}, errAt(t, "%v", err)
	}
	r := requirement{key: t.text}
	switch op := p.peek(); {
	case op.kind == tokEOF || op.kind == tokComma:
		r.op = opExists
		return r, nil
	case op.kind == tokEq || op.kind == tokDoubleEq || op.kind == tokNotEq:
		p.next()
		r.op = opEquals
		if op.kind == tokNotEq {
			r.op = opNotEquals
		}
		v, err := p.value()
		if err != nil {
			return requirement{}, err
		}
		r.values = []string{v}
		return r, nil
	case op.kind == tokWord && (op.text == "in" || op.text == "notin"):
		p.next()
		r.op = opIn
		if op.text == "notin" {
			r.op = opNotIn
		}
		values, err := p.valueSet(op.text)
		if err != nil {
			return requirement{}, err
		}
		r.values = values
		return r, nil
	default:
		return requirement{}, errAt(op, `want one of "=", "==", "!=", "in", "notin", "," or the end after key %q, got %s`, t.text, op.describe())
	}
}

// value reads an optional label value: "key=" means the empty value.
func (p *selectorParser) value() (string, error) {
	t := p.peek()
	if t.kind != tokWord {
		return "", nil
	}
	p.next()
	if err := validLabelValue(t.text); err != nil {
		return "", errAt(t, "%v", err)
	}
	return t.text, nil
}

func (p *selectorParser) valueSet(op string) ([]string, error) {
	if t := p.next(); t.kind != tokOpen {
		return nil, errAt(t, `want "(" after %q, got %s`, op, t.describe())
	}
	if t := p.peek(); t.kind == tokClose {
		return nil, errAt(t, "want at least one value for %q, got an empty set", op)
	}
	var values []string
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		values = append(values, v)
		switch t := p.next(); t.kind {
		case tokComma:
		case tokClose:
			return values, nil
		default:
			return nil, errAt(t, `want "," or ")" in the values of %q, got %s`, op, t.describe())
		}
	}
}

// Selector converts ls into a Selector. A nil or empty ls gives the empty
// Selector, which selects everything. The error lists every invalid key,
// value and operator with its field path.
func (ls *LabelSelector) Selector() (Selector, error) {
	if ls == nil {
		return Selector{}, nil
	}
	var fe fieldErrors
	validateLabelSelector(&fe, "", ls)
	if len(fe) > 0 {
		lines := make([]string, len(fe))
		for i, e := range fe {
			lines[i] = e.Error()
		}
		return Selector{}, errors.New("invalid label selector: " + strings.Join(lines, "; "))
	}
	reqs := make([]requirement, 0, len(ls.MatchLabels)+len(ls.MatchExpressions))
	for _, k := range sortedKeys(ls.MatchLabels) {
		reqs = append(reqs, requirement{key: k, op: opEquals, values: []string{ls.MatchLabels[k]}})
	}
	for _, e := range ls.MatchExpressions {
		r := requirement{key: e.Key, values: slices.Clone(e.Values)}
		switch e.Operator {
		case SelectorOpIn:
			r.op = opIn
		case SelectorOpNotIn:
			r.op = opNotIn
		case SelectorOpExists:
			r.op = opExists
		case SelectorOpDoesNotExist:
			r.op = opDoesNotExist
		}
		reqs = append(reqs, r)
	}
	return newSelector(reqs), nil
}

// Matches reports whether labels satisfy ls. A nil or empty ls selects
// everything. An invalid requirement (unknown operator, In without values)
// selects nothing, so that a selector Validate would reject never widens
// what is selected.
func (ls *LabelSelector) Matches(labels map[string]string) bool {
	if ls == nil {
		return true
	}
	for k, want := range ls.MatchLabels {
		if v, ok := labels[k]; !ok || v != want {
			return false
		}
	}
	for _, e := range ls.MatchExpressions {
		v, ok := labels[e.Key]
		switch e.Operator {
		case SelectorOpIn:
			if !ok || !slices.Contains(e.Values, v) {
				return false
			}
		case SelectorOpNotIn:
			if len(e.Values) == 0 || ok && slices.Contains(e.Values, v) {
				return false
			}
		case SelectorOpExists:
			if !ok || len(e.Values) != 0 {
				return false
			}
		case SelectorOpDoesNotExist:
			if ok || len(e.Values) != 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}
