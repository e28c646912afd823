package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/app"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/sessions"
)

const (
	cookieSecret = "integration-cookie-secret-0123456789abcdef"
	headerSecret = "integration-header-secret-0123456789abcdef"
)

// appView is what the test app reports about the request it received.
type appView struct {
	Server  string              `json:"server"`
	New     bool                `json:"new"`
	SID     string              `json:"sid"`
	Subject string              `json:"sub"`
	Data    map[string]any      `json:"data"`
	Version int64               `json:"ver"`
	Headers map[string][]string `json:"headers"`
}

// newApp starts a real HTTP app server named name that behaves like a
// legacy app using Sidecar: it verifies the session JWT and reads and
// writes its session only through the protocol headers.
func newApp(t *testing.T, name string) *httptest.Server {
	t.Helper()
	verifier, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(headerSecret)})
	require.NoError(t, err)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := verifier.ParseHeader(r.Header.Get("X-Sidecar-Session"))
		if err != nil {
			http.Error(w, "unverified session header", http.StatusUnauthorized)
			return
		}
		q := r.URL.Query()
		switch r.URL.Path {
		case "/login":
			w.Header().Set("X-Sidecar-Patch", `{"user":"`+q.Get("user")+`"}`)
			w.Header().Set("X-Sidecar-Principal", q.Get("user"))
			w.Header().Set("X-Sidecar-Action", "regenerate")
		case "/set":
			w.Header().Set("X-Sidecar-Patch", `{"`+q.Get("k")+`":`+q.Get("v")+`}`)
		case "/incr": // read-modify-write of n, with time for others to interleave
			var d struct{ N int }
			_ = json.Unmarshal(claims.Data, &d)
			if m := q.Get("meet"); m != "" {
				meet(r, m)
			}
			time.Sleep(5 * time.Millisecond) // the app's work between its read and its write
			w.Header().Set("X-Sidecar-Patch", `{"n":`+strconv.Itoa(d.N+1)+`}`)
		case "/slow-set": // a write that arrives late, e.g. after a logout
			g := slowGate(q.Get("gate"))
			g.arrivedOnce.Do(func() { close(g.arrived) })
			select {
			case <-g.release:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("X-Sidecar-Patch", `{"`+q.Get("k")+`":`+q.Get("v")+`}`)
		case "/logout":
			w.Header().Set("X-Sidecar-Action", "destroy")
		case "/bad-patch":
			w.Header().Set("X-Sidecar-Patch", `{"user":"mallory"}`)
			w.Header().Add("X-Sidecar-Patch", `not json`)
		case "/slow":
			d, _ := time.ParseDuration(q.Get("d"))
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		var data map[string]any
		_ = json.Unmarshal(claims.Data, &data)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(appView{
			Server: name, New: claims.New, SID: claims.SID, Subject: claims.Subject,
			Data: data, Version: claims.Version, Headers: r.Header,
		})
	}))
	t.Cleanup(app.Close)
	return app
}

// baseConfig is a valid config for one Sidecar in front of upstream,
// listening on a free port.
func baseConfig(upstream string) *config.Config {
	c := config.Default()
	c.Listen = "127.0.0.1:0"
	c.Upstreams = []config.Upstream{{Name: "app", URL: upstream}}
	c.Session.Secrets = []config.Secret{cookieSecret}
	c.Headers.Secret = headerSecret
	c.Store.Type = config.StoreMemory
	c.Server.ShutdownTimeout = 5 * time.Second
	return &c
}

