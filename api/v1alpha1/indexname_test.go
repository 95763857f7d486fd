package v1alpha1

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestExpandIndexName(t *testing.T) {
	at := time.Date(2026, 12, 6, 7, 30, 0, 0, time.UTC)
	tests := []struct {
		pattern string
		t       time.Time
		want    string
	}{
		{"web-{yyyy.MM.dd}", at, "web-2026.12.06"},
		{"web", at, "web"},
		{"web-{yyyy-MM}", at, "web-2026-12"},
		{"web-{yyyy.MM.dd.HH}", at, "web-2026.12.06.07"},
		{"{yyyy}", at, "2026"},
		{"logs-{yy_MM}-x", at, "logs-26_12-x"},
		{"a-{dd}-b-{MM}-c", at, "a-06-b-12-c"},
		{"web-{yyyyMMdd}", at, "web-20261206"},
		{"wéb-{yyyy}", at, "wéb-2026"},
		// The date is taken in UTC: 01:00 in UTC+3 is the previous day.
		{"web-{yyyy.MM.dd}", time.Date(2026, 1, 1, 1, 0, 0, 0, time.FixedZone("UTC+3", 3*3600)), "web-2025.12.31"},
		{"web-{yyyy}", time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC), "web-9999"},
		{"web-{yyyy}", time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), "web-0000"},
		{"web-{yyyy}", time.Date(7, 1, 1, 0, 0, 0, 0, time.UTC), "web-0007"},
	}
	for _, tt := range tests {
		got, err := ExpandIndexName(tt.pattern, tt.t)
		if err != nil || got != tt.want {
			t.Errorf("ExpandIndexName(%q, %v) = %q, %v; want %q, <nil>", tt.pattern, tt.t, got, err, tt.want)
		}
	}
}

func TestCompileIndexNameRejects(t *testing.T) {
	tests := []struct {
		pattern, want string
	}{
		{"", `invalid index name pattern "": empty: want a name such as "web-{yyyy.MM.dd}"`},
		{"web-{yyyy", `invalid index name pattern "web-{yyyy": unclosed "{" at position 5: want a placeholder such as {yyyy.MM.dd}`},
		{"web-{yy{yy}", `invalid index name pattern "web-{yy{yy}": unclosed "{" at position 5: want a placeholder such as {yyyy.MM.dd}`},
		{"web-}", `invalid index name pattern "web-}": unmatched "}" at position 5: want placeholders such as {yyyy.MM.dd}`},
		{"web-{}", `invalid index name pattern "web-{}": empty placeholder at position 5: want date tokens such as {yyyy.MM.dd}`},
		{"web-{.-}", `invalid index name pattern "web-{.-}": placeholder at position 5 has no date token: want one such as {yyyy.MM.dd}`},
		{"web-{yyyy.mm}", `invalid index name pattern "web-{yyyy.mm}": unknown date token "mm" at position 11: want yyyy, yy, MM, dd or HH, separated by '.', '-' or '_'`},
		{"web-{yyyyy}", `invalid index name pattern "web-{yyyyy}": unknown date token "y" at position 10: want yyyy, yy, MM, dd or HH, separated by '.', '-' or '_'`},
		{"web-{yyyy/MM}", `invalid index name pattern "web-{yyyy/MM}": unknown date token "/" at position 10: want yyyy, yy, MM, dd or HH, separated by '.', '-' or '_'`},
		{"web-{now/d}", `invalid index name pattern "web-{now/d}": unknown date token "now" at position 6: want yyyy, yy, MM, dd or HH, separated by '.', '-' or '_'`},
		{"Web", `invalid index name pattern "Web": upper-case "W" at position 1: index names must be lower case`},
		{"wÉb", `invalid index name pattern "wÉb": upper-case "É" at position 2: index names must be lower case`},
		{"web logs", `invalid index name pattern "web logs": " " at position 4: index names must not contain white space or any of \ / * ? " < > | , # :`},
		{"web#1", `invalid index name pattern "web#1": "#" at position 4: index names must not contain white space or any of \ / * ? " < > | , # :`},
		{"remote:web", `invalid index name pattern "remote:web": ":" at position 7: index names must not contain white space or any of \ / * ? " < > | , # :`},
		{"-web", `invalid index name pattern "-web": starts with "-": index names must not start with '-', '_' or '+'`},
		{"+web", `invalid index name pattern "+web": starts with "+": index names must not start with '-', '_' or '+'`},
		{".", `invalid index name pattern ".": "." and ".." are not index names`},
		{"..", `invalid index name pattern "..": "." and ".." are not index names`},
		{"web\xff", `invalid index name pattern "web\xff": invalid UTF-8 at position 4`},
		{strings.Repeat("w", 256), `invalid index name pattern "` + strings.Repeat("w", 256) + `": names would be 256 bytes long, want at most 255`},
		{strings.Repeat("w", 252) + "{yyyy}", `invalid index name pattern "` + strings.Repeat("w", 252) + `{yyyy}": names would be 256 bytes long, want at most 255`},
	}
	for _, tt := range tests {
		n, err := CompileIndexName(tt.pattern)
		if got := errText(err); got != tt.want || n != nil {
			t.Errorf("CompileIndexName(%q) = %v, %s\nwant: <nil>, %s", tt.pattern, n, got, tt.want)
		}
		var ie *IndexNameError
		if !errors.As(err, &ie) || ie.Pattern != tt.pattern {
			t.Errorf("CompileIndexName(%q) error %T does not carry the pattern", tt.pattern, err)
		}
	}
	// The longest legal names compile.
	for _, p := range []string{strings.Repeat("w", 255), strings.Repeat("w", 251) + "{yyyy}", ".web", "web."} {
		if _, err := CompileIndexName(p); err != nil {
			t.Errorf("CompileIndexName(%q) = %v, want <nil>", p, err)
		}
	}
}

func TestIndexNamerAllocations(t *testing.T) {
	n, err := CompileIndexName("web-{yyyy.MM.dd}")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	n.Name(at)
	allocs := testing.AllocsPerRun(100, func() {
		at = at.Add(time.Millisecond)
		if got := n.Name(at); got != "web-2026.12.06" {
			t.Fatalf("Name(%v) = %q, want web-2026.12.06", at, got)
		}
	})
	if allocs != 0 {
		t.Errorf("Name within one hour allocates %v times per call, want 0", allocs)
	}
	static, _ := CompileIndexName("web")
	if allocs := testing.AllocsPerRun(100, func() { static.Name(at) }); allocs != 0 {
		t.Errorf("Name of a static pattern allocates %v times per call, want 0", allocs)
	}
}

// TestIndexNamerConcurrent runs Name from several goroutines on times in
// different hours, so that the race detector sees the cache being replaced
// while it is read.
func TestIndexNamerConcurrent(t *testing.T) {
	n, err := CompileIndexName("web-{yyyy.MM.dd.HH}")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				h := (g + i) % 24
				want := "web-2026.12.06." + string(rune('0'+h/10)) + string(rune('0'+h%10))
				if got := n.Name(base.Add(time.Duration(h) * time.Hour)); got != want {
					t.Errorf("Name(hour %d) = %q, want %q", h, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkIndexNamerName(b *testing.B) {
	n, _ := CompileIndexName("web-{yyyy.MM.dd}")
	at := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		at = at.Add(time.Second)
		n.Name(at)
	}
}
