// Command logpipe runs logpipe's daemons: the controller, which reconciles
// Topics and IndexTemplates; the agent, which tails files into Kafka; the
// transfer, which indexes Kafka records into Elasticsearch or OpenSearch; and
// dev, which runs the whole pipeline in one process.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv}))
}

// run executes logpipe with args until ctx is done and returns the exit code.
func run(ctx context.Context, args []string, e env) int {
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(e.stderr, "error: %v\n", err)
		return 1
	}
	return 0
}

// newRootCmd builds logpipe's command tree; the reference docs are
// generated from the same tree.
func newRootCmd(e env) *cobra.Command {
	root := &cobra.Command{
		Use:           "logpipe",
		Short:         "logpipe ships log lines from files through Kafka into Elasticsearch",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				fmt.Fprintf(cmd.OutOrStdout(), "logpipe %s (%s)\n", version, runtime.Version())
			},
		},
		newControllerCmd(e),
		newTransferCmd(e),
		newAgentCmd(e),
		newDevCmd(e),
	)
	return root
}
