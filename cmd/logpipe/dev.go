package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/logpipe/logpipe/agent"
	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/daemon"
	"github.com/logpipe/logpipe/internal/embedetcd"
	"github.com/logpipe/logpipe/internal/esclient"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/reconciler/indextemplate"
	"github.com/logpipe/logpipe/reconciler/leader"
	"github.com/logpipe/logpipe/reconciler/topic"
	"github.com/logpipe/logpipe/search"
	"github.com/logpipe/logpipe/store"
	"github.com/logpipe/logpipe/transfer"
)

// Defaults of logpipe dev's listeners: etcd's and Kafka's own ports, so
// that logpipectl, kcat and every other client find them without flags.
const (
	devDefaultHTTP  = "127.0.0.1:9600"
	devDefaultEtcd  = "127.0.0.1:2379"
	devDefaultKafka = "127.0.0.1:9092"
	// devDemoDir is the folder the CollectEntry of specs/ tails.
	devDemoDir = "/tmp/logpipe-demo"
)

// Tuning of the pipeline in dev: a line is searchable well within 2 s of
// being written, and Ctrl-C stops everything within 5 s.
const (
	devFlushInterval   = 200 * time.Millisecond
	devStatusInterval  = 2 * time.Second
	devSessionTimeout  = 10 * time.Second
	devLeaseTTL        = 5 * time.Second
	devShutdownTimeout = 2 * time.Second
	// devStopBudget bounds the whole shutdown; a component that has not
	// stopped by then is left behind, so that the process still exits.
	devStopBudget = 4500 * time.Millisecond
)

type devOptions struct {
	dataDir    string
	httpAddr   string
	etcdAddr   string
	kafkaAddr  string
	labels     string
	apply      []string
	allowPaths []string
	demoDir    string
	es         esclient.Options
	log        daemon.LogOptions
}

