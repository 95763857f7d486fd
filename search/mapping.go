package search

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
)

// standardAnalyzer is Elasticsearch's standard analyzer: words split at
// Unicode word boundaries and lower-cased, no stop words removed (bleve's
// own "standard" drops English stop words, so "not ok" would lose "not").
const standardAnalyzer = "logpipe_standard"

// timestampField is the field the transfer writes into every document and
// Search's since filters on.
const timestampField = "@timestamp"

// offsetField, under "log", is the byte offset of the line in its file.
const offsetField = "offset"

// esMappings is the part of an Elasticsearch mappings object the engine
// reads.
type esMappings struct {
	Dynamic          any                          `json:"dynamic"`
	DynamicTemplates []map[string]dynamicTemplate `json:"dynamic_templates"`
	Properties       map[string]*esProperty       `json:"properties"`
}

type dynamicTemplate struct {
	MatchMappingType string `json:"match_mapping_type"`
	Match            string `json:"match"`
	PathMatch        string `json:"path_match"`
	Mapping          struct {
		Type string `json:"type"`
	} `json:"mapping"`
}

type esProperty struct {
	Type       string                 `json:"type"`
	Enabled    *bool                  `json:"enabled"`
	Dynamic    any                    `json:"dynamic"`
	Properties map[string]*esProperty `json:"properties"`
}

// buildMapping returns the bleve mapping of an index created under tpl
// (nil for none). See the package documentation for what is mapped.
func buildMapping(tpl *storedTemplate) (*mapping.IndexMappingImpl, error) {
	im := bleve.NewIndexMapping()
	if err := im.AddCustomAnalyzer(standardAnalyzer, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name},
	}); err != nil {
		return nil, fmt.Errorf("search: analyzer: %w", err)
	}
	im.DefaultAnalyzer = standardAnalyzer
	// Unmapped fields are indexed, not stored (the source is stored whole)
	// and get no doc values (only @timestamp is sorted on).
	im.StoreDynamic = false
	im.DocValuesDynamic = false

	root := im.DefaultMapping
	if tpl != nil && len(tpl.mappings) > 0 && string(tpl.mappings) != "null" {
		var m esMappings
		if err := json.Unmarshal(tpl.mappings, &m); err != nil {
			return nil, fmt.Errorf("template %q: mappings: %v", tpl.Name, err)
		}
		if isFalse(m.Dynamic) {
			root.Dynamic = false
		}
		for _, dts := range m.DynamicTemplates {
			for _, dt := range dts {
				// Only the common "every string is a keyword (or text)"
				// template has a bleve equivalent.
				if dt.MatchMappingType != "string" || dt.Match != "" || dt.PathMatch != "" {
					continue
				}
				switch dt.Mapping.Type {
				case "keyword":
					root.DefaultAnalyzer = keyword.Name
				case "text":
					root.DefaultAnalyzer = standardAnalyzer
				}
			}
		}
		addProperties(root, m.Properties)
	}
	// @timestamp is a date with doc values whatever the template says:
	// Search sorts and filters on it, then sorts on log.offset.
	ts := mapping.NewDateTimeFieldMapping()
	ts.Store = false
	ts.IncludeInAll = false
	delete(root.Properties, timestampField)
	root.AddFieldMappingsAt(timestampField, ts)

	// log.offset orders the lines of one read, which share a timestamp.
	off := mapping.NewNumericFieldMapping()
	off.Store = false
	off.IncludeInAll = false
	logDoc := subDocument(root, "log")
	delete(logDoc.Properties, offsetField)
	logDoc.AddFieldMappingsAt(offsetField, off)

	src := mapping.NewTextFieldMapping()
	src.Index = false
	src.Store = true
	src.IncludeInAll = false
	src.DocValues = false
	src.IncludeTermVectors = false
	root.AddFieldMappingsAt(sourceField, src)
	return im, nil
}

// addProperties maps Elasticsearch properties onto dm. A dotted name is a
// path of objects, as in Elasticsearch.
func addProperties(dm *mapping.DocumentMapping, props map[string]*esProperty) {
	for name, p := range props {
		if p == nil {
			continue
		}
		parts := strings.Split(name, ".")
		parent := dm
		for _, part := range parts[:len(parts)-1] {
			parent = subDocument(parent, part)
		}
		leaf := parts[len(parts)-1]
		switch {
		case len(p.Properties) > 0 || p.Type == "object" || p.Type == "nested":
			sub := subDocument(parent, leaf)
			if p.Enabled != nil && !*p.Enabled {
				sub.Enabled = false
			}
			if isFalse(p.Dynamic) {
				sub.Dynamic = false
			}
			addProperties(sub, p.Properties)
		default:
			if fm := fieldMapping(p.Type); fm != nil {
				parent.AddFieldMappingsAt(leaf, fm)
			}
		}
	}
}

// subDocument returns dm's sub-document called name, creating it.
func subDocument(dm *mapping.DocumentMapping, name string) *mapping.DocumentMapping {
	if dm.Properties == nil {
		dm.Properties = map[string]*mapping.DocumentMapping{}
	}
	sub := dm.Properties[name]
	if sub == nil {
		sub = mapping.NewDocumentMapping()
		dm.Properties[name] = sub
	}
	return sub
}

// fieldMapping returns the bleve field of an Elasticsearch field type, or
// nil for types with none (the field is then mapped dynamically).
func fieldMapping(typ string) *mapping.FieldMapping {
	var fm *mapping.FieldMapping
	switch typ {
	case "keyword", "constant_keyword", "wildcard":
		fm = mapping.NewKeywordFieldMapping()
	case "text", "match_only_text":
		fm = mapping.NewTextFieldMapping()
		fm.Analyzer = standardAnalyzer
	case "date", "date_nanos":
		fm = mapping.NewDateTimeFieldMapping()
	case "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long":
		fm = mapping.NewNumericFieldMapping()
	case "boolean":
		fm = mapping.NewBooleanFieldMapping()
	case "ip":
		fm = mapping.NewIPFieldMapping()
	default:
		return nil
	}
	fm.Store = false
	fm.DocValues = false
	return fm
}

// isFalse reports whether a mapping's dynamic setting turns dynamic mapping
// off: false, "false", or "strict" (which Elasticsearch enforces by
// rejecting documents; the engine only leaves the new fields unindexed).
func isFalse(v any) bool {
	switch v := v.(type) {
	case bool:
		return !v
	case string:
		return v == "false" || v == "strict"
	}
	return false
}
