package main

import (
	"strings"
	"testing"
)

func TestFigureMedianMinMax(t *testing.T) {
	r := &report{}
	odd := r.add("s", "c", "logpipe", "lines/s", "", []float64{3, 1, 2})
	even := r.add("s", "c", "logpipe", "lines/s", "", []float64{4, 1, 3, 2})
	if odd.Median != 2 || odd.Min != 1 || odd.Max != 3 {
		t.Errorf("odd runs: median %v min %v max %v, want 2 1 3", odd.Median, odd.Min, odd.Max)
	}
	if even.Median != 2.5 || even.Min != 1 || even.Max != 4 {
		t.Errorf("even runs: median %v min %v max %v, want 2.5 1 4", even.Median, even.Min, even.Max)
	}
	if odd.Runs[0] != 3 {
		t.Errorf("add sorted the caller's runs: %v", odd.Runs)
	}
}

func TestTargetJudgesTheMedian(t *testing.T) {
	r := &report{}
	met := r.add("s", "c", "logpipe", "p99", "ms", []float64{900, 1200, 800}).target("≤ 1,000 ms", func(m float64) bool { return m <= 1000 })
	missed := r.add("s", "c", "logpipe", "p99", "ms", []float64{1100, 1200, 800}).target("≤ 1,000 ms", func(m float64) bool { return m <= 1000 })
	none := r.add("s", "c", "logpipe", "p99", "ms", nil).target("≤ 1,000 ms", func(m float64) bool { return true })
	if !*met.Met || *missed.Met || *none.Met {
		t.Errorf("met = %v, %v, %v; want true, false, false (no runs meets nothing)", *met.Met, *missed.Met, *none.Met)
	}
	md := r.markdown()
	for _, want := range []string{"| 900 ms | 800 ms – 1,200 ms | 3 | ≤ 1,000 ms: met |", "≤ 1,000 ms: **not met**", "not measured (see the notes)"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{1234567, "", "1,234,567"},
		{-4200, "", "-4,200"},
		{456.4, "MiB", "456 MiB"},
		{45.67, "s", "45.7 s"},
		{4.567, "×", "4.57 ×"},
		{0.4123, "×", "0.412 ×"},
	} {
		if got := formatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}
