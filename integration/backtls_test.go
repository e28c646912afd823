package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/app"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/internal/tlstest"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// TLS towards the back ends (issue 10 item 8): sessions in a Redis that
// speaks only TLS and requires a client certificate, as managed Redis
// does; a Redis Cluster and Redlock masters over TLS; an https:// upstream
// that requires a client certificate and a server name.

// redisPKI is a CA, the certificate for redis.internal (not for
// 127.0.0.1, so the server name must be configured) that its TLS-only
// servers present, and a client certificate they require and accept.
type redisPKI struct {
	ca     *tlstest.CA
	client tlstest.Pair
	server redistest.TLS
}

func newRedisPKI(t *testing.T) *redisPKI {
	t.Helper()
	ca := tlstest.NewCA(t, "redis CA")
	server := ca.Server(t, "redis.internal")
	client := ca.Client(t, "sidecar")
	helper := ca.ClientConfig(t, client)
	helper.ServerName = "redis.internal"
	return &redisPKI{ca: ca, client: client, server: redistest.TLS{
		CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.CertFile,
		AuthClients: true, Client: helper,
	}}
}

// config is the store.redis.tls (or locks.redlock_tls) that connects to
// p's servers.
func (p *redisPKI) config() config.BackendTLSConfig {
	return config.BackendTLSConfig{
		CAFile: p.ca.CertFile, CertFile: p.client.CertFile, KeyFile: p.client.KeyFile,
		ServerName: "redis.internal", MinVersion: config.TLS12,
	}
}

// mtlsRedis is a redis-server of its own redisPKI.
type mtlsRedis struct {
	*redistest.Server
	*redisPKI
}

func startMTLSRedis(t *testing.T) *mtlsRedis {
	t.Helper()
	pki := newRedisPKI(t)
	return &mtlsRedis{Server: redistest.StartTLS(t, pki.server), redisPKI: pki}
}

// onRedis puts c's sessions in the Redis at addrs with tlsConf.
func onRedis(c *config.Config, tlsConf config.BackendTLSConfig, addrs ...string) {
	c.Store.Type = config.StoreRedis
	c.Store.Redis.Addrs = addrs
	c.Store.Redis.TLS = tlsConf
}

// A session written through one Sidecar is read through another, both on
// a TLS-only Redis that requires their client certificate.
func TestSessionsInRedisOverTLS(t *testing.T) {
	rs := startMTLSRedis(t)
	var bases []string
	for _, name := range []string{"app-a", "app-b"} {
		c := baseConfig(newApp(t, name).URL)
		onRedis(c, rs.config(), "rediss://"+rs.Addr())
		_, base := startSidecar(t, c)
		bases = append(bases, base)
	}
	cl := &client{t: t}
	requireOK(t, cl.do(bases[0], "/login?user=ann", nil), "login through A")
	r := cl.do(bases[1], "/whoami", nil)
	requireOK(t, r, "whoami through B")
	assert.Equal(t, "ann", r.View.Subject)
	assert.Equal(t, map[string]any{"user": "ann"}, r.View.Data)

	keys, err := rs.Client(t).Keys(t.Context(), "sidecar:*").Result()
	require.NoError(t, err)
	assert.NotEmpty(t, keys, "the session is in the TLS Redis")
}

// Sentinel and master speak only TLS and require client certificates:
// one store.redis.tls reaches both (go-redis uses one configuration for
// the Sentinels and the master).
func TestSessionsInRedisSentinelOverTLS(t *testing.T) {
	pki := newRedisPKI(t)
	se := redistest.StartSentinelTLS(t, pki.server)
	c := baseConfig(newApp(t, "app").URL)
	onRedis(c, pki.config(), "rediss://"+se.SentinelAddrs()[0])
	c.Store.Redis.MasterName = se.MasterName()
	_, base := startSidecar(t, c)

	cl := &client{t: t}
	requireOK(t, cl.do(base, "/login?user=ann", nil), "login")
	r := cl.do(base, "/whoami", nil)
	requireOK(t, r, "whoami")
	assert.Equal(t, "ann", r.View.Subject)
	keys, err := se.Master().Client(t).Keys(t.Context(), "sidecar:*").Result()
	require.NoError(t, err)
	assert.NotEmpty(t, keys, "the session is in the master")
}

