package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logpipe/logpipe/internal/envflag"
	"github.com/logpipe/logpipe/internal/kafkaclient"
)

func (a *app) newTailCommand() *cobra.Command {
	var (
		kafka         kafkaclient.Options
		fromBeginning bool
		headers       bool
	)
	cmd := &cobra.Command{
		Use:   "tail TOPIC",
		Short: "Print a Kafka topic's records as they arrive",
		Long: `Print the records of a Kafka topic as they arrive, one value per line: the
log line exactly as the agent read it. With --from-beginning it starts at the
oldest record the topic still holds, else at the newest. With --headers each
line starts with the record's headers (the event ID, host, file, offset ...)
as k=v pairs separated by commas, then a tab. It reads outside any consumer
group and commits nothing, so it never disturbs the transfer. Ctrl-C stops it.`,
		Example: `  logpipectl tail web_log --from-beginning
  logpipectl tail web_log --headers --kafka-brokers 127.0.0.1:9092`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.tail(cmd.Context(), kafka, args[0], fromBeginning, headers)
		},
	}
	kfs := pflag.NewFlagSet("kafka", pflag.ContinueOnError)
	kafka.AddFlags(kfs)
	envflag.BindAll(kfs)
	fs := cmd.Flags()
	fs.AddFlagSet(kfs)
	fs.BoolVar(&fromBeginning, "from-beginning", false, "start at the oldest record instead of the newest")
	fs.BoolVar(&headers, "headers", false, "print each record's headers before its value")
	return cmd
}

func (a *app) tail(ctx context.Context, kafka kafkaclient.Options, topic string, fromBeginning, headers bool) error {
	if a.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, not %v", a.timeout)
	}
	kopts, err := kafka.ClientOpts()
	if err != nil {
		return err
	}
	start := kgo.NewOffset().AtEnd()
	if fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(kopts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(start))...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer cl.Close()

	// A topic that does not exist would be waited for in silence.
	where := strings.Join(kafka.Brokers, ",")
	mctx, cancel := context.WithTimeout(ctx, a.timeout)
	topics, err := kadm.NewClient(cl).ListTopics(mctx, topic)
	cancel()
	if err != nil {
		return fmt.Errorf("kafka at %s: %w (is logpipe dev running? or give --kafka-brokers)", where, err)
	}
	if d, ok := topics[topic]; !ok || d.Err != nil {
		reason := "not found"
		if ok {
			reason = d.Err.Error()
		}
		return fmt.Errorf("topic %q at %s: %s (logpipectl get topics lists the Topics)", topic, where, reason)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := bufio.NewWriter(a.stdout)
	var lastErr string
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return w.Flush()
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || err.Error() == lastErr {
				return
			}
			lastErr = err.Error()
			fmt.Fprintf(a.stderr, "warning: fetch %s/%d: %v\n", t, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if headers {
				for i, h := range r.Headers {
					if i > 0 {
						w.WriteByte(',')
					}
					w.WriteString(h.Key)
					w.WriteByte('=')
					w.Write(h.Value)
				}
				w.WriteByte('\t')
			}
			w.Write(r.Value)
			w.WriteByte('\n')
		})
		// A reader that went away (| head) ends the command.
		if err := w.Flush(); err != nil {
			return err
		}
	}
}
