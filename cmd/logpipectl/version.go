package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func (a *app) newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the logpipectl version",
		Args:  cobra.NoArgs,
		// Overrides the root's hook: the version needs neither etcd nor the
		// environment, and must print even when LOGPIPE_* variables are bad.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(a.stdout, "logpipectl %s (%s)\n", version, runtime.Version())
		},
	}
}
