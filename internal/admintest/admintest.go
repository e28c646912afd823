// Package admintest starts a real admin API for the tests of the commands
// that call it (package admin/cli, and cmd/sidecar's --config lookup): a
// real admin.Handler over a real proxy.Pool, whose upstreams are httptest
// servers, and a real sessions.Manager on a memory store.
package admintest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// Token is the admin API's bearer token.
const Token = "upstreams-test-admin-token-0123"

// cookieSecret signs the Manager's cookies.
const cookieSecret = "upstreams-test-cookie-secret-0123456789ab"

// API is a running admin API. Everything is closed when the test ends.
type API struct {
	// Pool is the upstream pool the API drains and lists.
	Pool *proxy.Pool
	// Sessions is the Manager the API lists and revokes sessions of.
	Sessions *sessions.Manager
	// Server serves the API.
	Server *httptest.Server
	// TokenFile holds Token and a newline.
	TokenFile string
}

// New starts an admin API over a pool of one httptest upstream for each
// of names (answering its name). It fails the test on error.
func New(t testing.TB, names ...string) *API {
	t.Helper()
	var ups []proxy.Upstream
	for _, name := range names {
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(app.Close)
		u, err := url.Parse(app.URL)
		check(t, err)
		ups = append(ups, proxy.Upstream{Name: name, URL: u})
	}
	pool, err := proxy.NewPool(proxy.PoolOptions{Upstreams: ups}, nil, zerolog.Nop())
	check(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	check(t, err)
	m, err := sessions.NewManager(sessions.Options{Store: mem, Signer: signer})
	check(t, err)
	h, err := admin.New(admin.Options{Token: []byte(Token), Pool: pool, Sessions: m})
	check(t, err)
	a := &API{Pool: pool, Sessions: m, Server: httptest.NewServer(h), TokenFile: WriteFile(t, "token", Token+"\n")}
	t.Cleanup(a.Server.Close)
	return a
}

// Flags are the command-line flags that reach a's API.
func (a *API) Flags() []string {
	return []string{"--admin", a.Server.URL, "--token-file", a.TokenFile}
}

// Login creates a session of principal p from a client at 2001:db8::1
// whose User-Agent is ua, and returns its handle.
func (a *API) Login(t testing.TB, p, ua string) string {
	t.Helper()
	s := a.Sessions.Identify("")
	s.SetClient(netip.MustParseAddr("2001:db8::1"), ua)
	check(t, a.Sessions.Commit(context.Background(), s, &sessions.Change{Principal: &p}))
	return s.SID()
}

// WriteFile writes content to a file name in a fresh t.TempDir() and
// returns its path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	check(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// check fails the test on err.
func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
