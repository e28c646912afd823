package proxy

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Probe runs the configured check on demand and reports it without
// changing the upstream's verdicts.
func TestProbe(t *testing.T) {
	app := newCountingApp(t)
	p := newTestPool(t, PoolOptions{
		Upstreams: []Upstream{app.upstream(t, "app")},
		// An hour between active checks: only the first one, at start, runs.
		Health: HealthCheck{Path: "/healthz", Interval: time.Hour, Timeout: 10 * time.Second},
	})
	ctx := context.Background()

	app.setHealth(http.StatusServiceUnavailable)
	for range 3 { // more than UnhealthyThreshold: still no verdict
		r, err := p.Probe(ctx, "app")
		require.NoError(t, err)
		assert.Equal(t, ProbeResult{Name: "app", Check: "GET /healthz", Error: "GET /healthz: status 503", State: p.States()[0]}, r)
	}
	assert.Equal(t, "up", p.States()[0].State, "a probe changes no verdict")

	app.setHealth(http.StatusOK)
	r, err := p.Probe(ctx, "app")
	require.NoError(t, err)
	assert.True(t, r.OK)
	assert.Empty(t, r.Error)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	r, err = p.Probe(cancelled, "app")
	require.NoError(t, err)
	assert.False(t, r.OK, "a probe whose context ended fails")
	assert.Contains(t, r.Error, "context canceled")

	_, err = p.Probe(ctx, "nope")
	assert.ErrorIs(t, err, ErrUnknownUpstream)
	assert.EqualError(t, err, `proxy: unknown upstream: "nope"`)
}
