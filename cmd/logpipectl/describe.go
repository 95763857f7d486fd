package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

func (a *app) newDescribeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe KIND NAME...",
		Short: "Show objects or agents in detail",
		Long: `Show each named object in detail: its metadata, its spec with defaults
filled in, its conditions, and what the daemons report about it (per agent
and per file for a CollectEntry, partitions and consumer lag for a Topic).`,
		Example: `  logpipectl describe ce web-app
  logpipectl describe topic web_log
  logpipectl describe agent web-1`,
		Args: kindArg(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.describe(cmd.Context(), args[0], args[1:])
		},
	}
}

func (a *app) describe(ctx context.Context, kindName string, names []string) error {
	kind, err := parseResourceKind(kindName)
	if err != nil {
		return err
	}
	ctx, st, done, err := a.connectStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	objs, errs := fetch(ctx, st, kind, names, nil)
	now := a.now()
	for i, o := range objs {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		if err := describeObject(a.stdout, o, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// describeObject writes the description of one api.Object or api.Agent.
func describeObject(w io.Writer, obj any, now time.Time) error {
	d := &describer{w: w, now: now}
	switch o := obj.(type) {
	case *api.CollectEntry:
		d.meta(o)
		d.collectEntryStatus(o)
	case *api.Topic:
		d.meta(o)
		d.topicStatus(o)
	case *api.IndexTemplate:
		d.meta(o)
		d.indexTemplateStatus(o)
	case api.Agent:
		d.agent(o)
	default:
		return fmt.Errorf("cannot describe %T", obj)
	}
	return d.err
}

// describeFieldWidth aligns the values of "Name:"-style fields.
const describeFieldWidth = 21

// describer writes the sections of a description. It keeps the first write
// error, so that the sections need no error handling of their own.
type describer struct {
	w   io.Writer
	now time.Time
	err error
}

func (d *describer) printf(format string, args ...any) {
	if d.err == nil {
		_, d.err = fmt.Fprintf(d.w, format, args...)
	}
}

// field writes "Label:  value", with empty values shown as <none>.
func (d *describer) field(label, value string) {
	if value == "" {
		value = none
	}
	d.printf("%-*s%s\n", describeFieldWidth, label+":", escapeControl(value))
}

// lines writes a field whose value is several lines (labels, annotations),
// one per line, aligned under the first.
func (d *describer) lines(label string, values []string) {
	if len(values) == 0 {
		d.field(label, "")
		return
	}
	for i, v := range values {
		if i == 0 {
			d.field(label, v)
			continue
		}
		d.printf("%-*s%s\n", describeFieldWidth, "", escapeControl(v))
	}
}

// timeField writes a timestamp field with its age: "2026-11-20T08:00:00Z (2d ago)".
func (d *describer) timeField(label string, t time.Time) {
	d.field(label, d.timestamp(t))
}

func (d *describer) timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), age(t, d.now))
}

// table writes a section: "Label:" and its rows indented below it, or
// "Label:  <none>" without rows.
func (d *describer) table(label string, headers []string, rows [][]string) {
	if len(rows) == 0 {
		d.field(label, "")
		return
	}
	d.printf("%s:\n", label)
	if d.err != nil {
		return
	}
	tw := tabwriter.NewWriter(d.w, 0, 4, 3, ' ', 0)
	for _, r := range append([][]string{headers}, rows...) {
		cells := make([]string, len(r))
		for i, c := range r {
			// Unlike get, describe is where the whole message is read, so
			// its lines are joined rather than cut.
			cells[i] = cell(strings.Join(strings.FieldsFunc(c, isLineBreak), " "))
		}
		fmt.Fprintf(tw, "  %s\n", strings.Join(cells, "\t"))
	}
	d.err = tw.Flush()
}

func isLineBreak(r rune) bool { return r == '\n' || r == '\r' }

func mapLines(m map[string]string) []string {
	lines := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		lines = append(lines, k+"="+m[k])
	}
	return lines
}

// meta writes what every object has: metadata and spec.
func (d *describer) meta(o api.Object) {
	m := o.Meta()
	d.field("Name", m.Name)
	d.field("Kind", string(o.ObjectKind()))
	d.lines("Labels", mapLines(m.Labels))
	d.lines("Annotations", mapLines(m.Annotations))
	d.field("Generation", strconv.FormatInt(m.Generation, 10))
	d.field("ResourceVersion", strconv.FormatInt(m.ResourceVersion, 10))
	d.timeField("Created", m.CreationTimestamp)
	spec, err := o.SpecJSON()
	if err == nil {
		spec, err = yaml.JSONToYAML(spec)
	}
	if err != nil {
		d.err = fmt.Errorf("%s: spec: %w", api.Ref(o), err)
		return
	}
	d.printf("Spec:\n")
	for line := range strings.SplitSeq(strings.TrimRight(string(spec), "\n"), "\n") {
		d.printf("  %s\n", escapeControl(line))
	}
}

