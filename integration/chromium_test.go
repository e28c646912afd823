package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/websocket"
)

// A headless Chromium driven over the DevTools protocol (CDP), for the
// status page test: Debian's chromium package, started as a process like
// the others (startProc), spoken to over one WebSocket (golang.org/x/net,
// already a dependency), one command at a time on the test's goroutine.
// Only the few commands the test needs: navigate, evaluate, screenshot.

// chromiumFlags run Chromium headless as root in a container, without
// the background traffic (updates, sync, QUIC) a test has no use for.
var chromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage", "--window-size=1280,900",
	// A name that resolves to the loopback address, as an attacker's does
	// in a DNS rebinding attack.
	"--host-resolver-rules=MAP rebind.test 127.0.0.1",
	// Port 0: Chromium picks one and writes it to DevToolsActivePort.
	"--remote-debugging-port=0", "--remote-allow-origins=http://127.0.0.1",
}

// chromium is one Chromium process and the page target the test drives.
type chromium struct {
	t       *testing.T
	conn    *websocket.Conn
	nextID  int
	session string // the page target's CDP session
}

// startChromium starts a headless Chromium with a fresh profile and opens
// a blank page in it. A missing chromium binary fails the test. The
// browser is closed (Browser.close, then killed if it lingers) when the
// test ends.
func startChromium(t *testing.T) *chromium {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: apt-get install chromium (.ci/run installs it)")
	}
	profile := t.TempDir()
	p := startProc(t, "chromium", nil, bin, append(chromiumFlags, "--user-data-dir="+profile, "about:blank")...)
	var port []byte
	waitFor(t, p, "chromium's DevTools port", func() bool {
		port, err = os.ReadFile(filepath.Join(profile, "DevToolsActivePort"))
		return err == nil && bytes.Count(port, []byte("\n")) >= 1
	})
	lines := strings.Split(strings.TrimSpace(string(port)), "\n")
	require.Len(t, lines, 2, "DevToolsActivePort: %q", port)
	conn, err := websocket.Dial("ws://127.0.0.1:"+lines[0]+lines[1], "", "http://127.0.0.1")
	require.NoError(t, err, "connecting to chromium's DevTools")
	b := &chromium{t: t, conn: conn}
	t.Cleanup(func() {
		_ = b.send("Browser.close", nil, "")
		_ = conn.Close()
		select {
		case <-p.exited:
		case <-time.After(exitTimeout):
			p.kill()
		}
	})
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call("Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	b.call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	b.session = attached.SessionID
	return b
}

// cdpMessage is a DevTools message: a command's answer (ID set) or an
// event (Method set), which the test ignores.
type cdpMessage struct {
	ID     int             `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// send sends one command to the browser (session "") or to a target's
// session; the command's id is b.nextID.
func (b *chromium) send(method string, params any, session string) error {
	b.nextID++
	msg := map[string]any{"id": b.nextID, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	return websocket.JSON.Send(b.conn, msg)
}

// call runs method (on the page once it is attached, on the browser for
// Target.* and Browser.*) and decodes its result into result (nil:
// discard), failing the test on an error or no answer within
// readyTimeout.
func (b *chromium) call(method string, params, result any) {
	b.t.Helper()
	if err := b.try(method, params, result); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
}

// try is call, returning the error Chromium answered with (such as
// "Inspected target navigated or closed" while a page navigates) instead
// of failing the test; a broken connection still fails it.
func (b *chromium) try(method string, params, result any) error {
	b.t.Helper()
	session := b.session
	if strings.HasPrefix(method, "Target.") || strings.HasPrefix(method, "Browser.") {
		session = ""
	}
	require.NoError(b.t, b.send(method, params, session), "sending %s", method)
	id := b.nextID
	require.NoError(b.t, b.conn.SetReadDeadline(time.Now().Add(readyTimeout)))
	for {
		var m cdpMessage
		require.NoError(b.t, websocket.JSON.Receive(b.conn, &m), "waiting for the answer to %s", method)
		if m.ID != id {
			continue // an event, or the answer to an earlier command
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
		if result != nil {
			require.NoError(b.t, json.Unmarshal(m.Result, result), "%s's result", method)
		}
		return nil
	}
}

// navigate loads url in the page (without waiting for it to load: wait
// for what the test expects with waitDOM).
func (b *chromium) navigate(url string) {
	b.t.Helper()
	var r struct {
		ErrorText string `json:"errorText"`
	}
	b.call("Page.navigate", map[string]any{"url": url}, &r)
	require.Empty(b.t, r.ErrorText, "navigating to the page")
}

// eval evaluates the JavaScript expression js in the page and returns its
// value as JSON ("null" for undefined).
func (b *chromium) eval(js string) string {
	b.t.Helper()
	v, err := b.tryEval(js)
	if err != nil {
		b.t.Fatalf("Runtime.evaluate: %v", err)
	}
	return v
}

// tryEval is eval, returning Chromium's error instead of failing the test
// (a page that is navigating cannot be evaluated in).
func (b *chromium) tryEval(js string) (string, error) {
	b.t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := b.try("Runtime.evaluate", map[string]any{"expression": js, "returnByValue": true}, &r); err != nil {
		return "", err
	}
	if r.ExceptionDetails != nil {
		b.t.Fatalf("evaluating %s: %s", js, r.ExceptionDetails.Text)
	}
	if len(r.Result.Value) == 0 {
		return "null", nil
	}
	return string(r.Result.Value), nil
}

// waitDOM polls until the JavaScript condition js is true in a page that
// has finished loading, reporting the page's URL and text meanwhile.
func (b *chromium) waitDOM(what, js string) {
	b.t.Helper()
	cond := "document.readyState === 'complete' && !!(" + js + ")"
	waitUntil(b.t, what, func() (bool, string) {
		ok, err := b.tryEval(cond)
		if err != nil { // navigating: the next poll finds the new page
			return false, err.Error()
		}
		if ok == "true" {
			return true, ""
		}
		state, err := b.tryEval(`location.href + ": " + (document.body ? document.body.innerText.slice(0, 2000) : "")`)
		if err != nil {
			return false, err.Error()
		}
		return false, state
	})
}

// click clicks the element the CSS selector sel picks, which must exist.
func (b *chromium) click(sel string) {
	b.t.Helper()
	require.Equal(b.t, "true", b.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) return false; e.click(); return true })()`, jsString(sel))),
		"nothing on the page matches %s", sel)
}

// screenshot captures the page as a PNG and decodes it.
func (b *chromium) screenshot() ([]byte, image.Image) {
	b.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	b.call("Page.captureScreenshot", map[string]any{"format": "png"}, &r)
	raw, err := base64.StdEncoding.DecodeString(r.Data)
	require.NoError(b.t, err)
	img, err := png.Decode(bytes.NewReader(raw))
	require.NoError(b.t, err, "the screenshot is a PNG")
	return raw, img
}

// colours counts the distinct colours of img, up to max.
func colours(img image.Image, max int) int {
	seen := make(map[[4]uint32]bool)
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, b, a}] = true
			if len(seen) >= max {
				return len(seen)
			}
		}
	}
	return len(seen)
}
