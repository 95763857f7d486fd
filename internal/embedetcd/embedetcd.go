// Package embedetcd starts a single-member etcd server inside the process:
// the store of logpipe dev, of the benchmark harness and of the tests.
package embedetcd

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.uber.org/zap"
)

// walSegmentBytes replaces etcd's 64 MB WAL segment: etcd preallocates a
// segment and the next one, about 130 MB of disk for a desired state of a
// few kilobytes.
const walSegmentBytes = 1 << 20

// readyTimeout bounds the wait for a server that starts in well under a
// second; reaching it means the server is broken.
const readyTimeout = time.Minute

var walOnce sync.Once

// Config says where the server keeps its data and listens.
type Config struct {
	// Name is the member's name, also its cluster token: servers of one
	// process with different names get different cluster and member IDs.
	Name string
	// Dir is the data directory.
	Dir string
	// ClientAddr is the host:port clients connect to; port 0 picks a free
	// one.
	ClientAddr string
	// NoFsync trades durability for speed (tests and benchmarks).
	NoFsync bool
	// CompactionRetention, when set, compacts history older than this
	// periodically: status reports rewrite a few keys every few seconds.
	CompactionRetention time.Duration
}

// Start starts the server and waits until it is ready. Its client URL is
// "http://" + e.Clients[0].Addr().String().
func Start(ctx context.Context, c Config) (*embed.Etcd, error) {
	// A package variable read by every server of the process: written once,
	// before the first starts, and only if it differs, so no race is seen.
	walOnce.Do(func() {
		if wal.SegmentSizeBytes != walSegmentBytes {
			wal.SegmentSizeBytes = walSegmentBytes
		}
	})
	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.Dir
	client := url.URL{Scheme: "http", Host: c.ClientAddr}
	// The peer port is never dialled (there is one member); port 0 keeps it
	// from colliding with anything.
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.InitialClusterToken = c.Name
	cfg.UnsafeNoFsync = c.NoFsync
	if c.CompactionRetention > 0 {
		cfg.AutoCompactionMode = embed.CompactorModePeriodic
		cfg.AutoCompactionRetention = c.CompactionRetention.String()
	}
	cfg.EnableGRPCGateway = false
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd in %s: %w", c.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: %w", c.Dir, err)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	case <-time.After(readyTimeout):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: not ready after %v", c.Dir, readyTimeout)
	}
}
