package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/etcdtest"
	"github.com/logpipe/logpipe/store"
)

// specsDir holds the spec fixtures; decoded in lexical order they are
// collectentry/web-app, indextemplate/web, topic/web_log.
const specsDir = "testdata/specs"

// cli runs logpipectl in-process against one etcd server.
type cli struct {
	t   *testing.T
	srv *etcdtest.Server
	// env is the environment logpipectl sees; newCLI points it at srv.
	env map[string]string
	now time.Time
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	srv := etcdtest.Start(t)
	return &cli{
		t:   t,
		srv: srv,
		env: map[string]string{
			"LOGPIPE_ETCD_ENDPOINTS": srv.Endpoint(),
			"LOGPIPE_TIMEOUT":        "10s",
		},
		now: testNow,
	}
}

// result is what one logpipectl run did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs logpipectl with args and stdin.
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	var stdout, stderr bytes.Buffer
	a := &app{
		stdin:  strings.NewReader(stdin),
		stdout: &stdout,
		stderr: &stderr,
		lookupEnv: func(k string) (string, bool) {
			v, ok := c.env[k]
			return v, ok
		},
		now: func() time.Time { return c.now },
	}
	code := a.run(args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// want fails the test unless r has the exit code and the exact output.
func (r result) want(t *testing.T, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code || r.stdout != stdout || r.stderr != stderr {
		t.Errorf("got exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr, code, stdout, stderr)
	}
}

func (c *cli) store() *store.Store {
	return store.New(c.srv.Client(c.t), store.DefaultPrefix)
}

// get reads one object directly from the store.
func (c *cli) get(kind api.Kind, name string) api.Object {
	c.t.Helper()
	o, err := c.store().Get(context.Background(), kind, name)
	if err != nil {
		c.t.Fatal(err)
	}
	return o
}

// copySpecs copies the spec fixtures into a new directory and returns it.
func copySpecs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(specsDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(specsDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, e.Name()), string(b))
	}
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editFile replaces old with new in the file at path, which must contain
// old.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	writeFile(t, path, strings.Replace(string(b), old, new, 1))
}

func TestApplyCreatesConfiguresAndLeavesUnchanged(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.run("", "apply", "-f", specsDir).want(t, 0, ""+
		"collectentry/web-app created\n"+
		"indextemplate/web created\n"+
		"topic/web_log created\n", "")

	rev := c.srv.Revision(t)
	c.run("", "apply", "-f", specsDir).want(t, 0, ""+
		"collectentry/web-app unchanged\n"+
		"indextemplate/web unchanged\n"+
		"topic/web_log unchanged\n", "")
	if got := c.srv.Revision(t); got != rev {
		t.Errorf("an unchanged apply moved etcd's revision from %d to %d", rev, got)
	}
	for _, k := range []struct {
		kind api.Kind
		name string
	}{{api.KindCollectEntry, "web-app"}, {api.KindIndexTemplate, "web"}, {api.KindTopic, "web_log"}} {
		if g := c.get(k.kind, k.name).Meta().Generation; g != 1 {
			t.Errorf("%s/%s generation %d after an unchanged apply, want 1", k.kind.Lower(), k.name, g)
		}
	}

	dir := copySpecs(t)
	editFile(t, filepath.Join(dir, "topic-web_log.yaml"), "partitions: 3", "partitions: 6")
	c.run("", "apply", "-f", dir).want(t, 0, ""+
		"collectentry/web-app unchanged\n"+
		"indextemplate/web unchanged\n"+
		"topic/web_log configured\n", "")
	topic := c.get(api.KindTopic, "web_log").(*api.Topic)
	if topic.Metadata.Generation != 2 || topic.Spec.Partitions != 6 {
		t.Errorf("topic/web_log at generation %d with %d partitions, want generation 2 with 6", topic.Metadata.Generation, topic.Spec.Partitions)
	}
	if g := c.get(api.KindCollectEntry, "web-app").Meta().Generation; g != 1 {
		t.Errorf("collectentry/web-app generation %d after another object changed, want 1", g)
	}
}

