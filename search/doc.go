// Package search is the embedded search engine of `logpipe dev`: a
// transfer.Sink that writes into full-text indexes kept on local disk with
// bleve (github.com/blevesearch/bleve/v2), a small HTTP search API over
// them, and just enough of Elasticsearch's _index_template API for the
// controller's IndexTemplate reconciler to run unchanged.
//
// The two types to know are Engine, which owns the indexes, and its Handler,
// the HTTP API:
//
//	GET /api/v1/search?index=web-*&q=code:500&size=10&since=15m
//	→ {"total":1,"hits":[{"index":"web-2026.12.06","id":"…","source":{…}}]}
//	GET /api/v1/indices
//	→ [{"name":"web-2026.12.06","docs":2}]
//
// # What the engine receives
//
// Bulk takes exactly the actions the Elasticsearch sink would send, and
// answers with the statuses Elasticsearch would give: 201 for a new
// document, 200 for one it replaced under the same _id (so a replay
// overwrites instead of duplicating), 409 for op_type create on an _id that
// exists (which the transfer counts as done), 400 for an invalid index name
// or a source that is not a JSON object or holds a metadata field such as
// _id. A write that fails inside bleve is answered 503, which the transfer
// retries. Ingest pipelines are not run: the document is indexed as sent.
//
// Bulk returns only after bleve has persisted the batch, so once the
// transfer commits a Kafka offset the documents before it survive a crash.
//
// # On disk
//
// Each index is one bleve index in <dir>/<name>, created on the first write
// to it. The index templates the controller PUTs are kept in
// <dir>/_templates.json (no index name can start with "_").
//
// # Mappings
//
// An index takes its field types, when created, from the index template with
// the highest priority whose index_patterns match its name, as
// Elasticsearch does: keyword fields are indexed whole, text fields are
// split into lower-cased words (Elasticsearch's standard analyzer, without
// stop words), date fields become bleve datetimes, numeric types numbers,
// boolean booleans, ip addresses, object properties sub-documents, and a
// dynamic template with match_mapping_type string makes unmapped strings
// keyword or text. Multi-fields (fields), analyzers other than the standard
// one and the other mapping parameters are ignored. Without a template,
// strings are text, numbers numbers, and RFC 3339 strings dates. @timestamp
// is always a date, so that Search can filter on it. Like Elasticsearch, the
// engine never changes the mapping of an existing index.
package search
