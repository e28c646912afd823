//go:build unix

package redistest

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/tlstest"
)

// tlsOptions is a server certificate for 127.0.0.1 from a fresh CA, and
// the helpers' client configuration, with a client certificate when
// authClients.
func tlsOptions(t *testing.T, authClients bool) (TLS, *tlstest.CA) {
	ca := tlstest.NewCA(t, "redis CA")
	server := ca.Server(t, "127.0.0.1")
	var client tlstest.Pair
	if authClients {
		client = ca.Client(t, "helper")
	}
	return TLS{CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.CertFile,
		AuthClients: authClients, Client: ca.ClientConfig(t, client)}, ca
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	o, ca := tlsOptions(t, true)
	s := StartTLS(t, o)
	ctx := t.Context()
	require.NoError(t, s.Client(t).Set(ctx, "k", "v", 0).Err())

	try := func(opts *redis.Options) error {
		opts.Addr, opts.ContextTimeoutEnabled, opts.DialerRetries = s.Addr(), true, 1
		c := redis.NewClient(opts)
		defer c.Close()
		return c.Ping(ctx).Err()
	}
	assert.NoError(t, try(&redis.Options{TLSConfig: ca.ClientConfig(t, ca.Client(t, "another"))}))
	assert.ErrorContains(t, try(&redis.Options{TLSConfig: ca.ClientConfig(t, tlstest.Pair{})}), "certificate required",
		"the server requires a client certificate")
	assert.Error(t, try(&redis.Options{}), "no plain-text port")

	s.Restart()
	assert.NoError(t, s.Client(t).Ping(ctx).Err(), "a restart keeps TLS")
}

func TestClusterTLS(t *testing.T) {
	t.Parallel()
	o, _ := tlsOptions(t, false)
	cl := StartClusterTLS(t, 3, o)
	requireSpread(t, cl)
	slots, err := cl.Client(t).ClusterSlots(t.Context()).Result()
	require.NoError(t, err)
	for _, sl := range slots {
		assert.Contains(t, cl.Addrs(), sl.Nodes[0].Addr, "the cluster reports the TLS ports")
	}
}

func TestSentinelTLS(t *testing.T) {
	t.Parallel()
	o, _ := tlsOptions(t, true)
	s := StartSentinelTLS(t, o)
	ctx := t.Context()
	require.NoError(t, s.Client(t).Set(ctx, "k", "v", 0).Err())
	v, err := s.Master().Client(t).Get(ctx, "k").Result()
	require.NoError(t, err)
	assert.Equal(t, "v", v)
}
