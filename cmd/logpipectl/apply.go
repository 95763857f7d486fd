package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/store"
)

// errNoFiles is returned by the commands that read objects when no -f is
// given.
var errNoFiles = errors.New("no input: give -f PATH (a file, a directory, or - for stdin)")

func (a *app) newApplyCommand() *cobra.Command {
	var (
		files    []string
		opts     store.ApplyOptions
		applySet string
	)
	cmd := &cobra.Command{
		Use:   "apply -f PATH...",
		Short: "Create or update objects from YAML or JSON files",
		Long: `Create or update the objects in the given files, directories (read
recursively) or stdin ("-"), all in one etcd transaction: either every object
is written, or none is. Every document is checked first; a bad document is
reported with its file, position and field, and nothing is written.

With --applyset NAME the objects are labelled as members of that apply set;
--prune then also deletes the members of the set that the input no longer
contains, and nothing outside the set.`,
		Example: `  logpipectl apply -f specs/
  logpipectl apply -f topic.yaml -f entry.yaml --dry-run
  logpipectl apply -f specs/ --applyset web --prune
  logpipectl get ce -o yaml | logpipectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errNoFiles
			}
			if opts.Prune && applySet == "" {
				return errors.New("--prune requires --applyset NAME: only the members of an apply set are pruned")
			}
			opts.ApplySet = applySet
			return a.apply(cmd.Context(), files, opts)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (stdin) to read objects from; repeatable")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "report what would change, and write nothing")
	fs.StringVar(&applySet, "applyset", "", "label the objects as members of this apply set")
	fs.BoolVar(&opts.Prune, "prune", false, "delete members of the --applyset that the input does not contain")
	return cmd
}

func (a *app) apply(ctx context.Context, files []string, opts store.ApplyOptions) error {
	objs, err := decodeObjects(files, a.stdin)
	if err != nil {
		return err
	}
	ctx, st, done, err := a.connectStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	results, err := st.Apply(ctx, objs, opts)
	if err != nil {
		return err
	}
	printResults(a.stdout, results, opts.DryRun)
	return nil
}

// decodeObjects reads and validates every document of paths; on any error
// it returns all problems at once and no objects. Input without any object
// is an error too: it is more likely a wrong path than a wish to do nothing
// (or, with --prune, to delete a whole apply set).
func decodeObjects(paths []string, stdin io.Reader) ([]api.Object, error) {
	docs, err := api.DecodePaths(paths, stdin)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no objects found in %s", strings.Join(paths, ", "))
	}
	objs := make([]api.Object, len(docs))
	for i, d := range docs {
		objs[i] = d.Object
	}
	return objs, nil
}

// printResults writes one "kind/name action" line per result.
func printResults(w io.Writer, results []store.Result, dryRun bool) {
	suffix := ""
	if dryRun {
		suffix = " (dry run)"
	}
	for _, r := range results {
		fmt.Fprintf(w, "%s %s%s\n", api.Ref(r.Object), r.Action, suffix)
	}
}
