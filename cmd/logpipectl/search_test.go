package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logpipe/logpipe/search"
	"github.com/logpipe/logpipe/transfer"
)

// searchServer serves the search API of an embedded index holding docs
// (index, id, source).
func searchServer(t *testing.T, docs ...[3]string) string {
	t.Helper()
	e, err := search.Open(t.TempDir(), search.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	var actions []transfer.Action
	for _, d := range docs {
		actions = append(actions, transfer.Action{Index: d[0], ID: d[1], Doc: []byte(d[2])})
	}
	res, err := e.Bulk(context.Background(), actions)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Status != 201 {
			t.Fatalf("indexing %v: %+v", docs[i], r)
		}
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// webDocs are the tutorial's two lines as the transfer indexes them.
var webDocs = [][3]string{
	{"web-2026.12.06", "id-ok", `{"time":"123","code":"200","msg":"ok","@timestamp":"2026-12-06T10:00:00.1Z","event":{"id":"id-ok"},"host":{"name":"h"},"agent":{"name":"h"},"log":{"file":{"path":"/tmp/logpipe-demo/web/access.log"},"offset":0},"logpipe":{"entry":"web-app"},"fields":{"service":"web"}}`},
	{"web-2026.12.06", "id-notok", `{"time":"321","code":"500","msg":"not ok","@timestamp":"2026-12-06T10:00:00.2Z","event":{"id":"id-notok"},"host":{"name":"h"},"agent":{"name":"h"},"log":{"file":{"path":"/tmp/logpipe-demo/web/access.log"},"offset":39},"logpipe":{"entry":"web-app"},"fields":{"service":"web"}}`},
	{"app-2026.12.06", "id-text", `{"message":"plain <text> line","@timestamp":"2026-12-06T10:00:00.3Z","event":{"id":"id-text"}}`},
}

func TestSearch(t *testing.T) {
	t.Parallel()
	server := searchServer(t, webDocs...)
	c := &cli{t: t, env: map[string]string{"LOGPIPE_SERVER": server}, now: testNow}

	c.run("", "search", "web-*", "code:500").want(t, 0, ""+
		"TIMESTAMP                INDEX            MESSAGE\n"+
		`2026-12-06T10:00:00.2Z   web-2026.12.06   {"code":"500","msg":"not ok","time":"321"}`+"\n", "")
	c.run("", "search", "*").want(t, 0, ""+
		"TIMESTAMP                INDEX            MESSAGE\n"+
		"2026-12-06T10:00:00.3Z   app-2026.12.06   plain <text> line\n"+
		`2026-12-06T10:00:00.2Z   web-2026.12.06   {"code":"500","msg":"not ok","time":"321"}`+"\n"+
		`2026-12-06T10:00:00.1Z   web-2026.12.06   {"code":"200","msg":"ok","time":"123"}`+"\n", "")
	c.run("", "search", "web-*", `code:500 AND msg:"not ok"`, "--size", "1").want(t, 0, ""+
		"TIMESTAMP                INDEX            MESSAGE\n"+
		`2026-12-06T10:00:00.2Z   web-2026.12.06   {"code":"500","msg":"not ok","time":"321"}`+"\n", "")
	c.run("", "search", "web-*", "--size", "1").want(t, 0, ""+
		"TIMESTAMP                INDEX            MESSAGE\n"+
		`2026-12-06T10:00:00.2Z   web-2026.12.06   {"code":"500","msg":"not ok","time":"321"}`+"\n",
		"Showing the newest 1 of 2 matches; --size shows more.\n")
	c.run("", "search", "web-*", "code:404").want(t, 0, "", "No documents match in web-*.\n")

	r := c.run("", "search", "web-*", "-o", "json")
	var res searchResponse
	if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil {
		t.Fatalf("-o json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if res.Total != 2 || len(res.Hits) != 2 || res.Hits[0].ID != "id-notok" || !strings.Contains(string(res.Hits[0].Source), `"offset": 39`) {
		t.Errorf("-o json = %s", r.stdout)
	}

	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"search", "web-*", "code:500 AND"}, "error: query: missing clause at the end (after AND at offset 9)\n"},
		{[]string{"search", "nope", "*"}, "error: no such index [nope]\n"},
		{[]string{"search", "web-*", "--since", "soon"}, `error: since "soon": want a positive duration such as 90s, 15m, 2h or 7d` + "\n"},
		{[]string{"search", "web-*", "-o", "yaml"}, `error: unknown output format "yaml": want one of json, table` + "\n"},
		{[]string{"search", "web-*", "--size", "0"}, "error: --size 0: want at least 1\n"},
		{[]string{"search"}, "error: accepts between 1 and 2 arg(s), received 0\n"},
		{[]string{"search", "web-*", "--server", "127.0.0.1:9600"}, `error: --server "127.0.0.1:9600": want an http(s) URL such as http://127.0.0.1:9600` + "\n"},
	} {
		c.run("", tt.args...).want(t, 1, "", tt.stderr)
	}
}

func TestSearchSince(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	server := searchServer(t,
		[3]string{"web-1", "old", `{"msg":"old","@timestamp":"` + now.Add(-2*time.Hour).Format(time.RFC3339Nano) + `"}`},
		[3]string{"web-1", "new", `{"msg":"new","@timestamp":"` + now.Add(-time.Minute).Format(time.RFC3339Nano) + `"}`},
	)
	c := &cli{t: t, env: map[string]string{}, now: testNow}
	for _, tt := range []struct {
		since string
		want  []string
	}{
		{"15m", []string{"new"}},
		{"3h", []string{"new", "old"}},
		{"1d", []string{"new", "old"}},
	} {
		r := c.run("", "search", "web-*", "--since", tt.since, "-o", "json", "--server", server)
		var res searchResponse
		if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil {
			t.Fatalf("--since %s: exit %d, %v: %s", tt.since, r.code, err, r.stderr)
		}
		var got []string
		for _, h := range res.Hits {
			got = append(got, h.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("--since %s = %v, want %v", tt.since, got, tt.want)
		}
	}
}

func TestSearchServerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	t.Parallel()
	c := &cli{t: t, env: map[string]string{"LOGPIPE_SERVER": url}, now: testNow}
	c.run("", "search", "web-*", "*").want(t, 1, "",
		"error: search API at "+url+": connection refused: is logpipe dev running? (or give --server)\n")
}
