package app

import (
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
	"github.com/sidecarproxy/sidecar/tlsedge/certstore"
)

func TestCertStorageFileIsNil(t *testing.T) {
	c := config.Default()
	c.TLS.ACME.Domains = []string{"app.example.com"}
	m, err := New(&c, io.Discard)
	require.NoError(t, err)
	s, err := m.certStorage(nil)
	require.NoError(t, err)
	assert.Nil(t, s, "file storage: certmagic's FileStorage, set up by the ACME builder")
}

// TestCertStorageRedis builds the Redis storage the way serve does, on
// the store's client, and checks that its keys follow store.redis.prefix
// and that Shutdown releases the locks it holds.
func TestCertStorageRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := config.Default()
	c.Store.Type = config.StoreRedis
	c.Store.Redis.Addrs = []string{srv.Addr()}
	c.Store.Redis.Prefix = "fleet1:"
	c.TLS.ACME.Domains = []string{"app.example.com"}
	c.TLS.ACME.StorageType = config.ACMEStorageRedis
	m, err := New(&c, io.Discard)
	require.NoError(t, err)
	_, client, err := m.openStore(t.Context(), c.Store, false)
	require.NoError(t, err)

	s, err := m.certStorage(client)
	require.NoError(t, err)
	require.IsType(t, &certstore.Storage{}, s)
	require.NoError(t, s.Store(t.Context(), "certificates/ca/app.example.com/app.example.com.crt", []byte("PEM")))
	n, err := srv.Client(t).Exists(t.Context(), "{fleet1:certs:}f:certificates/ca/app.example.com/app.example.com.crt").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "keys under store.redis.prefix+certs:")

	require.NoError(t, s.Lock(t.Context(), "issue_cert_app.example.com"))
	n, err = srv.Client(t).Exists(t.Context(), c.Locks.Prefix+certstore.LockKeyPrefix+"issue_cert_app.example.com").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "the lock under locks.prefix")
	require.NoError(t, m.Shutdown(context.Background()))

	other, err := certstore.New(srv.Client(t), lockerOn(t, srv, c.Locks.Prefix), certstore.Options{Prefix: "fleet1:certs:"})
	require.NoError(t, err)
	ok, err := other.TryLock(t.Context(), "issue_cert_app.example.com")
	require.NoError(t, err)
	assert.True(t, ok, "Shutdown released the lock")
	require.NoError(t, other.Close())
}

// lockerOn returns a Locker on srv with prefix, closed by t.Cleanup.
func lockerOn(t *testing.T, srv *redistest.Server, prefix string) *lock.Locker {
	l := lock.NewRedis(srv.Client(t), lock.Options{Prefix: prefix})
	t.Cleanup(func() { _ = l.Close() })
	return l
}
