package proxy_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// appRead is what the app of a bodyEnv read of one request.
type appRead struct {
	n      int
	sum    [32]byte
	err    error // reading the body
	header http.Header
	te     []string // Transfer-Encoding
	cl     int64
}

// bodyEnv is a Proxy with the given Limits in front of an app that reads
// each body whole and records it.
type bodyEnv struct {
	p     *proxy.Proxy
	srv   *httptest.Server
	addr  string
	logs  *logtest.Buffer
	hits  atomic.Int64
	reads chan appRead
	// respond, when set, answers after the body was read.
	mu      sync.Mutex
	respond func(w http.ResponseWriter, r *http.Request)
}

func newBodyEnv(t *testing.T, limits proxy.Limits, retryBuffer int64) *bodyEnv {
	t.Helper()
	e := &bodyEnv{logs: &logtest.Buffer{}, reads: make(chan appRead, 64)}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		rd := appRead{n: int(n), err: err, header: r.Header.Clone(), te: r.TransferEncoding, cl: r.ContentLength}
		h.Sum(rd.sum[:0])
		e.reads <- rd
		e.mu.Lock()
		respond := e.respond
		e.mu.Unlock()
		if respond != nil {
			respond(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(app.Close)
	signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	require.NoError(t, err)
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	m, err := sessions.NewManager(sessions.Options{Store: store, Signer: signer})
	require.NoError(t, err)
	hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(headerSecret)})
	require.NoError(t, err)
	pool, err := proxy.NewPool(proxy.PoolOptions{Upstreams: []proxy.Upstream{{Name: "app", URL: mustURL(t, app.URL)}},
		Retry: proxy.RetryOptions{BufferBytes: retryBuffer}}, nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	if limits.Buffer.TempDir == "" {
		limits.Buffer.TempDir = t.TempDir()
	}
	e.p, err = proxy.New(proxy.Options{Pool: pool, Manager: m, Header: hdr, Logger: zerolog.New(e.logs), Limits: limits})
	require.NoError(t, err)
	e.srv = httptest.NewServer(e.p)
	t.Cleanup(e.srv.Close)
	e.addr = strings.TrimPrefix(e.srv.URL, "http://")
	return e
}

func (e *bodyEnv) setRespond(f func(w http.ResponseWriter, r *http.Request)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.respond = f
}

// released waits until no body holds memory or files any more.
func (e *bodyEnv) released(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return e.p.BufferStats() == proxy.BufferStats{} }, waitTimeout, 5*time.Millisecond,
		"every body's memory and file are given back")
}

// rawExchange writes req on a new connection, then body, closes the
// write side when closeWrite is set, and returns Sidecar's answer, or nil
// when it closed the connection without one.
func rawExchange(t *testing.T, addr, req string, body []byte, closeWrite bool) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
	_, err = io.WriteString(c, req)
	require.NoError(t, err)
	_, err = c.Write(body)
	require.NoError(t, err)
	if closeWrite {
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

func randomBody(t *testing.T, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func status(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

func TestRequestHeadLimit(t *testing.T) {
	e := newBodyEnv(t, proxy.Limits{MaxHeaderBytes: 1024}, 0)
	head := func(pad int) string {
		return "GET /x HTTP/1.1\r\nHost: app\r\nX-Pad: " + strings.Repeat("p", pad) + "\r\n\r\n"
	}
	exact := head(1024 - len(head(0)))
	require.Len(t, exact, 1024)
	assert.Equal(t, http.StatusOK, status(rawExchange(t, e.addr, exact, nil, false)), "a head of exactly the limit")
	resp := rawExchange(t, e.addr, head(1024-len(head(0))+1), nil, false)
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, status(resp), "one byte more")
	assert.Equal(t, int64(1), e.hits.Load(), "the app never sees a refused head")
	assert.Contains(t, e.logs.String(), `"status":431`)
	assert.Contains(t, e.logs.String(), `"error_kind":"header_too_large"`)
}

func TestMaxBodyBytes(t *testing.T) {
	e := newBodyEnv(t, proxy.Limits{MaxBodyBytes: 1000}, 0)
	post := "POST /up HTTP/1.1\r\nHost: app\r\n"

	// No byte of the body is sent: the answer comes before it is read.
	resp := rawExchange(t, e.addr, post+"Content-Length: 1001\r\n\r\n", nil, false)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status(resp), "Content-Length over the limit")
	assert.True(t, resp.Close, "Connection: close")

	resp = rawExchange(t, e.addr, post+"Transfer-Encoding: chunked\r\n\r\n", []byte(chunked(1001)+"0\r\n\r\n"), false)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status(resp), "a chunked body passing the limit")
	assert.Zero(t, e.hits.Load(), "the app never sees a refused body")

	resp = rawExchange(t, e.addr, post+"Transfer-Encoding: chunked\r\n\r\n", []byte(chunked(1000)+"0\r\n\r\n"), false)
	require.Equal(t, http.StatusOK, status(resp), "a body of exactly the limit")
	assert.Equal(t, 1000, (<-e.reads).n)
	assert.Contains(t, e.logs.String(), `"error_kind":"body_too_large"`)
	e.released(t)
}

