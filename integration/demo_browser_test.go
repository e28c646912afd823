package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// cdpCookie is a cookie as Chromium's Network.getCookies reports it.
type cdpCookie struct {
	Name     string  `json:"name"`
	Value    string  `json:"value"`
	Domain   string  `json:"domain"`
	Path     string  `json:"path"`
	Expires  float64 `json:"expires"` // -1 for a browser-session cookie
	HTTPOnly bool    `json:"httpOnly"`
	Secure   bool    `json:"secure"`
	Session  bool    `json:"session"`
	SameSite string  `json:"sameSite"` // "" when the cookie has none
}

// cookies is every cookie the browser would send to url, by name.
func (b *chromium) cookies(url string) map[string]cdpCookie {
	b.t.Helper()
	var r struct {
		Cookies []cdpCookie `json:"cookies"`
	}
	b.call("Network.getCookies", map[string]any{"urls": []string{url}}, &r)
	out := make(map[string]cdpCookie, len(r.Cookies))
	for _, c := range r.Cookies {
		out[c.Name] = c
	}
	return out
}

// text is the text content of the element sel picks ("" when none does).
func (b *chromium) text(sel string) string {
	b.t.Helper()
	var s string
	require.NoError(b.t, json.Unmarshal([]byte(b.eval(fmt.Sprintf(`(document.querySelector(%s) || {}).textContent || ""`, jsString(sel)))), &s))
	return s
}

// TestDemoInChromium walks the PHP demo shop in a headless Chromium
// behind the real binary: the product page, the login form, the cart
// (add, add, remove) and logout, reading the browser's cookie jar over
// CDP: no cookie before the first write; after the login one
// sidecar_sid, HttpOnly (so not in document.cookie), SameSite=Lax,
// Path=/, a browser-session cookie (no Expires), not Secure over plain
// http, unchanged by cart writes; after logout none.
func TestDemoInChromium(t *testing.T) {
	addr1, _ := startDemoApp(t, "php", "app1")
	addr2, _ := startDemoApp(t, "php", "app2")
	sc := startDemoSidecar(t, []upstreamSpec{{Name: "app1", URL: "http://" + addr1}, {Name: "app2", URL: "http://" + addr2}})
	base := sc.URL() + "/"
	b := startChromium(t)
	servers := map[string]bool{}
	at := func(what, js string) {
		t.Helper()
		b.waitDOM(what, js)
		servers[b.text("#server")] = true
	}

	b.navigate(base)
	at("the product list", `document.querySelector('#products')`)
	assert.Contains(t, b.text("#products"), "Crème brûlée", "UTF-8 as the browser renders it")
	assert.Equal(t, "Not logged in", b.text("#who"))
	assert.NotContains(t, b.cookies(base), "sidecar_sid", "reading sets no cookie")

	b.click("#login-link")
	at("the login form", `document.querySelector('form#login')`)
	b.eval(`document.querySelector('form#login input[name=user]').value = 'alice'`)
	b.eval(`document.querySelector('form#login input[name=password]').value = 'wonderland'`)
	b.click("#login-button")
	at("the page after the login", `document.querySelector('#who') && document.querySelector('#who').textContent.startsWith('Logged in')`)
	assert.Equal(t, "Logged in as Alice Liddell (alice)", b.text("#who"))
	assert.Equal(t, `"`+base+`"`, b.eval(`location.href`), "the login redirected (303) to the products")

	jar := b.cookies(base)
	require.Contains(t, jar, "sidecar_sid", "the login set Sidecar's cookie: %+v", jar)
	ck := jar["sidecar_sid"]
	assert.Len(t, ck.Value, 87)
	assert.Equal(t, "127.0.0.1", ck.Domain, "a host-only cookie")
	assert.Equal(t, "/", ck.Path)
	assert.True(t, ck.HTTPOnly)
	assert.Equal(t, "Lax", ck.SameSite)
	assert.True(t, ck.Session, "a browser-session cookie")
	assert.Equal(t, float64(-1), ck.Expires, "no Expires")
	assert.False(t, ck.Secure, "not Secure over plain http")
	assert.Len(t, jar, 1, "the app set no cookie of its own: %+v", jar)
	assert.NotContains(t, b.eval(`document.cookie`), "sidecar_sid", "HttpOnly: scripts cannot read it")

	b.click("#add-creme-brulee")
	at("the cart with a crème brûlée", `location.pathname === '/cart' && document.querySelector('li[data-sku=creme-brulee]')`)
	assert.True(t, strings.HasPrefix(b.text(`li[data-sku=creme-brulee]`), "Crème brûlée × 1"), b.text("#cart"))
	b.click(`header a[href="/"]`)
	at("the product list", `document.querySelector('#products')`)
	b.click("#add-smorrebrod")
	at("the cart with two lines", `location.pathname === '/cart' && document.querySelectorAll('#cart li').length === 2`)
	b.click("#remove-creme-brulee")
	at("the cart without the crème brûlée", `location.pathname === '/cart' && !document.querySelector('li[data-sku=creme-brulee]') && document.querySelector('li[data-sku=smorrebrod]')`)
	assert.True(t, strings.HasPrefix(b.text(`li[data-sku=smorrebrod]`), "Smørrebrød × 1"), b.text("#cart"))
	assert.Equal(t, "€6.90", b.text("#total"))
	assert.Equal(t, "Cart (1)", b.text("#cart-link"))
	assert.Equal(t, ck.Value, b.cookies(base)["sidecar_sid"].Value, "cart writes keep the cookie")

	b.click("#logout")
	at("the page after the logout", `document.querySelector('#who') && document.querySelector('#who').textContent === 'Not logged in'`)
	assert.Equal(t, "Cart (0)", b.text("#cart-link"))
	assert.NotContains(t, b.cookies(base), "sidecar_sid", "logout removed the cookie from the browser")
	assert.True(t, servers["app1"] && servers["app2"], "both app servers answered the walk: %v", servers)
}

