// Command healthcheck probes a logpipe daemon's /healthz or /readyz for
// container health checks, in an image that has no shell, curl or wget. It
// GETs every URL given and exits 0 when each answers 200 OK; otherwise it
// prints why, one line per URL, and exits 1. Bad usage exits 2.
//
//	healthcheck http://127.0.0.1:9464/readyz
//	healthcheck --timeout 5s http://127.0.0.1:9465/healthz
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 2*time.Second, "bound on each request")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: healthcheck [--timeout D] URL...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	code := 0
	for _, url := range fs.Args() {
		if err := probe(url, *timeout); err != nil {
			fmt.Fprintf(stderr, "healthcheck: %s: %v\n", url, err)
			code = 1
		}
	}
	return code
}

// probe GETs url and returns nil on 200 OK, or an error carrying the status
// and the first line of the body (the daemon's reason for not being ready).
func probe(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) {
			err = uerr.Unwrap()
		}
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	reason, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if reason == "" {
		return fmt.Errorf("%s", resp.Status)
	}
	return fmt.Errorf("%s: %s", resp.Status, reason)
}