// TestBrokenBodiesGet400 pins issue 10's "truncated uploads reported as
// success": a client that announced 2 MB, sent 1.2 MB and half-closed got
// 200 while the app received the truncated body, and a malformed chunked
// body under 1 MiB got 502. Whether the body is held in memory, spilled
// to a file or streamed, the client gets 400 and no app receives the body
// as if it were complete; a buffered one never reaches an app at all.
func TestBrokenBodiesGet400(t *testing.T) {
	post := "POST /up HTTP/1.1\r\nHost: app\r\n"
	for name, mode := range map[string]struct {
		limits   proxy.Limits
		buffer   int64
		streamed bool
	}{
		"defaults":                {},
		"spilled to a file":       {buffer: 4 << 10},
		"streamed past the limit": {limits: proxy.Limits{Buffer: proxy.BufferOptions{DiskBytes: -1}}, buffer: 4 << 10, streamed: true},
	} {
		t.Run(name, func(t *testing.T) {
			e := newBodyEnv(t, mode.limits, mode.buffer)
			for what, tc := range map[string]struct {
				head string
				body []byte
			}{
				"announced 2 MB, sent 1.2 MB and half-closed": {post + "Content-Length: 2000000\r\n\r\n", make([]byte, 1200000)},
				"malformed chunk after 40 KiB":                {post + "Transfer-Encoding: chunked\r\n\r\n", []byte(chunked(40<<10) + "zz\r\n")},
				"malformed chunk after 100 bytes":             {post + "Transfer-Encoding: chunked\r\n\r\n", []byte(chunked(100) + "zz\r\n")},
			} {
				resp := rawExchange(t, e.addr, tc.head, tc.body, true)
				assert.Equal(t, http.StatusBadRequest, status(resp), what)
				if resp != nil {
					assert.True(t, resp.Close, "%s: Connection: close", what)
				}
			}
			if !mode.streamed || e.hits.Load() == 0 {
				assert.Zero(t, e.hits.Load(), "a buffered body is checked whole before any app sees it")
			}
			for range e.hits.Load() {
				rd := <-e.reads
				assert.Error(t, rd.err, "the app's read of a broken streamed body fails (it got %d bytes)", rd.n)
			}
			assert.Contains(t, e.logs.String(), `"error_kind":"client_body"`)
			assert.NotContains(t, e.logs.String(), `"status":502`)
			e.released(t)
		})
	}
}

func TestClientGoneMidBodyIs499(t *testing.T) {
	e := newBodyEnv(t, proxy.Limits{}, 0)
	c, err := net.Dial("tcp", e.addr)
	require.NoError(t, err)
	_, err = io.WriteString(c, "POST /up HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("x", 10000))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.p.BufferStats().MemoryBytes > 0 }, waitTimeout, time.Millisecond,
		"Sidecar reads the body")
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.Close()) // a reset, not a half-close
	require.Eventually(t, func() bool { return strings.Contains(e.logs.String(), `"status":499`) }, waitTimeout, time.Millisecond,
		"logged as 499: %s", e.logs.String())
	assert.Contains(t, e.logs.String(), `"error_kind":"client_canceled"`)
	assert.Zero(t, e.hits.Load())
	e.released(t)
}

func TestSlowUploadsGet408(t *testing.T) {
	post := "POST /up HTTP/1.1\r\nHost: app\r\nContent-Length: 100000\r\n\r\n"
	t.Run("idle between reads", func(t *testing.T) {
		e := newBodyEnv(t, proxy.Limits{BodyReadTimeout: 100 * time.Millisecond, MinUploadRate: -1}, 0)
		resp := rawExchange(t, e.addr, post, []byte("half a body, then nothing"), false)
		assert.Equal(t, http.StatusRequestTimeout, status(resp))
		assert.Zero(t, e.hits.Load())
		assert.Contains(t, e.logs.String(), "body_read_timeout")
		assert.Contains(t, e.logs.String(), `"error_kind":"client_timeout"`)
		e.released(t)
	})
	t.Run("below the minimum rate", func(t *testing.T) {
		e := newBodyEnv(t, proxy.Limits{BodyReadTimeout: time.Hour, MinUploadRate: 1000, MinUploadGrace: 50 * time.Millisecond}, 0)
		c, err := net.Dial("tcp", e.addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
		_, err = io.WriteString(c, post)
		require.NoError(t, err)
		go func() { // a byte every 5ms: 200 bytes/s, never idle for long; ends with the connection
			for {
				if _, err := c.Write([]byte{'x'}); err != nil {
					return
				}
				time.Sleep(5 * time.Millisecond) // the client's pace, not a wait for a condition
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		_ = resp.Body.Close()
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
		assert.Zero(t, e.hits.Load())
		assert.Contains(t, e.logs.String(), "min_upload_rate")
		e.released(t)
	})
}

// TestReadDeadlineClearedAfterBody: the body's read deadline must not
// outlive the body, or net/http's background read of the connection would
// time out while the app answers and end the request as if the client had
// gone.
func TestReadDeadlineClearedAfterBody(t *testing.T) {
	e := newBodyEnv(t, proxy.Limits{BodyReadTimeout: 20 * time.Millisecond, MinUploadRate: 1 << 30, MinUploadGrace: 20 * time.Millisecond}, 0)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		// Answer once both deadlines above are long past, as far as the
		// body could have set them; a request Sidecar gave up on as gone
		// is cancelled here first.
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusInternalServerError)
		case <-time.After(200 * time.Millisecond):
			_, _ = io.WriteString(w, "late")
		}
	})
	c, err := net.Dial("tcp", e.addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
	br := bufio.NewReader(c)
	for i := range 2 { // the second on the same kept-alive connection
		_, err = io.WriteString(c, "POST /up HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\n\r\nhello")
		require.NoError(t, err)
		<-e.reads
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "request %d", i)
		b, _ := io.ReadAll(resp.Body)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "request %d", i)
		assert.Equal(t, "late", string(b))
	}
	assert.NotContains(t, e.logs.String(), `"status":499`)
}

