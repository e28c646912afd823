package lockservice_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/lockservice"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

const token = "test-lock-service-token-0123456789"

// auth is the Authorization header of an authorised request.
const auth = "Bearer " + token

// env is a lock service under test, served by httptest.
type env struct {
	locker *lock.Locker
	h      *lockservice.Handler
	srv    *httptest.Server
	logs   *logtest.Buffer
}

// serve serves a Handler over locker with the test token and opts' limits.
func serve(t testing.TB, locker *lock.Locker, opts lockservice.Options) *env {
	t.Helper()
	e := &env{locker: locker, logs: &logtest.Buffer{}}
	opts.Locker, opts.Token = locker, []byte(token)
	opts.Logger = zerolog.New(e.logs).Level(zerolog.DebugLevel)
	var err error
	e.h, err = lockservice.New(opts)
	require.NoError(t, err)
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	return e
}

// newLocal serves a Handler over an in-process Locker on clock.
func newLocal(t testing.TB, clock *clocktest.Clock) *env {
	t.Helper()
	return serve(t, lock.NewLocal(lock.Options{Clock: clock.Now}), lockservice.Options{})
}

// redisLocker returns a Locker on srv with a key prefix of its own, closed
// by t.Cleanup.
func redisLocker(t testing.TB, srv *redistest.Server) *lock.Locker {
	t.Helper()
	l := lock.NewRedis(srv.Client(t), lock.Options{Prefix: "t" + rand.Text()[:8] + ":"})
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// newRedis serves a Handler over a Locker on a fresh redis-server.
func newRedis(t testing.TB) (*env, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	return serve(t, redisLocker(t, srv), lockservice.Options{}), srv
}

// backends runs f as a subtest against the in-process Locker (on a fake
// clock, returned to f) and against a Locker on a real redis-server (the
// clock is then nil).
func backends(t *testing.T, f func(t *testing.T, e *env, clock *clocktest.Clock)) {
	t.Run("Local", func(t *testing.T) {
		clock := clocktest.New()
		f(t, newLocal(t, clock), clock)
	})
	t.Run("Redis", func(t *testing.T) {
		e, _ := newRedis(t)
		f(t, e, nil)
	})
}

// request is one request to the service.
type request struct {
	method, path string
	auth         string // Authorization header; "" for none
	contentType  string
	body         string
}

// do sends rq with client (http.DefaultClient if nil) and returns the
// response with its body read.
func (e *env) do(t testing.TB, client *http.Client, rq request) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req, err := http.NewRequest(rq.method, e.srv.URL+rq.path, body)
	require.NoError(t, err)
	if rq.auth != "" {
		req.Header.Set("Authorization", rq.auth)
	}
	if rq.contentType != "" {
		req.Header.Set("Content-Type", rq.contentType)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// call sends an authorised POST of path with client (http.DefaultClient
// if nil) and decodes a 200's body into ok (if non-nil) and any other
// into an ErrorResponse. Unlike the helpers that take t, it may be called
// from any goroutine.
func (e *env) call(client *http.Client, path string, ok any) (int, lockservice.ErrorResponse, error) {
	var er lockservice.ErrorResponse
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, nil)
	if err != nil {
		return 0, er, err
	}
	req.Header.Set("Authorization", auth)
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, er, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, er, err
	}
	if resp.StatusCode != http.StatusOK {
		ok = &er
	}
	if ok != nil {
		if err := json.Unmarshal(body, ok); err != nil {
			return 0, er, fmt.Errorf("decoding %d %s: %w", resp.StatusCode, body, err)
		}
	}
	return resp.StatusCode, er, nil
}

// post is call, failing t on error.
func (e *env) post(t testing.TB, client *http.Client, path string, ok any) (int, lockservice.ErrorResponse) {
	t.Helper()
	status, er, err := e.call(client, path, ok)
	require.NoError(t, err)
	return status, er
}

// acquire acquires name with the query string q ("ttl=...&wait=...").
func (e *env) acquire(t testing.TB, client *http.Client, name, q string) (int, lockservice.Lease, lockservice.ErrorResponse) {
	t.Helper()
	var l lockservice.Lease
	status, er := e.post(t, client, "/locks/"+name+"/acquire?"+q, &l)
	return status, l, er
}

// extend extends name's lease tok with the query string q ("ttl=...").
func (e *env) extend(t testing.TB, name, tok, q string) (int, lockservice.Lease, lockservice.ErrorResponse) {
	t.Helper()
	var l lockservice.Lease
	status, er := e.post(t, nil, "/locks/"+name+"/extend?token="+tok+"&"+q, &l)
	return status, l, er
}

// release releases name's lease tok.
func (e *env) release(t testing.TB, client *http.Client, name, tok string) (int, lockservice.ErrorResponse) {
	t.Helper()
	var r lockservice.Released
	status, er := e.post(t, client, "/locks/"+name+"/release?token="+tok, &r)
	if status == http.StatusOK {
		require.True(t, r.Released)
		require.Equal(t, name, r.Name)
	}
	return status, er
}
