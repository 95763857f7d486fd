package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/logpipe/logpipe/deploy"
	"github.com/logpipe/logpipe/docs"
	"github.com/logpipe/logpipe/internal/envflag"
)

// The -update flag rewrites the generated reference instead of comparing
// it. It is registered only if no other test file of the package has done
// so (package-level flag variables are initialised before init runs).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the generated files with what the tests get")
	}
}

func refUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// refRepoRoot is the repository, seen from this package's directory.
const refRepoRoot = "../.."

var refQuietEnv = env{stdout: io.Discard, stderr: io.Discard, lookupEnv: func(string) (string, bool) { return "", false }}

// refDefault shows the defaults that depend on the machine (the
// host name, the process ID) as placeholders.
func refDefault(f *pflag.Flag) string {
	switch f.DefValue {
	case hostname():
		return "<hostname>"
	case fmt.Sprintf("%s-%d", hostname(), os.Getpid()):
		return "<hostname>-<pid>"
	}
	return f.DefValue
}

func TestReferenceLogpipeFlags(t *testing.T) {
	var b bytes.Buffer
	err := docs.WriteCommandReference(&b, newRootCmd(refQuietEnv), docs.CommandReference{
		Title:     "logpipe command reference",
		Generator: "TestReferenceLogpipeFlags in cmd/logpipe/reference_test.go",
		Intro: "`logpipe` runs logpipe's daemons. Every flag has an environment twin, " +
			"`LOGPIPE_` and the flag's name in upper case with `_` for `-` " +
			"(`--etcd-endpoints` is `LOGPIPE_ETCD_ENDPOINTS`); a flag given on the command line wins over its " +
			"twin, which wins over the default. A list flag's twin takes a comma-separated value.\n\n" +
			"Every daemon serves `/metrics`, `/healthz` and `/readyz` on `--http-addr` " +
			"([operations](../operations.md)), logs to stderr with `log/slog`, and stops cleanly on SIGINT or SIGTERM.",
		Default: refDefault,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := docs.CheckGenerated(filepath.Join(refRepoRoot, "docs/reference/logpipe.md"), b.Bytes(), refUpdate()); err != nil {
		t.Fatal(err)
	}
}

// refCheckCommandLine parses a logpipe command line as the real command would,
// without running it: the command must exist, every flag and value must
// parse, the positional arguments must be accepted, and every LOGPIPE_*
// variable must be the twin of one of the command's flags and hold a value
// that flag accepts.
func refCheckCommandLine(root *cobra.Command, args []string, environ map[string]string) error {
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd == root {
		return fmt.Errorf("no command: want one of %s", strings.Join(refCommandNames(root), ", "))
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	twins := map[string]bool{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if e := envflag.Env(f); e != "" {
			twins[e] = true
		}
	})
	var errs []string
	for _, name := range slices.Sorted(refKeys(environ)) {
		if !twins[name] {
			errs = append(errs, fmt.Sprintf("%s is not the environment twin of any flag of %s", name, cmd.CommandPath()))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return envflag.Apply(cmd.Flags(), func(k string) (string, bool) {
		v, ok := environ[k]
		return v, ok
	})
}

func refCommandNames(root *cobra.Command) []string {
	var names []string
	for _, c := range root.Commands() {
		names = append(names, c.Name())
	}
	return names
}

func refKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// refDocCommandLines returns the command lines of program in the documentation
// this repository keeps in step with the code (docs/, but not the measured
// figures of docs/benchmarks.md).
func refDocCommandLines(t *testing.T, program string) []deploy.CommandLine {
	t.Helper()
	var out []deploy.CommandLine
	dir := filepath.Join(refRepoRoot, "docs")
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".md" || d.Name() == "benchmarks.md" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(refRepoRoot, p)
		for _, c := range deploy.MarkdownCommands(filepath.ToSlash(rel), string(b)) {
			if c.Program == program {
				out = append(out, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReferenceDeployAndDocsUseRealFlags(t *testing.T) {
	lines, err := deploy.CommandLines()
	if err != nil {
		t.Fatal(err)
	}
	lines = slices.DeleteFunc(lines, func(c deploy.CommandLine) bool { return c.Program != deploy.Logpipe })
	var services, units int
	for _, c := range lines {
		if strings.HasPrefix(c.Where, "compose.yaml") {
			services++
		} else {
			units++
		}
	}
	// The controller, the agent and two transfers; one unit per daemon.
	if services != 4 || units != 3 {
		t.Errorf("deploy/ holds %d logpipe services in compose.yaml and %d systemd units, want 4 and 3", services, units)
	}
	lines = append(lines, refDocCommandLines(t, deploy.Logpipe)...)
	for _, c := range lines {
		if err := refCheckCommandLine(newRootCmd(refQuietEnv), c.Args, c.Env); err != nil {
			t.Errorf("%s: %s: %v", c.Where, c, err)
		}
	}
}

func TestReferenceCommandLineCheckCatchesMistakes(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"agent", "--labels=role=web"}, map[string]string{"LOGPIPE_KAFKA_BROKERS": "kafka:9092"}, ""},
		{[]string{"agent", "--no-such-flag"}, nil, "unknown flag: --no-such-flag"},
		{[]string{"agent", "--linger=soon"}, nil, `invalid argument "soon" for "--linger" flag`},
		{[]string{"agent", "extra"}, nil, `unknown command "extra" for "logpipe agent"`},
		{[]string{"frobnicate"}, nil, `unknown command "frobnicate" for "logpipe"`},
		{[]string{"agent"}, map[string]string{"LOGPIPE_ES_URLS": "http://es:9200"}, "LOGPIPE_ES_URLS is not the environment twin of any flag of logpipe agent"},
		{[]string{"controller"}, map[string]string{"LOGPIPE_RESYNC": "often"}, `LOGPIPE_RESYNC="often" (for --resync)`},
	}
	for _, tt := range tests {
		err := refCheckCommandLine(newRootCmd(refQuietEnv), tt.args, tt.env)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("check logpipe %s %v: %v; want an error containing %q", strings.Join(tt.args, " "), tt.env, err, tt.want)
		}
	}
}

// refMetricNames returns the name of every Prometheus metric the repository's
// non-test code defines (the Name of each prometheus.*Opts literal,
// with its Namespace and Subsystem), with the file that defines it.
func refMetricNames(t *testing.T) map[string]string {
	t.Helper()
	names := map[string]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(refRepoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n != "." && n != ".." && (strings.HasPrefix(n, ".") || n == "testdata" || n == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := lit.Type.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "prometheus" {
				return true
			}
			parts := map[string]string{}
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				k, _ := kv.Key.(*ast.Ident)
				v, _ := kv.Value.(*ast.BasicLit)
				if k != nil && v != nil && v.Kind == token.STRING {
					parts[k.Name], _ = strconv.Unquote(v.Value)
				}
			}
			if parts["Name"] == "" {
				return true
			}
			var full []string
			for _, k := range []string{"Namespace", "Subsystem", "Name"} {
				if parts[k] != "" {
					full = append(full, parts[k])
				}
			}
			rel, _ := filepath.Rel(refRepoRoot, p)
			names[strings.Join(full, "_")] = filepath.ToSlash(rel)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestReferenceMetricsDocumented checks that docs/operations.md explains
// every logpipe metric the code defines, and names no metric that does not
// exist.
func TestReferenceMetricsDocumented(t *testing.T) {
	defined := refMetricNames(t)
	if len(defined) == 0 {
		t.Fatal("found no metric definitions: the search for prometheus.*Opts literals is broken")
	}
	b, err := os.ReadFile(filepath.Join(refRepoRoot, "docs/operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, name := range slices.Sorted(refKeys(defined)) {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("metric %s (defined in %s) is not documented in docs/operations.md", name, defined[name])
		}
	}
	mentioned := regexp.MustCompile("`(logpipe_[a-z0-9_]+)").FindAllStringSubmatch(doc, -1)
	for _, m := range mentioned {
		name := m[1]
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if defined[name] == "" && defined[base] == "" {
			t.Errorf("docs/operations.md names metric %s, which no code defines", name)
		}
	}
}

// refAgentDataDir returns the --data-dir the agent of a command line uses:
// given on the line, else from its environment, else the flag's default.
func refAgentDataDir(t *testing.T, c deploy.CommandLine) string {
	t.Helper()
	root := newRootCmd(refQuietEnv)
	cmd, rest, err := root.Find(c.Args)
	if err != nil || cmd.Name() != "agent" {
		t.Fatalf("%s: %s is not logpipe agent (%v)", c.Where, c, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	if err := envflag.Apply(cmd.Flags(), func(k string) (string, bool) { v, ok := c.Env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	return cmd.Flags().Lookup("data-dir").Value.String()
}

// TestReferenceAgentDataDirIsKept checks that wherever deploy/ runs the
// agent, its --data-dir (checkpoints, cached desired state) survives a
// restart: it is on a named volume in compose.yaml, and in the unit's
// StateDirectory (the one writable place under ProtectSystem=strict) in
// systemd.
func TestReferenceAgentDataDirIsKept(t *testing.T) {
	lines, err := deploy.CommandLines()
	if err != nil {
		t.Fatal(err)
	}
	c, err := deploy.LoadCompose()
	if err != nil {
		t.Fatal(err)
	}
	units, err := deploy.Units()
	if err != nil {
		t.Fatal(err)
	}
	under := func(p, dir string) bool {
		rel, err := filepath.Rel(dir, p)
		return err == nil && !strings.HasPrefix(rel, "..")
	}
	checked := 0
	for _, l := range lines {
		if l.Program != deploy.Logpipe || len(l.Args) == 0 || l.Args[0] != "agent" {
			continue
		}
		dir := refAgentDataDir(t, l)
		checked++
		switch {
		case l.Where == "compose.yaml: service agent":
			kept := false
			for _, v := range c.Services["agent"].Volumes {
				src, target, _ := strings.Cut(v, ":")
				target, _, _ = strings.Cut(target, ":")
				kept = kept || (!strings.ContainsAny(src, "./") && under(dir, target))
			}
			if !kept {
				t.Errorf("%s: the agent's --data-dir %s is on no named volume: its checkpoints would be lost with the container", l.Where, dir)
			}
		case strings.HasPrefix(l.Where, "systemd/logpipe-agent.service"):
			for _, u := range units {
				if u.Name != "logpipe-agent.service" {
					continue
				}
				state, _ := u.Last("Service", "StateDirectory")
				if state == "" || !under(dir, filepath.Join("/var/lib", state)) {
					t.Errorf("%s: the agent's --data-dir %s is outside StateDirectory=%s (/var/lib/%s), the one place ProtectSystem=strict lets it write",
						l.Where, dir, state, state)
				}
			}
		default:
			t.Errorf("%s: an agent this test does not know where to look for", l.Where)
		}
	}
	if checked != 2 {
		t.Errorf("checked %d agents, want 2 (compose.yaml and the systemd unit)", checked)
	}
}
