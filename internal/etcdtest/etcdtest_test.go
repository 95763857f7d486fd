package etcdtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/logpipe/logpipe/internal/etcdtest"
)

func TestStartPutGet(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	if !strings.HasPrefix(srv.Endpoint(), "http://127.0.0.1:") || strings.HasSuffix(srv.Endpoint(), ":0") {
		t.Fatalf("Endpoint() = %q, want http://127.0.0.1:<ephemeral port>", srv.Endpoint())
	}
	cl := srv.Client(t)
	ctx := t.Context()
	before := srv.Revision(t)
	put, err := cl.Put(ctx, "/k", "v")
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Revision(t); got != before+1 || got != put.Header.Revision {
		t.Fatalf("Revision() after one put = %d, want %d (= put header %d)", got, before+1, put.Header.Revision)
	}
	resp, err := cl.Get(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("Get(/k) = %v, want one kv with value v", resp.Kvs)
	}
}

func TestParallelServersAreIndependent(t *testing.T) {
	t.Parallel()
	a, b := etcdtest.Start(t), etcdtest.Start(t)
	if a.Endpoint() == b.Endpoint() {
		t.Fatalf("two servers share endpoint %s", a.Endpoint())
	}
	ctx := t.Context()
	if _, err := a.Client(t).Put(ctx, "/only-in-a", "1"); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Client(t).Get(ctx, "/only-in-a")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 0 {
		t.Fatalf("server b sees a's key: %v", resp.Kvs)
	}
}

func TestCompact(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cl := srv.Client(t)
	ctx := t.Context()
	first, err := cl.Put(ctx, "/k", "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(ctx, "/k", "2"); err != nil {
		t.Fatal(err)
	}
	srv.Compact(t, srv.Revision(t))
	_, err = cl.Get(ctx, "/k", clientv3.WithRev(first.Header.Revision))
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("Get at compacted revision: err = %v, want %v", err, rpctypes.ErrCompacted)
	}
}

func TestStopIsIdempotentAndFast(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cl := srv.Client(t)
	if _, err := cl.Put(t.Context(), "/k", "v"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	srv.Stop()
	srv.Stop()
	// A client left open makes etcd's shutdown wait for seconds; Stop closes
	// the clients it handed out first.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stop took %v, want well under 5s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := cl.Get(ctx, "/k"); err == nil {
		t.Fatal("Get on a client closed by Stop succeeded")
	}
}

func TestDataDirStaysSmall(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cl := srv.Client(t)
	if _, err := cl.Put(t.Context(), "/k", "v"); err != nil {
		t.Fatal(err)
	}
	dir := srv.Dir()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 16<<20 {
		t.Fatalf("data dir %s holds %d bytes, want at most 16 MiB", dir, total)
	}
}
