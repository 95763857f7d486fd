package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/store"
)

// resourceKind is what get, describe and delete take as KIND: one of the
// API's kinds, or the agents registered with etcd (which are not objects of
// the API: agents write them, nobody applies them).
type resourceKind struct {
	kind   api.Kind // empty for agents
	agents bool
}

// agentKindNames are the names KIND accepts for agents.
var agentKindNames = []string{"agent", "agents"}

// parseResourceKind accepts an API kind by name, plural or short name (as
// api.ParseKind does), or "agent"/"agents".
func parseResourceKind(s string) (resourceKind, error) {
	if slices.Contains(agentKindNames, strings.ToLower(s)) {
		return resourceKind{agents: true}, nil
	}
	if k, err := api.ParseKind(s); err == nil {
		return resourceKind{kind: k}, nil
	}
	names := slices.Clone(agentKindNames)
	for _, k := range api.Kinds() {
		names = append(names, k.Lower(), k.Plural(), k.Short())
	}
	slices.Sort(names)
	return resourceKind{}, fmt.Errorf("unknown kind %q: want one of %s", s, strings.Join(names, ", "))
}

// kindArg checks that args start with a KIND, for get, describe and delete.
func kindArg(minNames int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return fmt.Errorf("%s: missing KIND (usage: %s)", cmd.Name(), cmd.UseLine())
		}
		if len(args)-1 < minNames {
			return fmt.Errorf("%s: missing NAME (usage: %s)", cmd.Name(), cmd.UseLine())
		}
		return nil
	}
}

func (a *app) newGetCommand() *cobra.Command {
	var selector, output string
	cmd := &cobra.Command{
		Use:   "get KIND [NAME...]",
		Short: "Show objects or agents",
		Long: `Show objects of one kind, all of them or the named ones, with the status the
daemons report. KIND is collectentry (ce), topic (tp), indextemplate (it), or
agent for the agents registered with etcd.

The json and yaml formats print everything stored, status included, in a
shape that "logpipectl apply" accepts again.`,
		Example: `  logpipectl get ce
  logpipectl get topics -o wide
  logpipectl get ce web-app -o yaml
  logpipectl get ce -l team=web -o name
  logpipectl get agents`,
		Args: kindArg(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.get(cmd.Context(), args[0], args[1:], selector, output)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector, such as 'team=web,env in (prod,staging)'")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: one of "+strings.Join(outputFormats(), ", "))
	return cmd
}

func (a *app) get(ctx context.Context, kindName string, names []string, selector, output string) error {
	kind, err := parseResourceKind(kindName)
	if err != nil {
		return err
	}
	if selector != "" && len(names) > 0 {
		return errors.New("get: give either NAMEs or --selector, not both")
	}
	match, err := parseMatch(selector)
	if err != nil {
		return err
	}
	printer, err := newPrinter(output, printOptions{single: len(names) == 1, now: a.now()})
	if err != nil {
		return err
	}

	ctx, st, done, err := a.connectStore(ctx)
	if err != nil {
		return err
	}
	defer done()
	objs, errs := fetch(ctx, st, kind, names, match)
	switch {
	case len(names) > 0 && len(objs) == 0:
		// None of the named objects exists: the errors say so, and an
		// empty List would only add noise.
	case len(names) == 0 && len(errs) > 0:
		// Listing failed as a whole: there is nothing to print.
	default:
		if err := printer.Print(a.stdout, objs...); err != nil {
			return err
		}
		// An empty JSON or YAML List speaks for itself; the other formats
		// print nothing, so say why, as kubectl does.
		if _, isDocument := printer.(*documentPrinter); len(objs) == 0 && !isDocument {
			fmt.Fprintln(a.stderr, "No resources found.")
		}
	}
	return errors.Join(errs...)
}

// parseMatch turns a -l selector into a label matcher; the empty selector
// matches everything.
func parseMatch(selector string) (func(map[string]string) bool, error) {
	if selector == "" {
		return func(map[string]string) bool { return true }, nil
	}
	sel, err := api.ParseSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("--selector: %w", err)
	}
	return sel.Matches, nil
}

// fetch returns the named objects of kind, or all that match (nil matches
// all) when names is empty. For each name not found (or not fetched) it
// returns an error and goes on with the others, as kubectl does.
func fetch(ctx context.Context, st *store.Store, kind resourceKind, names []string, match func(map[string]string) bool) ([]any, []error) {
	if match == nil {
		match = func(map[string]string) bool { return true }
	}
	var objs []any
	var errs []error
	if kind.agents {
		agents, err := st.Agents(ctx)
		if err != nil {
			return nil, []error{err}
		}
		if len(names) == 0 {
			for _, ag := range agents {
				if match(ag.Labels) {
					objs = append(objs, ag)
				}
			}
			return objs, nil
		}
		for _, name := range names {
			i := slices.IndexFunc(agents, func(ag api.Agent) bool { return ag.Name == name })
			if i < 0 {
				errs = append(errs, fmt.Errorf("agent %q not found", name))
				continue
			}
			objs = append(objs, agents[i])
		}
		return objs, errs
	}

	if len(names) == 0 {
		list, _, err := st.List(ctx, kind.kind, match)
		if err != nil {
			return nil, []error{err}
		}
		for _, o := range list {
			objs = append(objs, o)
		}
		return objs, nil
	}
	for _, name := range names {
		// A *store.NotFoundError reads `collectentry "x" not found`.
		o, err := st.Get(ctx, kind.kind, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, o)
	}
	return objs, errs
}
