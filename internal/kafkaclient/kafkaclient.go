// Package kafkaclient holds the Kafka connection flags every logpipe daemon
// shares (brokers, TLS, SASL PLAIN and SCRAM) and turns them into franz-go
// client options.
package kafkaclient

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The SASL mechanisms --kafka-sasl-mechanism accepts.
const (
	MechanismPlain       = "plain"
	MechanismSCRAMSHA256 = "scram-sha-256"
	MechanismSCRAMSHA512 = "scram-sha-512"
)

// Options configure the connection to Kafka.
type Options struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// TLS turns on TLS; implied by CACert, Cert and Key.
	TLS bool
	// CACert is a PEM file of CAs to trust; empty means the system pool.
	CACert string
	// Cert and Key are a PEM client certificate and key for mutual TLS.
	Cert, Key string
	// InsecureSkipVerify turns off certificate checks (tests only).
	InsecureSkipVerify bool
	// SASLMechanism is "", plain, scram-sha-256 or scram-sha-512.
	SASLMechanism string
	// SASLUser and SASLPassword authenticate with SASLMechanism.
	SASLUser, SASLPassword string
}

// AddFlags registers the --kafka-* connection flags on fs. Their
// environment twins (LOGPIPE_KAFKA_BROKERS, ...) are loaded by envflag.Load.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Brokers, "kafka-brokers", []string{"127.0.0.1:9092"}, "Kafka seed brokers, host:port, comma-separated")
	fs.BoolVar(&o.TLS, "kafka-tls", false, "connect to Kafka with TLS (implied by --kafka-cacert/--kafka-cert)")
	fs.StringVar(&o.CACert, "kafka-cacert", "", "PEM file of CA certificates to trust for Kafka")
	fs.StringVar(&o.Cert, "kafka-cert", "", "PEM client certificate for Kafka mutual TLS")
	fs.StringVar(&o.Key, "kafka-key", "", "PEM client key for Kafka mutual TLS")
	fs.BoolVar(&o.InsecureSkipVerify, "kafka-insecure-skip-verify", false, "do not verify Kafka's TLS certificate (tests only)")
	fs.StringVar(&o.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: plain, scram-sha-256 or scram-sha-512")
	fs.StringVar(&o.SASLUser, "kafka-sasl-user", "", "SASL user name")
	fs.StringVar(&o.SASLPassword, "kafka-sasl-password", "", "SASL password")
}

// ClientOpts returns the franz-go options for the connection. It checks the
// options and reads certificate files, without contacting Kafka.
func (o *Options) ClientOpts() ([]kgo.Opt, error) {
	var brokers []string
	for _, b := range o.Brokers {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, fmt.Errorf("kafka: no broker given (--kafka-brokers)")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...)}

	if o.TLS || o.CACert != "" || o.Cert != "" || o.Key != "" || o.InsecureSkipVerify {
		conf, err := o.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(conf))
	}

	switch m := strings.ToLower(o.SASLMechanism); m {
	case "":
		if o.SASLUser != "" {
			return nil, fmt.Errorf("kafka: --kafka-sasl-user is set but --kafka-sasl-mechanism is not: want one of %s",
				strings.Join(mechanisms(), ", "))
		}
	case MechanismPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: o.SASLUser, Pass: o.SASLPassword}.AsMechanism()))
	case MechanismSCRAMSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: o.SASLUser, Pass: o.SASLPassword}.AsSha256Mechanism()))
	case MechanismSCRAMSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: o.SASLUser, Pass: o.SASLPassword}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("kafka: --kafka-sasl-mechanism %q: want one of %s", o.SASLMechanism, strings.Join(mechanisms(), ", "))
	}
	return opts, nil
}

func (o *Options) tlsConfig() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // opt-in flag for tests
	if o.CACert != "" {
		pem, err := os.ReadFile(o.CACert)
		if err != nil {
			return nil, fmt.Errorf("kafka: --kafka-cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: --kafka-cacert: %s holds no PEM certificate", o.CACert)
		}
		conf.RootCAs = pool
	}
	if (o.Cert == "") != (o.Key == "") {
		return nil, fmt.Errorf("kafka: --kafka-cert and --kafka-key must be given together")
	}
	if o.Cert != "" {
		pair, err := tls.LoadX509KeyPair(o.Cert, o.Key)
		if err != nil {
			return nil, fmt.Errorf("kafka: client certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

func mechanisms() []string {
	m := []string{MechanismPlain, MechanismSCRAMSHA256, MechanismSCRAMSHA512}
	slices.Sort(m)
	return m
}
