package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// none is what a table shows for an empty cell, as kubectl does.
const none = "<none>"

// maxPathsCell is the widest a PATHS cell gets before it is cut with "...";
// describe shows the full list.
const maxPathsCell = 60

// tablePrinter writes aligned columns for people: upper-case headers, one row
// per object, the priority columns only when wide. It prints nothing for no
// objects, so that get can say "No resources found." on stderr instead.
type tablePrinter struct {
	wide bool
	now  time.Time
}

func (p *tablePrinter) Print(w io.Writer, objs ...any) error {
	if len(objs) == 0 {
		return nil
	}
	var headers []string
	var rows [][]string
	var err error
	switch objs[0].(type) {
	case *api.CollectEntry:
		headers, rows, err = tableOf(collectEntryColumns, objs, p.wide, p.now)
	case *api.Topic:
		headers, rows, err = tableOf(topicColumns, objs, p.wide, p.now)
	case *api.IndexTemplate:
		headers, rows, err = tableOf(indexTemplateColumns, objs, p.wide, p.now)
	case api.Agent:
		headers, rows, err = tableOf(agentColumns, objs, p.wide, p.now)
	default:
		return fmt.Errorf("no table for %T", objs[0])
	}
	if err != nil {
		return err
	}
	return writeTable(w, headers, rows)
}

// column is one column of a kind's table.
type column[T any] struct {
	header string
	// wide columns are shown only with -o wide.
	wide  bool
	value func(obj T, now time.Time) string
}

// tableOf renders objs, which must all be T, with cols.
func tableOf[T any](cols []column[T], objs []any, wide bool, now time.Time) (headers []string, rows [][]string, err error) {
	for _, c := range cols {
		if !c.wide || wide {
			headers = append(headers, c.header)
		}
	}
	for _, o := range objs {
		obj, ok := o.(T)
		if !ok {
			var want T
			return nil, nil, fmt.Errorf("cannot print %T in a table of %T", o, want)
		}
		var row []string
		for _, c := range cols {
			if !c.wide || wide {
				row = append(row, c.value(obj, now))
			}
		}
		rows = append(rows, row)
	}
	return headers, rows, nil
}

// writeTable writes headers and rows aligned by a tabwriter configured as
// kubectl's.
func writeTable(w io.Writer, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 10, 4, 3, ' ', 0)
	writeRow := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			io.WriteString(tw, cell(c))
		}
		io.WriteString(tw, "\n")
	}
	upper := make([]string, len(headers))
	for i, h := range headers {
		upper[i] = strings.ToUpper(h)
	}
	writeRow(upper)
	for _, r := range rows {
		writeRow(r)
	}
	return tw.Flush()
}

// cell makes s safe for one table cell: empty becomes <none>, anything
// after the first line break becomes "...", and control characters are
// escaped so that a hostile name or message cannot move the cursor, change
// colours or break the columns.
func cell(s string) string {
	if s == "" {
		return none
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i] + "..."
	}
	return escapeControl(s)
}

