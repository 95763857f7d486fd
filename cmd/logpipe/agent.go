package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/logpipe/logpipe/agent"
	api "github.com/logpipe/logpipe/api/v1alpha1"
	"github.com/logpipe/logpipe/internal/daemon"
	"github.com/logpipe/logpipe/internal/kafkaclient"
	"github.com/logpipe/logpipe/reconciler"
	"github.com/logpipe/logpipe/store"
)

type agentOptions struct {
	common
	kafka            kafkaclient.Options
	name             string
	labels           string
	dataDir          string
	allowPaths       []string
	compression      string
	linger           time.Duration
	maxBufferedBytes int
	maxBufferedRecs  int
	maxRecordBytes   int
	statusInterval   time.Duration
	memoryLimit      int64
}

// compressions maps --compression values to franz-go codecs.
var compressions = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

func newAgentCmd(e env) *cobra.Command {
	o := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Tail the files CollectEntries name into Kafka",
		Long: `The agent registers itself in etcd, reconciles every CollectEntry whose
agentSelector matches its labels, and ships every line of the matching files to
Kafka at least once (acks=all, idempotent producer, checkpoints in --data-dir).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), e, o)
		},
	}
	fs := cmd.Flags()
	o.common.addFlags(fs, ":9465")
	o.kafka.AddFlags(fs)
	fs.StringVar(&o.name, "name", hostname(), "agent name: its registration and the agent of its records")
	fs.StringVar(&o.labels, "labels", "", "agent labels, k=v,... (matched by CollectEntry agentSelectors)")
	fs.StringVar(&o.dataDir, "data-dir", "/var/lib/logpipe/agent", "directory for checkpoints and the cached desired state")
	fs.StringSliceVar(&o.allowPaths, "allow-path", []string{"/var/log"}, "path or glob the agent may read (repeatable); symbolic links are resolved first")
	fs.StringVar(&o.compression, "compression", "snappy", "record compression: none, gzip, snappy, lz4 or zstd")
	fs.DurationVar(&o.linger, "linger", 5*time.Millisecond, "how long the producer waits to fill a batch")
	fs.IntVar(&o.maxBufferedBytes, "max-buffered-bytes", 32<<20, "bytes of records the producer holds before tailers wait")
	fs.IntVar(&o.maxBufferedRecs, "max-buffered-records", 10000, "records the producer holds before tailers wait")
	fs.Int64Var(&o.memoryLimit, "memory-limit", 64<<20, "soft limit of the Go runtime's memory in bytes (GOMEMLIMIT), raised by 16KiB per open file; 0 leaves the runtime's default")
	fs.IntVar(&o.maxRecordBytes, "max-record-bytes", agent.DefaultMaxRecordBytes, "longest event shipped whole; longer ones are cut and flagged")
	fs.DurationVar(&o.statusInterval, "status-interval", 5*time.Second, "how often the agent reports per-entry status")
	bindEnv(cmd, e)
	return cmd
}

func runAgent(ctx context.Context, e env, o *agentOptions) error {
	log, err := o.logger(e)
	if err != nil {
		return err
	}
	labels, err := api.ParseLabels(o.labels)
	if err != nil {
		return fmt.Errorf("--labels: %w", err)
	}
	allow, err := agent.NewAllowList(o.allowPaths)
	if err != nil {
		return err
	}
	codec, ok := compressions[strings.ToLower(o.compression)]
	if !ok {
		return fmt.Errorf("--compression %q: want one of gzip, lz4, none, snappy, zstd", o.compression)
	}
	memoryLimit := o.memoryLimit
	if os.Getenv("GOMEMLIMIT") != "" {
		memoryLimit = 0 // the environment's limit stands
	}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	kopts, err := o.kafka.ClientOpts()
	if err != nil {
		return err
	}
	kopts = append(kopts,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(o.linger),
		kgo.MaxBufferedBytes(o.maxBufferedBytes),
		// Each buffered record costs several hundred bytes of Go memory
		// beyond its own bytes, so short lines are bounded by count.
		kgo.MaxBufferedRecords(o.maxBufferedRecs),
		// A topic the controller has not created yet is waited for, not
		// failed: its lines stay in the file until it exists.
		kgo.UnknownTopicRetries(-1),
	)

	reg := daemon.NewRegistry()
	ready := &daemon.Readiness{}
	srv, err := daemon.Listen(o.httpAddr, reg, ready)
	if err != nil {
		return err
	}

	// The agent must start and tail from its cache when etcd is down, so
	// the etcd client is created without waiting for an answer.
	cl, err := o.etcdClientNoWait()
	if err != nil {
		return err
	}
	defer cl.Close()
	st := store.New(cl, o.etcd.Prefix)

	producer, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer producer.Close()

	a, err := agent.New(agent.Options{
		Name:              o.name,
		Host:              hostname(),
		Labels:            labels,
		Version:           version,
		Address:           advertised(srv.Addr()),
		DataDir:           dataDir,
		Allow:             allow,
		Store:             st,
		Producer:          producer,
		MaxRecordBytes:    o.maxRecordBytes,
		StatusInterval:    o.statusInterval,
		MemoryLimit:       memoryLimit,
		Logger:            log,
		Registerer:        reg,
		ReconcilerMetrics: reconciler.NewMetrics(reg),
	})
	if err != nil {
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
	log.Info("agent starting", "name", o.name, "labels", labels, "data_dir", dataDir,
		"allow_paths", allow.String(), "http_addr", srv.Addr(), "kafka_brokers", o.kafka.Brokers)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx) })
	g.Go(func() error { return a.Run(gctx) })
	err = g.Wait()
	// Flush what the producer holds, bounded, before exiting: whatever is
	// not acknowledged is read again from the checkpoint next time.
	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = producer.Flush(flushCtx)
	return err
}

// advertised turns a listen address such as "[::]:9465" into one others can
// use in the registration.
func advertised(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (host != "" && host != "::" && host != "0.0.0.0") {
		return addr
	}
	return net.JoinHostPort(hostname(), port)
}