func newDevCmd(e env) *cobra.Command {
	o := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole pipeline in one process: embedded etcd, Kafka and search index",
		Long: `dev runs, in one process, an embedded etcd, an embedded Kafka-protocol broker,
the controller, one agent and the transfer, which indexes into an embedded
full-text index searched with "logpipectl search" (or into Elasticsearch with
--es-urls). Everything is kept under --data-dir, so a restart loses nothing
and indexes nothing twice.

The agent may read the working directory, ` + devDemoDir + ` (created with
empty web/access.log and web/error.log for the specs in specs/) and every
--allow-path.`,
		Example: `  logpipe dev --apply specs/
  logpipe dev --data-dir /tmp/lp --http-addr 127.0.0.1:0 --etcd-addr 127.0.0.1:0 --kafka-addr 127.0.0.1:0
  logpipe dev --es-urls http://127.0.0.1:9200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), e, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.dataDir, "data-dir", ".logpipe", "directory of all state: etcd, kafka, agent checkpoints, index")
	fs.StringVar(&o.httpAddr, "http-addr", devDefaultHTTP, "address of the search API, /metrics, /healthz and /readyz")
	fs.StringVar(&o.etcdAddr, "etcd-addr", devDefaultEtcd, "address the embedded etcd serves clients on")
	fs.StringVar(&o.kafkaAddr, "kafka-addr", devDefaultKafka, "address the embedded Kafka broker listens on")
	fs.StringVar(&o.labels, "labels", "", "agent labels, k=v,... (matched by CollectEntry agentSelectors)")
	fs.StringArrayVar(&o.apply, "apply", nil, "file or directory of specs to apply at start, as logpipectl apply -f (repeatable)")
	fs.StringSliceVar(&o.allowPaths, "allow-path", nil, "more paths or globs the agent may read (repeatable)")
	fs.StringVar(&o.demoDir, "demo-dir", devDemoDir, "folder of the demo log files")
	_ = fs.MarkHidden("demo-dir") // for tests: where the demo files go
	o.es.AddFlags(fs)
	o.log.AddFlags(fs)
	bindEnv(cmd, e)
	return cmd
}

// inUse rewrites "address already in use" into one line that names the flag
// to change.
func inUse(flag, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use") {
		return fmt.Errorf("%s %s: address already in use (is another logpipe dev running?): stop it or choose another address with %s", flag, addr, flag)
	}
	return fmt.Errorf("%s %s: %w", flag, addr, err)
}

// stopper runs the stop functions of the started components in reverse
// order of their start, each bounded by what is left of one shared budget.
type stopper struct {
	log   *slog.Logger
	stops []func(deadline time.Time)
	once  sync.Once
}

func (s *stopper) add(stop func(deadline time.Time)) { s.stops = append(s.stops, stop) }

func (s *stopper) stopAll() {
	s.once.Do(func() {
		deadline := time.Now().Add(devStopBudget)
		for i := len(s.stops) - 1; i >= 0; i-- {
			s.stops[i](deadline)
		}
	})
}

// start runs run in a goroutine with its own context, and registers its
// stop: cancel the context, wait for run to return (until the deadline),
// then call after (if not nil). A return before the stop is reported on
// failed.
func (s *stopper) start(name string, failed chan<- error, run func(ctx context.Context) error, after func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var stopping atomic.Bool
	go func() {
		defer close(done)
		err := run(ctx)
		switch {
		case !stopping.Load():
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			select {
			case failed <- fmt.Errorf("%s: %w", name, err):
			default: // another failure is already reported
			}
		case err != nil:
			s.log.Warn("stopped with an error", "component", name, "err", err)
		}
	}()
	s.add(func(deadline time.Time) {
		stopping.Store(true)
		cancel()
		select {
		case <-done:
		case <-time.After(time.Until(deadline)):
			s.log.Warn("did not stop in time; leaving it behind", "component", name)
		}
		if after != nil {
			after()
		}
	})
}

func runDev(ctx context.Context, e env, o *devOptions) (err error) {
	defer func() {
		// Ctrl-C while starting is a stop, not a failure.
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = nil
		}
	}()
	log, err := o.log.Logger(e.stderr)
	if err != nil {
		return err
	}
	labels, err := api.ParseLabels(o.labels)
	if err != nil {
		return fmt.Errorf("--labels: %w", err)
	}
	var engineTransport esapi.Transport
	if o.es.Enabled() {
		tr, err := o.es.Transport()
		if err != nil {
			return err
		}
		engineTransport = tr
	}
	for _, a := range []struct{ flag, addr string }{{"--http-addr", o.httpAddr}, {"--etcd-addr", o.etcdAddr}, {"--kafka-addr", o.kafkaAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s %q: want host:port, such as 127.0.0.1:0", a.flag, a.addr)
		}
	}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	allow, err := devAllowList(o)
	if err != nil {
		return err
	}

	s := &stopper{log: log}
	defer s.stopAll()
	failed := make(chan error, 1)

	// Every listener first, so that a port in use fails at once with the
	// flag to change.
	reg := daemon.NewRegistry()
	ready := &daemon.Readiness{}
	srv, err := daemon.Listen(o.httpAddr, reg, ready)
	if err != nil {
		return inUse("--http-addr", o.httpAddr, errors.Unwrap(err))
	}
	served := false
	s.add(func(time.Time) {
		if !served { // close the listener
			cancelled, cancel := context.WithCancel(context.Background())
			cancel()
			_ = srv.Serve(cancelled)
		}
	})
	kafkaLn, err := net.Listen("tcp", o.kafkaAddr)
	if err != nil {
		return inUse("--kafka-addr", o.kafkaAddr, err)
	}
	// etcd opens its own listener: check the address now, for the message.
	etcdLn, err := net.Listen("tcp", o.etcdAddr)
	if err != nil {
		kafkaLn.Close()
		return inUse("--etcd-addr", o.etcdAddr, err)
	}
	etcdLn.Close()

	etcdSrv, err := embedetcd.Start(ctx, embedetcd.Config{
		Name: "logpipe-dev", Dir: filepath.Join(dataDir, "etcd"), ClientAddr: o.etcdAddr,
		// Keep an hour of history, not all of it.
		CompactionRetention: time.Hour,
	})
	if err != nil {
		kafkaLn.Close()
		return err
	}
	s.add(func(time.Time) { etcdSrv.Close() })
	etcdURL := "http://" + etcdSrv.Clients[0].Addr().String()

	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		kafkaLn.Close()
		return fmt.Errorf("etcd: %w", err)
	}
	// Closed before etcd stops: etcd's shutdown waits for connected clients.
	s.add(func(time.Time) { cl.Close() })
	st := store.New(cl, store.DefaultPrefix)

	cluster, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DataDir(filepath.Join(dataDir, "kafka")),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return kafkaLn, nil }),
	)
	if err != nil {
		kafkaLn.Close()
		return fmt.Errorf("embedded kafka in %s: %w", filepath.Join(dataDir, "kafka"), err)
	}
	s.add(func(time.Time) { cluster.Close() })
	kafkaAddr := kafkaLn.Addr().String()
	kopts := []kgo.Opt{kgo.SeedBrokers(kafkaAddr)}

	var sink transfer.Sink
	templates := engineTransport
	var engine *search.Engine
	if engineTransport != nil {
		sink = transfer.NewElasticSink(engineTransport)
		notHere, _ := json.Marshal(map[string]string{"error": "logpipe dev indexes into the search engine of --es-urls, " +
			"not into an embedded index: search there (GET /web-*/_search?q=code:500)"})
		srv.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotImplemented)
			_, _ = w.Write(notHere)
		}))
	} else {
		engine, err = search.Open(filepath.Join(dataDir, "index"), search.Options{Logger: log})
		if err != nil {
			return err
		}
		s.add(func(time.Time) {
			if err := engine.Close(); err != nil {
				log.Warn("closing the embedded index", "err", err)
			}
		})
		sink, templates = engine, engine.Templates()
		srv.Handle("/api/", engine.Handler())
	}

	if err := devDemoFiles(o.demoDir); err != nil {
		return err
	}
	if len(o.apply) > 0 {
		if err := devApply(ctx, e.stdout, st, o.apply); err != nil {
			return err
		}
	}

	metrics := reconciler.NewMetrics(reg)
	ready.Set("etcd", etcdReady(cl, st.LeaderPrefix("controller")))

	// The HTTP server stops after the pipeline, before the index closes.
	served = true
	s.start("http", failed, srv.Serve, nil)

	// Controller: stops after the transfer.
	admin, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	leading := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "logpipe_controller_leader",
		Help: "1 while this controller is the elected leader, else 0.",
	})
	reg.MustRegister(leading)
	s.start("controller", failed, func(ctx context.Context) error {
		return leader.Run(ctx, st, "controller", fmt.Sprintf("%s-%d", hostname(), os.Getpid()), leader.Options{
			TTL:    devLeaseTTL,
			Logger: log,
			OnChange: func(on bool) {
				if on {
					leading.Set(1)
				} else {
					leading.Set(0)
				}
			},
		}, func(ctx context.Context) error {
			opts := reconciler.Options{Workers: 2, Resync: time.Minute, Logger: log, Metrics: metrics}
			g, ctx := errgroup.WithContext(ctx)
			topics := reconciler.New("topic", topic.New(st, kadm.NewClient(admin), log),
				reconciler.NewKindSource(st, api.KindTopic, log), opts)
			g.Go(func() error { return topics.Run(ctx) })
			tpls := reconciler.New("indextemplate", indextemplate.New(st, templates, log),
				reconciler.NewKindSource(st, api.KindIndexTemplate, log), opts)
			g.Go(func() error { return tpls.Run(ctx) })
			return g.Wait()
		})
	}, admin.Close)

	// Transfer: stops after the agent.
	tr, err := transfer.New(transfer.Options{
		Name:            hostname(),
		Group:           transfer.DefaultGroup,
		Store:           st,
		Kafka:           kopts,
		Sink:            sink,
		FlushInterval:   devFlushInterval,
		StatusInterval:  devStatusInterval,
		SessionTimeout:  devSessionTimeout,
		ShutdownTimeout: devShutdownTimeout,
		Logger:          log,
		Metrics:         transfer.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	ready.Set("transfer", tr.Ready)
	s.start("transfer", failed, tr.Run, nil)

	// Agent: stops first, so that whatever it shipped is still indexed.
	producer, err := kgo.NewClient(append(kopts,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.SnappyCompression()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.UnknownTopicRetries(-1),
	)...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	a, err := agent.New(agent.Options{
		Name:              hostname(),
		Host:              hostname(),
		Labels:            labels,
		Version:           version,
		Address:           advertised(srv.Addr()),
		DataDir:           filepath.Join(dataDir, "agent"),
		Allow:             allow,
		Store:             st,
		Producer:          producer,
		StatusInterval:    devStatusInterval,
		Logger:            log,
		Registerer:        reg,
		ReconcilerMetrics: metrics,
	})
	if err != nil {
		producer.Close()
		return err
	}
	ready.Set("agent", func() error {
		select {
		case <-a.Ready():
			return nil
		default:
			return errors.New("desired state not loaded yet")
		}
	})
	s.start("agent", failed, a.Run, func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = producer.Flush(flushCtx)
		producer.Close()
	})

	printBanner(e.stdout, dataDir, etcdURL, kafkaAddr, srv.Addr(), engine != nil, o, allow)
	log.Info("logpipe dev running", "data_dir", dataDir, "etcd", etcdURL, "kafka", kafkaAddr, "http_addr", srv.Addr())

	select {
	case <-ctx.Done():
	case err = <-failed:
		log.Error("a component failed; stopping everything", "err", err)
	case err = <-etcdSrv.Err():
		err = fmt.Errorf("embedded etcd: %w", err)
	}
	started := time.Now()
	s.stopAll()
	log.Info("logpipe dev stopped", "took", time.Since(started).Round(time.Millisecond))
	return err
}

// devAllowList is what the dev agent may read: the working directory, the
// demo folder and --allow-path, each also with its symbolic links resolved
// (the agent checks resolved paths: /tmp is a link on macOS).
func devAllowList(o *devOptions) (*agent.AllowList, error) {
	var paths []string
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	for _, p := range append([]string{wd, o.demoDir}, o.allowPaths...) {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("--allow-path %q: %w", p, err)
		}
		paths = append(paths, abs)
		if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
			paths = append(paths, real)
		}
	}
	return agent.NewAllowList(paths)
}

// devDemoFiles creates the demo folder with the two empty log files the
// specs in specs/ tail, leaving existing files alone.
func devDemoFiles(dir string) error {
	if dir == "" {
		return nil
	}
	web := filepath.Join(dir, "web")
	if err := os.MkdirAll(web, 0o755); err != nil {
		return fmt.Errorf("demo folder: %w", err)
	}
	for _, name := range []string{"access.log", "error.log"} {
		f, err := os.OpenFile(filepath.Join(web, name), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("demo folder: %w", err)
		}
		f.Close()
	}
	return nil
}

// devApply applies the specs in paths in one transaction, as logpipectl
// apply does, and prints what changed.
func devApply(ctx context.Context, w io.Writer, st *store.Store, paths []string) error {
	docs, err := api.DecodePaths(paths, nil)
	if err != nil {
		return fmt.Errorf("--apply: %w", err)
	}
	if len(docs) == 0 {
		return fmt.Errorf("--apply: no objects found in %s", strings.Join(paths, ", "))
	}
	objs := make([]api.Object, len(docs))
	for i, d := range docs {
		objs[i] = d.Object
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	results, err := st.Apply(ctx, objs, store.ApplyOptions{})
	if err != nil {
		return fmt.Errorf("--apply: %w", err)
	}
	for _, r := range results {
		fmt.Fprintf(w, "applied %s\n", r)
	}
	return nil
}

// printBanner tells the user where everything is. Its "  etcd", "  kafka"
// and "  search" lines each hold the address as the second field.
func printBanner(w io.Writer, dataDir, etcdURL, kafkaAddr, httpAddr string, embedded bool, o *devOptions, allow *agent.AllowList) {
	ctl := "logpipectl"
	if etcdURL != "http://"+devDefaultEtcd {
		ctl += " --etcd-endpoints " + etcdURL
	}
	tail := "logpipectl tail web_log"
	if kafkaAddr != devDefaultKafka {
		tail += " --kafka-brokers " + kafkaAddr
	}
	searchURL := "http://" + httpAddr
	find := "logpipectl search 'web-*' 'code:500'"
	if httpAddr != devDefaultHTTP {
		find += " --server " + searchURL
	}
	if !embedded {
		var urls []string
		for _, raw := range o.es.URLs {
			if u, err := url.Parse(strings.TrimSpace(raw)); err == nil {
				urls = append(urls, u.Redacted())
			}
		}
		find = "not used: documents go to " + strings.Join(urls, ",")
	}
	fmt.Fprintf(w, "logpipe dev: the whole pipeline in one process, state in %s\n", dataDir)
	fmt.Fprintf(w, "  etcd    %-28s %s get topics\n", etcdURL, ctl)
	fmt.Fprintf(w, "  kafka   %-28s %s\n", kafkaAddr, tail)
	fmt.Fprintf(w, "  search  %-28s %s\n", searchURL, find)
	fmt.Fprintf(w, "  agent may read %s\n", allow)
	fmt.Fprintf(w, "ready; Ctrl-C stops everything\n")
}
