package integration

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
	"github.com/sidecarproxy/sidecar/tlsedge/certstore"
)

// The Redis names docs/tls-storage.md promises with the default
// store.redis.prefix ("sidecar:") and locks.prefix ("sidecar:lock:").
const (
	// fleetCertIndex is the sorted set of every stored certmagic key.
	fleetCertIndex = "{sidecar:certs:}index"
	// fleetCertItem starts the hash of one stored certmagic key.
	fleetCertItem = "{sidecar:certs:}f:"
	// fleetIssueLock is the lock certmagic takes to order acmeDomain's
	// certificate ("issue_cert_"+name), as the lock package's hash.
	fleetIssueLock = "sidecar:lock:certs:issue_cert_" + acmeDomain
	// fleetReleased is the lock package's release channel; each instance's
	// certificate Locker subscribes to it when it first waits for a lock.
	fleetReleased = "sidecar:lock:released"
	// fleetEmail is the ACME account's contact.
	fleetEmail = "ops@app.test"
)

// fleetRedis is the Redis a fleet of Sidecars shares: the addresses for
// store.redis.addrs, a client for the test, and its servers (one, or a
// cluster's nodes).
type fleetRedis struct {
	addrs  []string
	client goredis.UniversalClient
	nodes  []*redistest.Server
}

// TestACMEFleetOrdersOnce: two Sidecars with tls.acme.storage_type redis
// on one Redis (standalone, and Redis Cluster) and the same domain order
// one certificate between them and serve it both. The test holds
// certmagic's issue lock while both start, until both wait for it (each
// instance's certificate Locker has subscribed to the release channel),
// so that neither can have found the certificate in storage at start,
// whatever the timing: when the test releases the lock, one instance
// orders while the other waits again, and that one, once woken, finds the
// certificate in Redis and loads it instead of ordering. Redis holds the
// certificate and the ACME account under the documented keys, and
// neither instance writes to its tls.acme.storage directory.
func TestACMEFleetOrdersOnce(t *testing.T) {
	deployments := []struct {
		name  string
		start func(t *testing.T) fleetRedis
	}{
		{"Standalone", func(t *testing.T) fleetRedis {
			rs := redistest.Start(t)
			return fleetRedis{[]string{rs.Addr()}, rs.Client(t), []*redistest.Server{rs}}
		}},
		{"Cluster", func(t *testing.T) fleetRedis {
			cl := redistest.StartCluster(t, 3)
			return fleetRedis{cl.Addrs(), cl.Client(t), cl.Nodes()}
		}},
	}
	for _, d := range deployments {
		t.Run(d.name, func(t *testing.T) { acmeFleet(t, d.start(t)) })
	}
}

// acmeFleet runs TestACMEFleetOrdersOnce on rd.
func acmeFleet(t *testing.T, rd fleetRedis) {
	ctx := context.Background()
	p := startPebble(t, pebbleOptions{})
	app := newApp(t, "app")

	// Take the issue lock first, as an instance ordering would: the
	// Redis hash fleetIssueLock.
	locker := lock.NewRedis(rd.client, lock.Options{Prefix: config.Default().Locks.Prefix})
	t.Cleanup(func() { _ = locker.Close() })
	lease, err := locker.Acquire(ctx, certstore.LockKeyPrefix+"issue_cert_"+acmeDomain, time.Minute, 0)
	require.NoError(t, err)

	var addrs, dirs []string
	for range 2 {
		c := acmeConfig(t, app.URL, p, freeAddr(t), freeAddr(t))
		require.Equal(t, "sidecar:", c.Store.Redis.Prefix, "the documented keys assume the default prefix")
		c.Store.Type = config.StoreRedis
		c.Store.Redis.Addrs = rd.addrs
		c.TLS.ACME.StorageType = config.ACMEStorageRedis
		c.TLS.ACME.Email = fleetEmail
		m, _ := startSidecar(t, c)
		addrs = append(addrs, m.Addr())
		dirs = append(dirs, c.TLS.ACME.Storage) // a temp dir, unused with redis
	}

	nodes := make([]goredis.UniversalClient, len(rd.nodes))
	for i, n := range rd.nodes {
		nodes[i] = n.Client(t)
	}
	waitUntil(t, "both instances waiting for the issue lock", func() (bool, string) {
		n, err := releaseSubscribers(ctx, nodes)
		return err == nil && n == 2, fmt.Sprintf("%d subscribers of %s, err %v", n, fleetReleased, err)
	})
	require.Zero(t, p.Orders(), "nobody ordered while the test held the lock")
	require.NoError(t, lease.Release(ctx))

	start := time.Now()
	for _, addr := range addrs {
		waitIssued(t, addr, p)
	}
	t.Logf("both instances serve a certificate %v after the lock's release", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, int64(1), p.Orders(), "one certificate order reached pebble")

	roots := p.RootPool(t)
	leafA, err := servedCert(addrs[0], acmeDomain, roots)
	require.NoError(t, err)
	leafB, err := servedCert(addrs[1], acmeDomain, roots)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(leafA.Raw, leafB.Raw), "both instances serve the same certificate; serials %x and %x",
		leafA.SerialNumber, leafB.SerialNumber)

	// Both serve, so both obtain jobs have ended; with the issue lock free
	// as well, nobody is ordering any more and the count is final.
	waitUntil(t, "the issue lock free", func() (bool, string) {
		err := rd.client.HGet(ctx, fleetIssueLock, "tok").Err() // the holder's token, never printed
		return errors.Is(err, goredis.Nil), fmt.Sprintf("held: %t, err %v", err == nil, err)
	})
	assert.Equal(t, int64(1), p.Orders(), "still one order once both serve")

	requireStoredInRedis(t, rd.client, p.DirectoryURL, leafA.Raw)
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if !os.IsNotExist(err) {
			require.NoError(t, err)
		}
		assert.Empty(t, entries, "nothing written to tls.acme.storage %s", dir)
	}
}

