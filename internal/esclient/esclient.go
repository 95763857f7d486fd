// Package esclient builds the HTTP transport every logpipe daemon uses to
// talk to Elasticsearch or OpenSearch, and the flags that configure it.
//
// It uses github.com/elastic/elastic-transport-go directly, with requests
// from go-elasticsearch's esapi package, rather than the top-level
// go-elasticsearch client: that client refuses any server whose first
// successful answer lacks the header "X-Elastic-Product: Elasticsearch",
// which OpenSearch never sends, and it pulls in the typed API tree (about
// 800 packages) that logpipe does not use. The transport alone keeps what
// matters here: several URLs with round-robin and dead-node handling, basic
// auth or API keys, and TLS with a custom CA.
//
// The transport's own retries are off: logpipe's callers decide what to
// retry (the bulk indexer retries per item with backoff; reconcilers retry
// through the engine), and a hidden second retry layer would only multiply
// delays.
package esclient

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/spf13/pflag"
)

// Options configure the search engine connection.
type Options struct {
	// URLs of the engine's nodes, e.g. http://127.0.0.1:9200.
	URLs []string
	// Username and Password for HTTP basic auth.
	Username string
	Password string
	// APIKey is an Elasticsearch API key (the base64 "id:key" form); it
	// takes precedence over basic auth.
	APIKey string
	// CACert is a PEM file of CA certificates to trust for https URLs.
	CACert string
	// InsecureSkipVerify turns off certificate checks (for tests only).
	InsecureSkipVerify bool
	// Timeout bounds one HTTP request. Default 30s.
	Timeout time.Duration
}

// AddFlags registers --es-urls, --es-username, --es-password, --es-api-key,
// --es-cacert, --es-insecure-skip-verify and --es-timeout. Their environment
// twins (LOGPIPE_ES_URLS, ...) are loaded by envflag.Load.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.URLs, "es-urls", nil, "Elasticsearch or OpenSearch URLs, comma-separated")
	fs.StringVar(&o.Username, "es-username", "", "username for HTTP basic auth to the search engine")
	fs.StringVar(&o.Password, "es-password", "", "password for HTTP basic auth to the search engine")
	fs.StringVar(&o.APIKey, "es-api-key", "", "Elasticsearch API key (base64 id:key); overrides basic auth")
	fs.StringVar(&o.CACert, "es-cacert", "", "PEM file of CA certificates to trust for https search engine URLs")
	fs.BoolVar(&o.InsecureSkipVerify, "es-insecure-skip-verify", false, "do not verify the search engine's TLS certificate (tests only)")
	fs.DurationVar(&o.Timeout, "es-timeout", 30*time.Second, "timeout of one request to the search engine")
}

// Enabled reports whether any URL is configured.
func (o *Options) Enabled() bool { return len(o.URLs) > 0 }

// Transport builds the transport. It checks the options without contacting
// the engine.
func (o *Options) Transport() (*elastictransport.Client, error) {
	if len(o.URLs) == 0 {
		return nil, fmt.Errorf("search engine: no URL given (--es-urls)")
	}
	urls := make([]*url.URL, 0, len(o.URLs))
	for _, raw := range o.URLs {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("search engine: --es-urls: %q is not an http(s) URL such as http://127.0.0.1:9200", raw)
		}
		urls = append(urls, u)
	}
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("search engine: unexpected default HTTP transport %T", http.DefaultTransport)
	}
	tr := base.Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = o.timeout()
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // opt-in flag for tests
	if o.CACert != "" {
		pem, err := os.ReadFile(o.CACert)
		if err != nil {
			return nil, fmt.Errorf("search engine: --es-cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("search engine: --es-cacert: %s holds no PEM certificate", o.CACert)
		}
		tlsConf.RootCAs = pool
	}
	tr.TLSClientConfig = tlsConf
	return elastictransport.New(elastictransport.Config{
		URLs:         urls,
		Username:     o.Username,
		Password:     o.Password,
		APIKey:       o.APIKey,
		Transport:    tr,
		DisableRetry: true,
		UserAgent:    "logpipe",
	})
}

func (o *Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return 30 * time.Second
	}
	return o.Timeout
}
