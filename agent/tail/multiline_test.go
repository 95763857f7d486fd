package tail

import (
	"regexp"
	"strings"
	"testing"
	"time"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

func TestMultiline(t *testing.T) {
	trace := "Exception in thread \"main\" java.lang.NullPointerException\n" +
		"\tat com.example.A.b(A.java:10)\n" +
		"\tat com.example.Main.main(Main.java:5)\n"
	traceLen := int64(len(trace))
	tests := []struct {
		name    string
		spec    api.Multiline
		include string
		content string
		want    []Event
	}{
		{
			name:    "after: stack trace",
			spec:    api.Multiline{Pattern: `^\s`},
			content: trace + "next line\n",
			want: []Event{
				{Offset: 0, End: traceLen, Data: []byte(strings.TrimSuffix(trace, "\n")), Lines: 3},
				{Offset: traceLen, End: traceLen + 10, Data: []byte("next line"), Lines: 1},
			},
		},
		{
			name:    "after, negate: lines not starting with [ continue",
			spec:    api.Multiline{Pattern: `^\[`, Negate: true, Match: api.MultilineAfter},
			content: "[1] start\n  cont1\ncont2\n[2] second\n",
			want: []Event{
				{Offset: 0, End: 24, Data: []byte("[1] start\n  cont1\ncont2"), Lines: 3},
				{Offset: 24, End: 35, Data: []byte("[2] second"), Lines: 1},
			},
		},
		{
			name:    "before: a trailing backslash continues",
			spec:    api.Multiline{Pattern: `\\$`, Match: api.MultilineBefore},
			content: "a \\\nb \\\nc\nd\n",
			want: []Event{
				{Offset: 0, End: 10, Data: []byte("a \\\nb \\\nc"), Lines: 3},
				{Offset: 10, End: 12, Data: []byte("d"), Lines: 1},
			},
		},
		{
			name:    "first line a continuation starts an event",
			spec:    api.Multiline{Pattern: `^\s`},
			content: " orphan\nhead\n more\n",
			want: []Event{
				{Offset: 0, End: 8, Data: []byte(" orphan"), Lines: 1},
				{Offset: 8, End: 19, Data: []byte("head\n more"), Lines: 2},
			},
		},
		{
			name:    "maxLines drops the rest of the event",
			spec:    api.Multiline{Pattern: `^\s`, MaxLines: 2},
			content: "h\n 1\n 2\n 3\nx\n",
			want: []Event{
				{Offset: 0, End: 11, Data: []byte("h\n 1"), Lines: 4, Truncated: true},
				{Offset: 11, End: 13, Data: []byte("x"), Lines: 1},
			},
		},
		{
			name:    "maxBytes cuts the event",
			spec:    api.Multiline{Pattern: `^\s`, MaxBytes: 10},
			content: "0123456\n 89abc\n xyz\n",
			want: []Event{
				{Offset: 0, End: 20, Data: []byte("0123456\n 8"), Lines: 3, Truncated: true},
			},
		},
		{
			name:    "CRLF lines joined with LF",
			spec:    api.Multiline{Pattern: `^\s`},
			content: "a\r\n b\r\nc\r\n",
			want: []Event{
				{Offset: 0, End: 7, Data: []byte("a\n b"), Lines: 2},
				{Offset: 7, End: 10, Data: []byte("c"), Lines: 1},
			},
		},
		{
			name:    "filters see the whole event",
			spec:    api.Multiline{Pattern: `^\s`},
			include: `NullPointer`,
			content: "noise\n" + trace + "more noise\n",
			want: []Event{
				{Offset: 0, End: 6, Lines: 1, Skip: true},
				{Offset: 6, End: 6 + traceLen, Data: []byte(strings.TrimSuffix(trace, "\n")), Lines: 3},
				{Offset: 6 + traceLen, End: 6 + traceLen + 11, Lines: 1, Skip: true},
			},
		},
		{
			name:    "an unterminated last line joins at removal",
			spec:    api.Multiline{Pattern: `^\s`},
			content: "head\n tail",
			want:    []Event{{Offset: 0, End: 10, Data: []byte("head\n tail"), Lines: 2}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ml, err := NewMultiline(&tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{
				Path:      tempFile(t, tc.content),
				Multiline: ml,
				// Removal flushes the last open event, so every event
				// of the file is emitted before Run returns.
				Removed: func() bool { return true },
			}
			if tc.include != "" {
				cfg.Include = []*regexp.Regexp{regexp.MustCompile(tc.include)}
			}
			r := startTailer(t, cfg)
			checkEvents(t, r.endWith(ErrRemoved), tc.want)
		})
	}
}

func TestMultilineFlushTimeout(t *testing.T) {
	ml, err := NewMultiline(&api.Multiline{Pattern: `^\s`, FlushTimeout: &api.Duration{Duration: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	path := tempFile(t, "head\n cont\n")
	r := startTailer(t, Config{Path: path, Multiline: ml})
	// No line follows to close the event: the timeout does.
	checkEvents(t, r.next(1), []Event{{Offset: 0, End: 11, Data: []byte("head\n cont"), Lines: 2}})
	r.waitOffset(11)
}

// TestMultilineSpansReads joins an event larger than the read buffer.
func TestMultilineSpansReads(t *testing.T) {
	ml, err := NewMultiline(&api.Multiline{Pattern: `^\s`, MaxLines: 100000})
	if err != nil {
		t.Fatal(err)
	}
	body := "head" + strings.Repeat("\n continuation line", 10000)
	path := tempFile(t, body+"\nnext\n")
	r := startTailer(t, Config{Path: path, Multiline: ml, Removed: func() bool { return true }})
	n := int64(len(body)) + 1
	checkEvents(t, r.endWith(ErrRemoved), []Event{
		{Offset: 0, End: n, Data: []byte(body), Lines: 10001},
		{Offset: n, End: n + 5, Data: []byte("next"), Lines: 1},
	})
}

func TestNewMultiline(t *testing.T) {
	if ml, err := NewMultiline(nil); ml != nil || err != nil {
		t.Errorf("NewMultiline(nil) = %v, %v; want nil, nil", ml, err)
	}
	ml, err := NewMultiline(&api.Multiline{Pattern: "^x"})
	if err != nil {
		t.Fatal(err)
	}
	if ml.maxLines != api.DefaultMultilineMaxLines || ml.maxBytes != int(api.DefaultMultilineMaxBytes) ||
		ml.flushTimeout != api.DefaultMultilineFlushTimeout || ml.before {
		t.Errorf("defaults not applied: %+v", ml)
	}
	for _, bad := range []api.Multiline{{Pattern: ""}, {Pattern: "("}, {Pattern: "x", Match: "middle"}} {
		if _, err := NewMultiline(&bad); err == nil {
			t.Errorf("NewMultiline(%+v) accepted", bad)
		}
	}
}
