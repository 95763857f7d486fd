package search

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/search/query"
)

// ParseQuery turns a query in Lucene/Elasticsearch query-string syntax into
// a bleve query.
//
// Bleve's own query-string syntax has clauses (field:value, "phrase",
// field:>=5, wild*, /regexp/, fuzzy~1, boost^2) and the prefixes + (must)
// and - (must not), but no AND, OR, NOT or parentheses: it would search for
// a term "AND". ParseQuery adds them on top, the way Elasticsearch reads a
// query_string:
//
//   - AND (or &&) joins clauses that must all match;
//   - OR (or ||), and clauses written side by side, match if any does
//     (Elasticsearch's default_operator OR);
//   - NOT, ! or - before a clause excludes what it matches, + requires it;
//   - parentheses group; AND binds tighter than OR;
//   - _id:VALUE matches the document whose ID is VALUE;
//   - * (or an empty query) matches every document.
//
// Each clause is parsed by bleve's query-string parser, so everything that
// parser accepts inside one clause works here too. The keywords are
// recognised in upper case only, as Lucene does: "and" is a term.
func ParseQuery(s string) (query.Query, error) {
	toks, err := lexQuery(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return query.NewMatchAllQuery(), nil
	}
	p := &queryParser{toks: toks}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		t := p.toks[p.pos]
		return nil, fmt.Errorf("query: unexpected %s at offset %d", t, t.at)
	}
	return c.query(), nil
}

type tokenKind uint8

const (
	tokClause tokenKind = iota
	tokAnd
	tokOr
	tokNot  // NOT, ! and -
	tokMust // +
	tokOpen
	tokClose
)

type token struct {
	kind tokenKind
	text string
	at   int // byte offset in the query, for errors
}

func (t token) String() string {
	if t.kind == tokClause {
		return fmt.Sprintf("%q", t.text)
	}
	return t.text
}

// lexQuery splits s into clauses, operators and parentheses. A clause runs
// to the next unquoted, unescaped white space or parenthesis; a quoted
// phrase or a /regexp/ value may hold both.
func lexQuery(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r):
			i += size
			continue
		case r == '(':
			toks = append(toks, token{tokOpen, "(", i})
			i++
			continue
		case r == ')':
			toks = append(toks, token{tokClose, ")", i})
			i++
			continue
		case strings.HasPrefix(s[i:], "&&"):
			toks = append(toks, token{tokAnd, "&&", i})
			i += 2
			continue
		case strings.HasPrefix(s[i:], "||"):
			toks = append(toks, token{tokOr, "||", i})
			i += 2
			continue
		case (r == '-' || r == '+' || r == '!') && i+1 < len(s) && !isSpaceByte(s[i+1]):
			kind := tokNot
			if r == '+' {
				kind = tokMust
			}
			toks = append(toks, token{kind, string(r), i})
			i++
			continue
		}
		start := i
		end, err := clauseEnd(s, i)
		if err != nil {
			return nil, err
		}
		i = end
		text := s[start:end]
		switch text {
		case "AND":
			toks = append(toks, token{tokAnd, text, start})
		case "OR":
			toks = append(toks, token{tokOr, text, start})
		case "NOT":
			toks = append(toks, token{tokNot, text, start})
		default:
			toks = append(toks, token{tokClause, text, start})
		}
	}
	return toks, nil
}

func isSpaceByte(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// clauseEnd returns the offset just past the clause that starts at i.
func clauseEnd(s string, i int) (int, error) {
	start := i
	valueStart := true // at the start of the clause or just after a ':'
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return 0, fmt.Errorf("query: escape at the end of the query")
			}
			_, size := utf8.DecodeRuneInString(s[i+1:])
			i += 1 + size
		case c == '"':
			j := closing(s, i+1, '"')
			if j < 0 {
				return 0, fmt.Errorf("query: unterminated phrase starting at offset %d", i)
			}
			i = j + 1
		case c == '/' && valueStart:
			j := closing(s, i+1, '/')
			if j < 0 {
				return 0, fmt.Errorf("query: unterminated regular expression starting at offset %d", i)
			}
			i = j + 1
		case isSpaceByte(c) || c == '(' || c == ')':
			if i == start {
				return 0, fmt.Errorf("query: empty clause at offset %d", i)
			}
			return i, nil
		default:
			i++
		}
		valueStart = c == ':'
	}
	return i, nil
}

// closing returns the offset of the first unescaped delim at or after i, or
// -1.
func closing(s string, i int, delim byte) int {
	for i < len(s) {
		switch s[i] {
		case '\\':
			i += 2
		case delim:
			return i
		default:
			i++
		}
	}
	return -1
}

// clause is a parsed part of the query with its prefix: negated parts
// exclude, required parts must match, the others should.
type clause struct {
	q        query.Query
	negated  bool
	required bool
}

// query returns c as a query that stands on its own: a negated clause
// becomes "everything except".
func (c clause) query() query.Query {
	if c.negated {
		return query.NewBooleanQuery([]query.Query{query.NewMatchAllQuery()}, nil, []query.Query{c.q})
	}
	return c.q
}

