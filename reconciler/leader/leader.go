// Package leader runs work only while this process is the elected leader of
// a role, through etcd's election recipe (go.etcd.io/etcd/client/v3/concurrency)
// on a store session.
//
// With several processes running the same role, exactly one leads. The
// leader's lease is kept alive by its session; when the leader exits cleanly
// it resigns, and the next candidate leads at once; when it dies, its lease
// expires after the TTL and the next candidate leads then. A leader whose
// session ends (etcd unreachable for longer than the TTL) stops its work
// before anyone else can start, and campaigns again.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/logpipe/logpipe/store"
)

// Options tune Run.
type Options struct {
	// TTL is the lease TTL: how long a dead leader blocks the others.
	// Default 15s.
	TTL time.Duration
	// RetryInterval is the wait before a new session after a failure.
	// Default 1s.
	RetryInterval time.Duration
	// Logger receives leadership changes. Default slog.Default().
	Logger *slog.Logger
	// OnChange is called with true when this process starts leading and
	// with false when it stops; nil is fine.
	OnChange func(leading bool)
}

// Run campaigns for role under identity and calls lead each time this
// process becomes leader, with a context that is cancelled when leadership
// is lost or ctx is done. lead must return once its context is done. Run
// returns nil when ctx is done (after resigning), or lead's error if lead
// fails while still leader.
func Run(ctx context.Context, st *store.Store, role, identity string, opts Options, lead func(context.Context) error) error {
	if opts.TTL <= 0 {
		opts.TTL = 15 * time.Second
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.OnChange == nil {
		opts.OnChange = func(bool) {}
	}
	log := opts.Logger.With("role", role, "identity", identity)
	for {
		err := term(ctx, st, role, identity, opts, log, lead)
		if ctx.Err() != nil {
			return nil
		}
		var leadErr *leadError
		if errors.As(err, &leadErr) {
			return leadErr.err
		}
		if err != nil {
			log.Warn("leader election interrupted; campaigning again", "err", err, "retry_in", opts.RetryInterval)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opts.RetryInterval):
		}
	}
}

type leadError struct{ err error }

func (e *leadError) Error() string { return e.err.Error() }

// term is one session: campaign, lead until the session ends, resign.
func term(ctx context.Context, st *store.Store, role, identity string, opts Options, log *slog.Logger, lead func(context.Context) error) error {
	sess, err := st.NewSession(ctx, opts.TTL)
	if err != nil {
		return err
	}
	defer func() {
		// Close revokes the lease so the next candidate need not wait
		// for the TTL; bounded, since etcd may be the reason we stop.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_, _ = sess.Client().Revoke(closeCtx, sess.Lease())
		sess.Orphan()
	}()

	el := concurrency.NewElection(sess, st.LeaderPrefix(role))
	campaignCtx, stopCampaign := context.WithCancel(ctx)
	defer stopCampaign()
	go func() {
		// Campaign does not watch the session; stop it when the session ends.
		select {
		case <-sess.Done():
			stopCampaign()
		case <-campaignCtx.Done():
		}
	}()
	log.Debug("campaigning for leadership")
	if err := el.Campaign(campaignCtx, identity); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("campaign: %w", err)
	}

	log.Info("became leader")
	opts.OnChange(true)
	defer opts.OnChange(false)

	leadCtx, stopLead := context.WithCancel(ctx)
	defer stopLead()
	go func() {
		select {
		case <-sess.Done():
			log.Warn("lost leadership: session ended")
			stopLead()
		case <-leadCtx.Done():
		}
	}()
	err = lead(leadCtx)
	if ctx.Err() == nil && leadCtx.Err() == nil && err != nil {
		return &leadError{err: err}
	}
	if ctx.Err() != nil {
		resignCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := el.Resign(resignCtx); err == nil {
			log.Info("resigned leadership")
		}
	}
	return nil
}

// Current returns the identity of the current leader of role, or "" when
// there is none.
func Current(ctx context.Context, st *store.Store, role string) (string, error) {
	resp, err := st.Client().Get(ctx, st.LeaderPrefix(role)+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("leader of %s: %w", role, err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
