package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is what a harness run found: every figure with its runs, the
// machine and the command, written as Markdown and as JSON.
type report struct {
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	Command  string    `json:"command"`
	Machine  machine   `json:"machine"`
	Figures  []*figure `json:"figures"`
	// Notes say what was not run and why, and what failed.
	Notes []string `json:"notes,omitempty"`
}

type machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemoryGiB   int    `json:"memoryGiB"`
	Kernel      string `json:"kernel"`
	Go          string `json:"go"`
	LoadAtStart string `json:"loadAtStart"`
	LoadAtEnd   string `json:"loadAtEnd"`
}

// figure is one measured quantity of one case, over several runs.
type figure struct {
	Scenario string    `json:"scenario"`
	Case     string    `json:"case"`
	Subject  string    `json:"subject"` // logpipe, rsyslog, ratio ...
	Metric   string    `json:"metric"`
	Unit     string    `json:"unit"`
	Runs     []float64 `json:"runs"`
	Median   float64   `json:"median"`
	Min      float64   `json:"min"`
	Max      float64   `json:"max"`
	Target   string    `json:"target,omitempty"`
	Met      *bool     `json:"met,omitempty"`
}

func (r *report) add(scenario, cse, subject, metric, unit string, runs []float64) *figure {
	f := &figure{Scenario: scenario, Case: cse, Subject: subject, Metric: metric, Unit: unit, Runs: runs}
	if len(runs) > 0 {
		s := slices.Clone(runs)
		slices.Sort(s)
		f.Min, f.Max = s[0], s[len(s)-1]
		if n := len(s); n%2 == 1 {
			f.Median = s[n/2]
		} else {
			f.Median = (s[n/2-1] + s[n/2]) / 2
		}
	}
	r.Figures = append(r.Figures, f)
	return f
}

// target records the figure's target and whether its median meets it.
func (f *figure) target(desc string, met func(median float64) bool) *figure {
	f.Target = desc
	ok := len(f.Runs) > 0 && met(f.Median)
	f.Met = &ok
	return f
}

func (r *report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadAtStart: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemoryGiB = int(math.Round(float64(parseKB(v)) / (1 << 30)))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func (r *report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Run %s, %s, on %s (%d cores, %d GiB), Linux %s, %s; load average %s at the start, %s at the end.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Duration, m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Go, m.LoadAtStart, m.LoadAtEnd)
	fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	var scenario string
	for _, f := range r.Figures {
		if f.Scenario != scenario {
			scenario = f.Scenario
			fmt.Fprintf(&b, "\n### %s\n\n", scenario)
			b.WriteString("| case | subject | metric | median | min – max | runs | target |\n|---|---|---|---|---|---|---|\n")
		}
		target := f.Target
		if f.Met != nil {
			if *f.Met {
				target += ": met"
			} else {
				target += ": **not met**"
			}
		}
		if len(f.Runs) == 0 {
			fmt.Fprintf(&b, "| %s | %s | %s | not measured (see the notes) | | 0 | %s |\n", f.Case, f.Subject, f.Metric, f.Target)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s – %s | %d | %s |\n", f.Case, f.Subject, f.Metric,
			formatValue(f.Median, f.Unit), formatValue(f.Min, f.Unit), formatValue(f.Max, f.Unit), len(f.Runs), target)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// formatValue writes counts with thousands separators and small values
// with three significant digits, followed by the unit.
func formatValue(v float64, unit string) string {
	var s string
	switch a := math.Abs(v); {
	case a >= 1000:
		s = thousands(int64(math.Round(v)))
	case a >= 100:
		s = fmt.Sprintf("%.0f", v)
	case a >= 10:
		s = fmt.Sprintf("%.1f", v)
	case a >= 1:
		s = fmt.Sprintf("%.2f", v)
	default:
		s = fmt.Sprintf("%.3g", v)
	}
	if unit == "" {
		return s
	}
	return s + " " + unit
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
