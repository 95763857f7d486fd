package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte("ok\n"))
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: etcd: context deadline exceeded\n"))
		case "/slow":
			time.Sleep(500 * time.Millisecond)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	tests := []struct {
		args       []string
		code       int
		wantStderr string
	}{
		{[]string{srv.URL + "/healthz"}, 0, ""},
		{[]string{srv.URL + "/readyz"}, 1, srv.URL + "/readyz: 503 Service Unavailable: not ready: etcd: context deadline exceeded\n"},
		{[]string{srv.URL + "/healthz", srv.URL + "/nope"}, 1, srv.URL + "/nope: 404 Not Found: 404 page not found\n"},
		{[]string{"--timeout", "50ms", srv.URL + "/slow"}, 1, "context deadline exceeded"},
		{[]string{closed}, 1, "connection refused"},
		{nil, 2, "usage: healthcheck"},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		var stderr strings.Builder
		code := run(tt.args, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.wantStderr) || (tt.wantStderr == "") != (stderr.Len() == 0) {
			t.Errorf("healthcheck %s: exit %d, stderr %q; want exit %d, stderr containing %q",
				strings.Join(tt.args, " "), code, stderr.String(), tt.code, tt.wantStderr)
		}
	}
}
