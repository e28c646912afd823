package app

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// TestAccessorsAfterFailedRun pins the nil dereference the refactor
// introduced: after a Run that failed in the build, Addr, HandedOver and
// Wait panicked, where the old Main answered.
func TestAccessorsAfterFailedRun(t *testing.T) {
	c := config.Default()
	c.Store.Type = config.StoreMemory
	c.TLS.CertFile = filepath.Join(t.TempDir(), "missing.crt")
	c.TLS.KeyFile = filepath.Join(t.TempDir(), "missing.key")
	m, err := New(&c, io.Discard)
	require.NoError(t, err)
	require.Error(t, m.Run(t.Context()), "a missing certificate fails Run")

	assert.Empty(t, m.Addr())
	assert.Empty(t, m.AdminAddr())
	assert.Empty(t, m.LockServiceAddr())
	assert.Nil(t, m.HandedOver())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	m.Wait(ctx, nil, nil) // returns with ctx
	assert.NoError(t, m.Shutdown(context.Background()))
}
