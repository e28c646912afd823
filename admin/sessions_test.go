package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// flakyStore is a memory store whose reads of the principal index and
// counts fail while down is set: a store outage.
type flakyStore struct {
	*memory.Store
	down atomic.Bool
}

func (s *flakyStore) ByPrincipal(ctx context.Context, p string) ([]string, error) {
	if s.down.Load() {
		return nil, errors.New("dial tcp 10.0.0.1:6379: connection refused")
	}
	return s.Store.ByPrincipal(ctx, p)
}

func (s *flakyStore) Count(ctx context.Context) (sessions.Count, error) {
	if s.down.Load() {
		return sessions.Count{}, errors.New("dial tcp 10.0.0.1:6379: connection refused")
	}
	return s.Store.Count(ctx)
}

// sessionsEnv is an admin API over a real Manager on a memory store.
type sessionsEnv struct {
	env
	m      *sessions.Manager
	signer *sessions.Signer
	store  *flakyStore
	client *admin.Client
	// revoked sums what Options.OnRevoke was told.
	revoked atomic.Int64
}

func newSessionsEnv(t *testing.T) *sessionsEnv {
	t.Helper()
	pool, err := proxy.NewPool(proxy.PoolOptions{Upstreams: []proxy.Upstream{
		{Name: "app1", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}},
	}}, nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	e := &sessionsEnv{store: &flakyStore{Store: mem}}
	e.signer, err = sessions.NewSigner([][]byte{[]byte("cookie-secret-0123456789abcdefghijklmnop")})
	require.NoError(t, err)
	e.m, err = sessions.NewManager(sessions.Options{Store: e.store, Signer: e.signer})
	require.NoError(t, err)
	e.pool, e.logs = pool, &logtest.Buffer{}
	e.h, err = admin.New(admin.Options{Token: []byte(token), Pool: pool, Sessions: e.m, Logger: zerolog.New(e.logs),
		OnRevoke: func(n int) { e.revoked.Add(int64(n)) }})
	require.NoError(t, err)
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	e.client, err = admin.NewClient(e.srv.URL, []byte(token), nil)
	require.NoError(t, err)
	t.Cleanup(e.client.CloseIdleConnections)
	return e
}

// login creates a session of principal p from client ua and returns its
// cookie value and handle.
func (e *sessionsEnv) login(t *testing.T, p, ua string) (cookie, handle string) {
	t.Helper()
	s := e.m.Identify("")
	s.SetClient(netip.MustParseAddr("192.0.2.7"), ua)
	require.NoError(t, e.m.Commit(context.Background(), s, &sessions.Change{
		Patches: []string{`{"secret":"do-not-show"}`}, Principal: &p,
	}))
	return e.signer.Sign(s.Token()), s.SID()
}

