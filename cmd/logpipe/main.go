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
	stdout, stderr := e.stdout, e.stderr
	root := &cobra.Command{
		Use:           "logpipe",
		Short:         "logpipe ships log lines from files through Kafka into Elasticsearch",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "logpipe %s (%s)\n", version, runtime.Version())
		},
	})
	root.AddCommand(newControllerCmd(e))
	root.AddCommand(newTransferCmd(e))
	root.AddCommand(newAgentCmd(e))
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}
