// Command logpipectl manages logpipe's desired state in etcd, as kubectl
// manages a Kubernetes cluster's: apply writes CollectEntry, Topic and
// IndexTemplate specs from YAML or JSON files, get and describe show them
// with the status the daemons report, diff shows what an apply would change,
// delete removes them, and import-legacy converts the configuration of the
// tutorial's log agent.
//
// Every command that talks to etcd takes the --etcd-* flags (or their
// LOGPIPE_ETCD_* environment twins) and is bounded by --timeout. Errors go to
// stderr as "error: ..." lines, one per problem, and make logpipectl exit 1;
// diff exits 1 when it finds differences and 2 on errors.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/logpipe/logpipe/internal/envflag"
	"github.com/logpipe/logpipe/internal/etcdflags"
	"github.com/logpipe/logpipe/store"
)

// version is the logpipectl version, set when building with
// -ldflags "-X main.version=v1.2.3".
var version = "dev"

// defaultTimeout bounds each command's etcd work unless --timeout says
// otherwise.
const defaultTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes logpipectl with args and returns its exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{
		stdin:     stdin,
		stdout:    stdout,
		stderr:    stderr,
		lookupEnv: os.LookupEnv,
		now:       time.Now,
	}
	return a.run(args)
}

// app is one execution of logpipectl: its input and output streams, the
// environment and clock it sees (replaced in tests), and its global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	now            func() time.Time

	etcd    etcdflags.Options
	timeout time.Duration
}

// exitError carries an exit code other than 1. Its err, when not nil, is
// printed like any other error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// run executes the command line args and returns the exit code.
func (a *app) run(args []string) int {
	root := a.newRootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		return 0
	}
	code := 1
	var exit *exitError
	if errors.As(err, &exit) {
		code = exit.code
		err = exit.err
	}
	if err != nil {
		printError(a.stderr, foldSuggestions(err.Error()))
	}
	return code
}

// foldSuggestions puts the suggestions cobra adds to an unknown command
// ("...\n\nDid you mean this?\n\tapply\n") on the line of the error, so
// that the error stays one line.
func foldSuggestions(msg string) string {
	head, tail, ok := strings.Cut(msg, "\n\nDid you mean this?\n")
	if !ok {
		return msg
	}
	return head + ": did you mean " + strings.Join(strings.Fields(tail), " or ") + "?"
}

// printError writes an error message as "error: ..." lines, one per line of
// the message, so that a decoder's list of problems stays one problem per
// line. Blank lines are left out.
func printError(w io.Writer, msg string) {
	for line := range strings.SplitSeq(msg, "\n") {
		if strings.TrimSpace(line) != "" {
			fmt.Fprintf(w, "error: %s\n", line)
		}
	}
}

func (a *app) newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "logpipectl",
		Short: "Manage logpipe's desired state in etcd",
		Long: `logpipectl manages logpipe's desired state in etcd: CollectEntry, Topic and
IndexTemplate objects, written as YAML or JSON documents like Kubernetes
objects, and the agents registered with etcd.`,
		// Usage is for mistakes in the command line; an etcd or validation
		// error does not need the help text after it.
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return envflag.Apply(cmd.Flags(), a.lookupEnv)
		},
	}
	fs := root.PersistentFlags()
	a.etcd.AddFlags(fs)
	fs.DurationVar(&a.timeout, "timeout", defaultTimeout, "bound on each command's etcd work, connecting included")
	envflag.Bind(fs, "timeout", "LOGPIPE_TIMEOUT")

	root.AddCommand(
		a.newApplyCommand(),
		a.newGetCommand(),
		a.newDescribeCommand(),
		a.newDeleteCommand(),
		a.newDiffCommand(),
		a.newImportLegacyCommand(),
		a.newSearchCommand(),
		a.newTailCommand(),
		a.newVersionCommand(),
	)
	return root
}

// connect returns a context bounded by --timeout and a client of etcd. The
// caller calls done when finished, which closes the client and releases the
// context.
func (a *app) connect(ctx context.Context) (context.Context, *clientv3.Client, func(), error) {
	if a.timeout <= 0 {
		return nil, nil, nil, fmt.Errorf("--timeout must be positive, not %v", a.timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	opts := a.etcd
	opts.DialTimeout = a.timeout
	// The client's own logs (retries, reconnects) are noise on a terminal;
	// the error that matters reaches the user through the command.
	opts.Logger = zap.NewNop()
	cl, err := opts.Client(ctx)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, cl, func() { cl.Close(); cancel() }, nil
}

// connectStore is connect for commands that work through the store.
func (a *app) connectStore(ctx context.Context) (context.Context, *store.Store, func(), error) {
	ctx, cl, done, err := a.connect(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return ctx, store.New(cl, a.etcd.Prefix), done, nil
}