// runWithin runs m.Run and returns its error, failing the test if it has
// not returned within requestTimeout: a TLS fault must end the start, not
// hang it.
func runWithin(t *testing.T, m *app.Main) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
		}
		return err
	case <-time.After(requestTimeout):
		t.Fatalf("Run did not return within %v", requestTimeout)
		return nil
	}
}

// A Redis the TLS set-up cannot work with stops the start with an error
// naming store.redis.tls (waiting would not cure it), where a Redis that
// does not answer does not.
func TestRedisTLSFaultsStopTheStart(t *testing.T) {
	rs := startMTLSRedis(t)
	plain := redistest.Start(t)
	other := tlstest.NewCA(t, "another CA")
	tests := []struct {
		name   string
		mutate func(c *config.Config)
		want   []string // in the error; none: the start goes on
		log    string   // in the log when the start goes on
	}{
		{"no client certificate", func(c *config.Config) {
			b := rs.config()
			b.CertFile, b.KeyFile = "", ""
			onRedis(c, b, "rediss://"+rs.Addr())
		}, []string{"store.redis.tls: the TLS handshake with Redis failed", "certificate required"}, ""},
		{"another CA", func(c *config.Config) {
			b := rs.config()
			b.CAFile = other.CertFile
			onRedis(c, b, "rediss://"+rs.Addr())
		}, []string{"store.redis.tls: the TLS handshake with Redis failed", "certificate signed by unknown authority"}, ""},
		{"no server name", func(c *config.Config) {
			b := rs.config()
			b.ServerName = ""
			onRedis(c, b, "rediss://"+rs.Addr())
		}, []string{"store.redis.tls:", "x509: cannot validate certificate for 127.0.0.1"}, ""},
		// A plain Redis waits for the end of a command line that a TLS
		// ClientHello never sends: it looks like a Redis that hangs.
		{"TLS to a plain Redis", func(c *config.Config) {
			onRedis(c, rs.config(), "rediss://"+plain.Addr())
		}, nil, "if this Redis does not speak TLS, write its addresses as host:port"},
		{"plain text to a TLS Redis", func(c *config.Config) {
			onRedis(c, config.Default().Store.Redis.TLS, rs.Addr())
		}, nil, "if this Redis requires TLS, write its addresses as rediss://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig("http://127.0.0.1:1")
			tt.mutate(c)
			var logs logtest.Buffer
			m, err := app.New(c, &logs)
			require.NoError(t, err)
			err = runWithin(t, m)
			if tt.want == nil {
				require.NoError(t, err)
				assert.Contains(t, logs.String(), tt.log)
				return
			}
			require.Error(t, err, "log:\n%s", logs.String())
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// A Redis Cluster whose nodes speak only TLS, to clients and on the
// cluster bus: the nodes the cluster reports are reached over TLS too.
func TestSessionsInRedisClusterOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "cluster CA")
	server := ca.Server(t, "127.0.0.1")
	cluster := redistest.StartClusterTLS(t, 3, redistest.TLS{
		CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.CertFile,
		Client: ca.ClientConfig(t, tlstest.Pair{}),
	})
	c := baseConfig(newApp(t, "app").URL)
	var addrs []string
	for _, a := range cluster.Addrs() {
		addrs = append(addrs, "rediss://"+a)
	}
	onRedis(c, config.BackendTLSConfig{CAFile: ca.CertFile, MinVersion: config.TLS12}, addrs...)
	_, base := startSidecar(t, c)

	cl := &client{t: t}
	requireOK(t, cl.do(base, "/login?user=ann", nil), "login")
	for i := range 5 { // a new session per request, so their keys spread over the slots
		anon := &client{t: t}
		requireOK(t, anon.do(base, "/set?k=n&v="+string(rune('0'+i)), nil), "write %d", i)
	}
	r := cl.do(base, "/whoami", nil)
	requireOK(t, r, "whoami")
	assert.Equal(t, "ann", r.View.Subject)
}

// Session locks held by Redlock masters that speak only TLS and require
// a client certificate. A master whose certificate does not verify counts
// as down: two such masters in three leave no majority.
func TestRedlockOverTLS(t *testing.T) {
	shared := newRedisPKI(t)
	for _, tt := range []struct {
		name    string
		masters []*redisPKI
		want    int
	}{
		{"masters of the configured CA", []*redisPKI{shared, shared, shared}, http.StatusOK},
		{"two masters of other CAs", []*redisPKI{shared, newRedisPKI(t), newRedisPKI(t)}, http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig(newApp(t, "app").URL)
			c.Session.Locking = config.LockingSession
			c.Session.Lock.Wait = time.Second
			for _, pki := range tt.masters {
				c.Locks.RedlockAddrs = append(c.Locks.RedlockAddrs, "rediss://"+redistest.StartTLS(t, pki.server).Addr())
			}
			c.Locks.RedlockTLS = shared.config()
			_, base := startSidecar(t, c)

			cl := &client{t: t}
			requireOK(t, cl.do(base, "/login?user=ann", nil), "login")
			r := cl.do(base, "/set?k=a&v=1", nil)
			assert.Equal(t, tt.want, r.Status, "a write under the session lock: %s", r)
		})
	}
}