func TestSessionsEndpoints(t *testing.T) {
	e := newSessionsEnv(t)
	ctx := t.Context()
	cookie, h1 := e.login(t, "ann@example.com", "phone")
	_, h2 := e.login(t, "ann@example.com", "laptop")
	e.login(t, "bob", "bob's")

	resp, body := e.do(t, http.MethodGet, "/sessions?principal=ann%40example.com", "Bearer "+token, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.NotContains(t, body, "do-not-show", "never the data")
	assert.NotContains(t, body, cookie[:20], "never the token")
	var list admin.SessionList
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	assert.Equal(t, "ann@example.com", list.Principal)
	assert.Equal(t, 2, list.Total)
	require.Len(t, list.Sessions, 2)
	assert.ElementsMatch(t, []string{h1, h2}, []string{list.Sessions[0].Handle, list.Sessions[1].Handle})
	s := list.Sessions[0]
	assert.Equal(t, "192.0.2.7", s.ClientIP)
	assert.Contains(t, []string{"phone", "laptop"}, s.UserAgent)
	assert.Equal(t, time.UTC, s.Created.Location())
	assert.True(t, s.IdleExpires.Equal(s.Created.Add(sessions.DefaultIdleTimeout)))
	assert.True(t, s.AbsoluteExpires.Equal(s.Created.Add(sessions.DefaultAbsoluteTimeout)))
	for _, field := range []string{`"handle"`, `"created"`, `"last_seen"`, `"idle_expires"`, `"absolute_expires"`, `"client_ip"`, `"user_agent"`} {
		assert.Contains(t, body, field)
	}

	count, err := e.client.SessionCount(ctx)
	require.NoError(t, err)
	assert.Equal(t, admin.SessionCount{Live: 3}, count)

	require.NoError(t, e.client.RevokeHandle(ctx, h1))
	err = e.client.RevokeHandle(ctx, h1)
	assert.ErrorIs(t, err, sessions.ErrNotFound, "revoked already")
	assert.ErrorContains(t, err, "404")

	n, err := e.client.RevokePrincipal(ctx, "ann@example.com")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	list, err = e.client.Sessions(ctx, "ann@example.com")
	require.NoError(t, err)
	assert.Empty(t, list.Sessions)
	assert.Zero(t, list.Total)
	list, err = e.client.Sessions(ctx, "bob")
	require.NoError(t, err)
	assert.Len(t, list.Sessions, 1, "bob's session is left")

	assert.Equal(t, int64(2), e.revoked.Load(), "OnRevoke (the metric) counts both revokes, not the refused one")

	logs := e.logs.String()
	assert.Contains(t, logs, `"handle":"`+h1+`"`)
	assert.Contains(t, logs, `"principal":"ann@example.com","revoked":1`)
	assert.NotContains(t, logs, token)
}

func TestSessionsEndpointsRefuse(t *testing.T) {
	e := newSessionsEnv(t)
	long := strings.Repeat("p", sessions.MaxPrincipalBytes+1)
	tests := []struct {
		name, method, path string
		status             int
		msg                string
	}{
		{"NoPrincipal", http.MethodGet, "/sessions", http.StatusBadRequest, "principal"},
		{"EmptyPrincipal", http.MethodDelete, "/sessions?principal=", http.StatusBadRequest, "principal"},
		{"TwoPrincipals", http.MethodGet, "/sessions?principal=a&principal=b", http.StatusBadRequest, "exactly one"},
		{"LongPrincipal", http.MethodDelete, "/sessions?principal=" + long, http.StatusBadRequest, "512 bytes"},
		{"MalformedHandle", http.MethodDelete, "/sessions/ABC", http.StatusBadRequest, "32 lower-case hex"},
		{"UnknownHandle", http.MethodDelete, "/sessions/" + strings.Repeat("a", 32), http.StatusNotFound, "no live session"},
		{"WrongMethod", http.MethodPost, "/sessions?principal=a", http.StatusMethodNotAllowed, "method not allowed"},
		{"GetOneSession", http.MethodGet, "/sessions/" + strings.Repeat("a", 32), http.StatusMethodNotAllowed, "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, "Bearer "+token, nil)
			assert.Equal(t, tt.status, resp.StatusCode, body)
			assert.Contains(t, body, tt.msg)
		})
	}
	resp, _ := e.do(t, http.MethodDelete, "/sessions?principal=ann", "Bearer wrong-token", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the token guards revocation")
}

func TestSessionsStoreDown(t *testing.T) {
	e := newSessionsEnv(t)
	e.store.down.Store(true)
	for _, path := range []string{"/sessions?principal=ann", "/sessions/count"} {
		resp, body := e.do(t, http.MethodGet, path, "Bearer "+token, nil)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
		assert.Equal(t, "1", resp.Header.Get("Retry-After"))
		assert.JSONEq(t, `{"error":"the session store is unavailable"}`, body, "the store's own error stays in the log")
	}
	resp, body := e.do(t, http.MethodDelete, "/sessions?principal=ann", "Bearer "+token, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	assert.Contains(t, e.logs.String(), "connection refused", "logged for the operator")
}

func TestSessionsRoutesNeedSessions(t *testing.T) {
	e := newEnv(t) // no Options.Sessions
	resp, body := e.do(t, http.MethodGet, "/sessions?principal=ann", "Bearer "+token, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, body)
}