func TestSpillToUnlinkedFile(t *testing.T) {
	dir := t.TempDir()
	e := newBodyEnv(t, proxy.Limits{Buffer: proxy.BufferOptions{MemoryBytes: 16 << 10, TempDir: dir}}, 0)
	hold, release := make(chan struct{}), make(chan struct{})
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		hold <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "ok")
	})
	body := randomBody(t, 300<<10)
	done := make(chan *http.Response, 1)
	go func() {
		// A chunked body (no length) with Expect: 100-continue.
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/up", io.MultiReader(strings.NewReader(string(body))))
		req.Header.Set("Expect", "100-continue")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			resp = nil
		}
		done <- resp
	}()
	<-hold
	st := e.p.BufferStats()
	assert.Equal(t, int64(1), st.Files, "one temporary file")
	assert.Equal(t, int64(300<<10-16<<10), st.DiskBytes, "all that memory could not hold")
	assert.Equal(t, int64(16<<10), st.MemoryBytes)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the file is unlinked while it is in use")
	close(release)
	resp := <-done
	require.NotNil(t, resp)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	rd := <-e.reads
	assert.Equal(t, sha256.Sum256(body), rd.sum, "the app gets the whole body")
	assert.Equal(t, int64(len(body)), rd.cl, "with a Content-Length")
	assert.Empty(t, rd.te, "not chunked")
	assert.Empty(t, rd.header.Get("Expect"), "nothing for the app to approve")
	assert.Contains(t, e.logs.String(), `"body_buffer":"file"`)
	e.released(t)
}

func TestBodyBuffersUsedUpGet503(t *testing.T) {
	e := newBodyEnv(t, proxy.Limits{Buffer: proxy.BufferOptions{MemoryBytes: 16 << 10, DiskBytes: 64 << 10}}, 0)
	hold, release := make(chan struct{}), make(chan struct{})
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			hold <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	done := make(chan int, 1)
	go func() { // 80 KiB: 16 in memory, 64 on disk, held until released
		resp, err := http.Post(e.srv.URL+"/hold", "application/octet-stream", strings.NewReader(strings.Repeat("x", 80<<10)))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-hold
	<-e.reads
	resp, _ := send(t, http.MethodPost, e.srv.URL+"/next", "a small body")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "no memory and no disk left")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Equal(t, int64(1), e.hits.Load(), "the app never sees the refused request")
	assert.Contains(t, e.logs.String(), `"error_kind":"body_buffer_full"`)
	resp, _ = send(t, http.MethodGet, e.srv.URL+"/bodiless", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "requests without a body still pass")
	<-e.reads

	close(release)
	assert.Equal(t, http.StatusOK, <-done)
	e.released(t)
	resp, _ = send(t, http.MethodPost, e.srv.URL+"/next", "a small body")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the budgets are given back")
	<-e.reads
	e.released(t)
}

// TestBodyReleasedWhenTheResponseBreaks: an app that dies in the middle
// of its response makes the ReverseProxy panic (http.ErrAbortHandler);
// the body's memory and file are given back all the same.
func TestBodyReleasedWhenTheResponseBreaks(t *testing.T) {
	e := newBodyEnv(t, proxy.Limits{Buffer: proxy.BufferOptions{MemoryBytes: 8 << 10}}, 0)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "partial")
		http.NewResponseController(w).Flush()
		dieBeforeHeaders(w, r)
	})
	for range 3 {
		resp, err := http.Post(e.srv.URL+"/up", "application/octet-stream", strings.NewReader(strings.Repeat("x", 64<<10)))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		assert.Error(t, err, "the broken response reaches the client broken")
		<-e.reads
	}
	e.released(t)
}
