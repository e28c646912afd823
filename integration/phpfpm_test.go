package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/sessions"
)

// The strictest common front for Sidecar's header: Debian's nginx with
// php-fpm, both at their default limits (a request header line of at most
// 8 KB: large_client_header_buffers 4 8k). Both are started by the test
// as child processes with their own configuration, pid and log paths in
// a temporary directory, never as the system services. .ci/run installs
// them; a missing one fails the test.

// phpApp is the PHP app: it verifies the session JWT the way a PHP app
// would (HS256 with the shared secret, exp, iss, aud) and reports the
// length of the X-Sidecar-Session header it got and the claims in it.
// ?fill=N writes a session attribute "blob" of N bytes of "x"; ?logout
// destroys the session.
const phpApp = `<?php
$raw = $_SERVER['HTTP_X_SIDECAR_SESSION'] ?? '';
$secret = getenv('SIDECAR_HEADER_SECRET');
$b64u = fn($s) => base64_decode(strtr($s, '-_', '+/'));
$parts = explode('.', $raw);
$claims = null;
if (count($parts) === 3) {
    $mac = rtrim(strtr(base64_encode(hash_hmac('sha256', $parts[0] . '.' . $parts[1], $secret, true)), '+/', '-_'), '=');
    $head = json_decode($b64u($parts[0]));
    $c = json_decode($b64u($parts[1]));
    if (hash_equals($mac, $parts[2]) && $head && $head->alg === 'HS256' && $c
        && $c->exp >= time() && $c->iss === 'sidecar' && $c->aud === 'app') {
        $claims = $c;
    }
}
if (isset($_GET['fill'])) {
    header('X-Sidecar-Patch: ' . json_encode(['blob' => str_repeat('x', (int)$_GET['fill'])]));
}
if (isset($_GET['logout'])) {
    header('X-Sidecar-Action: destroy');
}
header('Content-Type: text/plain; charset=utf-8'); // the raw report, as the client keeps it
echo json_encode([
    'len' => strlen($raw),
    'verified' => $claims !== null,
    'claims' => $claims,
    'cookie_len' => strlen($_SERVER['HTTP_COOKIE'] ?? ''),
]);
`

// phpView is what phpApp reports.
type phpView struct {
	Len      int  `json:"len"`
	Verified bool `json:"verified"`
	Claims   struct {
		New         bool              `json:"new"`
		SID         string            `json:"sid"`
		Version     int64             `json:"ver"`
		Data        map[string]string `json:"data"`
		DataOmitted bool              `json:"data_omitted"`
	} `json:"claims"`
	CookieLen int `json:"cookie_len"`
}