// TestGetOutputReapplies checks that what get prints as JSON or YAML,
// metadata and status included, applies again without changing anything.
func TestGetOutputReapplies(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.run("", "apply", "-f", specsDir).want(t, 0, ""+
		"collectentry/web-app created\n"+
		"indextemplate/web created\n"+
		"topic/web_log created\n", "")
	ctx := context.Background()
	st := c.store()
	if err := st.SetReport(ctx, api.KindCollectEntry, "web-app", "web-1", api.CollectEntryAgentStatus{Agent: "web-1", FilesTailed: 2}, clientv3.NoLease); err != nil {
		t.Fatal(err)
	}
	if err := st.SetStatus(ctx, api.KindTopic, "web_log", api.TopicStatus{Partitions: 3}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		args []string
		// status is a line of the output that shows status is included.
		status string
		want   string
	}{
		{[]string{"get", "ce", "-o", "json"}, `"filesTailed": 2,`, "collectentry/web-app unchanged\n"},
		{[]string{"get", "ce", "web-app", "-o", "json"}, `"filesTailed": 2,`, "collectentry/web-app unchanged\n"},
		{[]string{"get", "topics", "-o", "yaml"}, `partitions: 3`, "topic/web_log unchanged\n"},
		{[]string{"get", "it", "web", "-o", "yaml"}, `resourceVersion: `, "indextemplate/web unchanged\n"},
	}
	for _, tt := range tests {
		got := c.run("", tt.args...)
		if got.code != 0 || !strings.Contains(got.stdout, tt.status) {
			t.Fatalf("%s: exit %d, want exit 0 and a line %q; stdout:\n%s\nstderr:\n%s", strings.Join(tt.args, " "), got.code, tt.status, got.stdout, got.stderr)
		}
		rev := c.srv.Revision(t)
		c.run(got.stdout, "apply", "-f", "-").want(t, 0, tt.want, "")
		if r := c.srv.Revision(t); r != rev {
			t.Errorf("re-applying the output of %s moved the revision from %d to %d", strings.Join(tt.args, " "), rev, r)
		}
	}
}

// TestApplyInvalidWritesNothing checks that one bad file among good ones
// stops the whole apply, with the file, document and field named.
func TestApplyInvalidWritesNothing(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(specsDir, "topic-web_log.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a-topic.yaml"), string(good))
	bad := filepath.Join(dir, "b-entry.yaml")
	writeFile(t, bad, `apiVersion: logpipe.io/v1alpha1
kind: Topic
metadata:
  name: api_log
---
apiVersion: logpipe.io/v1alpha1
kind: CollectEntry
metadata:
  name: api-app
spec:
  paths: [var/log/api.log]
  topic: api_log
`)
	rev := c.srv.Revision(t)
	c.run("", "apply", "-f", dir).want(t, 1, "",
		"error: "+bad+`: document 2: CollectEntry "api-app": spec.paths[0]: path "var/log/api.log" is not absolute: want a path starting with "/"`+"\n")
	if got := c.srv.Revision(t); got != rev {
		t.Errorf("a rejected apply moved etcd's revision from %d to %d", rev, got)
	}
}

func TestApplyDryRun(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	rev := c.srv.Revision(t)
	c.run("", "apply", "--dry-run", "-f", specsDir).want(t, 0, ""+
		"collectentry/web-app created (dry run)\n"+
		"indextemplate/web created (dry run)\n"+
		"topic/web_log created (dry run)\n", "")
	if got := c.srv.Revision(t); got != rev {
		t.Errorf("a dry run moved etcd's revision from %d to %d", rev, got)
	}
	c.run("", "get", "ce").want(t, 0, "", "No resources found.\n")
}

func TestApplyPrune(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.run("", "apply", "--prune", "-f", specsDir).want(t, 1, "",
		"error: --prune requires --applyset NAME: only the members of an apply set are pruned\n")

	// The index template is applied outside the set and must survive.
	c.run("", "apply", "-f", filepath.Join(specsDir, "indextemplate-web.yaml")).want(t, 0, "indextemplate/web created\n", "")
	c.run("", "apply", "--applyset", "web",
		"-f", filepath.Join(specsDir, "topic-web_log.yaml"),
		"-f", filepath.Join(specsDir, "collectentry-web-app.yaml")).want(t, 0, ""+
		"topic/web_log created\n"+
		"collectentry/web-app created\n", "")
	if got := c.get(api.KindTopic, "web_log").Meta().Labels[store.ApplySetLabel]; got != "web" {
		t.Errorf("topic/web_log has applyset label %q, want web", got)
	}

	c.run("", "apply", "--applyset", "web", "--prune", "-f", filepath.Join(specsDir, "topic-web_log.yaml")).want(t, 0, ""+
		"topic/web_log unchanged\n"+
		"collectentry/web-app deleted\n", "")
	c.run("", "get", "ce,it", "-o", "name").want(t, 1, "", `error: unknown kind "ce,it": want one of agent, agents, ce, collectentries, collectentry, indextemplate, indextemplates, it, topic, topics, tp`+"\n")
	c.run("", "get", "it", "-o", "name").want(t, 0, "indextemplate/web\n", "")
	c.run("", "get", "ce", "-o", "name").want(t, 0, "", "No resources found.\n")
}

