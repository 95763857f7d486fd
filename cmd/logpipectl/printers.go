package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	api "github.com/logpipe/logpipe/api/v1alpha1"
)

// A ResourcePrinter writes objects in one output format, as kubectl's
// printers do. The objects passed to one call are all of one kind: api.Object
// values of that kind, or api.Agent values. A call with no objects prints
// what the format prints for an empty result (nothing for tables and names,
// an empty List for JSON and YAML).
type ResourcePrinter interface {
	Print(w io.Writer, objs ...any) error
}

// printOptions are what the printers need beyond the objects.
type printOptions struct {
	// single makes the JSON and YAML printers write one object as itself
	// instead of as a one-item List, as when get is given one NAME.
	single bool
	// now is the time ages are computed from.
	now time.Time
}

// printerFactories maps each -o value to its printer.
var printerFactories = map[string]func(printOptions) ResourcePrinter{
	"table": func(o printOptions) ResourcePrinter { return &tablePrinter{now: o.now} },
	"wide":  func(o printOptions) ResourcePrinter { return &tablePrinter{now: o.now, wide: true} },
	"name":  func(printOptions) ResourcePrinter { return namePrinter{} },
	"json":  func(o printOptions) ResourcePrinter { return &documentPrinter{single: o.single, marshal: marshalJSON} },
	"yaml":  func(o printOptions) ResourcePrinter { return &documentPrinter{single: o.single, marshal: yaml.Marshal} },
}

// outputFormats returns the -o values, sorted so that help and error texts
// are the same on every run.
func outputFormats() []string {
	return slices.Sorted(maps.Keys(printerFactories))
}

// newPrinter returns the printer of the -o value format, or an error that
// lists the formats that would have worked.
func newPrinter(format string, opts printOptions) (ResourcePrinter, error) {
	f, ok := printerFactories[format]
	if !ok {
		return nil, fmt.Errorf("unknown output format %q: want one of %s", format, strings.Join(outputFormats(), ", "))
	}
	return f(opts), nil
}

// ref names an object as logpipectl prints it: "collectentry/web-app" or
// "agent/web-1".
func ref(obj any) string {
	switch o := obj.(type) {
	case api.Object:
		return api.Ref(o)
	case api.Agent:
		return "agent/" + o.Name
	}
	return fmt.Sprintf("%T", obj)
}

// namePrinter writes "kind/name" lines, for scripts.
type namePrinter struct{}

func (namePrinter) Print(w io.Writer, objs ...any) error {
	for _, o := range objs {
		if _, err := fmt.Fprintln(w, ref(o)); err != nil {
			return err
		}
	}
	return nil
}

// list is the document that holds several objects, in the shape kubectl
// prints (and logpipectl apply reads back).
type list struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      []any  `json:"items"`
}

// documentPrinter writes the objects as one JSON or YAML document: the
// object itself when single and given one object, else a List. The objects
// keep their metadata and status, so that the output can be applied again.
type documentPrinter struct {
	single  bool
	marshal func(any) ([]byte, error)
}

func (p *documentPrinter) Print(w io.Writer, objs ...any) error {
	var doc any = list{APIVersion: api.APIVersion, Kind: "List", Items: append([]any{}, objs...)}
	if p.single && len(objs) == 1 {
		doc = objs[0]
	}
	b, err := p.marshal(doc)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// marshalJSON indents by two spaces and ends with a newline, as kubectl's
// JSON printer does.
func marshalJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
