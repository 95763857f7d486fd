package search

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestQuerySyntax(t *testing.T) {
	e := openEngine(t, t.TempDir())
	bulk(t, e,
		doc("web", "ok", `{`+ts+`,"time":"123","code":"200","msg":"ok","service":"web"}`),
		doc("web", "notok", `{`+ts+`,"time":"321","code":"500","msg":"not ok","service":"web"}`),
		doc("web", "gw", `{`+ts+`,"time":"456","code":"502","msg":"bad gateway","service":"api"}`),
		doc("web", "path", `{`+ts+`,"msg":"a (b) c","path":"/srv/app.log","bytes":2048}`),
	)
	tests := []struct {
		q    string
		want []string
	}{
		{``, []string{"gw", "notok", "ok", "path"}},
		{`*`, []string{"gw", "notok", "ok", "path"}},
		{`code:500`, []string{"notok"}},
		{`code:500 AND msg:"not ok"`, []string{"notok"}},
		{`code:500 AND msg:"bad gateway"`, nil},
		{`code:500 && msg:ok`, []string{"notok"}},
		{`code:500 OR code:502`, []string{"gw", "notok"}},
		{`code:500 || code:502`, []string{"gw", "notok"}},
		{`code:500 code:502`, []string{"gw", "notok"}}, // side by side: OR
		{`NOT code:200`, []string{"gw", "notok", "path"}},
		{`!code:200`, []string{"gw", "notok", "path"}},
		{`-code:200`, []string{"gw", "notok", "path"}},
		{`service:web AND NOT code:200`, []string{"notok"}},
		{`service:web -code:200`, []string{"notok"}}, // Lucene: - excludes from the whole list
		{`+service:web code:500`, []string{"notok", "ok"}},
		{`(code:500 OR code:502) AND service:api`, []string{"gw"}},
		{`code:500 OR code:502 AND service:api`, []string{"gw", "notok"}}, // AND binds tighter
		{`NOT (code:500 OR code:200)`, []string{"gw", "path"}},
		{`NOT NOT code:500`, []string{"notok"}},
		{`code:5*`, []string{"gw", "notok"}},
		{`code:/50[02]/`, []string{"gw", "notok"}},
		{`msg:gatway~1`, []string{"gw"}},
		{`bytes:>=2048`, []string{"path"}},
		{`msg:"a (b) c"`, []string{"path"}},
		{`path:"/srv/app.log"`, []string{"path"}},
		{`_id:gw`, []string{"gw"}},
		{`_id:gw OR _id:ok`, []string{"gw", "ok"}},
		{`gateway`, []string{"gw"}}, // no field: every field
		{`and`, nil},                // lower-case keywords are terms
	}
	for _, tt := range tests {
		res, err := e.Search(context.Background(), Request{Index: "web", Query: tt.q, Size: 100})
		if err != nil {
			t.Errorf("%s: %v", tt.q, err)
			continue
		}
		if got := ids(res); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			t.Errorf("%s matches %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestQuerySyntaxErrors(t *testing.T) {
	tests := []struct{ q, want string }{
		{`code:500 AND`, "query: missing clause at the end (after AND at offset 9)"},
		{`OR code:500`, "query: OR at offset 0 has nothing before it"},
		{`code:500 OR`, "query: OR at offset 9 has nothing after it"},
		{`(code:500`, "query: parenthesis at offset 0 is not closed"},
		{`code:500)`, `query: unexpected ) at offset 8`},
		{`msg:"not ok`, "query: unterminated phrase starting at offset 4"},
		{`path:/a`, "query: unterminated regular expression starting at offset 5"},
		{`()`, "query: unexpected ) at offset 1"},
		{`_id:`, `query: "_id:" at offset 0: no ID after _id:`},
	}
	for _, tt := range tests {
		_, err := ParseQuery(tt.q)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseQuery(%q) = %v, want an error containing %q", tt.q, err, tt.want)
		}
	}
}