func TestGet(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.run("", "apply", "-f", specsDir).want(t, 0, ""+
		"collectentry/web-app created\n"+
		"indextemplate/web created\n"+
		"topic/web_log created\n", "")
	ctx := context.Background()
	st := c.store()
	report := api.CollectEntryAgentStatus{
		Agent:       "web-1",
		Conditions:  ready(api.ConditionTrue, api.ReasonTailing, "", testNow),
		FilesTailed: 2,
		BytesBehind: 3 << 20,
	}
	if err := st.SetReport(ctx, api.KindCollectEntry, "web-app", "web-1", report, clientv3.NoLease); err != nil {
		t.Fatal(err)
	}
	// Ages count from the creation the store recorded, in whole seconds.
	c.now = c.get(api.KindCollectEntry, "web-app").Meta().CreationTimestamp.Add(42 * time.Second)
	agent := api.Agent{Name: "web-1", Labels: map[string]string{"role": "web"}, Version: "v0.3.0", StartTime: c.now.Add(-3 * time.Minute), FilesTailed: 2}
	if err := st.RegisterAgent(ctx, agent, clientv3.NoLease); err != nil {
		t.Fatal(err)
	}

	c.run("", "get", "collectentries", "-o", "wide").want(t, 0, ""+
		"NAME      TOPIC     PATHS                                            AGENTS    FILES     READY     AGE       FORMAT    SELECTOR   BEHIND\n"+
		"web-app   web_log   /var/log/web/access.log,/var/log/web/error.log   1         2         1/1       42s       json      role=web   3MiB\n", "")
	c.run("", "get", "ce", "web-app", "nosuch", "-o", "name").want(t, 1, "collectentry/web-app\n", `error: collectentry "nosuch" not found`+"\n")
	c.run("", "get", "ce", "-l", "team=web", "-o", "name").want(t, 0, "collectentry/web-app\n", "")
	c.run("", "get", "ce", "-l", "team=db").want(t, 0, "", "No resources found.\n")
	c.run("", "get", "ce", "-l", "team=(").want(t, 1, "", "error: --selector: invalid label selector \"team=(\": "+selectorError(t, "team=(")+"\n")
	c.run("", "get", "ce", "web-app", "-l", "team=web").want(t, 1, "", "error: get: give either NAMEs or --selector, not both\n")
	c.run("", "get", "agents").want(t, 0, ""+
		"NAME      LABELS     VERSION   FILES     AGE\n"+
		"web-1     role=web   v0.3.0    2         3m\n", "")
	c.run("", "get", "agent", "web-9").want(t, 1, "", `error: agent "web-9" not found`+"\n")
	c.run("", "get", "topic", "web_log.dlq", "-o", "json").want(t, 1, "", `error: topic "web_log.dlq" not found`+"\n")

	out := c.run("", "describe", "ce", "web-app")
	if out.code != 0 || !strings.HasPrefix(out.stdout, "Name:                web-app\nKind:                CollectEntry\n") || !strings.Contains(out.stdout, "\nAgents:\n"+
		"  AGENT   FILES   BYTES-READ   BEHIND   LINES   GENERATION   UPDATED     LAST-ERROR\n"+
		"  web-1   2       0B           3MiB     0       <none>       <unknown>   <none>\n") {
		t.Errorf("describe ce web-app: exit %d\nstdout:\n%s\nstderr:\n%s", out.code, out.stdout, out.stderr)
	}
	c.run("", "describe", "topic", "nosuch").want(t, 1, "", `error: topic "nosuch" not found`+"\n")
}

// selectorError is the parser's own reason for rejecting s, which get
// passes on unchanged.
func selectorError(t *testing.T, s string) string {
	t.Helper()
	_, err := api.ParseSelector(s)
	if err == nil {
		t.Fatalf("ParseSelector(%q) succeeded", s)
	}
	return strings.TrimPrefix(err.Error(), "invalid label selector \""+s+"\": ")
}

