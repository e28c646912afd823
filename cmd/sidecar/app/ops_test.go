package app

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/ops/metrics"
)

func opsTestConfig(opsListen string) *config.Config {
	c := config.Default()
	c.Listen = "127.0.0.1:0"
	c.Store.Type = config.StoreMemory
	c.Upstreams = []config.Upstream{{Name: "app", URL: "http://127.0.0.1:1", Weight: 1}}
	c.Session.Secrets = []config.Secret{"app-test-cookie-secret-0123456789abcdef"}
	c.Headers.Secret = "app-test-header-secret-0123456789abcdef"
	c.Ops.Listen = opsListen
	return &c
}

// TestOpsWiring: with ops.listen the store is timed and the proxy
// observed; without it nothing is measured and no ops listener opens;
// check builds it all without starting the background check.
func TestOpsWiring(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		m, err := New(opsTestConfig(""), io.Discard)
		require.NoError(t, err)
		require.NoError(t, m.Run(t.Context()))
		t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
		assert.Nil(t, m.Metrics())
		assert.Nil(t, m.observer(), "a nil interface, not a typed nil")
		assert.Empty(t, m.OpsAddr())
		_, timed := m.Store().(*metrics.InstrumentedStore)
		assert.False(t, timed)
	})

	t.Run("on", func(t *testing.T) {
		m, err := New(opsTestConfig("127.0.0.1:0"), io.Discard)
		require.NoError(t, err)
		require.NoError(t, m.Run(t.Context()))
		t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
		require.NotNil(t, m.Metrics())
		_, timed := m.Store().(*metrics.InstrumentedStore)
		assert.True(t, timed)
		assert.NotEmpty(t, m.OpsAddr())
	})

	t.Run("check", func(t *testing.T) {
		m, err := New(opsTestConfig("127.0.0.1:0"), io.Discard)
		require.NoError(t, err)
		require.NoError(t, m.Check(t.Context()))
	})
}
