package integration

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// The secrets of the rotation test: the old pair, the new pair.
const (
	rotOldCookie = "rotation-old-cookie-secret-0123456789abcdef"
	rotNewCookie = "rotation-new-cookie-secret-0123456789abcdef"
	rotOldHeader = "rotation-old-header-secret-0123456789abcdef"
	rotNewHeader = "rotation-new-header-secret-0123456789abcdef"
)

// TestSecretRotationOnSIGHUP rotates the cookie and header secrets of the
// real binary, kept in files (session.secrets_file, headers.secret_file),
// by rewriting the files and sending SIGHUP: a cookie minted under the old
// secret still opens its session after the rotation to [new, old] and is
// re-issued under the new one, new cookies are signed with the new
// secret, and the app's session header verifies with the new header
// secret from the first request after the reload. A rotation that fails
// validation is refused with the reasons logged, and the running secrets
// stay. No secret ever appears in the log.
func TestSecretRotationOnSIGHUP(t *testing.T) {
	// The app echoes the session header it got; /write writes a session.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/write" {
			w.Header().Set("X-Sidecar-Patch", `{"user":"ann"}`)
		}
		_, _ = io.WriteString(w, r.Header.Get("X-Sidecar-Session"))
	}))
	t.Cleanup(app.Close)

	dir := t.TempDir()
	cookieFile, headerFile := filepath.Join(dir, "cookie-secrets"), filepath.Join(dir, "header-secret")
	writeSecret := func(path, content string) { replaceFile(t, path, content) }
	writeSecret(cookieFile, rotOldCookie+"\n")
	writeSecret(headerFile, rotOldHeader+"\n")
	spec := sidecarSpec{Upstreams: []upstreamSpec{{Name: "app1", URL: app.URL}}, Set: map[string]any{
		"session.secrets":      nil,
		"session.secrets_file": cookieFile,
		"headers.secret":       nil,
		"headers.secret_file":  headerFile,
	}}
	sc := startSidecarProc(t, spec)
	spec.Listen = sc.addr
	body := spec.yaml(t)

	get := func(path, cookie string) (status int, setCookie string, claims *sessions.Claims, headerSecret string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, sc.URL()+path, nil)
		require.NoError(t, err)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "sidecar_sid", Value: cookie})
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		jwt, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		for _, c := range resp.Cookies() {
			if c.Name == "sidecar_sid" {
				setCookie = c.Value
			}
		}
		for _, secret := range []string{rotOldHeader, rotNewHeader} {
			h, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(secret)})
			require.NoError(t, err)
			if c, err := h.ParseHeader(string(jwt)); err == nil {
				return resp.StatusCode, setCookie, c, secret
			}
		}
		t.Fatalf("GET %s: %d, the app's session header verifies under no header secret: %q\n%s", path, resp.StatusCode, jwt, sc.p.dump())
		return 0, "", nil, ""
	}
	signedWith := func(cookie string) string {
		t.Helper()
		for _, secret := range []string{rotOldCookie, rotNewCookie} {
			s, err := sessions.NewSigner([][]byte{[]byte(secret)})
			require.NoError(t, err)
			if _, _, err := s.Verify(cookie); err == nil {
				return secret
			}
		}
		return "none"
	}

	status, old, _, hs := get("/write", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, rotOldCookie, signedWith(old), "before the rotation, cookies are signed with the old secret")
	require.Equal(t, rotOldHeader, hs)

	// Rotate: the new cookie secret first, the old one kept to verify.
	writeSecret(cookieFile, "# new first, old until its cookies expire\n"+rotNewCookie+"\n"+rotOldCookie+"\n")
	writeSecret(headerFile, rotNewHeader+"\n")
	require.True(t, sc.reload(body), "the rotation is applied:\n%s", sc.p.dump())
	assert.Contains(t, reloadedKeys(sc), "session.secrets")
	assert.Contains(t, reloadedKeys(sc), "headers.secret")

	status, reissued, claims, hs := get("/", old)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, rotNewHeader, hs, "the app's header verifies with the new secret right after the reload")
	assert.False(t, claims.New, "the cookie minted under the old secret still opens its session")
	assert.JSONEq(t, `{"user":"ann"}`, string(claims.Data))
	assert.Equal(t, rotNewCookie, signedWith(reissued), "and is re-issued under the new secret")

	_, fresh, _, _ := get("/write", "")
	assert.Equal(t, rotNewCookie, signedWith(fresh), "new cookies are signed with the new secret")

	// Rotations that fail validation are refused; the running secrets stay.
	for name, tc := range map[string]struct{ cookies, header, reason string }{
		"short cookie secret":    {"too-short\n" + rotNewCookie + "\n", rotNewHeader, "session.secrets[0]: must be at least 32 bytes"},
		"header equals a cookie": {rotNewCookie + "\n" + rotOldCookie + "\n", rotOldCookie, "headers.secret: must differ from every session secret"},
		"empty secrets file":     {"# nothing yet\n", rotNewHeader, "session.secrets_file"},
	} {
		writeSecret(cookieFile, tc.cookies)
		writeSecret(headerFile, tc.header)
		refused := sc.count("config reload refused")
		require.False(t, sc.reload(body), "%s: refused", name)
		require.Equal(t, refused+1, sc.count("config reload refused"))
		assert.Contains(t, lastRefusal(sc), tc.reason, name)

		status, _, claims, hs := get("/", reissued)
		assert.Equal(t, http.StatusOK, status, name)
		assert.Equal(t, rotNewHeader, hs, "%s: the header secret stays", name)
		assert.False(t, claims.New, "%s: the session stays", name)
		_, c, _, _ := get("/write", "")
		assert.Equal(t, rotNewCookie, signedWith(c), "%s: the cookie secret stays", name)
	}

	out := sc.p.out.String()
	for _, secret := range []string{rotOldCookie, rotNewCookie, rotOldHeader, rotNewHeader, "too-short"} {
		assert.NotContains(t, out, secret, "a secret in the log")
	}
	sc.stop()
}

// reloadedKeys is the "applied" list of the last "config reloaded" entry.
func reloadedKeys(sc *sidecarProc) []string {
	var keys []string
	for _, e := range sc.logEntries() {
		if e["message"] != "config reloaded" {
			continue
		}
		keys = keys[:0]
		applied, _ := e["applied"].([]any)
		for _, k := range applied {
			s, _ := k.(string)
			keys = append(keys, s)
		}
	}
	return keys
}

// lastRefusal is the reasons of the last "config reload refused" entry.
func lastRefusal(sc *sidecarProc) string {
	reasons := ""
	for _, e := range sc.logEntries() {
		if m, _ := e["message"].(string); strings.HasPrefix(m, "config reload refused") {
			reasons, _ = e["reasons"].(string)
		}
	}
	return reasons
}

// replaceFile replaces the file at path with content in one rename, so a
// reload never reads half of it.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}
