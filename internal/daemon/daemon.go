// Package daemon holds what every logpipe daemon shares: structured logging
// set up from flags, and one HTTP listener serving /metrics (Prometheus text
// format), /healthz (the process is alive) and /readyz (it can do its work).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
)

// LogOptions configure the daemon's log.
type LogOptions struct {
	// Format is "text" (the default) or "json".
	Format string
	// Level is debug, info (the default), warn or error.
	Level string
}

// AddFlags registers --log-format and --log-level.
func (o *LogOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Format, "log-format", "text", "log format: json or text")
	fs.StringVar(&o.Level, "log-level", "info", "log level: debug, info, warn or error")
}

// Logger returns a logger writing to w as the options say.
func (o *LogOptions) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.Level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want one of debug, error, info, warn", o.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(o.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want one of json, text", o.Format)
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors registered.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Readiness collects named checks; /readyz is ready when every check passes.
// The zero value is ready.
type Readiness struct {
	mu     sync.Mutex
	checks map[string]func() error
}

// Set adds or replaces the check called name.
func (r *Readiness) Set(name string, check func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checks == nil {
		r.checks = make(map[string]func() error)
	}
	r.checks[name] = check
}

// Check runs every check and joins their failures, in name order.
func (r *Readiness) Check() error {
	r.mu.Lock()
	names := make([]string, 0, len(r.checks))
	for n := range r.checks {
		names = append(names, n)
	}
	checks := make(map[string]func() error, len(r.checks))
	for n, c := range r.checks {
		checks[n] = c
	}
	r.mu.Unlock()
	slices.Sort(names)
	var errs []error
	for _, n := range names {
		if err := checks[n](); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// Server is the daemon's HTTP listener.
type Server struct {
	ln  net.Listener
	srv *http.Server
	mux *http.ServeMux
}

// Listen opens addr (host:port; port 0 picks one) and prepares /metrics from
// gatherer, /healthz and /readyz from ready. Call Serve to answer.
func Listen(addr string, gatherer prometheus.Gatherer, ready *Readiness) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready.Check(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = fmt.Fprintf(w, "not ready: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return &Server{
		ln:  ln,
		mux: mux,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}, nil
}

// Handle adds a handler, for daemons that serve more than the defaults.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers requests until ctx is done, then shuts down within 5 s.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(shutdownCtx)
	<-errc
	return err
}
