// Package envflag gives command-line flags environment-variable twins:
// --etcd-endpoints is also LOGPIPE_ETCD_ENDPOINTS. A flag given on the
// command line wins over its twin, which wins over the flag's default.
//
// A program defines its flags, binds them (Bind for one flag, BindAll for
// every flag of a set), parses the command line, then calls Apply:
//
//	fs.StringVar(&addr, "http-addr", ":9464", "address of /metrics and /healthz")
//	envflag.BindAll(fs)
//	// ... parse ...
//	if err := envflag.Apply(fs, os.LookupEnv); err != nil { ... }
package envflag

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// Prefix starts the name of every environment twin that EnvName derives.
const Prefix = "LOGPIPE_"

// annotation is the pflag annotation under which Bind records a flag's
// environment variable, so that Apply needs no table of its own.
const annotation = "logpipe.io/env"

// EnvName returns the twin BindAll gives a flag: "es-urls" → "LOGPIPE_ES_URLS".
func EnvName(flag string) string {
	return Prefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Bind makes the environment variable env the twin of the flag named flag in
// fs, and names the variable in the flag's usage text. It panics if fs has no
// such flag, a programming error.
func Bind(fs *pflag.FlagSet, flag, env string) {
	f := fs.Lookup(flag)
	if f == nil {
		panic("envflag: Bind: no flag --" + flag)
	}
	if len(f.Annotations[annotation]) > 0 {
		return
	}
	f.Usage += " (env " + env + ")"
	if err := fs.SetAnnotation(flag, annotation, []string{env}); err != nil {
		panic("envflag: Bind: " + err.Error())
	}
}

// BindAll binds every flag of fs that has no twin yet to EnvName of its name
// (except --help).
func BindAll(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" {
			Bind(fs, f.Name, EnvName(f.Name))
		}
	})
}

// Env returns the twin bound to f, or "".
func Env(f *pflag.Flag) string {
	if names := f.Annotations[annotation]; len(names) > 0 {
		return names[0]
	}
	return ""
}

// Apply sets every flag of fs that has a twin and was not given on the
// command line from that variable, as looked up by lookup (os.LookupEnv
// outside tests). A variable that is unset or empty leaves the flag alone. It
// reports every variable whose value the flag rejects, one per line.
func Apply(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		env := Env(f)
		if f.Changed || env == "" {
			return
		}
		v, ok := lookup(env)
		if !ok || v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q (for --%s): %w", env, v, f.Name, err))
		}
	})
	return errors.Join(errs...)
}
