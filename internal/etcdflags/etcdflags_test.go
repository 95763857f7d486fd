package etcdflags

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logpipe/logpipe/internal/envflag"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// parse registers the flags on a new flag set, parses args and applies env.
func parse(t *testing.T, args []string, env map[string]string) (*Options, error) {
	t.Helper()
	var o Options
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &o, envflag.Apply(fs, envOf(env))
}

func TestFlagsEnvAndDefaults(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		env           map[string]string
		wantEndpoints []string
		wantPrefix    string
		wantUser      string
	}{
		{
			name:          "defaults",
			wantEndpoints: []string{DefaultEndpoint},
			wantPrefix:    DefaultPrefix,
		},
		{
			name:          "env over default",
			env:           map[string]string{"LOGPIPE_ETCD_ENDPOINTS": "http://a:2379,http://b:2379", "LOGPIPE_ETCD_PREFIX": "/env", "LOGPIPE_ETCD_USER": "ops"},
			wantEndpoints: []string{"http://a:2379", "http://b:2379"},
			wantPrefix:    "/env",
			wantUser:      "ops",
		},
		{
			name:          "flag over env",
			args:          []string{"--etcd-endpoints", "http://flag:2379", "--etcd-prefix=/flag"},
			env:           map[string]string{"LOGPIPE_ETCD_ENDPOINTS": "http://env:2379", "LOGPIPE_ETCD_PREFIX": "/env", "LOGPIPE_ETCD_USER": "ops"},
			wantEndpoints: []string{"http://flag:2379"},
			wantPrefix:    "/flag",
			wantUser:      "ops",
		},
		{
			name:          "empty env is unset",
			env:           map[string]string{"LOGPIPE_ETCD_PREFIX": ""},
			wantEndpoints: []string{DefaultEndpoint},
			wantPrefix:    DefaultPrefix,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parse(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Endpoints, tt.wantEndpoints) || o.Prefix != tt.wantPrefix || o.User != tt.wantUser {
				t.Errorf("got endpoints %q, prefix %q, user %q; want %q, %q, %q", o.Endpoints, o.Prefix, o.User, tt.wantEndpoints, tt.wantPrefix, tt.wantUser)
			}
		})
	}
}

// TestBindEnvOtherFlag shows the pattern other programs' flags follow.
func TestBindEnvOtherFlag(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	timeout := fs.Duration("timeout", 10*time.Second, "bound on each command")
	envflag.Bind(fs, "timeout", "LOGPIPE_TIMEOUT")
	if got, want := fs.Lookup("timeout").Usage, "bound on each command (env LOGPIPE_TIMEOUT)"; got != want {
		t.Errorf("usage = %q, want %q", got, want)
	}
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := envflag.Apply(fs, envOf(map[string]string{"LOGPIPE_TIMEOUT": "3s"})); err != nil {
		t.Fatal(err)
	}
	if *timeout != 3*time.Second {
		t.Errorf("timeout = %v, want 3s from the environment", *timeout)
	}

	err := envflag.Apply(fs, envOf(map[string]string{"LOGPIPE_TIMEOUT": "soon"}))
	const want = `LOGPIPE_TIMEOUT="soon" (for --timeout): time: invalid duration "soon"`
	if err == nil || err.Error() != want {
		t.Errorf("ApplyEnv with a bad value: error = %v, want %q", err, want)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no endpoints", Options{Endpoints: []string{" "}}, "no etcd endpoints: give --etcd-endpoints"},
		{"user without password", Options{Endpoints: []string{DefaultEndpoint}, User: "ops"}, "--etcd-user and --etcd-password go together"},
		{"cert without key", Options{Endpoints: []string{DefaultEndpoint}, Cert: "c.pem"}, "--etcd-cert and --etcd-key go together"},
		{"missing CA file", Options{Endpoints: []string{DefaultEndpoint}, CACert: "/nonexistent/ca.pem"}, "etcd CA certificate: open /nonexistent/ca.pem: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.o.Config()
			if err == nil || err.Error() != tt.want {
				t.Errorf("Config() error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestConfigTLS checks that the certificate files end up in the TLS
// configuration.
func TestConfigTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	o := Options{Endpoints: []string{"https://127.0.0.1:2379"}, CACert: certFile, Cert: certFile, Key: keyFile, DialTimeout: time.Second}
	cfg, err := o.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || cfg.TLS.RootCAs == nil || len(cfg.TLS.Certificates) != 1 {
		t.Fatalf("TLS config = %+v, want root CAs and one client certificate", cfg.TLS)
	}
	if cfg.DialTimeout != time.Second {
		t.Errorf("DialTimeout = %v, want 1s", cfg.DialTimeout)
	}

	if err := os.WriteFile(filepath.Join(dir, "empty.pem"), []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o.CACert = filepath.Join(dir, "empty.pem")
	if _, err := o.Config(); err == nil || !strings.HasSuffix(err.Error(), "empty.pem: no PEM certificate found") {
		t.Errorf("Config() with a CA file without certificates: error = %v", err)
	}
}

// TestClientUnreachable checks that an etcd nobody listens on fails within
// the context's deadline with one line naming the endpoint.
func TestClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String()
	ln.Close()

	o := Options{Endpoints: []string{endpoint}, DialTimeout: time.Second, Logger: zap.NewNop()}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	cl, err := o.Client(ctx)
	if err == nil {
		cl.Close()
		t.Fatal("Client succeeded with nothing listening")
	}
	if want := "etcd at " + endpoint + ": context deadline exceeded"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Client took %v to fail, want about the 500ms deadline", elapsed)
	}
}

func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "etcd-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