// escapeControl replaces each control character (tabs and escapes
// included) with its Go escape, such as \x1b or \t.
func escapeControl(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// truncate cuts s to at most n bytes (at a rune boundary), ending in "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

var collectEntryColumns = []column[*api.CollectEntry]{
	{header: "NAME", value: func(c *api.CollectEntry, _ time.Time) string { return c.Metadata.Name }},
	{header: "TOPIC", value: func(c *api.CollectEntry, _ time.Time) string { return c.Spec.Topic }},
	{header: "PATHS", value: func(c *api.CollectEntry, _ time.Time) string {
		return truncate(strings.Join(c.Spec.Paths, ","), maxPathsCell)
	}},
	{header: "AGENTS", value: func(c *api.CollectEntry, _ time.Time) string { return strconv.Itoa(len(c.Status.Agents)) }},
	{header: "FILES", value: func(c *api.CollectEntry, _ time.Time) string {
		n := 0
		for _, a := range c.Status.Agents {
			n += a.FilesTailed
		}
		return strconv.Itoa(n)
	}},
	{header: "READY", value: func(c *api.CollectEntry, _ time.Time) string {
		ready := 0
		for _, a := range c.Status.Agents {
			if cond := api.FindCondition(a.Conditions, api.ConditionReady); cond != nil && cond.Status == api.ConditionTrue {
				ready++
			}
		}
		return fmt.Sprintf("%d/%d", ready, len(c.Status.Agents))
	}},
	{header: "AGE", value: func(c *api.CollectEntry, now time.Time) string { return age(c.Metadata.CreationTimestamp, now) }},
	{header: "FORMAT", wide: true, value: func(c *api.CollectEntry, _ time.Time) string { return string(c.Spec.Format) }},
	{header: "SELECTOR", wide: true, value: func(c *api.CollectEntry, _ time.Time) string { return selectorString(c.Spec.AgentSelector) }},
	{header: "BEHIND", wide: true, value: func(c *api.CollectEntry, _ time.Time) string {
		var n int64
		for _, a := range c.Status.Agents {
			n += a.BytesBehind
		}
		return humanBytes(n)
	}},
}

var topicColumns = []column[*api.Topic]{
	{header: "NAME", value: func(t *api.Topic, _ time.Time) string { return t.Metadata.Name }},
	{header: "PARTITIONS", value: func(t *api.Topic, _ time.Time) string { return strconv.Itoa(int(t.Spec.Partitions)) }},
	{header: "READY", value: func(t *api.Topic, _ time.Time) string { return readyStatus(t.Status.Conditions) }},
	{header: "ACTUAL", value: func(t *api.Topic, _ time.Time) string {
		if t.Status.Partitions == 0 {
			return "-"
		}
		return strconv.Itoa(int(t.Status.Partitions))
	}},
	{header: "MESSAGE", value: func(t *api.Topic, _ time.Time) string { return readyMessage(t.Status.Conditions) }},
	{header: "AGE", value: func(t *api.Topic, now time.Time) string { return age(t.Metadata.CreationTimestamp, now) }},
	{header: "REPLICATION", wide: true, value: func(t *api.Topic, _ time.Time) string {
		return replicationString(t.Spec.ReplicationFactor)
	}},
	{header: "INDEX", wide: true, value: func(t *api.Topic, _ time.Time) string {
		if t.Spec.Index == nil {
			return ""
		}
		return t.Spec.Index.Name
	}},
	{header: "LAG", wide: true, value: func(t *api.Topic, _ time.Time) string {
		if len(t.Status.Consumers) == 0 {
			return "-"
		}
		var lag int64
		for _, c := range t.Status.Consumers {
			lag += c.Lag
		}
		return strconv.FormatInt(lag, 10)
	}},
	{header: "RETENTION", wide: true, value: func(t *api.Topic, _ time.Time) string {
		v, ok := t.Spec.Config["retention.ms"]
		if !ok {
			return "-"
		}
		return retentionString(v)
	}},
}

var indexTemplateColumns = []column[*api.IndexTemplate]{
	{header: "NAME", value: func(t *api.IndexTemplate, _ time.Time) string { return t.Metadata.Name }},
	{header: "PATTERNS", value: func(t *api.IndexTemplate, _ time.Time) string {
		return truncate(strings.Join(t.Spec.IndexPatterns, ","), maxPathsCell)
	}},
	{header: "PRIORITY", value: func(t *api.IndexTemplate, _ time.Time) string {
		if t.Spec.Priority == nil {
			return "0"
		}
		return strconv.FormatInt(*t.Spec.Priority, 10)
	}},
	{header: "READY", value: func(t *api.IndexTemplate, _ time.Time) string { return readyStatus(t.Status.Conditions) }},
	{header: "APPLIED", value: func(t *api.IndexTemplate, _ time.Time) string { return strconv.FormatBool(t.Status.Applied) }},
	{header: "MESSAGE", value: func(t *api.IndexTemplate, _ time.Time) string { return readyMessage(t.Status.Conditions) }},
	{header: "AGE", value: func(t *api.IndexTemplate, now time.Time) string { return age(t.Metadata.CreationTimestamp, now) }},
}

var agentColumns = []column[api.Agent]{
	{header: "NAME", value: func(a api.Agent, _ time.Time) string { return a.Name }},
	{header: "LABELS", value: func(a api.Agent, _ time.Time) string { return labelsString(a.Labels) }},
	{header: "VERSION", value: func(a api.Agent, _ time.Time) string { return a.Version }},
	{header: "FILES", value: func(a api.Agent, _ time.Time) string { return strconv.Itoa(a.FilesTailed) }},
	{header: "AGE", value: func(a api.Agent, now time.Time) string { return age(a.StartTime, now) }},
	{header: "HOST", wide: true, value: func(a api.Agent, _ time.Time) string { return a.Host }},
	{header: "ADDRESS", wide: true, value: func(a api.Agent, _ time.Time) string { return a.Address }},
}

// readyStatus is the status of the Ready condition, Unknown when there is
// none yet.
func readyStatus(conds []api.Condition) string {
	if c := api.FindCondition(conds, api.ConditionReady); c != nil {
		return string(c.Status)
	}
	return string(api.ConditionUnknown)
}

// readyMessage is the message of the Ready condition.
func readyMessage(conds []api.Condition) string {
	if c := api.FindCondition(conds, api.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// replicationString shows -1, which leaves the choice to the broker, as
// "default".
func replicationString(rf int16) string {
	if rf < 0 {
		return "default"
	}
	return strconv.Itoa(int(rf))
}

// retentionString shows a retention.ms value as a duration such as "7d";
// -1 (keep forever) as "forever"; anything else as written.
func retentionString(ms string) string {
	n, err := strconv.ParseInt(ms, 10, 64)
	switch {
	case err != nil:
		return ms
	case n < 0:
		return "forever"
	}
	return exactDuration(time.Duration(n) * time.Millisecond)
}

// exactDuration writes d in days, hours, minutes, seconds and milliseconds,
// leaving out zero units: "7d", "1d12h", "90s" is "1m30s".
func exactDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	units := []struct {
		suffix string
		size   time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}}
	var b strings.Builder
	for _, u := range units {
		if n := d / u.size; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.suffix)
			d -= n * u.size
		}
	}
	return b.String()
}