// requireStoredInRedis requires the certificate leaf, its key and
// metadata, and the ACME account of fleetEmail at the CA dirURL in Redis,
// under the keys docs/tls-storage.md names.
func requireStoredInRedis(t *testing.T, rdb goredis.UniversalClient, dirURL string, leaf []byte) {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.ZRange(ctx, fleetCertIndex, 0, -1).Result()
	require.NoError(t, err)
	t.Logf("stored: %q", keys)

	issuer := (&certmagic.ACMEIssuer{CA: dirURL}).IssuerKey()
	certKey := certmagic.StorageKeys.SiteCert(issuer, acmeDomain)
	for _, k := range []string{certKey, certmagic.StorageKeys.SitePrivateKey(issuer, acmeDomain), certmagic.StorageKeys.SiteMeta(issuer, acmeDomain)} {
		assert.Contains(t, keys, k)
	}
	chain, err := rdb.HGet(ctx, fleetCertItem+certKey, "v").Bytes()
	require.NoError(t, err, "the certificate's hash")
	block, _ := pem.Decode(chain)
	require.NotNil(t, block, "the stored certificate is PEM")
	assert.True(t, bytes.Equal(leaf, block.Bytes), "the stored certificate is the one served")

	users := "acme/" + certmagic.StorageKeys.Safe(issuer) + "/users/" + fleetEmail + "/"
	var account []string
	for _, k := range keys {
		if strings.HasPrefix(k, users) {
			account = append(account, k)
			n, err := rdb.Exists(ctx, fleetCertItem+k).Result()
			require.NoError(t, err)
			assert.Equal(t, int64(1), n, "the hash of %s", k)
		}
	}
	assert.Len(t, account, 2, "the account's key and registration under %s", users)
}

// releaseSubscribers counts the subscribers of the lock package's release
// channel over nodes, a client per Redis server (PUBSUB NUMSUB answers
// for its own node only).
func releaseSubscribers(ctx context.Context, nodes []goredis.UniversalClient) (int64, error) {
	var n int64
	for _, c := range nodes {
		subs, err := c.PubSubNumSub(ctx, fleetReleased).Result()
		if err != nil {
			return n, err
		}
		n += subs[fleetReleased]
	}
	return n, nil
}

// TestACMERedisDownAtStart: a Sidecar on Redis certificate storage that
// starts while Redis is down gets its certificate once Redis is back.
// (certmagic's obtain job, which waits on the storage's lock, retries
// with backoff; this pins that a storage failure at start does not leave
// the instance without certificates until a restart. Paused with SIGSTOP
// instead of stopped, it passes too.)
func TestACMERedisDownAtStart(t *testing.T) {
	rs := redistest.Start(t)
	rs.Stop()
	p := startPebble(t, pebbleOptions{})
	c := acmeConfig(t, newApp(t, "app").URL, p, freeAddr(t), freeAddr(t))
	c.Store.Type = config.StoreRedis
	c.Store.Redis.Addrs = []string{rs.Addr()}
	c.TLS.ACME.StorageType = config.ACMEStorageRedis
	m, _ := startSidecar(t, c)

	_, err := servedCert(m.Addr(), acmeDomain, p.RootPool(t))
	require.Error(t, err, "no certificate while the storage is down")
	require.Zero(t, p.Orders(), "nothing ordered while the storage is down")

	rs.Start()
	waitIssued(t, m.Addr(), p)
	assert.Equal(t, int64(1), p.Orders())
}
