package server_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/server"
)

// TestPlainHTTPListener: the plain-HTTP side server serves its handler,
// is off by default, is handed over with the others and closed by
// Shutdown.
func TestPlainHTTPListener(t *testing.T) {
	assert.Empty(t, start(t, server.Options{Handler: text("proxy")}).PlainHTTPAddr(), "off by default")

	sock := filepath.Join(t.TempDir(), "handover.sock")
	old := start(t, server.Options{
		Handler: text("old"), HandoverSocket: sock,
		PlainHTTP: server.Side{Listen: "127.0.0.1:0", Handler: text("old-plain")},
	})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, body := get(t, client, "http://"+old.PlainHTTPAddr()+"/")
	require.Equal(t, "old-plain", body)

	next := start(t, server.Options{
		Handler: text("new"), HandoverSocket: sock,
		PlainHTTP: server.Side{Listen: "127.0.0.1:1", Handler: text("new-plain")}, // ignored: inherited
	})
	assert.Equal(t, old.PlainHTTPAddr(), next.PlainHTTPAddr(), "the plain-HTTP socket is inherited")
	select {
	case <-old.HandedOver():
	case <-time.After(waitBound):
		t.Fatal("the old server was not told it was handed over")
	}
	require.NoError(t, old.Shutdown(context.Background()))
	_, body = get(t, client, "http://"+next.PlainHTTPAddr()+"/")
	assert.Equal(t, "new-plain", body)

	addr := next.PlainHTTPAddr()
	require.NoError(t, next.Shutdown(context.Background()))
	conn, err := net.DialTimeout("tcp", addr, waitBound)
	if err == nil {
		_ = conn.Close()
	}
	assert.Error(t, err, "the plain-HTTP listener is closed after Shutdown")
}