// startSidecar runs a whole Sidecar in-process and returns its base URL.
// Its log goes to a logTail: when the test fails, the end of it is printed.
// Each setup func runs on the new Main before Run (e.g. to set a test
// hook).
func startSidecar(t *testing.T, c *config.Config, setup ...func(*app.Main)) (*app.Main, string) {
	t.Helper()
	logs := &logTail{max: logTailLines, quiet: quietLine}
	name := "sidecar (not started)"
	// Registered first so it runs last, after the shutdown below has logged.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- end of the log of %s ----\n%s", name, logs)
		}
	})
	m, err := app.New(c, logs)
	require.NoError(t, err)
	for _, f := range setup {
		f(m)
	}
	require.NoError(t, m.Run(context.Background()), "starting Sidecar")
	name = "in-process sidecar on " + m.Addr()
	t.Cleanup(func() {
		// Idle client connections would hold the drain for its keep-alive
		// grace; these tests are done with them.
		http.DefaultClient.CloseIdleConnections()
		_ = m.Shutdown(context.Background())
	})
	return m, "http://" + m.Addr()
}

// logTailLines is how many of its last log lines an in-process Sidecar
// keeps for a failed test.
const logTailLines = 60

// quietLine matches the access-log lines of successful requests, which
// would bury everything else in a failure dump.
func quietLine(line string) bool {
	return strings.Contains(line, `"log":"access"`) && strings.Contains(line, `"level":"info"`)
}

// logTail keeps the last max lines written to it, for an in-process
// Sidecar's log; lines quiet matches are only counted. It is safe for
// concurrent use.
type logTail struct {
	max     int
	quiet   func(line string) bool // nil keeps every line
	quieted int
	mu      sync.Mutex
	ring    []string // the last lines, oldest at next once full
	next    int
	dropped int    // lines pushed out of the ring
	partial []byte // the start of a line not ended yet
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if l.quiet != nil && l.quiet(line) {
			l.quieted++
			continue
		}
		if len(l.ring) < l.max {
			l.ring = append(l.ring, line)
			continue
		}
		l.ring[l.next] = line
		l.next = (l.next + 1) % l.max
		l.dropped++
	}
	if len(l.partial) == 0 {
		l.partial = nil // let a long line's buffer go
	}
	return len(p), nil
}

// String is the kept lines, oldest first, after a count of those dropped.
func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	if l.quieted > 0 {
		fmt.Fprintf(&b, "(%d access-log lines of successful requests left out)\n", l.quieted)
	}
	if l.dropped > 0 {
		fmt.Fprintf(&b, "(%d earlier lines not kept)\n", l.dropped)
	}
	for i := range l.ring {
		b.WriteString(l.ring[(l.next+i)%len(l.ring)])
		b.WriteByte('\n')
	}
	if len(l.partial) > 0 {
		b.Write(l.partial)
		b.WriteByte('\n')
	}
	return b.String()
}

// requestTimeout bounds each request a test sends by hand, so a hung
// request fails the test naming it instead of running into -timeout.
const requestTimeout = 30 * time.Second

// client sends requests by hand so tests control the Cookie header.
type client struct {
	t      *testing.T
	cookie string // the sidecar_sid value
}

// reply is one response as a client saw it, for assertions that say what
// went wrong.
type reply struct {
	Method, URL string
	Status      int
	RequestID   string         // Sidecar's X-Request-Id, to find it in its log
	Body        string         // the body when it is not the app's JSON view
	View        appView        // the app's view when the body is one
	Resp        *http.Response // body already read and closed
}

func (r reply) String() string {
	s := fmt.Sprintf("%s %s: status %d, request id %q", r.Method, r.URL, r.Status, r.RequestID)
	if r.Body != "" {
		s += fmt.Sprintf(", body %q", r.Body)
	}
	return s
}

// get sends one GET through base with the client's cookie and keeps any
// cookie the response sets. A request that gets no response fails the test.
func (c *client) get(base, path string, extra http.Header) (*http.Response, appView) {
	c.t.Helper()
	r := c.do(base, path, extra)
	return r.Resp, r.View
}

// do is get returning the whole reply.
func (c *client) do(base, path string, extra http.Header) reply {
	c.t.Helper()
	r, err := c.try(base, path, extra)
	require.NoError(c.t, err, "GET %s%s", base, path)
	return r
}

