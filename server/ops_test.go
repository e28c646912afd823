package server_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/server"
)

// TestOpsSide: the operations listener is a side server like the others:
// off by default, served on its own address, and handed over to a new
// process.
func TestOpsSide(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		s := start(t, server.Options{Handler: text("proxy")})
		assert.Empty(t, s.OpsAddr())
	})

	t.Run("a missing handler is refused naming the key", func(t *testing.T) {
		s := server.New(server.Options{Listen: "127.0.0.1:0", Handler: text("proxy"),
			Ops: server.Side{Listen: "127.0.0.1:0"}})
		err := s.Run(t.Context())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ops.listen")
	})

	t.Run("served, then handed over", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "handover.sock")
		old := start(t, server.Options{Handler: text("old"), HandoverSocket: sock,
			Ops: server.Side{Listen: "127.0.0.1:0", Handler: text("old-ops")}})
		require.NotEmpty(t, old.OpsAddr())
		_, body := get(t, http.DefaultClient, "http://"+old.OpsAddr()+"/")
		require.Equal(t, "old-ops", body)

		next := start(t, server.Options{Handler: text("new"), HandoverSocket: sock,
			Ops: server.Side{Listen: "127.0.0.1:1", Handler: text("new-ops")}}) // ignored: inherited
		assert.Equal(t, old.OpsAddr(), next.OpsAddr(), "the ops socket is inherited")
		// The old server stopped accepting when the new one took over.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		_, body = get(t, client, "http://"+next.OpsAddr()+"/")
		assert.Equal(t, "new-ops", body)
	})
}
