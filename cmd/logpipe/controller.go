package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/daemon"
	"github.com/logpipe/logpipe/internal/esclient"
	"github.com/logpipe/logpipe/internal/kafkaclient"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/reconciler/indextemplate"
	"github.com/logpipe/logpipe/reconciler/leader"
	"github.com/logpipe/logpipe/reconciler/topic"
	"github.com/logpipe/logpipe/store"
)

type controllerOptions struct {
	common
	kafka    kafkaclient.Options
	es       esclient.Options
	name     string
	workers  int
	resync   time.Duration
	leaseTTL time.Duration
}

func newControllerCmd(e env) *cobra.Command {
	o := &controllerOptions{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Reconcile Topics into Kafka and IndexTemplates into Elasticsearch/OpenSearch",
		Long: `The controller makes Kafka and the search engine match the Topic and
IndexTemplate specs in etcd. Run two or more for availability: they elect one
leader through etcd, and only the leader reconciles.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runController(cmd.Context(), e, o)
		},
	}
	fs := cmd.Flags()
	o.common.addFlags(fs, ":9464")
	o.kafka.AddFlags(fs)
	o.es.AddFlags(fs)
	fs.StringVar(&o.name, "name", fmt.Sprintf("%s-%d", hostname(), os.Getpid()), "identity in the leader election")
	fs.IntVar(&o.workers, "workers", 2, "objects of each kind reconciled at once")
	fs.DurationVar(&o.resync, "resync", time.Minute, "period after which every object is reconciled again")
	fs.DurationVar(&o.leaseTTL, "lease-ttl", 15*time.Second, "leader lease TTL: how long a dead leader blocks the others")
	bindEnv(cmd, e)
	return cmd
}

func runController(ctx context.Context, e env, o *controllerOptions) error {
	log, err := o.logger(e)
	if err != nil {
		return err
	}
	kopts, err := o.kafka.ClientOpts()
	if err != nil {
		return err
	}
	var engine esapi.Transport
	if o.es.Enabled() {
		tr, err := o.es.Transport()
		if err != nil {
			return err
		}
		engine = tr
	}

	reg := daemon.NewRegistry()
	metrics := reconciler.NewMetrics(reg)
	leading := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "logpipe_controller_leader",
		Help: "1 while this controller is the elected leader, else 0.",
	})
	reg.MustRegister(leading)
	ready := &daemon.Readiness{}
	srv, err := daemon.Listen(o.httpAddr, reg, ready)
	if err != nil {
		return err
	}

	cl, err := o.etcdClient(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	st := store.New(cl, o.etcd.Prefix)
	ready.Set("etcd", etcdReady(cl, st.LeaderPrefix("controller")))

	kcl, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer kcl.Close()
	admin := kadm.NewClient(kcl)

	log.Info("controller starting", "name", o.name, "http_addr", srv.Addr(),
		"kafka_brokers", o.kafka.Brokers, "search_engine", o.es.URLs)
	if engine == nil {
		log.Warn("no --es-urls: IndexTemplates are not reconciled")
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(ctx) })
	g.Go(func() error {
		return leader.Run(ctx, st, "controller", o.name, leader.Options{
			TTL:    o.leaseTTL,
			Logger: log,
			OnChange: func(on bool) {
				if on {
					leading.Set(1)
				} else {
					leading.Set(0)
				}
			},
		}, func(ctx context.Context) error {
			opts := reconciler.Options{Workers: o.workers, Resync: o.resync, Logger: log, Metrics: metrics}
			lg, ctx := errgroup.WithContext(ctx)
			topics := reconciler.New("topic", topic.New(st, admin, log),
				reconciler.NewKindSource(st, api.KindTopic, log), opts)
			lg.Go(func() error { return topics.Run(ctx) })
			if engine != nil {
				templates := reconciler.New("indextemplate", indextemplate.New(st, engine, log),
					reconciler.NewKindSource(st, api.KindIndexTemplate, log), opts)
				lg.Go(func() error { return templates.Run(ctx) })
			}
			return lg.Wait()
		})
	})
	err = g.Wait()
	log.Info("controller stopped")
	return err
}