func TestDelete(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.run("", "apply", "-f", specsDir).want(t, 0, ""+
		"collectentry/web-app created\n"+
		"indextemplate/web created\n"+
		"topic/web_log created\n", "")
	c.run("", "delete", "topic", "nosuch", "web_log").want(t, 1, "topic/web_log deleted\n", `error: topic "nosuch" not found`+"\n")
	c.run("", "delete", "-f", specsDir).want(t, 1, ""+
		"collectentry/web-app deleted\n"+
		"indextemplate/web deleted\n", `error: topic "web_log" not found`+"\n")
	c.run("", "delete", "topic").want(t, 1, "", "error: delete: missing NAME (usage: logpipectl delete (KIND NAME... | -f PATH...) [flags])\n")
	c.run("", "delete", "agents", "web-1").want(t, 1, "", "error: delete: agents cannot be deleted: an agent's registration ends when the agent stops\n")
}

func TestDiff(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	topicFile := filepath.Join(specsDir, "topic-web_log.yaml")
	got := c.run("", "diff", "-f", topicFile)
	if got.code != 1 || got.stderr != "" {
		t.Errorf("diff before apply: exit %d, stderr %q; want exit 1 and no stderr", got.code, got.stderr)
	}
	checkGolden(t, "diff-new", []byte(got.stdout))

	c.run("", "apply", "-f", specsDir).want(t, 0, ""+
		"collectentry/web-app created\n"+
		"indextemplate/web created\n"+
		"topic/web_log created\n", "")
	c.run("", "diff", "-f", specsDir).want(t, 0, "", "")

	dir := copySpecs(t)
	editFile(t, filepath.Join(dir, "topic-web_log.yaml"), "partitions: 3", "partitions: 6")
	editFile(t, filepath.Join(dir, "collectentry-web-app.yaml"), "team: web", "team: web\n    tier: frontend")
	got = c.run("", "diff", "-f", dir)
	if got.code != 1 || got.stderr != "" {
		t.Errorf("diff after edits: exit %d, stderr %q; want exit 1 and no stderr", got.code, got.stderr)
	}
	checkGolden(t, "diff-changed", []byte(got.stdout))

	// After apply --applyset, diff sees the label only when told the set.
	c.run("", "apply", "--applyset", "web", "-f", topicFile).want(t, 0, "topic/web_log configured\n", "")
	c.run("", "diff", "--applyset", "web", "-f", topicFile).want(t, 0, "", "")
	c.run("", "diff", "-f", topicFile).want(t, 1, ""+
		"--- live/topic/web_log\n"+
		"+++ input/topic/web_log\n"+
		"@@ -2,7 +2,6 @@\n"+
		" kind: Topic\n"+
		" metadata:\n"+
		"   labels:\n"+
		"-    logpipe.io/applyset: web\n"+
		"     team: web\n"+
		"   name: web_log\n"+
		" spec:\n", "")

	c.run("", "diff", "-f", filepath.Join(dir, "nosuch.yaml")).want(t, 2, "", "error: open "+filepath.Join(dir, "nosuch.yaml")+": no such file or directory\n")
	c.run("", "diff").want(t, 2, "", "error: no input: give -f PATH (a file, a directory, or - for stdin)\n")
}