var conditionHeaders = []string{"TYPE", "STATUS", "REASON", "MESSAGE", "LAST TRANSITION"}

func conditionRow(c api.Condition) []string {
	t := ""
	if !c.LastTransitionTime.IsZero() {
		t = c.LastTransitionTime.UTC().Format(time.RFC3339)
	}
	return []string{c.Type, string(c.Status), c.Reason, c.Message, t}
}

func (d *describer) conditions(conds []api.Condition) {
	rows := make([][]string, len(conds))
	for i, c := range conds {
		rows[i] = conditionRow(c)
	}
	d.table("Conditions", conditionHeaders, rows)
}

func (d *describer) collectEntryStatus(c *api.CollectEntry) {
	// Every agent reports its own conditions, so the table says whose.
	var conds, agents, files [][]string
	for _, a := range c.Status.Agents {
		for _, cond := range a.Conditions {
			conds = append(conds, append([]string{a.Agent}, conditionRow(cond)...))
		}
		agents = append(agents, []string{
			a.Agent,
			strconv.Itoa(a.FilesTailed),
			humanBytes(a.BytesRead),
			humanBytes(a.BytesBehind),
			strconv.FormatInt(a.LinesShipped, 10),
			generationString(a.ObservedGeneration),
			age(a.UpdateTime, d.now),
			a.LastError,
		})
		for _, f := range a.Files {
			files = append(files, []string{
				a.Agent,
				f.Path,
				strconv.FormatInt(f.Offset, 10),
				strconv.FormatInt(f.Size, 10),
				humanBytes(f.BytesBehind),
				f.LastError,
			})
		}
	}
	d.table("Conditions", append([]string{"AGENT"}, conditionHeaders...), conds)
	d.table("Agents", []string{"AGENT", "FILES", "BYTES-READ", "BEHIND", "LINES", "GENERATION", "UPDATED", "LAST-ERROR"}, agents)
	d.table("Files", []string{"AGENT", "PATH", "OFFSET", "SIZE", "BEHIND", "LAST-ERROR"}, files)
}

func (d *describer) topicStatus(t *api.Topic) {
	d.conditions(t.Status.Conditions)
	d.field("Observed Generation", generationString(t.Status.ObservedGeneration))
	actual := "-"
	if t.Status.Partitions > 0 {
		actual = strconv.Itoa(int(t.Status.Partitions))
	}
	d.field("Partitions", fmt.Sprintf("%d in spec, %s in Kafka", t.Spec.Partitions, actual))
	actualRF := "-"
	if t.Status.ReplicationFactor > 0 {
		actualRF = strconv.Itoa(int(t.Status.ReplicationFactor))
	}
	d.field("Replication Factor", fmt.Sprintf("%s in spec, %s in Kafka", replicationString(t.Spec.ReplicationFactor), actualRF))
	rows := make([][]string, len(t.Status.Consumers))
	for i, c := range t.Status.Consumers {
		rows[i] = []string{c.Transfer, c.Group, strconv.FormatInt(c.Lag, 10), readyStatus(c.Conditions), readyMessage(c.Conditions), age(c.UpdateTime, d.now)}
	}
	d.table("Consumers", []string{"TRANSFER", "GROUP", "LAG", "READY", "MESSAGE", "UPDATED"}, rows)
}

func (d *describer) indexTemplateStatus(t *api.IndexTemplate) {
	d.conditions(t.Status.Conditions)
	d.field("Observed Generation", generationString(t.Status.ObservedGeneration))
	d.field("Applied", strconv.FormatBool(t.Status.Applied))
	d.timeField("Last Applied", t.Status.LastAppliedTime)
}

func (d *describer) agent(a api.Agent) {
	d.field("Name", a.Name)
	d.field("Kind", "Agent")
	d.lines("Labels", mapLines(a.Labels))
	d.field("Version", a.Version)
	d.field("Host", a.Host)
	d.field("Address", a.Address)
	d.timeField("Started", a.StartTime)
	d.field("Files Tailed", strconv.Itoa(a.FilesTailed))
}

// generationString shows an observed generation, and <none> when nothing
// was observed yet.
func generationString(g int64) string {
	if g == 0 {
		return ""
	}
	return strconv.FormatInt(g, 10)
}
