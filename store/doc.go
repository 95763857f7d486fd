// Package store keeps logpipe's desired state, its status and its agent
// registrations in etcd, and gives typed access to them. Store is the one
// type to know; New makes one from an etcd client and a key prefix.
//
// # Layout
//
// Every key lives under one prefix, DefaultPrefix ("/logpipe") unless told
// otherwise. Kinds appear in lower case (api.Kind.Lower):
//
//	<prefix>/specs/<kind>/<name>             the object as JSON: apiVersion, kind, metadata, spec
//	<prefix>/status/<kind>/<name>            the controller's status of the object (SetStatus)
//	<prefix>/status/<kind>/<name>/<reporter> one reporter's report (SetReport), on its lease
//	<prefix>/agents/<name>                   an agent's registration (RegisterAgent), on its lease
//	<prefix>/leader/<role>                   leader election (LeaderPrefix, NewSession)
//	<prefix>/tombstones/<kind>/<name>        the last spec of a deleted Topic or IndexTemplate
//
// Reports are what many processes say about one object: every agent that
// tails a CollectEntry writes an api.CollectEntryAgentStatus, every transfer
// that consumes a Topic an api.TopicConsumerStatus. Written on the
// reporter's session lease, a report vanishes when its reporter dies.
//
// # Consistency
//
// Spec and status are separate keys, so users (Apply) and reconcilers
// (SetStatus, SetReport) never overwrite each other's writes. A spec value
// holds no status and no resourceVersion. Get and List read an object's
// spec, status and reports at one revision and merge them: the status key
// decodes into the object's status, then the reports are added, sorted by
// reporter, to Status.Agents (CollectEntry) or Status.Consumers (Topic).
//
// metadata.resourceVersion is the mod revision of the spec key, and
// metadata.generation rises by one each time the spec changes (not when
// labels, annotations or status do), so a reconciler that records the
// generation it acted on (observedGeneration) can tell whether it is up to
// date.
//
// Apply writes a whole set of objects in one etcd transaction: all of them
// or none. The transaction compares the mod revision of every object read,
// so concurrent appliers never lose an update: the one that loses the race
// reads again and retries. A non-zero resourceVersion in an applied object
// is a precondition instead: if the stored object moved on, Apply fails with
// a *ConflictError and writes nothing. With ApplyOptions.Prune the same
// transaction deletes the members of an apply set that are no longer
// applied. A transaction holds at most MaxTxnOps operations, so larger sets
// are refused rather than split.
//
// Deleting a Topic or an IndexTemplate (Delete, or a prune) leaves a
// tombstone, the spec as it was deleted, in the same transaction. The
// controller acts on it (following the spec's deletionPolicy) and then
// removes it, so a deletion made while no controller ran is honoured later.
//
// # Watching
//
// List returns the revision it read at, and Watch streams every spec change
// after it, so that list-then-watch misses nothing. etcd keeps only a
// window of history: when the revision to resume from was compacted, Watch
// re-lists and emits a put for every stored object and a delete for every
// object that disappeared meanwhile, then watches on. Watch events carry
// spec and metadata only; status changes are not watched.
package store
