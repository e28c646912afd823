package proxy_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
)

// pageDir writes files (name → content) to a new directory.
func pageDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	return dir
}

// closedUpstream is the URL of a port nothing listens on: every request
// to it is refused, a 502.
func closedUpstream(t *testing.T) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return &url.URL{Scheme: "http", Host: addr}
}

// refused returns a proxy env whose only upstream, named
// "secret-backend-7", refuses connections, with pages (nil: built-in).
func refused(t *testing.T, pages *proxy.ErrorPages) *env {
	t.Helper()
	up := closedUpstream(t)
	return newEnv(t, func(o *proxy.Options) {
		o.Upstreams = []proxy.Upstream{{Name: "secret-backend-7", URL: up}}
		o.ErrorPages = pages
	})
}

// assertLeaksNothing checks that an error body names no part of the system.
func assertLeaksNothing(t *testing.T, body string) {
	t.Helper()
	for _, leak := range []string{"secret-backend-7", "127.0.0.1", "refused", "dial", "tcp", "store", "upstream"} {
		assert.NotContains(t, strings.ToLower(body), leak)
	}
}

func TestBuiltinErrorPages(t *testing.T) {
	e := refused(t, nil)
	for _, tc := range []struct {
		accept, contentType string
	}{
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html; charset=utf-8"},
		{"application/json", "application/json"},
		{"*/*", "text/plain; charset=utf-8"},
		{"", "text/plain; charset=utf-8"},
	} {
		resp := e.do("", map[string]string{"Accept": tc.accept})
		b := body(t, resp)
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode, tc.accept)
		assert.Equal(t, tc.contentType, resp.Header.Get("Content-Type"), tc.accept)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		assert.Equal(t, "Accept", resp.Header.Get("Vary"))
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		id := resp.Header.Get("X-Request-Id")
		require.NotEmpty(t, id)
		assertLeaksNothing(t, b)
		switch tc.contentType {
		case "application/json":
			var got map[string]any
			require.NoError(t, json.Unmarshal([]byte(b), &got), b)
			assert.Equal(t, map[string]any{"status": 502.0, "error": "Bad Gateway", "request_id": id}, got)
		case "text/html; charset=utf-8":
			assert.Contains(t, b, "<h1>502 Bad Gateway</h1>")
			assert.Contains(t, b, "Request id: "+id)
		default:
			assert.Equal(t, "502 Bad Gateway\n", b)
		}
	}
}

func TestOperatorErrorPages(t *testing.T) {
	dir := pageDir(t, map[string]string{
		"502.html":  "<p>We are on it. Reference {{request_id}}.</p>",
		"503.json":  `{"message":"maintenance","ref":"{{request_id}}"}`,
		"notes.txt": "ignored",
	})
	pages, err := proxy.LoadErrorPages(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"502.html", "503.json"}, pages.Custom())
	e := refused(t, pages)

	resp := e.do("", map[string]string{"Accept": "text/html"})
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Equal(t, "<p>We are on it. Reference "+resp.Header.Get("X-Request-Id")+".</p>", body(t, resp))

	resp = e.do("", map[string]string{"Accept": "application/json"})
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(body(t, resp)), &got))
	assert.Equal(t, "Bad Gateway", got["error"], "no 502.json: the built-in JSON")

	// A 503: the store is down for a request with a session.
	e2 := newEnv(t, func(o *proxy.Options) { o.ErrorPages = pages })
	e2.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Patch", `{"a":1}`) })
	c := sessionCookie(t, e2.do("", nil))
	require.NotNil(t, c)
	e2.store.down.Store(true)
	resp = e2.do(c.Value, map[string]string{"Accept": "application/json"})
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"message":"maintenance","ref":"`+resp.Header.Get("X-Request-Id")+`"}`, body(t, resp))
}

func TestSetErrorPagesSwapsPages(t *testing.T) {
	up := closedUpstream(t)
	e := newEnv(t, func(o *proxy.Options) { o.Upstreams = []proxy.Upstream{{Name: "app1", URL: up}} })
	first := e.do("", map[string]string{"Accept": "text/html"})
	assert.Contains(t, body(t, first), "502 Bad Gateway")
	pages, err := proxy.LoadErrorPages(pageDir(t, map[string]string{"502.html": "new page"}))
	require.NoError(t, err)
	e.proxy.SetErrorPages(pages)
	assert.Equal(t, "new page", body(t, e.do("", map[string]string{"Accept": "text/html"})))
	e.proxy.SetErrorPages(nil)
	assert.Contains(t, body(t, e.do("", map[string]string{"Accept": "text/html"})), "<h1>502 Bad Gateway</h1>")
}

func TestErrorPagesEscapeTheRequestID(t *testing.T) {
	// Request ids are Sidecar's own hex today; a page must stay well
	// formed whatever an id holds.
	pages, err := proxy.LoadErrorPages(pageDir(t, map[string]string{
		"502.html": "<b>{{request_id}}</b>",
		"502.json": `{"ref":"{{request_id}}"}`,
	}))
	require.NoError(t, err)
	html, json := proxy.RenderErrorPage(pages, 502, "text/html", `<x>"&`), proxy.RenderErrorPage(pages, 502, "application/json", `"\`)
	assert.Equal(t, "<b>&lt;x&gt;&#34;&amp;</b>", html)
	assert.Equal(t, `{"ref":"\"\\"}`, json)
}

func TestLoadErrorPagesRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"no page":        {map[string]string{"502.htm": "misspelt"}, "holds no error page"},
		"too large":      {map[string]string{"503.html": strings.Repeat("x", proxy.MaxErrorPageBytes+1)}, "error page 503.html: larger than 65536 bytes"},
		"invalid JSON":   {map[string]string{"504.json": `{"ref": {{request_id}}}`}, "error page 504.json: not valid JSON"},
		"not UTF-8":      {map[string]string{"502.html": "caf\xe9"}, "error page 502.html: not UTF-8"},
		"a directory":    {map[string]string{"502.html/x": ""}, "error page 502.html:"},
		"at the bound":   {map[string]string{"503.html": strings.Repeat("x", proxy.MaxErrorPageBytes)}, ""},
		"placeholder ok": {map[string]string{"504.json": `{"ref":"{{request_id}}"}`}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for n, content := range tc.files {
				p := filepath.Join(dir, n)
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
				require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
			}
			_, err := proxy.LoadErrorPages(dir)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := proxy.LoadErrorPages(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorContains(t, err, "no such file or directory")
	pages, err := proxy.LoadErrorPages("")
	require.NoError(t, err)
	assert.Empty(t, pages.Custom())
}
