package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// TestWebSocketUpgradePassesThrough sends an HTTP/1.1 Upgrade (the
// mechanism WebSockets use) through the sidecar binary to testapp's
// /echo: the handshake reaching the app carries exactly one valid
// X-Sidecar-Session JWT for the client's session (forged ones stripped),
// bytes echo both ways through the tunnel, and the access log records the
// request with status 101 (a regression test: httputil.ReverseProxy writes
// the 101 on the hijacked connection, so the log once said status 0).
func TestWebSocketUpgradePassesThrough(t *testing.T) {
	rs := redistest.Start(t)
	app := startApp(t, "app1")
	spec := poolSpec(rs.Addr(), app)
	// testapp's tunnel protocol is "echo"; only listed protocols are
	// tunnelled (the default lists websocket alone).
	spec.Set["proxy.upgrades"] = []string{"websocket", "echo"}
	sc := startSidecarProc(t, spec)

	// Log in over plain HTTP and learn the session's public handle.
	cookie := login(t, sc.URL(), "ann")
	req, err := http.NewRequest(http.MethodGet, sc.URL()+"/whoami", nil)
	require.NoError(t, err)
	req.Header.Set("Cookie", "sidecar_sid="+cookie)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var who struct {
		SID string `json:"sid"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&who))
	drain(resp.Body)
	require.NotEmpty(t, who.SID)

	conn, err := net.DialTimeout("tcp", sc.addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	handshake := "GET /echo HTTP/1.1\r\nHost: example.test\r\n" +
		"Connection: Upgrade\r\nUpgrade: echo\r\n" +
		"Cookie: sidecar_sid=" + cookie + "\r\n" +
		"X-Sidecar-Session: forged\r\nx_sidecar_session: forged\r\n\r\n"
	_, err = io.WriteString(conn, handshake)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode, "%s", sc.p.dump())
	assert.Equal(t, "echo", resp.Header.Get("Upgrade"))
	for k := range resp.Header {
		assert.False(t, strings.HasPrefix(strings.ToLower(k), "x-sidecar-"), "Sidecar's header %s reached the client", k)
	}

	// What the app saw in the handshake: it verified the JWT (HS256, exp,
	// iss, aud) before switching, or it would have answered 401.
	line, err := br.ReadBytes('\n')
	require.NoError(t, err)
	var v struct {
		Server         string          `json:"server"`
		New            bool            `json:"new"`
		SID            string          `json:"sid"`
		Sub            string          `json:"sub"`
		Data           json.RawMessage `json:"data"`
		SessionHeaders int             `json:"session_headers"`
		RequestID      string          `json:"request_id"`
	}
	require.NoError(t, json.Unmarshal(line, &v), "%s", line)
	assert.Equal(t, 1, v.SessionHeaders, "exactly one session header reaches the app")
	assert.False(t, v.New)
	assert.Equal(t, who.SID, v.SID, "the JWT names the session of the client's cookie")
	assert.Equal(t, "ann", v.Sub)
	assert.JSONEq(t, `{"user":"ann"}`, string(v.Data))
	require.NotEmpty(t, v.RequestID)

	// Bytes both ways: small messages in turn, then 1 MiB written while
	// it is read back.
	for i := range 5 {
		msg := fmt.Sprintf("ping %d\n", i)
		_, err := io.WriteString(conn, msg)
		require.NoError(t, err)
		got, err := br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, msg, got)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	wrote := make(chan error, 1)
	go func() { _, err := conn.Write(big); wrote <- err }() // exits when the write completes or the conn closes
	echoed := make([]byte, len(big))
	_, err = io.ReadFull(br, echoed)
	require.NoError(t, err)
	require.NoError(t, <-wrote)
	assert.True(t, bytes.Equal(big, echoed), "1 MiB echoed intact")

	// Closing our side ends the tunnel; then the access log has the line.
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Empty(t, rest)
	var entry map[string]any
	waitFor(t, sc.p, "an access-log line for /echo", func() bool {
		for _, e := range sc.logEntries() {
			if e["log"] == "access" && e["path"] == "/echo" {
				entry = e
				return true
			}
		}
		return false
	})
	assert.Equal(t, v.RequestID, entry["request_id"])
	assert.Equal(t, "app1", entry["upstream"])
	assert.EqualValues(t, http.StatusSwitchingProtocols, entry["status"],
		"the access log records the upgrade as 101: %v", entry)
}

// login POSTs /login?user=user through Sidecar and returns the session
// cookie it sets.
func login(t *testing.T, base, user string) string {
	t.Helper()
	resp, err := http.Post(base+"/login?user="+user, "", nil)
	require.NoError(t, err)
	drain(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	ck := setCookieFor(resp)
	require.NotNil(t, ck, "login sets the session cookie")
	return ck.Value
}
