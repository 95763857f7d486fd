//go:build e2e

package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a program the suite started: an engine of the local stack or a
// logpipe daemon. It runs in its own process group, so that signals reach
// it and whatever it forks, and it gets SIGKILL if the test binary dies, so
// that no engine outlives a crashed or timed-out run. Its stdout and stderr
// go to LogPath.
type Process struct {
	Name    string
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
}

// StartProcess runs argv with its output in logPath (appended to, so that
// a restarted process keeps one log). env, when not nil, is the complete
// environment.
func StartProcess(name, logPath string, env []string, argv ...string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process ID, which is also its process group ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) error {
	if exited, _ := p.Exited(); exited {
		return nil
	}
	if err := syscall.Kill(-p.Pid(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s: %w", p.Name, err)
	}
	return nil
}

// Kill sends SIGKILL to the process group and waits for the process to exit.
func (p *Process) Kill() error {
	return p.Stop(0)
}

// Stop sends SIGTERM to the process group, waits up to grace for the process
// to exit and then sends SIGKILL. It returns an error only if the process
// did not exit even then.
func (p *Process) Stop(grace time.Duration) error {
	if grace > 0 {
		_ = p.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	_ = p.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.Pid())
	}
}

// Tail returns the last n lines of the process's log.
func (p *Process) Tail(n int) string {
	return tailFile(p.LogPath, n)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// WaitReady calls probe every interval until it returns nil, the process
// exits, or timeout passes. Its error says which, with the last probe error
// and the end of the process's log.
func (p *Process) WaitReady(parent context.Context, timeout time.Duration, probe func(context.Context) error) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		last = probe(pctx)
		pcancel()
		if last == nil {
			return time.Since(start), nil
		}
		select {
		case <-p.done:
			return time.Since(start), fmt.Errorf("%s exited before it was ready (%v); last lines of %s:\n%s",
				p.Name, p.err, p.LogPath, indent(p.Tail(30)))
		case <-ctx.Done():
			if parent.Err() != nil {
				return time.Since(start), fmt.Errorf("%s: waiting for it to be ready: %w", p.Name, parent.Err())
			}
			return time.Since(start), fmt.Errorf("%s not ready within %v (last check: %v); last lines of %s:\n%s",
				p.Name, timeout, last, p.LogPath, indent(p.Tail(30)))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// freePortIn returns a port in [lo, hi] that nothing on 127.0.0.1 listens
// on now, starting the search at a point that depends on the process ID so
// that suites running at once tend to pick different ports.
func freePortIn(lo, hi int) (int, error) {
	n := hi - lo + 1
	start := os.Getpid() % n
	for i := range n {
		port := lo + (start+i)%n
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port in %d-%d on 127.0.0.1", lo, hi)
}
