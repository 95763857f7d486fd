package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/store"
)

// defaultLegacyKey is where the tutorial's log agent reads its
// configuration.
const defaultLegacyKey = "/collect_log_conf"

// legacyEntry is one element of the tutorial's configuration: tail the file
// at Path and send its lines to Topic.
type legacyEntry struct {
	Path  string `json:"path"`
	Topic string `json:"topic"`
}

func (a *app) newImportLegacyCommand() *cobra.Command {
	var (
		key     string
		conv    legacyConversion
		doApply bool
	)
	cmd := &cobra.Command{
		Use:   "import-legacy [--key KEY] [--base-dir DIR] [--apply]",
		Short: "Convert the tutorial log agent's etcd configuration into specs",
		Long: `Read the configuration of the tutorial's log agent, a JSON array such as
  [{"path":"/var/log/web/access.log","topic":"web_log"}, ...]
from the etcd key KEY (as is, not under --etcd-prefix), and print the
equivalent specs as YAML documents: one Topic per distinct topic, with an
index block writing to a daily index named after the topic, and one
CollectEntry per topic with all of that topic's paths.

The old agent opened relative paths from its working directory, which
logpipectl cannot know: give that directory as --base-dir, or the conversion
fails naming every relative path.

With --apply the specs are applied at once, in one transaction, instead of
printed.`,
		Example: `  logpipectl import-legacy > specs/legacy.yaml
  logpipectl import-legacy --key /logagent/collect_config --base-dir /opt/logagent --apply`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.importLegacy(cmd.Context(), key, conv, doApply)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&key, "key", defaultLegacyKey, "etcd key holding the legacy configuration")
	fs.Int32Var(&conv.partitions, "topic-partitions", 1, "partitions of each generated Topic")
	fs.StringVar(&conv.baseDir, "base-dir", "", "absolute directory that relative legacy paths are resolved against (the old agent's working directory)")
	fs.BoolVar(&doApply, "apply", false, "apply the generated specs instead of printing them")
	return cmd
}

func (a *app) importLegacy(ctx context.Context, key string, conv legacyConversion, doApply bool) error {
	ctx, cl, done, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := cl.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("etcd key %q: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("etcd key %q does not exist", key)
	}
	entries, err := parseLegacy(resp.Kvs[0].Value)
	if err != nil {
		return fmt.Errorf("etcd key %q: %w", key, err)
	}
	objs, err := conv.convert(entries)
	if err != nil {
		return fmt.Errorf("etcd key %q: %w", key, err)
	}
	if !doApply {
		return writeLegacySpecs(a.stdout, key, objs)
	}
	// The store takes defaulted objects, as the decoder gives to apply.
	for i, o := range objs {
		objs[i] = o.DeepCopyObject()
		objs[i].Default()
	}
	results, err := store.New(cl, a.etcd.Prefix).Apply(ctx, objs, store.ApplyOptions{})
	if err != nil {
		return err
	}
	printResults(a.stdout, results, false)
	return nil
}

// parseLegacy decodes the legacy JSON array. Fields other than path and
// topic are ignored, as the old agent ignored them.
func parseLegacy(b []byte) ([]legacyEntry, error) {
	var entries []legacyEntry
	if err := json.Unmarshal(bytes.TrimSpace(b), &entries); err != nil {
		return nil, fmt.Errorf(`not a legacy collect configuration (want a JSON array of {"path": ..., "topic": ...}): %w`, err)
	}
	if len(entries) == 0 {
		return nil, errors.New("legacy collect configuration is empty")
	}
	return entries, nil
}

// legacyConversion holds the choices the legacy format leaves open.
type legacyConversion struct {
	// partitions is the partition count of every Topic.
	partitions int32
	// baseDir resolves relative paths; empty makes them an error.
	baseDir string
}