// TestDemoRunScript runs examples/demo/run.sh as its README says (with
// DEMO_PORT and a prebuilt binary instead of go run), logs in through the
// URL it prints, and sends it SIGINT as Ctrl-C does: it exits and every
// server it started stops listening.
func TestDemoRunScript(t *testing.T) {
	port := freePortRun(t, 3)
	p := startProc(t, "run.sh", []string{
		"DEMO_PORT=" + fmt.Sprint(port),
		"SIDECAR=" + builtBinaries(t).sidecar,
		"SIDECAR_STORE__BOLT__PATH=" + t.TempDir() + "/sessions.db",
	}, "bash", demoDir+"/run.sh", "php")
	// Before startProc's SIGKILL (cleanups run last first): run.sh's
	// servers run in process groups of their own, which only its trap
	// stops.
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-p.exited:
			case <-time.After(exitTimeout):
			}
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitFor(t, p, "run.sh's URL", func() bool { return strings.Contains(p.out.String(), "Demo shop (php): "+base) })

	s := &shopper{t: t, base: strings.TrimSuffix(base, "/"), sent: new(int)}
	r := s.post("/login", url.Values{"user": {"bob"}, "password": {"builder"}})
	requirePage(t, r, http.StatusSeeOther, "/")
	assertSessionCookie(t, r)
	servers := map[string]bool{}
	for i := 0; i < 2; i++ {
		r = s.get("/")
		requirePage(t, r, http.StatusOK, "")
		assert.Equal(t, "Logged in as Bob the Builder (bob)", r.Who())
		servers[r.Server()] = true
	}
	assert.Equal(t, map[string]bool{"app1": true, "app2": true}, servers)

	p.signal(syscall.SIGINT)
	assert.Equal(t, 130, p.wait(), "run.sh's exit status after Ctrl-C\n%s", p.dump())
	for i := 0; i < 3; i++ {
		addr := fmt.Sprintf("127.0.0.1:%d", port+i)
		waitUntil(t, addr+" closed after Ctrl-C", func() (bool, string) {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return true, ""
			}
			_ = c.Close()
			return false, "still accepting"
		})
	}
	assert.Contains(t, p.out.String(), `"message":"sidecar stopped"`, "Sidecar drained and stopped")
}

// freePortRun is the first of n consecutive loopback ports that were all
// free a moment ago (run.sh takes DEMO_PORT and the two after it).
func freePortRun(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		first := redistest.FreePort(t)
		var ls []net.Listener
		for i := 0; i < n; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", first+i))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			_ = l.Close()
		}
		if len(ls) == n {
			return first
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}
