package ops_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/ops"
)

func TestProbeURL(t *testing.T) {
	tests := []struct {
		addr, want, err string
	}{
		{addr: "127.0.0.1:9100", want: "http://127.0.0.1:9100/healthz"},
		{addr: "0.0.0.0:9100", want: "http://127.0.0.1:9100/healthz"},
		{addr: ":9100", want: "http://127.0.0.1:9100/healthz"},
		{addr: "[::]:9100", want: "http://[::1]:9100/healthz"},
		{addr: "10.0.0.5:9100", want: "http://10.0.0.5:9100/healthz"},
		{addr: "sidecar.internal:9100", want: "http://sidecar.internal:9100/healthz"},
		{addr: "http://10.0.0.5:9100", want: "http://10.0.0.5:9100/healthz"},
		{addr: "http://10.0.0.5:9100/", want: "http://10.0.0.5:9100/healthz"},
		{addr: "http://10.0.0.5:9100/readyz", want: "http://10.0.0.5:9100/readyz"},
		{addr: "https://ops.example:443/healthz", want: "https://ops.example:443/healthz"},
		{addr: "9100", err: `probe address "9100": want host:port or a URL`},
		{addr: "127.0.0.1:", err: "want host:port"},
		{addr: "ftp://10.0.0.5:9100", err: "probe URL: want http://host:port"},
		{addr: "http://user:pw@10.0.0.5:9100", err: "without user info"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := ops.ProbeURL(tt.addr)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.NotContains(t, err.Error(), "pw@", "credentials are not echoed")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestProbe(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = w.Write([]byte("ok\n"))
		case "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("{\n  \"status\": \"not ready\"\x1b[2J\n}"))
		case "/moved":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		case "/stall":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close: no handler is left stalled
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()

	t.Run("200 passes", func(t *testing.T) {
		assert.NoError(t, ops.Probe(ctx, srv.URL+"/healthz"))
	})
	t.Run("503 fails with the status and the body on one line", func(t *testing.T) {
		err := ops.Probe(ctx, srv.URL+"/readyz")
		require.Error(t, err)
		assert.Equal(t, "GET "+srv.URL+`/readyz: 503 Service Unavailable: { "status": "not ready" [2J }`, err.Error())
	})
	t.Run("a redirect is not followed", func(t *testing.T) {
		err := ops.Probe(ctx, srv.URL+"/moved")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "302 Found")
	})
	t.Run("the context bounds a stalled listener", func(t *testing.T) {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err := ops.Probe(short, srv.URL+"/stall")
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("nothing listening fails", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		err := ops.Probe(ctx, closed.URL+"/healthz")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "GET "+closed.URL+"/healthz: ")
		assert.Contains(t, err.Error(), "connection refused")
	})
}
