package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/daemon"
	"github.com/logpipe/logpipe/internal/esclient"
	"github.com/logpipe/logpipe/internal/kafkaclient"
	"github.com/logpipe/logpipe/store"
	"github.com/logpipe/logpipe/transfer"
)

type transferOptions struct {
	common
	kafka            kafkaclient.Options
	es               esclient.Options
	name             string
	group            string
	bulkMaxBytes     byteSize
	bulkMaxDocs      int
	flushInterval    time.Duration
	workers          int
	maxInflightBytes byteSize
	commitInterval   time.Duration
	statusInterval   time.Duration
	sessionTimeout   time.Duration
	revokeTimeout    time.Duration
	shutdownTimeout  time.Duration
	retryBackoff     time.Duration
	retryBackoffMax  time.Duration
	resync           time.Duration
}

func newTransferCmd(e env) *cobra.Command {
	o := &transferOptions{
		bulkMaxBytes:     transfer.DefaultBulkMaxBytes,
		maxInflightBytes: transfer.DefaultMaxInflightBytes,
	}
	cmd := &cobra.Command{
		Use:   "transfer",
		Short: "Index the records of Topics with an index block into Elasticsearch/OpenSearch",
		Long: `The transfer consumes, in one Kafka consumer group, every topic whose Topic
spec has an index block, and writes each record into Elasticsearch or
OpenSearch with its event ID as _id. It commits a partition's offset only
up to the first record not yet indexed or dead-lettered, so a crash loses
nothing and a replay overwrites instead of duplicating. Run several for
throughput and availability: they share the partitions through the group.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTransfer(cmd.Context(), e, o)
		},
	}
	fs := cmd.Flags()
	o.common.addFlags(fs, ":9466")
	o.kafka.AddFlags(fs)
	o.es.AddFlags(fs)
	fs.StringVar(&o.name, "name", fmt.Sprintf("%s-%d", hostname(), os.Getpid()), "identity of this transfer in status reports")
	fs.StringVar(&o.group, "group", transfer.DefaultGroup, "Kafka consumer group shared by the transfers")
	fs.Var(&o.bulkMaxBytes, "bulk-max-bytes", "flush a bulk request once its documents reach this size (e.g. 5MiB)")
	fs.IntVar(&o.bulkMaxDocs, "bulk-max-docs", transfer.DefaultBulkMaxDocs, "flush a bulk request once it holds this many documents")
	fs.DurationVar(&o.flushInterval, "flush-interval", transfer.DefaultFlushInterval, "flush a bulk request this long after its first document")
	fs.IntVar(&o.workers, "workers", transfer.DefaultWorkers, "bulk requests in flight at once")
	fs.Var(&o.maxInflightBytes, "max-inflight-bytes", "memory for records polled and not yet indexed; polling waits beyond it (e.g. 64MiB)")
	fs.DurationVar(&o.commitInterval, "commit-interval", transfer.DefaultCommitInterval, "how often the indexed offsets are committed")
	fs.DurationVar(&o.statusInterval, "status-interval", transfer.DefaultStatusInterval, "how often each Topic's consumer status (lag, readiness) is written")
	fs.DurationVar(&o.sessionTimeout, "session-timeout", 45*time.Second, "consumer group session timeout: how long a dead transfer holds its partitions")
	fs.DurationVar(&o.revokeTimeout, "revoke-timeout", transfer.DefaultRevokeTimeout, "how long a rebalance waits for revoked partitions' records to be indexed")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", transfer.DefaultShutdownTimeout, "how long shutdown waits for polled records to be indexed")
	fs.DurationVar(&o.retryBackoff, "retry-backoff", transfer.DefaultRetryBackoff, "first delay before documents the engine refused are sent again")
	fs.DurationVar(&o.retryBackoffMax, "retry-backoff-max", transfer.DefaultMaxRetryBackoff, "longest delay between retries")
	fs.DurationVar(&o.resync, "resync", time.Minute, "period after which every Topic is read again")
	bindEnv(cmd, e)
	return cmd
}

func runTransfer(ctx context.Context, e env, o *transferOptions) error {
	log, err := o.logger(e)
	if err != nil {
		return err
	}
	kopts, err := o.kafka.ClientOpts()
	if err != nil {
		return err
	}
	engine, err := o.es.Transport()
	if err != nil {
		return err
	}

	reg := daemon.NewRegistry()
	metrics := transfer.NewMetrics(reg)
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
	ready.Set("etcd", etcdReady(cl, st.SpecPrefix(api.KindTopic)))

	tr, err := transfer.New(transfer.Options{
		Name:             o.name,
		Group:            o.group,
		Store:            st,
		Kafka:            kopts,
		Sink:             transfer.NewElasticSink(engine),
		BulkMaxBytes:     int(o.bulkMaxBytes),
		BulkMaxDocs:      o.bulkMaxDocs,
		FlushInterval:    o.flushInterval,
		Workers:          o.workers,
		MaxInflightBytes: int64(o.maxInflightBytes),
		CommitInterval:   o.commitInterval,
		StatusInterval:   o.statusInterval,
		RevokeTimeout:    o.revokeTimeout,
		ShutdownTimeout:  o.shutdownTimeout,
		SessionTimeout:   o.sessionTimeout,
		RetryBackoff:     o.retryBackoff,
		MaxRetryBackoff:  o.retryBackoffMax,
		Resync:           o.resync,
		Logger:           log,
		Metrics:          metrics,
	})
	if err != nil {
		return err
	}
	ready.Set("transfer", tr.Ready)

	log.Info("transfer daemon starting", "name", o.name, "group", o.group, "http_addr", srv.Addr(),
		"kafka_brokers", o.kafka.Brokers, "search_engine", o.es.URLs)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx) })
	g.Go(func() error { return tr.Run(gctx) })
	err = g.Wait()
	log.Info("transfer daemon stopped")
	return err
}

// byteSize is a flag of a number of bytes, written as 5242880, 5MiB, 512KiB
// or 1GiB (also KB, MB, GB: powers of 1000).
type byteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

func (b *byteSize) String() string {
	v := int64(*b)
	for i := 2; i >= 0; i-- { // the largest binary unit that divides v
		if u := byteUnits[i]; v > 0 && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

func (b *byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return fmt.Errorf("want a positive size such as 5242880, 512KiB or 5MiB")
	}
	*b = byteSize(v * mult)
	return nil
}

func (b *byteSize) Type() string { return "bytes" }
