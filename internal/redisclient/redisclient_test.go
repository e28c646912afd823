package redisclient

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/tlstest"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// ping sends one PING through a client for o, bounded by a second.
func ping(t *testing.T, o Options) error {
	t.Helper()
	c := New(o)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

func TestNewPicksTheDeployment(t *testing.T) {
	for name, tt := range map[string]struct {
		o    Options
		want goredis.UniversalClient
	}{
		"one address is a standalone Redis": {Options{Addrs: []string{"127.0.0.1:1"}}, &goredis.Client{}},
		"several are a Cluster":             {Options{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}}, &goredis.ClusterClient{}},
	} {
		t.Run(name, func(t *testing.T) {
			c := New(tt.o)
			t.Cleanup(func() { _ = c.Close() })
			assert.IsType(t, tt.want, c)
		})
	}
}

// TestDiagnose runs each failure of a first command against a real
// redis-server: a wrong TLS set-up is a fault, a TLS mismatch of the
// addresses gets its hint, and a Redis that is down neither.
func TestDiagnose(t *testing.T) {
	ca := tlstest.NewCA(t, "redis CA")
	server, client := ca.Server(t, "127.0.0.1"), ca.Client(t, "sidecar")
	good := ca.ClientConfig(t, client)
	tlsRedis := redistest.StartTLS(t, redistest.TLS{
		CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.CertFile, AuthClients: true, Client: good,
	})
	plainRedis := redistest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := ln.Addr().String()
	require.NoError(t, ln.Close()) // nobody listens: refused

	require.NoError(t, ping(t, Options{Addrs: []string{tlsRedis.Addr()}, TLS: good}), "over TLS with a client certificate")
	tests := []struct {
		name  string
		o     Options
		fault bool
		hint  string
	}{
		{"no client certificate", Options{Addrs: []string{tlsRedis.Addr()}, TLS: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}, true, ""},
		{"untrusted server", Options{Addrs: []string{tlsRedis.Addr()}, TLS: tlstest.NewCA(t, "another CA").ClientConfig(t, client)}, true, ""},
		{"plain text to a TLS Redis", Options{Addrs: []string{tlsRedis.Addr()}}, false, "if this Redis requires TLS, write its addresses as rediss://host:port"},
		{"TLS to a plain Redis", Options{Addrs: []string{plainRedis.Addr()}, TLS: good}, false, "if this Redis does not speak TLS, write its addresses as host:port"},
		{"Redis down", Options{Addrs: []string{down}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ping(t, tt.o)
			require.Error(t, err)
			fault, hint := Diagnose(err, tt.o.TLS != nil)
			assert.Equal(t, tt.fault, fault, "fault for %v", err)
			assert.Equal(t, tt.hint, hint, "hint for %v", err)
		})
	}
}