type queryParser struct {
	toks []token
	pos  int
}

func (p *queryParser) peek() (token, bool) {
	if p.pos >= len(p.toks) {
		return token{}, false
	}
	return p.toks[p.pos], true
}

// or parses clauses joined by OR or written side by side, up to a closing
// parenthesis or the end. As in Lucene, + clauses must match, negated ones
// must not, and of the rest at least one must match when there is no +
// clause.
func (p *queryParser) or() (clause, error) {
	var parts []clause
	for {
		t, ok := p.peek()
		if !ok || t.kind == tokClose {
			break
		}
		if t.kind == tokOr {
			if len(parts) == 0 {
				return clause{}, fmt.Errorf("query: %s at offset %d has nothing before it", t.text, t.at)
			}
			p.pos++
			if n, ok := p.peek(); !ok || n.kind == tokClose || n.kind == tokOr || n.kind == tokAnd {
				return clause{}, fmt.Errorf("query: %s at offset %d has nothing after it", t.text, t.at)
			}
			continue
		}
		c, err := p.and()
		if err != nil {
			return clause{}, err
		}
		parts = append(parts, c)
	}
	if len(parts) == 0 {
		if t, ok := p.peek(); ok {
			return clause{}, fmt.Errorf("query: unexpected %s at offset %d", t, t.at)
		}
		return clause{}, fmt.Errorf("query: empty")
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	var must, should, mustNot []query.Query
	for _, c := range parts {
		switch {
		case c.negated:
			mustNot = append(mustNot, c.q)
		case c.required:
			must = append(must, c.q)
		default:
			should = append(should, c.q)
		}
	}
	if len(must) == 0 && len(should) == 0 {
		must = []query.Query{query.NewMatchAllQuery()}
	}
	b := query.NewBooleanQuery(must, should, mustNot)
	if len(must) == 0 {
		b.SetMinShould(1)
	}
	return clause{q: b}, nil
}

// and parses clauses joined by AND: all must match, negated ones must not.
func (p *queryParser) and() (clause, error) {
	first, err := p.unary()
	if err != nil {
		return clause{}, err
	}
	parts := []clause{first}
	for {
		t, ok := p.peek()
		if !ok || t.kind != tokAnd {
			break
		}
		p.pos++
		c, err := p.unary()
		if err != nil {
			return clause{}, fmt.Errorf("%w (after %s at offset %d)", err, t.text, t.at)
		}
		parts = append(parts, c)
	}
	if len(parts) == 1 {
		return first, nil
	}
	var must, mustNot []query.Query
	for _, c := range parts {
		if c.negated {
			mustNot = append(mustNot, c.q)
		} else {
			must = append(must, c.q)
		}
	}
	if len(must) == 0 {
		must = []query.Query{query.NewMatchAllQuery()}
	}
	return clause{q: query.NewBooleanQuery(must, nil, mustNot), required: first.required}, nil
}

// unary parses an optionally prefixed clause or group.
func (p *queryParser) unary() (clause, error) {
	t, ok := p.peek()
	if !ok {
		return clause{}, fmt.Errorf("query: missing clause at the end")
	}
	switch t.kind {
	case tokNot:
		p.pos++
		c, err := p.unary()
		if err != nil {
			return clause{}, err
		}
		if c.negated { // NOT NOT x is x
			return clause{q: c.q}, nil
		}
		return clause{q: c.query(), negated: true}, nil
	case tokMust:
		p.pos++
		c, err := p.unary()
		if err != nil {
			return clause{}, err
		}
		return clause{q: c.query(), required: true}, nil
	case tokOpen:
		p.pos++
		c, err := p.or()
		if err != nil {
			return clause{}, err
		}
		if n, ok := p.peek(); !ok || n.kind != tokClose {
			return clause{}, fmt.Errorf("query: parenthesis at offset %d is not closed", t.at)
		}
		p.pos++
		return clause{q: c.query()}, nil
	case tokClause:
		p.pos++
		q, err := leafQuery(t.text)
		if err != nil {
			return clause{}, fmt.Errorf("query: %q at offset %d: %w", t.text, t.at, err)
		}
		return clause{q: q}, nil
	}
	return clause{}, fmt.Errorf("query: unexpected %s at offset %d", t, t.at)
}

// leafQuery parses one clause: the forms bleve does not know (*, _id:) here,
// the rest with bleve's query-string parser.
func leafQuery(text string) (query.Query, error) {
	if text == "*" || text == "*:*" {
		return query.NewMatchAllQuery(), nil
	}
	if id, ok := strings.CutPrefix(text, "_id:"); ok {
		id = strings.Trim(id, `"`)
		if id == "" {
			return nil, fmt.Errorf("no ID after _id:")
		}
		return query.NewDocIDQuery([]string{unescapeValue(id)}), nil
	}
	q, err := query.NewQueryStringQuery(text).Parse()
	if err != nil {
		return nil, err
	}
	return q, nil
}

// unescapeValue removes the backslashes of escaped characters.
func unescapeValue(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
