package integration

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrorPagesOfTheBinary runs the real binary in front of an app that
// is down, with an operator's 502.html: browsers get it with the request
// id filled in, API clients the built-in JSON, and neither learns the
// upstream's name or address. Rewriting the page and sending SIGHUP
// serves the new page; a page that breaks the rules (over 64 KiB) is
// refused with the reason logged, and the last good page stays.
func TestErrorPagesOfTheBinary(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there: every try is refused

	dir := t.TempDir()
	writePage := func(name, content string) { replaceFile(t, filepath.Join(dir, name), content) }
	writePage("502.html", "<p>Back soon. Ref {{request_id}}</p>")
	spec := sidecarSpec{Upstreams: []upstreamSpec{{Name: "billing-backend", URL: down}}, Set: map[string]any{
		"proxy.error_pages.dir": dir,
		"proxy.retry.attempts":  1,
	}}
	sc := startSidecarProc(t, spec)
	spec.Listen = sc.addr
	body := spec.yaml(t)

	get := func(accept string) (status int, contentType, id, page string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, sc.URL()+"/", nil)
		require.NoError(t, err)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		page = string(b)
		for _, leak := range []string{"billing-backend", ln.Addr().String(), "refused", "dial"} {
			assert.NotContains(t, page, leak, "the error page leaks %q", leak)
		}
		return resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Request-Id"), page
	}
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

	status, ctype, id, page := get(browser)
	require.Equal(t, http.StatusBadGateway, status)
	assert.Equal(t, "text/html; charset=utf-8", ctype)
	assert.Equal(t, "<p>Back soon. Ref "+id+"</p>", page)

	status, ctype, id, page = get("application/json")
	require.Equal(t, http.StatusBadGateway, status)
	assert.Equal(t, "application/json", ctype)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(page), &got))
	assert.Equal(t, map[string]any{"status": 502.0, "error": "Bad Gateway", "request_id": id}, got)

	// SIGHUP reads the pages again, though the config is unchanged.
	writePage("502.html", "<p>Maintenance until noon. Ref {{request_id}}</p>")
	writePage("502.json", `{"error":"maintenance","ref":"{{request_id}}"}`)
	require.True(t, sc.reload(body), "the new pages are applied:\n%s", sc.p.dump())
	_, _, id, page = get(browser)
	assert.Equal(t, "<p>Maintenance until noon. Ref "+id+"</p>", page)
	_, _, id, page = get("application/json")
	assert.JSONEq(t, `{"error":"maintenance","ref":"`+id+`"}`, page)

	// A page over the limit is refused; the last good pages stay.
	writePage("502.html", strings.Repeat("x", 64<<10+1))
	assert.False(t, sc.reload(body), "an oversized page is refused")
	assert.Contains(t, lastRefusal(sc), "proxy.error_pages.dir: error page 502.html: larger than 65536 bytes")
	_, _, id, page = get(browser)
	assert.Equal(t, "<p>Maintenance until noon. Ref "+id+"</p>", page)
	sc.stop()
}
