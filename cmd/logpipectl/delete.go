package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

func (a *app) newDeleteCommand() *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "delete (KIND NAME... | -f PATH...)",
		Short: "Delete objects by name or as named in files",
		Long: `Delete the named objects of one kind, or the objects named in the given files,
directories or stdin ("-"). A name that does not exist is reported and the
others are still deleted; logpipectl then exits 1.

Deleting a Topic or IndexTemplate spec removes the Kafka topic or the index
template only when its deletionPolicy is Delete.`,
		Example: `  logpipectl delete topic web_log
  logpipectl delete ce web-app api-app
  logpipectl delete -f specs/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(files) > 0 && len(args) > 0:
				return errors.New("delete: give either KIND NAME... or -f PATH, not both")
			case len(files) > 0:
				return a.deleteFiles(cmd.Context(), files)
			}
			if err := kindArg(1)(cmd, args); err != nil {
				return err
			}
			return a.deleteNames(cmd.Context(), args[0], args[1:])
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (stdin) naming the objects to delete; repeatable")
	return cmd
}

func (a *app) deleteNames(ctx context.Context, kindName string, names []string) error {
	kind, err := parseResourceKind(kindName)
	if err != nil {
		return err
	}
	if kind.agents {
		return errors.New("delete: agents cannot be deleted: an agent's registration ends when the agent stops")
	}
	targets := make([]target, len(names))
	for i, n := range names {
		targets[i] = target{kind: kind.kind, name: n}
	}
	return a.delete(ctx, targets)
}

func (a *app) deleteFiles(ctx context.Context, files []string) error {
	objs, err := decodeObjects(files, a.stdin)
	if err != nil {
		return err
	}
	targets := make([]target, len(objs))
	for i, o := range objs {
		targets[i] = target{kind: o.ObjectKind(), name: o.Meta().Name}
	}
	return a.delete(ctx, targets)
}

// target names one object to delete.
type target struct {
	kind api.Kind
	name string
}

// delete deletes every target, printing a line for each one deleted, and
// returns one error per target that was not.
func (a *app) delete(ctx context.Context, targets []target) error {
	ctx, st, done, err := a.connectStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	var errs []error
	for _, t := range targets {
		// A *store.NotFoundError reads `topic "x" not found`.
		if _, err := st.Delete(ctx, t.kind, t.name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(a.stdout, "%s/%s deleted\n", t.kind.Lower(), t.name)
	}
	return errors.Join(errs...)
}
