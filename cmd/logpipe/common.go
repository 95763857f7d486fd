package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/logpipe/logpipe/internal/daemon"
	"github.com/logpipe/logpipe/internal/envflag"
	"github.com/logpipe/logpipe/internal/etcdflags"
)

// env is what a command sees of its process: streams and environment.
type env struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
}

// common are the flags every daemon has.
type common struct {
	etcd     etcdflags.Options
	log      daemon.LogOptions
	httpAddr string
}

func (c *common) addFlags(fs *pflag.FlagSet, defaultHTTP string) {
	c.etcd.AddFlags(fs)
	c.log.AddFlags(fs)
	fs.StringVar(&c.httpAddr, "http-addr", defaultHTTP, "address of /metrics, /healthz and /readyz")
}

// bindEnv gives every flag of cmd its LOGPIPE_* twin and loads the twins
// before the command runs.
func bindEnv(cmd *cobra.Command, e env) {
	envflag.BindAll(cmd.Flags())
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		return envflag.Apply(cmd.Flags(), e.lookupEnv)
	}
}

// etcdClient connects to etcd, with the etcd client's own logs at warn level
// and above only.
func (c *common) etcdClient(ctx context.Context) (*clientv3.Client, error) {
	c.etcd.Logger = zap.NewNop()
	if c.etcd.DialTimeout == 0 {
		c.etcd.DialTimeout = 10 * time.Second
	}
	return c.etcd.Client(ctx)
}

// etcdReady is a readiness check: etcd answers a read within 2 s.
func etcdReady(cl *clientv3.Client, key string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := cl.Get(ctx, key, clientv3.WithKeysOnly(), clientv3.WithLimit(1)); err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
		return nil
	}
}

func (c *common) logger(e env) (*slog.Logger, error) {
	return c.log.Logger(e.stderr)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// etcdClientNoWait creates an etcd client without waiting for etcd to
// answer, for daemons that must keep working while etcd is down.
func (c *common) etcdClientNoWait() (*clientv3.Client, error) {
	c.etcd.Logger = zap.NewNop()
	cfg, err := c.etcd.Config()
	if err != nil {
		return nil, err
	}
	// A zero DialTimeout makes clientv3.New return at once and connect in
	// the background.
	cfg.DialTimeout = 0
	cl, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	return cl, nil
}
