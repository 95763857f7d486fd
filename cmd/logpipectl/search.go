package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/logpipe/logpipe/internal/envflag"
)

// defaultServer is where logpipe dev serves its search API.
const defaultServer = "http://127.0.0.1:9600"

// searchResponse is the answer of GET /api/v1/search (package search's
// Response, decoded here so that logpipectl does not link the index).
type searchResponse struct {
	Total uint64      `json:"total"`
	Hits  []searchHit `json:"hits"`
}

type searchHit struct {
	Index  string          `json:"index"`
	ID     string          `json:"id"`
	Source json.RawMessage `json:"source"`
}

// shippedFields are the fields logpipe adds to every document; the MESSAGE
// column leaves them out to show the line as it was written.
var shippedFields = []string{"@timestamp", "event", "host", "agent", "log", "logpipe", "fields"}

func (a *app) newSearchCommand() *cobra.Command {
	var (
		server string
		size   int
		since  string
		output string
	)
	cmd := &cobra.Command{
		Use:   "search INDEX [QUERY]",
		Short: "Search the indexed logs of logpipe dev",
		Long: `Search the embedded index of logpipe dev. INDEX is an index name, a pattern
such as 'web-*', or a comma-separated list of both. QUERY is in Lucene /
Elasticsearch query-string syntax: field:value, field:"a phrase", field:>5,
wild*, AND, OR, NOT, -clause, +clause and parentheses; it defaults to *
(every document). Hits come newest first: by @timestamp, then by position in
their file.

The table shows each hit's @timestamp, index and message: the line's own
fields, without those logpipe adds (event, host, agent, log, logpipe,
fields). -o json prints the whole answer, sources included.`,
		Example: `  logpipectl search 'web-*' 'code:500'
  logpipectl search 'web-*' 'code:500 AND msg:"not ok"' --since 15m
  logpipectl search 'web-*' --size 100 -o json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := "*"
			if len(args) == 2 {
				q = args[1]
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown output format %q: want one of json, table", output)
			}
			if size < 1 {
				return fmt.Errorf("--size %d: want at least 1", size)
			}
			return a.search(cmd.Context(), server, args[0], q, size, since, output)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&server, "server", defaultServer, "URL of logpipe dev's search API")
	envflag.Bind(fs, "server", "LOGPIPE_SERVER")
	fs.IntVar(&size, "size", 10, "most hits to show")
	fs.StringVar(&since, "since", "", "only documents whose @timestamp is at most this old: 90s, 15m, 2h, 7d")
	fs.StringVarP(&output, "output", "o", "table", "output format: json or table")
	return cmd
}

func (a *app) search(ctx context.Context, server, index, q string, size int, since, output string) error {
	if a.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, not %v", a.timeout)
	}
	base, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("--server %q: want an http(s) URL such as %s", server, defaultServer)
	}
	v := url.Values{"index": {index}, "q": {q}, "size": {strconv.Itoa(size)}}
	if since != "" {
		v.Set("since", since)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/api/v1/search?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("search API at %s: connection refused: is logpipe dev running? (or give --server)", base)
		}
		return fmt.Errorf("search API at %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("search API at %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("search API at %s: HTTP %d: %s", base, resp.StatusCode, truncate(strings.TrimSpace(string(body)), 200))
	}
	var res searchResponse
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("search API at %s: decode answer: %w", base, err)
	}
	if output == "json" {
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			return err
		}
		_, err := a.stdout.Write(out.Bytes())
		return err
	}
	if len(res.Hits) == 0 {
		fmt.Fprintf(a.stderr, "No documents match in %s.\n", index)
		return nil
	}
	rows := make([][]string, len(res.Hits))
	for i, h := range res.Hits {
		ts, msg := hitColumns(h.Source)
		rows[i] = []string{ts, h.Index, msg}
	}
	if err := writeTable(a.stdout, []string{"timestamp", "index", "message"}, rows); err != nil {
		return err
	}
	if res.Total > uint64(len(res.Hits)) {
		fmt.Fprintf(a.stderr, "Showing the newest %d of %d matches; --size shows more.\n", len(res.Hits), res.Total)
	}
	return nil
}

// hitColumns returns a source's @timestamp and its message: the message
// field when it has one (text lines), else the fields logpipe did not add,
// as compact JSON with sorted keys.
func hitColumns(src json.RawMessage) (ts, msg string) {
	var doc map[string]any
	if err := json.Unmarshal(src, &doc); err != nil {
		return "", string(src)
	}
	ts, _ = doc["@timestamp"].(string)
	if m, ok := doc["message"].(string); ok {
		return ts, m
	}
	for _, f := range shippedFields {
		delete(doc, f)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return ts, string(src)
	}
	return ts, strings.TrimSuffix(b.String(), "\n")
}
