//go:build e2e

// Package e2e is logpipe's end-to-end suite: black-box tests that run the
// built bin/logpipe and bin/logpipectl as separate processes against real
// etcd, Kafka and a search engine, started once per `go test` run by
// TestMain (see package stack for the stacks LOGPIPE_E2E_STACK chooses).
//
// Run it with `make e2e`, which builds the binaries first. Every check logs
// what it did and what it found, so run with -v to read them. When a test
// fails, the suite keeps the logs of the engines and daemons and says where
// they are.
package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logpipe/logpipe/test/e2e/stack"
)

var (
	// stk is the stack every test runs against; nil when skipReason is set.
	stk *stack.Stack
	// skipReason says why the chosen stack cannot run here.
	skipReason string
	// binDir holds logpipe and logpipectl.
	binDir string
	// repoDir is the repository root, for specs/.
	repoDir string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoDir = filepath.Join(wd, "..", "..")
	binDir = os.Getenv("LOGPIPE_E2E_BIN")
	if binDir == "" {
		binDir = filepath.Join(repoDir, "bin")
	}
	for _, b := range []string{"logpipe", "logpipectl"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v: build the binaries first (make e2e does: make build, then this suite)\n", err)
			return 1
		}
	}

	// An interrupted run stops the engines too: one being started is
	// stopped by Start when ctx ends, a running one here. A crashed or
	// timed-out run leaves none behind either, as every process gets
	// SIGKILL when the test binary dies.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu      sync.Mutex
		running *stack.Stack
	)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		cancel()
		mu.Lock()
		defer mu.Unlock()
		if running == nil {
			fmt.Fprintf(os.Stderr, "e2e: %v: stopping the stack start-up\n", sig)
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: %v: stopping the stack; logs kept in %s\n", sig, running.LogDir)
		running.Stop(true)
		os.Exit(1)
	}()

	start := time.Now()
	stk, err = stack.Start(ctx, func(format string, args ...any) { fmt.Printf(format+"\n", args...) })
	var skip *stack.SkipError
	switch {
	case errors.As(err, &skip):
		skipReason = skip.Reason
		fmt.Printf("\n*** e2e: SKIPPING every test: %s ***\n\n", skipReason)
		return m.Run()
	case err != nil:
		fmt.Fprintln(os.Stderr, "e2e: stack did not start:", err)
		return 1
	}
	mu.Lock()
	running = stk
	mu.Unlock()
	fmt.Printf("e2e: %s stack ready in %v\n", stk.Kind, time.Since(start).Round(time.Millisecond))

	// Stop the stack shortly before `go test -timeout` ends the run, so
	// that the logs are kept and said where; the timeout's own panic then
	// shows which test hung.
	if f := flag.Lookup("test.timeout"); f != nil {
		if d := f.Value.(flag.Getter).Get().(time.Duration); d > time.Minute {
			time.AfterFunc(d-15*time.Second, func() {
				fmt.Fprintf(os.Stderr, "e2e: the run is about to time out (-timeout %v): stopping the stack; logs kept in %s\n", d, stk.LogDir)
				stk.Stop(true)
			})
		}
	}

	code := m.Run()
	failed := code != 0
	if failed {
		fmt.Fprintf(os.Stderr, "e2e: FAILED; logs of the engines and daemons kept in %s:\n", stk.LogDir)
		if entries, err := os.ReadDir(stk.LogDir); err == nil {
			for _, e := range entries {
				fmt.Fprintf(os.Stderr, "  %s\n", filepath.Join(stk.LogDir, e.Name()))
			}
		}
	}
	stopped := time.Now()
	stk.Stop(failed)
	fmt.Printf("e2e: %s stack stopped in %v\n", stk.Kind, time.Since(stopped).Round(time.Millisecond))
	return code
}

// needStack skips the test when the chosen stack cannot run here.
func needStack(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}
