// Package etcdtest runs a real etcd server in-process for tests.
//
// Start gives each test its own single-member cluster on ephemeral
// 127.0.0.1 ports, with its data in t.TempDir(), so tests can run in
// parallel without sharing state:
//
//	srv := etcdtest.Start(t)
//	cl := srv.Client(t)
//
// The server is tuned for tests, not for durability: fsync is off, WAL
// segments are small (so a data directory stays at a few megabytes) and its
// logs are discarded.
package etcdtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logpipe/logpipe/internal/embedetcd"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startTimeout bounds how long Start waits for the server to be ready; it
// starts in well under a second, so hitting this means it is broken.
const startTimeout = 30 * time.Second

// clusters numbers the servers of this process, so each has its own
// cluster token and so its own cluster and member IDs.
var clusters atomic.Int64

// Server is a running embedded etcd. Create it with Start.
type Server struct {
	etcd     *embed.Etcd
	endpoint string

	mu      sync.Mutex
	clients []*clientv3.Client
	stopped bool
	stop    sync.Once
}

// Start runs an etcd server in-process, listening on 127.0.0.1 with
// ephemeral client and peer ports, with its data in t.TempDir(). It stops
// the server in t.Cleanup (after closing the clients made by Client). It
// fails the test if the server does not become ready.
func Start(t testing.TB) *Server {
	t.Helper()
	// Port 0 lets the kernel choose free ports, so parallel servers never
	// collide.
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	e, err := embedetcd.Start(ctx, embedetcd.Config{
		Name:       fmt.Sprintf("etcdtest-%d", clusters.Add(1)),
		Dir:        t.TempDir(),
		ClientAddr: "127.0.0.1:0",
		NoFsync:    true,
	})
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	s := &Server{etcd: e, endpoint: "http://" + e.Clients[0].Addr().String()}
	t.Cleanup(s.Stop)
	return s
}

// Endpoint returns the client URL, "http://127.0.0.1:PORT".
func (s *Server) Endpoint() string { return s.endpoint }

// Dir returns the server's data directory (inside the test's TempDir).
func (s *Server) Dir() string { return s.etcd.Config().Dir }

// Client returns a new client of the server. It is closed in t.Cleanup, or
// by Stop if that comes first: etcd's shutdown waits seconds for clients
// that are still connected.
func (s *Server) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcdtest: new client: %v", err)
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		cl.Close()
		t.Fatalf("etcdtest: Client called after Stop")
	}
	s.clients = append(s.clients, cl)
	s.mu.Unlock()
	t.Cleanup(func() { cl.Close() })
	return cl
}

// Revision returns the server's current revision.
func (s *Server) Revision(t testing.TB) int64 {
	t.Helper()
	return s.etcd.Server.KV().Rev()
}

// Compact compacts the key-value history before rev, physically, so that
// watches and reads at older revisions fail with ErrCompacted.
func (s *Server) Compact(t testing.TB, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.etcd.Server.Compact(ctx, &pb.CompactionRequest{Revision: rev, Physical: true}); err != nil {
		t.Fatalf("etcdtest: compact at %d: %v", rev, err)
	}
}

// Stop closes the clients made by Client and then stops the server. It may
// be called more than once and from several goroutines; later calls do
// nothing (embed.Etcd.Close must not be called twice).
func (s *Server) Stop() {
	s.stop.Do(func() {
		s.mu.Lock()
		s.stopped = true
		clients := s.clients
		s.clients = nil
		s.mu.Unlock()
		for _, cl := range clients {
			cl.Close()
		}
		s.etcd.Close()
	})
}