// browserHeaders are what a desktop Chrome sends besides the session
// cookie, with 1.5 KB of the site's other cookies: the header budget must
// leave room for them.
func browserHeaders() http.Header {
	return http.Header{
		"User-Agent":                {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"},
		"Accept":                    {"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"},
		"Accept-Encoding":           {"gzip, deflate, br, zstd"},
		"Accept-Language":           {"en-GB,en;q=0.9,de-DE;q=0.8,de;q=0.7,fr;q=0.6"},
		"Referer":                   {"https://app.example.com/account/orders?status=open&sort=date&page=3"},
		"Sec-Ch-Ua":                 {`"Not/A)Brand";v="8", "Chromium";v="126", "Google Chrome";v="126"`},
		"Sec-Ch-Ua-Mobile":          {"?0"},
		"Sec-Ch-Ua-Platform":        {`"Windows"`},
		"Sec-Fetch-Dest":            {"document"},
		"Sec-Fetch-Mode":            {"navigate"},
		"Sec-Fetch-Site":            {"same-origin"},
		"Sec-Fetch-User":            {"?1"},
		"Upgrade-Insecure-Requests": {"1"},
		"Cookie":                    {"_ga=GA1.1." + strings.Repeat("7", 1500)},
	}
}

// TestSessionAtHeaderBudgetThroughNginxPHPFPM is issue 9 item 3 end to
// end: a session whose header is exactly headers.max_bytes (the default)
// reaches a PHP app behind default nginx and php-fpm whole; one byte more
// is refused by Sidecar (502, session unchanged) instead of being stored
// and then bounced by nginx with 400 on every later request; and a session
// written before the budget is sent without its data, so the user can
// still log out.
func TestSessionAtHeaderBudgetThroughNginxPHPFPM(t *testing.T) {
	front := startNginxPHPFPM(t)
	requireNginxRefusesLongHeaderLine(t, front)

	c := baseConfig(front)
	require.Equal(t, sessions.DefaultHeaderMaxBytes, c.Headers.MaxBytes, "the test is about the default")
	c.Session.MaxBytes = 1 << 16 // let the header budget be the limit
	// The test client stands for a load balancer whose request ids are as
	// long as Sidecar takes (the budget assumes the longest): the header
	// then reaches the budget exactly.
	c.Server.TrustedProxies = config.TrustedProxies{"127.0.0.1"}
	m, base := startSidecar(t, c)
	budget := c.Headers.MaxBytes

	get := func(cl *client, path string) (reply, phpView) {
		t.Helper()
		h := browserHeaders()
		h.Set("X-Request-Id", strings.Repeat("r", sessions.MaxRequestIDLen))
		r := cl.do(base, path, h)
		var v phpView
		if r.Status == http.StatusOK {
			require.NoError(t, json.Unmarshal([]byte(r.Body), &v), "%s", r)
			require.True(t, v.Verified, "the PHP app verifies the header: %s", r)
			require.Equal(t, 1500+len("_ga=GA1.1."), v.CookieLen, "the browser's other cookies reach the app")
		}
		return r, v
	}

	// The blob size whose session header (version 2: a create, then the
	// write) is as long as the budget allows.
	signer, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(headerSecret), MaxBytes: budget})
	require.NoError(t, err)
	headerLen := func(n int) int {
		now := time.Now()
		return signer.Len(&sessions.Record{Attrs: map[string]json.RawMessage{"blob": json.RawMessage(`"` + strings.Repeat("x", n) + `"`)},
			Version: 2, Created: now, IdleExp: now, AbsExp: now})
	}
	n := 0
	for headerLen(n+1) <= budget {
		n++
	}
	t.Logf("headers.max_bytes %d: the largest blob is %d bytes (session %d bytes), header %d bytes", budget, n, n+len("blob")+2, headerLen(n))

	cl := &client{t: t}
	r, _ := get(cl, "/app.php?fill=1")
	requireOK(t, r, "creating the session")
	r, _ = get(cl, fmt.Sprintf("/app.php?fill=%d", n))
	requireOK(t, r, "writing a session whose header is at the budget")
	r, v := get(cl, "/app.php")
	requireOK(t, r, "reading the session at the budget back")
	assert.Equal(t, headerLen(n), v.Len, "the app got the header whole")
	assert.Equal(t, budget, v.Len, "the header is exactly headers.max_bytes")
	assert.Equal(t, strings.Repeat("x", n), v.Claims.Data["blob"])
	assert.Equal(t, int64(2), v.Claims.Version)
	assert.False(t, v.Claims.DataOmitted)

	r, _ = get(cl, fmt.Sprintf("/app.php?fill=%d", n+1))
	assert.Equal(t, http.StatusBadGateway, r.Status, "one byte over the budget is refused: %s", r)
	r, v = get(cl, "/app.php")
	requireOK(t, r, "reading the session after the refused write")
	assert.Equal(t, strings.Repeat("x", n), v.Claims.Data["blob"], "session unchanged")
	assert.Equal(t, int64(2), v.Claims.Version)

	// A session from before the budget (the old default max_bytes, 8192)
	// would make an 11 KB header that nginx refuses on every request.
	old := oldSession(t, m.Store(), 8192)
	r, v = get(old, "/app.php")
	requireOK(t, r, "reading a session from before the budget")
	assert.True(t, v.Claims.DataOmitted, "sent without its data")
	assert.Nil(t, v.Claims.Data)
	assert.LessOrEqual(t, v.Len, budget)
	r, _ = get(old, "/app.php?logout=1")
	requireOK(t, r, "logging out of a session from before the budget")
	assert.Empty(t, old.cookie, "the cookie is expired")
}

// oldSession stores a session of size bytes as a Sidecar without a header
// budget would have, and returns a client holding its cookie.
func oldSession(t *testing.T, store sessions.Store, size int) *client {
	t.Helper()
	tok, err := sessions.NewToken()
	require.NoError(t, err)
	now := time.Now().Truncate(time.Millisecond)
	rec := &sessions.Record{Attrs: map[string]json.RawMessage{"cart": json.RawMessage(`"` + strings.Repeat("c", size-len("cart")-2) + `"`)},
		Principal: "ann", Version: 1, Created: now, IdleExp: now.Add(time.Hour), AbsExp: now.Add(2 * time.Hour)}
	require.Equal(t, size, rec.Size())
	require.NoError(t, store.Create(context.Background(), tok.Key(), rec))
	signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	require.NoError(t, err)
	return &client{t: t, cookie: signer.Sign(tok)}
}

