package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/server"
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
func startSidecar(t *testing.T, c *config.Config) (*server.Main, string) {
	t.Helper()
	m, err := server.New(c, io.Discard)
	require.NoError(t, err)
	require.NoError(t, m.Run(context.Background()))
	t.Cleanup(func() {
		// Idle client connections would hold the drain for its keep-alive
		// grace; these tests are done with them.
		http.DefaultClient.CloseIdleConnections()
		_ = m.Shutdown(context.Background())
	})
	return m, "http://" + m.Addr()
}

// client sends requests by hand so tests control the Cookie header.
type client struct {
	t      *testing.T
	cookie string // the sidecar_sid value
}

func (c *client) get(base, path string, extra http.Header) (*http.Response, appView) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	require.NoError(c.t, err)
	for k, vs := range extra {
		req.Header[k] = vs
	}
	if c.cookie != "" {
		req.Header.Add("Cookie", "sidecar_sid="+c.cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "sidecar_sid" {
			if ck.MaxAge < 0 {
				c.cookie = ""
			} else {
				c.cookie = ck.Value
			}
		}
	}
	var v appView
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(c.t, json.NewDecoder(resp.Body).Decode(&v))
	}
	return resp, v
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
// named by its ?gate= parameter (test-only coordination).
var slowGates sync.Map // gate name -> *gate

type gate struct {
	arrived, release chan struct{}
	arrivedOnce      sync.Once
}

func slowGate(name string) *gate {
	g, _ := slowGates.LoadOrStore(name, &gate{arrived: make(chan struct{}), release: make(chan struct{})})
	return g.(*gate)
}
