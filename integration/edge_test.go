package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// serverVars is a PHP app that reports what it finds in $_SERVER for the
// forwarding headers, as a PHP app behind Sidecar reads them.
const serverVars = `<?php
header('Content-Type: application/json');
$keys = ['HTTP_X_FORWARDED_FOR', 'HTTP_X_FORWARDED_PROTO', 'HTTP_X_FORWARDED_HOST', 'HTTP_X_REQUEST_ID', 'HTTP_FORWARDED', 'HTTP_X_CUSTOM_HEADER'];
$out = [];
foreach ($keys as $k) { if (isset($_SERVER[$k])) { $out[$k] = $_SERVER[$k]; } }
echo json_encode((object)$out);
`

// phpBinary finds the PHP CLI: php on PATH, or Debian's versioned
// /usr/bin/phpX.Y when the php alternative is not configured.
func phpBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("php"); err == nil {
		return p
	}
	found, _ := filepath.Glob("/usr/bin/php[0-9]*")
	slices.Sort(found)
	if len(found) == 0 {
		t.Fatal("php is not installed: apt-get install php-cli (.ci/run does)")
	}
	return found[len(found)-1]
}

// startServerVars runs serverVars as index.php of a real PHP server
// (php -S) and returns its address.
func startServerVars(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.php"), []byte(serverVars), 0o600))
	addr := freeAddr(t)
	p := startProc(t, "php", nil, phpBinary(t), "-S", addr, "-t", dir)
	waitHTTP(t, p, "http://"+addr+"/index.php")
	return addr
}

// TestUnderscoreSpellingsNeverReachPHP pins issue 10's first finding on
// the shipped defaults: a client sending X_Forwarded_For, X_Forwarded_Proto
// or X_Request_Id got them to a PHP app as HTTP_X_FORWARDED_FOR and so on,
// in place of what Sidecar set, because PHP reads '_' and '-' alike. A
// real PHP server (php -S) behind an in-process Sidecar now sees only
// Sidecar's values, and no header with '_' at all.
func TestUnderscoreSpellingsNeverReachPHP(t *testing.T) {
	addr := startServerVars(t)
	_, base := startSidecar(t, baseConfig("http://"+addr))

	req, err := http.NewRequest(http.MethodGet, base+"/index.php", nil)
	require.NoError(t, err)
	for k, v := range map[string]string{ // written as given: Go does not respell them
		"X_Forwarded_For":   "7.7.7.7",
		"X_Forwarded_Proto": "https",
		"X_Forwarded_Host":  "evil.example",
		"X_Request_Id":      "attacker",
		"X.Forwarded.For":   "8.8.8.8",
		"X-Custom_Header":   "underscore",
	} {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.Regexp(t, "^[0-9a-f]{32}$", got["HTTP_X_REQUEST_ID"], "Sidecar's request id")
	delete(got, "HTTP_X_REQUEST_ID")
	assert.Equal(t, map[string]string{
		"HTTP_X_FORWARDED_FOR":   "127.0.0.1",
		"HTTP_X_FORWARDED_PROTO": "http",
		"HTTP_X_FORWARDED_HOST":  req.URL.Host,
		"HTTP_FORWARDED":         `for=127.0.0.1;host="` + req.URL.Host + `";proto=http`,
	}, got, "PHP sees Sidecar's forwarding headers and nothing the client spelled with '_' or '.'")
}

// TestH2CUpgradeNeverReachesApp pins issue 10's h2c finding on the shipped
// defaults with a real h2c-capable app (golang.org/x/net/http2/h2c, which
// switches to HTTP/2 on "Upgrade: h2c" as Java and Node servers do): a
// client asking for h2c through Sidecar gets a plain HTTP/1.1 answer, and
// the app sees a plain HTTP/1.1 request without Upgrade, so it never
// switches and no request inside a tunnel can bypass Sidecar.
func TestH2CUpgradeNeverReachesApp(t *testing.T) {
	seen := make(chan string, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- fmt.Sprintf("%s upgrade=%q", r.Proto, r.Header.Get("Upgrade"))
		_, _ = io.WriteString(w, "plain")
	})
	app := httptest.NewServer(h2c.NewHandler(h, &http2.Server{}))
	t.Cleanup(app.Close)
	m, _ := startSidecar(t, baseConfig(app.URL))

	c, err := net.Dial("tcp", m.Addr())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(requestTimeout)))
	_, err = io.WriteString(c, "GET /h2c HTTP/1.1\r\nHost: app\r\n"+
		"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "no 101: the upgrade was refused")
	assert.Equal(t, "HTTP/1.1", resp.Proto)
	assert.Equal(t, "plain", string(body))
	assert.Equal(t, `HTTP/1.1 upgrade=""`, receive(t, seen, "the app's request"))
}