func TestImportLegacy(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	cl := c.srv.Client(t)
	ctx := context.Background()
	const legacy = `[{"path":"./xx.log","topic":"web_log"},{"path":"/var/log/b.log","topic":"web_log"},{"path":"/var/log/nginx/access.log","topic":"Nginx_Access"}]`
	if _, err := cl.Put(ctx, "/collect_log_conf", legacy); err != nil {
		t.Fatal(err)
	}

	c.run("", "import-legacy").want(t, 1, "",
		`error: etcd key "/collect_log_conf": entry 1: path "./xx.log" is relative to the old agent's working directory: give --base-dir DIR to resolve it`+"\n")
	c.run("", "import-legacy", "--base-dir", "srv/app").want(t, 1, "",
		`error: etcd key "/collect_log_conf": --base-dir "srv/app" must be absolute: it stands for the old agent's working directory`+"\n")

	got := c.run("", "import-legacy", "--base-dir", "/srv/app", "--topic-partitions", "3")
	if got.code != 0 || got.stderr != "" {
		t.Fatalf("import-legacy: exit %d, stderr:\n%s", got.code, got.stderr)
	}
	checkGolden(t, "import-legacy", []byte(got.stdout))
	// What import-legacy prints is valid input for apply.
	c.run(got.stdout, "apply", "--dry-run", "-f", "-").want(t, 0, ""+
		"topic/web_log created (dry run)\n"+
		"topic/Nginx_Access created (dry run)\n"+
		"collectentry/web-log created (dry run)\n"+
		"collectentry/nginx-access created (dry run)\n", "")

	c.run("", "import-legacy", "--base-dir", "/srv/app", "--apply").want(t, 0, ""+
		"topic/web_log created\n"+
		"topic/Nginx_Access created\n"+
		"collectentry/web-log created\n"+
		"collectentry/nginx-access created\n", "")
	entry := c.get(api.KindCollectEntry, "web-log").(*api.CollectEntry)
	if got, want := strings.Join(entry.Spec.Paths, " "), "/srv/app/xx.log /var/log/b.log"; got != want {
		t.Errorf("collectentry/web-log paths %q, want %q", got, want)
	}
	if _, err := c.store().Get(ctx, api.KindTopic, "web_log"); err != nil {
		t.Error(err)
	}

	c.run("", "import-legacy", "--key", "/nosuch").want(t, 1, "", `error: etcd key "/nosuch" does not exist`+"\n")
	if _, err := cl.Put(ctx, "/bad_conf", `{"path":"/a.log"}`); err != nil {
		t.Fatal(err)
	}
	c.run("", "import-legacy", "--key", "/bad_conf").want(t, 1, "",
		`error: etcd key "/bad_conf": not a legacy collect configuration (want a JSON array of {"path": ..., "topic": ...}): json: cannot unmarshal object into Go value of type []main.legacyEntry`+"\n")
}

// TestUnreachableEtcd checks that an etcd nobody listens on fails within
// --timeout with one line naming the endpoint.
func TestUnreachableEtcd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close()

	t.Parallel()
	c := &cli{t: t, env: map[string]string{}, now: testNow}
	start := time.Now()
	c.run("", "--etcd-endpoints", endpoint, "--timeout", "1s", "get", "ce").want(t, 1, "",
		"error: etcd at "+endpoint+": context deadline exceeded\n")
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("logpipectl took %v to give up, want about the 1s timeout", elapsed)
	}
}

// TestArgumentErrors covers mistakes caught before etcd is contacted, so no
// server is needed.
func TestArgumentErrors(t *testing.T) {
	c := &cli{t: t, env: map[string]string{"LOGPIPE_ETCD_ENDPOINTS": "http://127.0.0.1:1"}, now: testNow}
	const kinds = "agent, agents, ce, collectentries, collectentry, indextemplate, indextemplates, it, topic, topics, tp"
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"get", "pods"}, `error: unknown kind "pods": want one of ` + kinds + "\n"},
		{[]string{"get", "ce", "-o", "xml"}, `error: unknown output format "xml": want one of json, name, table, wide, yaml` + "\n"},
		{[]string{"get"}, "error: get: missing KIND (usage: logpipectl get KIND [NAME...] [flags])\n"},
		{[]string{"describe", "ce"}, "error: describe: missing NAME (usage: logpipectl describe KIND NAME... [flags])\n"},
		{[]string{"apply"}, "error: no input: give -f PATH (a file, a directory, or - for stdin)\n"},
		{[]string{"apply", "-f", specsDir, "--bogus"}, "error: unknown flag: --bogus\n"},
		{[]string{"frobnicate"}, `error: unknown command "frobnicate" for "logpipectl"` + "\n"},
		{[]string{"aply", "-f", specsDir}, `error: unknown command "aply" for "logpipectl": did you mean apply?` + "\n"},
		{[]string{"--timeout", "0s", "get", "ce"}, "error: --timeout must be positive, not 0s\n"},
	}
	for _, tt := range tests {
		c.run("", tt.args...).want(t, 1, "", tt.stderr)
	}

	c.env["LOGPIPE_TIMEOUT"] = "soon"
	c.run("", "get", "ce").want(t, 1, "", `error: LOGPIPE_TIMEOUT="soon" (for --timeout): time: invalid duration "soon"`+"\n")
}

func TestVersion(t *testing.T) {
	// The environment is broken on purpose: version must need none of it.
	c := &cli{t: t, env: map[string]string{"LOGPIPE_TIMEOUT": "soon", "LOGPIPE_ETCD_ENDPOINTS": "http://127.0.0.1:1"}, now: testNow}
	c.run("", "version").want(t, 0, "logpipectl dev ("+runtime.Version()+")\n", "")
}
