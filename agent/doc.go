// Package agent tails log files into Kafka as the CollectEntry specs in etcd
// say, losing nothing across restarts, rotations and outages.
//
// # Model
//
// An Agent reconciles every CollectEntry on the reconciler engine. For an
// entry whose agentSelector matches the agent's labels, the desired tailers
// are the files matching spec.paths (with "**") minus spec.exclude, inside
// the agent's allowed paths. The agent runs one tailer per (entry, file
// identity) — not per path — so that a rename rotation needs no special
// case: the renamed file keeps its identity and its tailer, which drains it
// and stops; the new file at the old path is a new identity read from 0.
// Reconciling an entry diffs the desired files with the running tailers and
// starts or stops only those that differ; a tailer restarts only when a spec
// field that affects it changed. Other entries are never touched.
//
// # Delivery
//
// Every event becomes one Kafka record (value: the line as written; headers:
// see internal/record) produced with acks=all by an idempotent producer. A
// file's checkpoint advances only to the end of the longest prefix of events
// that Kafka acknowledged, and is written to --data-dir atomically every
// second and on shutdown. After a crash the agent resumes at the checkpoint
// and may send some events again; they carry the same event IDs (file ID +
// byte offset), so the transfer overwrites instead of duplicating.
//
// When Kafka is slow or down, producing blocks once the producer's buffer is
// full, the tailers wait, and the files on disk are the buffer: memory stays
// bounded. When etcd is down, the agent keeps running with the last desired
// state it saw, which it also keeps in --data-dir for a restart without etcd.
package agent
