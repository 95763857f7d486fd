package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/store"
)

// diffContextLines is how many unchanged lines surround each change, as in
// diff -u.
const diffContextLines = 3

func (a *app) newDiffCommand() *cobra.Command {
	var files []string
	var applySet string
	cmd := &cobra.Command{
		Use:   "diff -f PATH...",
		Short: "Show what apply would change",
		Long: `Show, as a unified diff per object, how the objects in the given files differ
from the ones stored in etcd. Only what apply writes is compared: apiVersion,
kind, the name, labels and annotations, and spec with its defaults filled in.
An object that does not exist yet is compared with nothing. Give the
--applyset that apply is given, so that its label is compared too.

Exit status: 0 when nothing differs, 1 when something does, 2 on errors.`,
		Example: `  logpipectl diff -f specs/`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			differ, err := a.diff(cmd.Context(), files, applySet)
			switch {
			case err != nil:
				return &exitError{code: 2, err: err}
			case differ:
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (stdin) to compare with etcd; repeatable")
	cmd.Flags().StringVar(&applySet, "applyset", "", "compare as apply --applyset would write: with this apply set's label")
	return cmd
}

// diff writes the differences between the objects of files and the stored
// ones and reports whether there were any.
func (a *app) diff(ctx context.Context, files []string, applySet string) (bool, error) {
	if len(files) == 0 {
		return false, errNoFiles
	}
	objs, err := decodeObjects(files, a.stdin)
	if err != nil {
		return false, err
	}
	ctx, st, done, err := a.connectStore(ctx)
	if err != nil {
		return false, err
	}
	defer done()
	differ := false
	for _, in := range objs {
		in.Default()
		if applySet != "" {
			m := in.Meta()
			if m.Labels == nil {
				m.Labels = map[string]string{}
			}
			m.Labels[store.ApplySetLabel] = applySet
		}
		var liveText string
		live, err := st.Get(ctx, in.ObjectKind(), in.Meta().Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Compared with nothing: the whole object is new.
		case err != nil:
			return differ, err
		default:
			if liveText, err = diffText(live); err != nil {
				return differ, err
			}
		}
		inText, err := diffText(in)
		if err != nil {
			return differ, err
		}
		changed, err := writeDiff(a.stdout, api.Ref(in), liveText, inText)
		if err != nil {
			return differ, err
		}
		differ = differ || changed
	}
	return differ, nil
}

// diffView is the part of an object that apply writes, and so the part diff
// compares: no status and none of the fields the store sets.
type diffView struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   diffMeta        `json:"metadata"`
	Spec       json.RawMessage `json:"spec"`
}

type diffMeta struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// diffText is the YAML of the compared part of o. Keys are sorted, so the
// same object always gives the same text.
func diffText(o api.Object) (string, error) {
	spec, err := o.SpecJSON()
	if err != nil {
		return "", fmt.Errorf("%s: %w", api.Ref(o), err)
	}
	m := o.Meta()
	b, err := yaml.Marshal(diffView{
		APIVersion: api.APIVersion,
		Kind:       string(o.ObjectKind()),
		Metadata:   diffMeta{Name: m.Name, Labels: m.Labels, Annotations: m.Annotations},
		Spec:       spec,
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w", api.Ref(o), err)
	}
	return string(b), nil
}

// writeDiff writes the unified diff from live to input, headed
// "--- live/REF" and "+++ input/REF", and reports whether they differ.
func writeDiff(w io.Writer, ref, live, input string) (bool, error) {
	if live == input {
		return false, nil
	}
	err := difflib.WriteUnifiedDiff(w, difflib.UnifiedDiff{
		A:        splitLines(live),
		B:        splitLines(input),
		FromFile: "live/" + ref,
		ToFile:   "input/" + ref,
		Context:  diffContextLines,
	})
	return true, err
}

// splitLines splits s after each newline. Unlike difflib.SplitLines it adds
// no empty last line, which would show up as a spurious "+" line when an
// object is compared with nothing.
func splitLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
