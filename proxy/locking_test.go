package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// counterApp is a real app doing a read-modify-write of the session
// attribute n: it reads n from the JWT, lets other requests run, and
// answers n+1. Without serialisation concurrent requests lose updates.
// The first two requests of /incr?meet wait in the app for each other (at
// most waitTimeout), so both read n before either writes: an update is
// lost whatever the timing, unless something serialises them.
func counterApp(t *testing.T, hdr *sessions.HeaderSigner) *url.URL {
	var arrived atomic.Int64
	met := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := hdr.ParseHeader(r.Header.Get("X-Sidecar-Session"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var data struct{ N int }
		_ = json.Unmarshal(c.Data, &data)
		if r.URL.Path == "/incr" {
			if r.URL.Query().Has("meet") {
				if arrived.Add(1) == 2 {
					close(met)
				}
				select {
				case <-met:
				case <-r.Context().Done():
				case <-time.After(waitTimeout):
				}
			}
			time.Sleep(2 * time.Millisecond) // widen the read-modify-write window, as real work would
			w.Header().Set("X-Sidecar-Patch", `{"n":`+strconv.Itoa(data.N+1)+`}`)
		}
		_, _ = io.WriteString(w, strconv.Itoa(data.N))
	}))
	t.Cleanup(app.Close)
	u, err := url.Parse(app.URL)
	require.NoError(t, err)
	return u
}

type lockEnv struct {
	srv    *httptest.Server
	locker *lock.Locker
	signer *sessions.Signer
	logs   *logtest.Buffer
}

// newLockEnv runs a proxy whose session locks come from an in-process
// Locker; with off, the proxy gets no Locker (session locking off).
func newLockEnv(t *testing.T, locking proxy.Locking, off ...bool) *lockEnv {
	t.Helper()
	signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	require.NoError(t, err)
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	m, err := sessions.NewManager(sessions.Options{Store: store, Signer: signer})
	require.NoError(t, err)
	hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(headerSecret)})
	require.NoError(t, err)
	locker := lock.NewLocal(lock.Options{})
	t.Cleanup(func() { _ = locker.Close() })
	if len(off) == 0 || !off[0] {
		locking.Locker = locker
	}
	logs := &logtest.Buffer{}
	p, err := proxy.New(proxy.Options{
		Upstreams: []proxy.Upstream{{Name: "app", URL: counterApp(t, hdr)}},
		Manager:   m, Header: hdr, Locking: locking, Logger: zerolog.New(logs),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return &lockEnv{srv: srv, locker: locker, signer: signer, logs: logs}
}

func (e *lockEnv) get(t *testing.T, path, cookie string) (*http.Response, string) {
	t.Helper()
	resp, body, err := e.try(path, cookie)
	require.NoError(t, err)
	return resp, body
}

// try is get returning the error, for goroutines other than the test's.
func (e *lockEnv) try(path, cookie string) (*http.Response, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		return nil, "", err
	}
	if cookie != "" {
		req.Header.Set("Cookie", "sidecar_sid="+cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// session makes a session with n=1 and returns its cookie.
func (e *lockEnv) session(t *testing.T) string {
	resp, _ := e.get(t, "/incr", "")
	for _, c := range resp.Cookies() {
		if c.Name == "sidecar_sid" {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// hammer sends n concurrent requests of path (an /incr) in the session
// and requires every one to be a 200, naming those that were not.
func hammer(t *testing.T, e *lockEnv, cookie, path string, n int) {
	t.Helper()
	failed := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { // exits when its request is answered or times out
			defer wg.Done()
			resp, body, err := e.try(path, cookie)
			switch {
			case err != nil:
				failed[i] = err.Error()
			case resp.StatusCode != http.StatusOK:
				failed[i] = fmt.Sprintf("status %d, body %q", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	for i, f := range failed {
		assert.Empty(t, f, "increment %d", i)
	}
	if t.Failed() {
		t.Logf("proxy log:\n%s", e.logs)
	}
}

func TestSessionLockingSerialisesReadModifyWrite(t *testing.T) {
	e := newLockEnv(t, proxy.Locking{Wait: waitTimeout}) // 50 requests queue on one lock
	cookie := e.session(t)
	hammer(t, e, cookie, "/incr", 50)
	_, n := e.get(t, "/", cookie)
	assert.Equal(t, "51", n, "every increment counted")
	assert.Contains(t, e.logs.String(), `"lock":"held"`)
	assert.Positive(t, e.locker.Stats().Contended, "the requests really did contend")
}

// TestWithoutLockingTheRaceIsReal: the first two increments wait in the
// app for each other (?meet), so at least one update is lost on every run.
func TestWithoutLockingTheRaceIsReal(t *testing.T) {
	e := newLockEnv(t, proxy.Locking{}, true)
	cookie := e.session(t)
	hammer(t, e, cookie, "/incr?meet", 50)
	_, n := e.get(t, "/", cookie)
	got, _ := strconv.Atoi(n)
	t.Logf("without session locking, 50 concurrent increments from 1 left n=%d (%d lost)", got, 51-got)
	assert.Less(t, got, 51, "concurrent read-modify-writes lose updates without the lock")
	assert.NotContains(t, e.logs.String(), `"lock":`)
}

func TestLockTimeout(t *testing.T) {
	for _, tc := range []struct {
		on     proxy.OnLockTimeout
		status int
		state  string
	}{
		{proxy.RejectOnTimeout, http.StatusServiceUnavailable, "timeout"},
		{proxy.ProceedOnTimeout, http.StatusOK, "timeout_proceeded"},
	} {
		t.Run(string(tc.on), func(t *testing.T) {
			e := newLockEnv(t, proxy.Locking{Wait: 50 * time.Millisecond, OnTimeout: tc.on})
			cookie := e.session(t)
			tok, _, err := e.signer.Verify(cookie)
			require.NoError(t, err)
			held, err := e.locker.Acquire(context.Background(), "session:"+tok.Key(), time.Minute, 0)
			require.NoError(t, err)
			defer held.Release(context.Background())
			resp, _ := e.get(t, "/", cookie)
			assert.Equal(t, tc.status, resp.StatusCode)
			if tc.status == http.StatusServiceUnavailable {
				assert.NotEmpty(t, resp.Header.Get("Retry-After"))
			}
			assert.Contains(t, e.logs.String(), `"lock":"`+tc.state+`"`)
		})
	}
}

func TestNoLockWithoutSessionOrOnSkippedPaths(t *testing.T) {
	e := newLockEnv(t, proxy.Locking{Wait: 50 * time.Millisecond, SkipPaths: []string{"/static/*"}})
	cookie := e.session(t)
	tok, _, err := e.signer.Verify(cookie)
	require.NoError(t, err)
	held, err := e.locker.Acquire(context.Background(), "session:"+tok.Key(), time.Minute, 0)
	require.NoError(t, err)
	defer held.Release(context.Background())
	resp, _ := e.get(t, "/static/app.css", cookie)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "skipped paths never wait")
	resp, _ = e.get(t, "/", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "requests without a session never lock")
	resp, _ = e.get(t, "/", "forged-cookie")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "nor do forged cookies")
}