// requireNginxRefusesLongHeaderLine checks that the front is as strict as
// a default nginx: a request header line past 8 KB gets 400.
func requireNginxRefusesLongHeaderLine(t *testing.T, front string) {
	t.Helper()
	for value, want := range map[int]int{8192 - len("X-Big: ") - 2: http.StatusOK, 8192 - len("X-Big: ") - 1: http.StatusBadRequest} {
		req, err := http.NewRequest(http.MethodGet, front+"/app.php", nil)
		require.NoError(t, err)
		req.Header.Set("X-Big", strings.Repeat("b", value))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		drain(resp.Body)
		require.Equal(t, want, resp.StatusCode, "nginx with a header line of %d bytes", len("X-Big: ")+value+2)
	}
}

// startNginxPHPFPM starts php-fpm on a unix socket and nginx on a free
// port in front of it, serving phpApp as /app.php, and returns nginx's
// base URL once a PHP request goes through.
func startNginxPHPFPM(t *testing.T) string {
	t.Helper()
	nginx := findBinary(t, "nginx", "nginx-light")
	fpm := findBinary(t, "php-fpm", "php-fpm")
	// A short directory of its own: a unix socket path is limited to 108
	// bytes, and t.TempDir's can be longer.
	dir, err := os.MkdirTemp("", "sidecar-php-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	root := filepath.Join(dir, "www")
	require.NoError(t, os.Mkdir(root, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "app.php"), []byte(phpApp), 0o644))
	sock := filepath.Join(dir, "fpm.sock")

	// php-fpm: the pool's defaults, except where it listens and, since
	// the test may run as root, whom it runs as.
	fpmConf := filepath.Join(dir, "php-fpm.conf")
	require.NoError(t, os.WriteFile(fpmConf, []byte(fmt.Sprintf(`[global]
pid = %[1]s/php-fpm.pid
error_log = /proc/self/fd/2
daemonize = no

[app]
listen = %[2]s
pm = static
pm.max_children = 2
clear_env = no
catch_workers_output = yes
`, dir, sock)), 0o644))
	args := []string{"--nodaemonize", "--fpm-config", fpmConf}
	if os.Geteuid() == 0 {
		args = append(args, "--allow-to-run-as-root")
		require.NoError(t, appendFile(fpmConf, "user = root\n"))
	}
	fpmProc := startProc(t, "php-fpm", []string{"SIDECAR_HEADER_SECRET=" + headerSecret}, fpm, args...)
	stopGracefully(t, fpmProc, syscall.SIGQUIT)

	// nginx: the default limits (no buffer or size directive is set); one
	// process (master_process off), so no worker outlives the test.
	addr := freeAddr(t)
	nginxConf := filepath.Join(dir, "nginx.conf")
	temp := func(name string) string { return filepath.Join(dir, name) }
	require.NoError(t, os.WriteFile(nginxConf, []byte(fmt.Sprintf(`daemon off;
master_process off;
pid %s;
error_log stderr;
events {}
http {
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    server {
        listen %s;
        root %s;
        location ~ \.php$ {
            include /etc/nginx/fastcgi.conf;
            fastcgi_pass unix:%s;
        }
    }
}
`, temp("nginx.pid"), temp("body"), temp("proxy"), temp("fastcgi"), temp("uwsgi"), temp("scgi"), addr, root, sock)), 0o644))
	nginxProc := startProc(t, "nginx", nil, nginx, "-p", dir+"/", "-e", "stderr", "-c", nginxConf)
	stopGracefully(t, nginxProc, syscall.SIGTERM)

	base := "http://" + addr
	waitFor(t, fpmProc, "php-fpm socket", func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	waitFor(t, nginxProc, "a PHP answer through nginx", func() bool {
		if !fpmProc.running() {
			t.Fatalf("php-fpm exited (%s)\n%s", fpmProc.exitStatus(), fpmProc.dump())
		}
		resp, err := http.Get(base + "/app.php")
		if err != nil {
			return false
		}
		drain(resp.Body)
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// stopGracefully stops p with sig when the test ends, before startProc's
// SIGKILL: php-fpm takes its workers down with it only then.
func stopGracefully(t *testing.T, p *proc, sig syscall.Signal) {
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Signal(sig)
			select {
			case <-p.exited:
			case <-time.After(exitTimeout):
			}
		}
	})
}

// findBinary finds a server binary in PATH or in /usr/sbin (not in every
// user's PATH), preferring the newest of versioned names (php-fpm8.2). A
// missing one fails the test, naming the Debian package to install.
func findBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	var found []string
	for _, dir := range append(filepath.SplitList(os.Getenv("PATH")), "/usr/sbin", "/usr/local/sbin") {
		m, _ := filepath.Glob(filepath.Join(dir, name+"*"))
		found = append(found, m...)
	}
	slices.Sort(found)
	if len(found) == 0 {
		t.Fatalf("%s is not installed: apt-get install %s (.ci/run does)", name, pkg)
	}
	return found[len(found)-1]
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	return errors.Join(err, f.Close())
}