// try is do returning a transport error instead of failing the test, for
// goroutines other than the test's.
func (c *client) try(base, path string, extra http.Header) (reply, error) {
	r := reply{Method: http.MethodGet, URL: base + path}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return r, err
	}
	for k, vs := range extra {
		req.Header[k] = vs
	}
	if c.cookie != "" {
		req.Header.Add("Cookie", "sidecar_sid="+c.cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	r.Resp, r.Status, r.RequestID = resp, resp.StatusCode, resp.Header.Get("X-Request-Id")
	for _, ck := range resp.Cookies() {
		if ck.Name == "sidecar_sid" {
			if ck.MaxAge < 0 {
				c.cookie = ""
			} else {
				c.cookie = ck.Value
			}
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return r, fmt.Errorf("reading the body of %s (status %d): %w", r.URL, r.Status, err)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Unmarshal(body, &r.View) == nil {
		return r, nil
	}
	r.Body = strings.TrimSpace(string(body))
	return r, nil
}

// requireOK fails the test unless r is a 200, naming the request, its
// status, its body and its request id (to find in the log tail printed
// after the failure).
func requireOK(t *testing.T, r reply, what string, args ...any) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "%s: %s", fmt.Sprintf(what, args...), r)
}

func setCookieFor(resp *http.Response) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == "sidecar_sid" {
			return ck
		}
	}
	return nil
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// slowGates lets a test hold /slow-set requests in the app: a request
// signals arrived, then waits until the test closes release, for the gate
// named by its ?gate= parameter. The first two /incr?meet= requests of a
// gate wait in the app for each other (test-only coordination).
var slowGates sync.Map // gate name -> *gate

type gate struct {
	arrived, release chan struct{}
	arrivedOnce      sync.Once
	// met is closed when the second /incr?meet= request arrives.
	met   chan struct{}
	meets atomic.Int64
}

// newGate makes a gate for t and returns its name (safe in a query
// string). t.Cleanup forgets it, so a test run again (-count) gets a fresh
// one.
func newGate(t *testing.T) string {
	name := fmt.Sprintf("gate-%p", t)
	slowGates.Store(name, &gate{arrived: make(chan struct{}), release: make(chan struct{}), met: make(chan struct{})})
	t.Cleanup(func() { slowGates.Delete(name) })
	return name
}

// slowGate is the gate named name; the app gets a fresh one for a name no
// test made (and the test then fails on what it awaited).
func slowGate(name string) *gate {
	g, _ := slowGates.LoadOrStore(name, &gate{arrived: make(chan struct{}), release: make(chan struct{}), met: make(chan struct{})})
	return g.(*gate)
}

// meet holds the first two requests for the gate name until both are
// here; later ones pass at once. It gives up after requestTimeout (or when
// the request ends), so a lone request is late, never stuck.
func meet(r *http.Request, name string) {
	g := slowGate(name)
	if g.meets.Add(1) == 2 {
		close(g.met)
	}
	t := time.NewTimer(requestTimeout)
	defer t.Stop()
	select {
	case <-g.met:
	case <-t.C:
	case <-r.Context().Done():
	}
}

// pollEvery is how often a test re-checks a condition it waits for.
const pollEvery = 10 * time.Millisecond

// waitUntil polls cond every pollEvery until it holds, failing the test
// after readyTimeout with what it waited for and the last state cond
// reported. cond runs on the test's goroutine.
func waitUntil(t testing.TB, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %s", readyTimeout, what, state)
		}
		time.Sleep(pollEvery)
	}
}

// waitClosed waits until ch is closed, failing the test after readyTimeout
// with what it waited for.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(readyTimeout):
		t.Fatalf("waited %v for %s", readyTimeout, what)
	}
}

// receive waits for a value on ch, failing the test after readyTimeout
// with what it waited for.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(readyTimeout):
		t.Fatalf("waited %v for %s", readyTimeout, what)
		var zero T
		return zero
	}
}
