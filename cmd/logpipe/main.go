// Command logpipe runs logpipe's daemons: the controller, which reconciles
// Topics and IndexTemplates; the agent, which tails files into Kafka; the
// transfer, which indexes Kafka records into Elasticsearch or OpenSearch; and
// dev, which runs the whole pipeline in one process.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
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
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}
