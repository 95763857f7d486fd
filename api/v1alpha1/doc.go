// Package v1alpha1 holds logpipe's resource API, group logpipe.io, version
// v1alpha1: the desired-state objects that operators write as YAML and that
// every logpipe daemon reconciles.
//
// Three kinds exist:
//
//   - CollectEntry says which files every matching agent tails and to which
//     Kafka topic it ships their lines.
//   - Topic declares a Kafka topic and, with its optional index block, how the
//     transfer indexes that topic's records into Elasticsearch or OpenSearch.
//   - IndexTemplate declares a composable index template.
//
// Every object has the shape Kubernetes users know: apiVersion, kind,
// metadata, spec and status. Users write spec; logpipe writes status. The
// package knows nothing of etcd, Kafka or the search engine: it holds the
// types (Object is the contract every kind meets), their defaults (Default),
// their validation (Validate, which reports every problem at once with its
// field path) and the strict decoder (Decode, DecodeFile, DecodePaths) that
// turns YAML or JSON documents into validated objects.
//
// Two small languages that specs use are parsed here too, so that every
// daemon reads them alike: label selectors (ParseSelector for kubectl-style
// "-l" strings, LabelSelector.Selector and LabelSelector.Matches for the
// spec form) and index name patterns such as "web-{yyyy.MM.dd}"
// (CompileIndexName, whose IndexNamer allocates only when the hour of the
// documents it names changes, and ExpandIndexName).
package v1alpha1
