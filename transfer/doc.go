// Package transfer moves log records from Kafka into Elasticsearch or
// OpenSearch, losing none and indexing none twice. Transfer is the type to
// know: New checks its Options, Run consumes until its context ends.
//
// # Topics drive consumption
//
// A reconciler on logpipe's engine (package reconciler) watches the Topic
// specs in the store. A Topic with an index block is added to the consumer
// group's subscription (kgo AddConsumeTopics); a Topic that loses its index
// block, or is deleted, is purged from it (PurgeTopicsFromConsuming). Either
// change leaves the consumption of the other topics running. Every transfer
// process joins the same group (Options.Group), so partitions are shared
// among them and move when one joins or leaves.
//
// # Documents
//
// Each record becomes one document, by its logpipe.format header (the
// header contract is internal/record):
//
//   - text: {"message": <the line>}.
//   - json: the line's object, its members at the top level as written. A
//     line that is not a JSON object is indexed as text with error.type
//     "json_parse" and error.message saying where it broke; it is never
//     dropped.
//
// logpipe then adds @timestamp, event.id, host.name, agent.name,
// log.file.path, log.offset, log.flags, logpipe.entry and fields.<k> (the
// CollectEntry's static fields). @timestamp comes from the Topic's
// timestampField (RFC 3339, or epoch milliseconds as a number or a string),
// else from the time the agent read the line, else from the Kafka record's
// timestamp; a timestampField that holds neither adds the log.flags entry
// timestamp_invalid. The index name is spec.index.name with its date
// placeholders filled from @timestamp in UTC.
//
// Merge rule: logpipe's fields win, and nothing is lost silently. When a
// JSON line has a member where a logpipe field goes (its own event.id or
// @timestamp, a "host" that is a string, an engine metadata field such as
// _id), logpipe's value is written and the line's member moves to
// logpipe.conflicts, a list of {"field": <dotted name>, "value": <the
// member as JSON text>}. Objects merge: {"log": {"level": "info"}} keeps
// log.level beside log.offset, and so does the dotted {"log.level": "info"}
// of ECS loggers, which stays as written (the engine reads it as the same
// field). A line's @timestamp that is the Topic's
// timestampField is simply replaced by its normalised value. Lines that use
// none of these names (most) take a fast path that copies the line's bytes
// and appends logpipe's fields, without decoding the line into a map.
//
// Each run of bytes that are not UTF-8 is replaced by one U+FFFD, and the document gets the log.flags entry invalid_utf8: engines reject
// invalid UTF-8, and the raw record stays in Kafka for anyone who needs
// the original bytes.
//
// The document ID is the record's event ID (logpipe.id), or
// <topic>-<partition>-<offset> when a record has none, so a replay
// overwrites instead of duplicating. With spec.index.dataStream the write is
// op_type create, which data streams require.
//
// # Bulk writes and retry classes
//
// The poll loop hands records to a batcher, which cuts batches by bytes
// (BulkMaxBytes), count (BulkMaxDocs) and age (FlushInterval). Workers
// (Options.Workers) encode a batch and write it through a Sink: one
// request, one Result per document. ElasticSink is the Sink of Elasticsearch
// 8.x and OpenSearch 2.x (POST _bulk through elastic-transport, with
// filter_path so the answer holds only statuses and errors); an embedded
// index can be another Sink and receives the same documents and IDs.
//
// Each document's answer puts it in one class:
//
//   - 2xx, and 409 on a create (the document is already there): done.
//   - 408, 429, 5xx, or no status: retried, alone: only the refused
//     documents are sent again, after an exponential backoff with jitter
//     (RetryBackoff doubling up to MaxRetryBackoff), for as long as it
//     takes.
//   - every other 4xx (mapping or parse errors): written to the Topic's
//     dead-letter topic (spec.index.deadLetterTopic, default <topic>.dlq)
//     with the original key, value and headers plus logpipe.error.status,
//     logpipe.error.type, logpipe.error.reason, logpipe.error.index and the
//     source position, with acks from all in-sync replicas, and retried
//     until Kafka acknowledges it.
//
// A request that fails as a whole ("could not ask") is retried whole when
// the engine was unreachable or overloaded (transport errors, 408, 429,
// 5xx) or misconfigured (401, 403, 404: no document causes those); a 413 or
// another 4xx splits the batch in halves, down to single documents, which
// then take the dead-letter path.
//
// # Pause and resume
//
// While a partition has documents waiting for a retry or a dead-letter
// write, its fetching is paused (kgo PauseFetchPartitions) and resumed when
// the last one is done. All records polled and not finished are charged to
// a budget of MaxInflightBytes; polling waits while it is spent. So memory
// stays bounded however long the engine or Kafka is down, the backlog stays
// in Kafka, and the transfer resumes by itself. Meanwhile Ready returns the
// reason (for /readyz) and each Topic's report says Ready=False with reason
// Backpressure.
//
// # The commit watermark
//
// Offsets are committed by the transfer (kgo's autocommit is off), every
// CommitInterval, per partition, up to its watermark: the offset of the
// first polled record that is not yet indexed or dead-lettered. Records
// finish in any order (several requests are in flight, retries overtake
// nothing), and the watermark never passes an unfinished one, so a crash at
// any moment re-reads only records that might not be in the index, and
// their _id makes the rewrite harmless: exactly once in the index.
//
// On a rebalance (kgo BlockRebalanceOnPoll keeps it between polls) revoked
// partitions are flushed for at most RevokeTimeout, their watermarks
// committed, and whatever is still unfinished abandoned: it is dropped from
// the pipeline, not committed, and read again by the partition's next
// owner. A lost partition (session expired) is abandoned without a commit.
// Run's graceful shutdown does the same for every partition within
// ShutdownTimeout.
//
// # Status
//
// Every StatusInterval each consumed Topic gets a report
// (store.SetReport, on a session lease, so it vanishes with the process):
// an api.TopicConsumerStatus with the lag (log end minus committed offset
// over the partitions this process owns) and a Ready condition (Consuming,
// or Backpressure with the reason). Metrics counts indexed, failed, retried
// and dead-lettered documents per topic, bulk latency, in-flight bytes,
// paused partitions and lag per topic.
package transfer