// convert turns legacy entries into Topics and CollectEntries, in the order
// their topics first appear, Topics first. The objects are defaulted and
// validated; every problem is reported at once, one per line.
func (c legacyConversion) convert(entries []legacyEntry) ([]api.Object, error) {
	if c.baseDir != "" && !filepath.IsAbs(c.baseDir) {
		return nil, fmt.Errorf("--base-dir %q must be absolute: it stands for the old agent's working directory", c.baseDir)
	}
	var errs []error
	var order []string
	paths := map[string][]string{}
	for i, e := range entries {
		switch {
		case e.Topic == "":
			errs = append(errs, fmt.Errorf("entry %d: no topic", i+1))
			continue
		case e.Path == "":
			errs = append(errs, fmt.Errorf("entry %d: no path", i+1))
			continue
		}
		p := e.Path
		if !filepath.IsAbs(p) {
			if c.baseDir == "" {
				errs = append(errs, fmt.Errorf("entry %d: path %q is relative to the old agent's working directory: give --base-dir DIR to resolve it", i+1, p))
				continue
			}
			p = filepath.Join(c.baseDir, p)
		}
		if _, seen := paths[e.Topic]; !seen {
			order = append(order, e.Topic)
		}
		if !slices.Contains(paths[e.Topic], p) {
			paths[e.Topic] = append(paths[e.Topic], p)
		}
	}

	var topics, collectEntries []api.Object
	entryTopics := map[string]string{} // entry name -> topic, to catch collisions
	for _, topic := range order {
		name := dns1123Name(topic)
		if other, ok := entryTopics[name]; ok {
			errs = append(errs, fmt.Errorf("topics %q and %q both become collectentry %q: rename one in the legacy configuration", other, topic, name))
			continue
		}
		entryTopics[name] = topic
		topics = append(topics, &api.Topic{
			TypeMeta: api.TypeMeta{APIVersion: api.APIVersion, Kind: string(api.KindTopic)},
			Metadata: api.ObjectMeta{Name: topic},
			Spec: api.TopicSpec{
				Partitions: c.partitions,
				Index:      &api.TopicIndex{Name: legacyIndexName(topic)},
			},
		})
		collectEntries = append(collectEntries, &api.CollectEntry{
			TypeMeta: api.TypeMeta{APIVersion: api.APIVersion, Kind: string(api.KindCollectEntry)},
			Metadata: api.ObjectMeta{Name: name},
			Spec:     api.CollectEntrySpec{Paths: paths[topic], Topic: topic},
		})
	}
	objs := append(topics, collectEntries...)
	for _, o := range objs {
		// The printed specs stay as short as a person would write them;
		// a defaulted copy is what gets validated.
		check := o.DeepCopyObject()
		check.Default()
		if err := check.Validate(); err != nil {
			for line := range strings.SplitSeq(err.Error(), "\n") {
				errs = append(errs, fmt.Errorf("generated %s: %s", api.Ref(o), line))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return objs, nil
}

// dns1123Name derives an object name from a Kafka topic name: lower case,
// with every character DNS-1123 does not allow (such as '_') turned into
// '-', and no '-' or '.' at either end. web_log becomes web-log.
func dns1123Name(topic string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '-'
	}, topic)
	return strings.Trim(name, "-.")
}

// legacyIndexName is the daily index the tutorial's transfer wrote a topic
// to, in the lower case Elasticsearch requires: web_log goes to
// web-log-{yyyy.MM.dd}.
func legacyIndexName(topic string) string {
	return strings.ToLower(strings.ReplaceAll(topic, "_", "-")) + "-{yyyy.MM.dd}"
}

// writeLegacySpecs writes objs as YAML documents separated by "---", after
// a comment that says where they came from.
func writeLegacySpecs(w io.Writer, key string, objs []api.Object) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Converted by logpipectl import-legacy from etcd key %q.\n", key)
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		y, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("%s: %w", api.Ref(o), err)
		}
		b.Write(y)
	}
	_, err := w.Write(b.Bytes())
	return err
}
