// Package etcdflags holds the command-line flags with which every logpipe
// program reaches etcd, their environment-variable twins, and the client
// they describe.
//
// A program registers the flags, lets the environment fill in the flags the
// command line left unset, and then asks for a client:
//
//	var etcd etcdflags.Options
//	etcd.AddFlags(fs)
//	// ... parse the command line into fs ...
//	if err := envflag.Apply(fs, os.LookupEnv); err != nil { ... }
//	cl, err := etcd.Client(ctx)
//
// A flag set on the command line always wins over its environment variable,
// which wins over the flag's default (see package internal/envflag).
package etcdflags

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/logpipe/logpipe/internal/envflag"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Default values of the flags.
const (
	DefaultEndpoint    = "http://127.0.0.1:2379"
	DefaultPrefix      = "/logpipe"
	DefaultDialTimeout = 5 * time.Second
)

// Options says how to reach etcd and under which key prefix logpipe keeps
// its state. The zero value is not usable; AddFlags sets the defaults.
type Options struct {
	// Endpoints are the etcd client URLs (--etcd-endpoints); https URLs
	// use TLS.
	Endpoints []string
	// Prefix is the key prefix of logpipe's state (--etcd-prefix).
	Prefix string
	// CACert is a PEM file of the CAs that sign etcd's server certificate
	// (--etcd-cacert); empty means the system roots.
	CACert string
	// Cert and Key are the PEM files of a client certificate and its key
	// (--etcd-cert, --etcd-key), for etcd's client certificate auth.
	Cert, Key string
	// User and Password authenticate with etcd's role-based auth
	// (--etcd-user, --etcd-password).
	User, Password string
	// DialTimeout bounds connecting and authenticating; it is not a flag of
	// its own because programs usually derive it from their own timeout.
	// Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// Logger receives the etcd client's logs; nil means the client's
	// default logger, which writes to stderr.
	Logger *zap.Logger
}

// AddFlags registers the etcd flags on fs, each with its environment twin
// (see envflag.Bind), and sets their defaults.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Endpoints, "etcd-endpoints", []string{DefaultEndpoint}, "etcd client URLs, comma-separated")
	envflag.Bind(fs, "etcd-endpoints", "LOGPIPE_ETCD_ENDPOINTS")
	fs.StringVar(&o.Prefix, "etcd-prefix", DefaultPrefix, "etcd key prefix of logpipe's state")
	envflag.Bind(fs, "etcd-prefix", "LOGPIPE_ETCD_PREFIX")
	fs.StringVar(&o.CACert, "etcd-cacert", "", "PEM file of the CAs that sign etcd's certificate (default: system roots)")
	envflag.Bind(fs, "etcd-cacert", "LOGPIPE_ETCD_CACERT")
	fs.StringVar(&o.Cert, "etcd-cert", "", "PEM file of the client certificate for etcd")
	envflag.Bind(fs, "etcd-cert", "LOGPIPE_ETCD_CERT")
	fs.StringVar(&o.Key, "etcd-key", "", "PEM file of the client certificate's key")
	envflag.Bind(fs, "etcd-key", "LOGPIPE_ETCD_KEY")
	fs.StringVar(&o.User, "etcd-user", "", "etcd user name")
	envflag.Bind(fs, "etcd-user", "LOGPIPE_ETCD_USER")
	// The environment is the better place for the password: command lines
	// are visible to every user of the host.
	fs.StringVar(&o.Password, "etcd-password", "", "etcd password; prefer the environment variable")
	envflag.Bind(fs, "etcd-password", "LOGPIPE_ETCD_PASSWORD")
}

// Config returns the etcd client configuration the options describe.
func (o *Options) Config() (clientv3.Config, error) {
	var endpoints []string
	for _, ep := range o.Endpoints {
		if ep = strings.TrimSpace(ep); ep != "" {
			endpoints = append(endpoints, ep)
		}
	}
	if len(endpoints) == 0 {
		return clientv3.Config{}, errors.New("no etcd endpoints: give --etcd-endpoints")
	}
	if (o.User == "") != (o.Password == "") {
		return clientv3.Config{}, errors.New("--etcd-user and --etcd-password go together")
	}
	tlsConfig, err := o.tlsConfig()
	if err != nil {
		return clientv3.Config{}, err
	}
	timeout := o.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	return clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: timeout,
		TLS:         tlsConfig,
		Username:    o.User,
		Password:    o.Password,
		Logger:      o.Logger,
	}, nil
}

// tlsConfig builds the TLS configuration from the certificate files, or
// returns nil when none is given (https endpoints then use the system
// roots).
func (o *Options) tlsConfig() (*tls.Config, error) {
	if o.CACert == "" && o.Cert == "" && o.Key == "" {
		return nil, nil
	}
	if (o.Cert == "") != (o.Key == "") {
		return nil, errors.New("--etcd-cert and --etcd-key go together")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CACert != "" {
		pem, err := os.ReadFile(o.CACert)
		if err != nil {
			return nil, fmt.Errorf("etcd CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA certificate %s: no PEM certificate found", o.CACert)
		}
		cfg.RootCAs = pool
	}
	if o.Cert != "" {
		cert, err := tls.LoadX509KeyPair(o.Cert, o.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Client connects to etcd and checks that at least one endpoint answers
// before ctx ends, so that a wrong address or an etcd that is down fails here
// with one clear error ("etcd at http://127.0.0.1:2379: context deadline
// exceeded") instead of hanging in the first request. The caller closes the
// client.
func (o *Options) Client(ctx context.Context) (*clientv3.Client, error) {
	cfg, err := o.Config()
	if err != nil {
		return nil, err
	}
	where := "etcd at " + strings.Join(cfg.Endpoints, ",")
	cl, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if err := probe(ctx, cl); err != nil {
		cl.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return cl, nil
}

// probe asks every endpoint for its status at once and returns nil as soon
// as one answers, or the first error when none does. Status needs no
// permission beyond being authenticated, so it works for any etcd user.
func probe(ctx context.Context, cl *clientv3.Client) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the probes still waiting once one has answered
	endpoints := cl.Endpoints()
	errc := make(chan error, len(endpoints))
	for _, ep := range endpoints {
		go func() {
			_, err := cl.Status(ctx, ep)
			errc <- err
		}()
	}
	var first error
	for range endpoints {
		err := <-errc
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	return first
}