// mtlsUpstream is an https:// app whose certificate names app.internal
// only and which requires a client certificate from ca; it answers with
// what it saw of the TLS connection.
func mtlsUpstream(t *testing.T, ca *tlstest.CA) *httptest.Server {
	t.Helper()
	return ca.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"subject": r.TLS.PeerCertificates[0].Subject.String(),
			"sni":     r.TLS.ServerName,
			"proto":   r.Proto,
		})
	}), "app.internal")
}

// An https:// upstream that requires a client certificate sees Sidecar's,
// and the configured server name; without the certificate the request
// gets 502 and counts against the upstream.
func TestHTTPSUpstreamWithClientCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "upstream CA")
	up := mtlsUpstream(t, ca)
	pair := ca.Client(t, "sidecar-edge")
	mtls := config.BackendTLSConfig{CAFile: ca.CertFile, CertFile: pair.CertFile, KeyFile: pair.KeyFile,
		ServerName: "app.internal", MinVersion: config.TLS12}

	c := baseConfig(up.URL)
	c.Proxy.UpstreamTLS = mtls
	_, base := startSidecar(t, c)
	r := (&client{t: t}).do(base, "/", nil)
	requireOK(t, r, "through the https upstream")
	var seen map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.Body), &seen), r.Body)
	assert.Equal(t, map[string]string{"subject": "CN=sidecar-edge,O=upstream CA", "sni": "app.internal", "proto": "HTTP/1.1"}, seen)

	// A configuration fault: 502 and a failure of the upstream. The probe
	// (a TLS handshake without a health check path) catches a certificate
	// that does not verify, but not a client certificate the upstream
	// refuses: under TLS 1.3 the server says so after the handshake.
	for _, tt := range []struct {
		name      string
		mutate    func(b *config.BackendTLSConfig)
		probeOK   bool
		probeFail string
	}{
		{"without the client certificate", func(b *config.BackendTLSConfig) { b.CertFile, b.KeyFile = "", "" }, true, ""},
		{"without the server name", func(b *config.BackendTLSConfig) { b.ServerName = "" }, false, "x509: cannot validate certificate for 127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig(up.URL)
			c.Proxy.UpstreamTLS = mtls
			tt.mutate(&c.Proxy.UpstreamTLS)
			withAdmin(c)
			m, base := startSidecar(t, c)
			r := (&client{t: t}).do(base, "/", nil)
			assert.Equal(t, http.StatusBadGateway, r.Status, "%s", r)

			ac, err := admin.NewClient(m.AdminAddr(), []byte(adminToken), nil)
			require.NoError(t, err)
			defer ac.CloseIdleConnections()
			st, err := ac.State(t.Context(), "app")
			require.NoError(t, err)
			assert.Positive(t, st.Failures, "a configuration fault counts against the upstream")
			p, err := ac.Probe(t.Context(), "app")
			require.NoError(t, err)
			assert.Equal(t, "tls handshake", p.Check)
			assert.Equal(t, tt.probeOK, p.OK, p.Error)
			assert.True(t, strings.Contains(p.Error, tt.probeFail), p.Error)
		})
	}
}