// labelsString writes labels as "k=v,k2=v2", sorted by key.
func labelsString(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, ",")
}

// selectorString writes an agent selector in the syntax of -l, such as
// "env in (prod,staging),role=web". An unset or empty selector selects every
// agent, shown as "<all>".
func selectorString(ls *api.LabelSelector) string {
	sel, err := ls.Selector()
	switch {
	case err != nil:
		return "<invalid>"
	case sel.Empty():
		return "<all>"
	}
	return sel.String()
}

// humanBytes writes n bytes in binary units with at most one decimal:
// "512B", "1.5KiB", "20MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	v := float64(n)
	suffixes := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for v >= unit && i < len(suffixes)-1 {
		v /= unit
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + suffixes[i]
}

// age is how long ago t was, as kubectl's AGE column writes it; "<unknown>"
// when t is unset.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return humanDuration(now.Sub(t))
}

// humanDuration writes d with the precision kubectl's duration.HumanDuration
// chooses: exact seconds for two minutes, then coarser units as d grows
// ("5s", "3m20s", "2h", "4d", "3y").
func humanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < -1 {
		return "<invalid>"
	} else if seconds < 0 {
		return "0s"
	} else if seconds < 60*2 {
		return fmt.Sprintf("%ds", seconds)
	}
	minutes := int(d / time.Minute)
	if minutes < 10 {
		s := int(d/time.Second) % 60
		if s == 0 {
			return fmt.Sprintf("%dm", minutes)
		}
		return fmt.Sprintf("%dm%ds", minutes, s)
	} else if minutes < 60*3 {
		return fmt.Sprintf("%dm", minutes)
	}
	hours := int(d / time.Hour)
	if hours < 8 {
		m := int(d/time.Minute) % 60
		if m == 0 {
			return fmt.Sprintf("%dh", hours)
		}
		return fmt.Sprintf("%dh%dm", hours, m)
	} else if hours < 48 {
		return fmt.Sprintf("%dh", hours)
	} else if hours < 24*8 {
		h := hours % 24
		if h == 0 {
			return fmt.Sprintf("%dd", hours/24)
		}
		return fmt.Sprintf("%dd%dh", hours/24, h)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%dd", hours/24)
	} else if hours < 24*365*8 {
		dy := int(hours/24) % 365
		if dy == 0 {
			return fmt.Sprintf("%dy", hours/24/365)
		}
		return fmt.Sprintf("%dy%dd", hours/24/365, dy)
	}
	return fmt.Sprintf("%dy", hours/24/365)
}
