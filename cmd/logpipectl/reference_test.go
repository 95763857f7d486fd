package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/logpipe/logpipe/deploy"
	"github.com/logpipe/logpipe/docs"
	"github.com/logpipe/logpipe/internal/envflag"
)

// refRepoRoot is the repository, seen from this package's directory.
const refRepoRoot = "../.."

// refUpdate reports whether -update was given (the flag is defined in
// golden_test.go, or here if it no longer is).
func refUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the generated files with what the tests get")
	}
}

// refRoot returns logpipectl's real command tree, with streams and an
// environment that touch nothing.
func refRoot() *cobra.Command {
	a := &app{
		stdin:     strings.NewReader(""),
		stdout:    io.Discard,
		stderr:    io.Discard,
		lookupEnv: func(string) (string, bool) { return "", false },
		now:       time.Now,
	}
	return a.newRootCommand()
}

func TestReferenceLogpipectlFlags(t *testing.T) {
	var b bytes.Buffer
	err := docs.WriteCommandReference(&b, refRoot(), docs.CommandReference{
		Title:     "logpipectl command reference",
		Generator: "TestReferenceLogpipectlFlags in cmd/logpipectl/reference_test.go",
		Intro: "`logpipectl` manages logpipe's desired state in etcd. The global flags, which say how to reach etcd, " +
			"have environment twins (`LOGPIPE_ETCD_ENDPOINTS`, ...); a flag given on the command line wins over its twin, " +
			"which wins over the default. A list flag's twin takes a comma-separated value.\n\n" +
			"Errors go to stderr as `error: ...` lines, one per problem, and make logpipectl exit 1; " +
			"`diff` exits 1 when it finds differences and 2 on errors.\n\n" +
			"KIND is `collectentry` (`collectentries`, `ce`), `topic` (`topics`, `tp`), `indextemplate` " +
			"(`indextemplates`, `it`), or `agent` (`agents`) for the agents registered with etcd.",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := docs.CheckGenerated(filepath.Join(refRepoRoot, "docs/reference/logpipectl.md"), b.Bytes(), refUpdate()); err != nil {
		t.Fatal(err)
	}
}

// refCheckCommandLine parses a logpipectl command line as the real command
// would, without running it: the command must exist, every flag and value
// must parse, the positional arguments must be accepted, and every
// LOGPIPE_* variable must be the twin of one of the command's flags and hold
// a value that flag accepts.
func refCheckCommandLine(args []string, environ map[string]string) error {
	root := refRoot()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd == root {
		return fmt.Errorf("no command")
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
	names := make([]string, 0, len(environ))
	for k := range environ {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
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

func TestReferenceDeployAndDocsUseRealFlags(t *testing.T) {
	lines, err := deploy.CommandLines()
	if err != nil {
		t.Fatal(err)
	}
	lines = slices.DeleteFunc(lines, func(c deploy.CommandLine) bool { return c.Program != deploy.Logpipectl })
	if len(lines) != 1 || !slices.Equal(lines[0].Args, []string{"apply", "-f", "/specs"}) {
		t.Errorf("deploy/ runs logpipectl as %v; want once, as the compose service spec-apply: logpipectl apply -f /specs", lines)
	}
	dir := filepath.Join(refRepoRoot, "docs")
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".md" || d.Name() == "benchmarks.md" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(refRepoRoot, p)
		for _, c := range deploy.MarkdownCommands(filepath.ToSlash(rel), string(b)) {
			if c.Program == deploy.Logpipectl {
				lines = append(lines, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range lines {
		if err := refCheckCommandLine(c.Args, c.Env); err != nil {
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
		{[]string{"apply", "-f", "specs/", "--prune", "--applyset", "web"}, map[string]string{"LOGPIPE_ETCD_ENDPOINTS": "http://etcd:2379"}, ""},
		{[]string{"get", "ce", "-o", "wide", "--etcd-prefix", "/x"}, nil, ""},
		{[]string{"apply", "--force"}, nil, "unknown flag: --force"},
		{[]string{"get"}, nil, "get: missing KIND"},
		{[]string{"apply", "-f", "x", "extra"}, nil, `unknown command "extra" for "logpipectl apply"`},
		{[]string{"import-legacy", "--topic-partitions", "three"}, nil, `invalid argument "three" for "--topic-partitions" flag`},
		{[]string{"frobnicate"}, nil, `unknown command "frobnicate" for "logpipectl"`},
		{[]string{"get", "ce"}, map[string]string{"LOGPIPE_KAFKA_BROKERS": "k:9092"}, "LOGPIPE_KAFKA_BROKERS is not the environment twin of any flag of logpipectl get"},
		{[]string{"get", "ce"}, map[string]string{"LOGPIPE_TIMEOUT": "soon"}, `LOGPIPE_TIMEOUT="soon" (for --timeout)`},
	}
	for _, tt := range tests {
		err := refCheckCommandLine(tt.args, tt.env)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("check logpipectl %s %v: %v; want an error containing %q", strings.Join(tt.args, " "), tt.env, err, tt.want)
		}
	}
}
