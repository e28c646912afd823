package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The demo shop (examples/demo) behind the real binary: each of its PHP,
// Node and Python apps as two app servers, started the way
// examples/demo/run.sh starts them, behind Sidecar on the demo's own
// sidecar.yaml (the embedded bolt store, every other key at its default),
// with only what a test must choose set from the environment: the listen
// address, the upstreams' ports, the bolt file and the header secret.

// demoDir is examples/demo, from this package's directory.
const demoDir = "../examples/demo"

// demoLangs are the demo's app languages, each with a kit in clients/.
var demoLangs = []string{"php", "node", "python"}

// startDemoApp starts the demo app of lang (php, node or python) as the
// app server name on a free port, with env added to its environment, and
// waits until it listens. It returns the app's address and process.
func startDemoApp(t *testing.T, lang, name string, env ...string) (string, *proc) {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	env = append([]string{"DEMO_SERVER_NAME=" + name, "DEMO_PORT=" + port, "SIDECAR_HEADERS__SECRET=" + headerSecret}, env...)
	var p *proc
	switch lang {
	case "php": // run.sh's command line
		p = startProcGroup(t, name+" (php)", append(env, "PHP_CLI_SERVER_WORKERS=4"),
			phpBinary(t), "-S", addr, "-t", demoDir+"/php", demoDir+"/php/router.php")
	case "node":
		p = startProc(t, name+" (node)", env, findBinary(t, "node", "nodejs"), demoDir+"/node/server.mjs")
	case "python":
		p = startProc(t, name+" (python)", env, findBinary(t, "python3", "python3"), demoDir+"/python/app.py")
	default:
		t.Fatalf("no demo app in %q", lang)
	}
	waitListening(t, p, addr)
	return addr, p
}

// waitListening waits until addr accepts a connection, failing the test
// if p exits first.
func waitListening(t testing.TB, p *proc, addr string) {
	t.Helper()
	waitFor(t, p, "a listener on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
}

// startDemoSidecar runs the sidecar binary on examples/demo/sidecar.yaml
// in front of ups, with a bolt file of the test's own, and env added to
// its environment.
func startDemoSidecar(t *testing.T, ups []upstreamSpec, env ...string) *sidecarProc {
	t.Helper()
	list := make([]string, len(ups))
	for i, u := range ups {
		list[i] = u.Name + "=" + u.URL
	}
	// No cfgPath: reload would write it, and the file is the demo's.
	s := &sidecarProc{t: t, addr: freeAddr(t)}
	s.p = startProc(t, "sidecar", append([]string{
		"SIDECAR_LISTEN=" + s.addr,
		"SIDECAR_UPSTREAMS=" + strings.Join(list, ","),
		"SIDECAR_STORE__BOLT__PATH=" + filepath.Join(t.TempDir(), "sessions.db"),
		"SIDECAR_HEADERS__SECRET=" + headerSecret,
	}, env...), builtBinaries(t).sidecar, "serve", "--config", demoDir+"/sidecar.yaml")
	s.p.quiet = quietLine
	waitFor(t, s.p, "sidecar serving", func() bool { return s.count("sidecar serving") > 0 })
	return s
}

// shopper is a browser on the demo shop: it keeps Sidecar's cookie,
// follows no redirect (the test checks each answer), and reads the pages.
type shopper struct {
	t      *testing.T
	base   string
	cookie string // the sidecar_sid value; "" for none
	sent   *int   // counts the requests sent, shared by the shoppers of a test
}

// shopPage is one answer of the demo shop.
type shopPage struct {
	Method, Path string
	Status       int
	Location     string
	RequestID    string
	SetCookie    *http.Cookie // Sidecar's cookie, when the answer sets or expires it
	Body         string
}

func (p shopPage) String() string {
	body := p.Body
	if len(body) > 600 {
		body = body[:600] + "..."
	}
	return fmt.Sprintf("%s %s: status %d, location %q, request id %q, body %q", p.Method, p.Path, p.Status, p.Location, p.RequestID, body)
}

// noRedirects is the shoppers' HTTP client.
var noRedirects = &http.Client{
	Timeout:       requestTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get and post send a request with the shopper's cookie and keep the
// cookie the answer sets (an expired one is dropped).
func (s *shopper) get(path string) shopPage { return s.send(http.MethodGet, path, nil) }

func (s *shopper) post(path string, form url.Values) shopPage {
	return s.send(http.MethodPost, path, form)
}

func (s *shopper) send(method, path string, form url.Values) shopPage {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.base+path, body)
	require.NoError(s.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if s.cookie != "" {
		req.Header.Set("Cookie", "sidecar_sid="+s.cookie)
	}
	resp, err := noRedirects.Do(req)
	require.NoError(s.t, err, "%s %s", method, path)
	*s.sent++
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err, "%s %s", method, path)
	p := shopPage{Method: method, Path: path, Status: resp.StatusCode, Location: resp.Header.Get("Location"),
		RequestID: resp.Header.Get("X-Request-Id"), SetCookie: setCookieFor(resp), Body: string(b)}
	if ck := p.SetCookie; ck != nil {
		s.cookie = ck.Value
		if ck.MaxAge < 0 {
			s.cookie = ""
		}
	}
	for name := range resp.Header {
		assert.False(s.t, strings.HasPrefix(strings.ToLower(name), "x-sidecar-"), "%s: Sidecar removed the app's %s header", p, name)
	}
	return p
}

var (
	pageServer  = regexp.MustCompile(`<b id="server">([^<]*)</b>`)
	pageWho     = regexp.MustCompile(`<span id="who">(.*?)</span>`)
	pageVersion = regexp.MustCompile(`<span id="ver">(\d+)</span>`)
	pageSID     = regexp.MustCompile(`<code id="sid">([^<]*)</code>`)
	pageItems   = regexp.MustCompile(`id="cart-link" href="/cart">Cart \((\d+)\)`)
	pageLine    = regexp.MustCompile(`<li data-sku="([^"]+)" data-count="(\d+)">([^<]*?) × (\d+)`)
	htmlTag     = regexp.MustCompile(`<[^>]*>`)
)

func (p shopPage) match(re *regexp.Regexp) string {
	if m := re.FindStringSubmatch(p.Body); m != nil {
		return m[1]
	}
	return ""
}

// Server is the app server that rendered the page; Who the login line
// ("Not logged in" or "Logged in as NAME (LOGIN)"); SID the session's
// public handle ("none" without a session); Version its version; Items
// the cart count in the page header.
func (p shopPage) Server() string { return p.match(pageServer) }
func (p shopPage) Who() string    { return htmlTag.ReplaceAllString(p.match(pageWho), "") }
func (p shopPage) SID() string    { return p.match(pageSID) }
func (p shopPage) Version() int   { n, _ := strconv.Atoi(p.match(pageVersion)); return n }
func (p shopPage) Items() int     { n, _ := strconv.Atoi(p.match(pageItems)); return n }

// Cart is the cart page's lines, "Name × count" by SKU.
func (p shopPage) Cart() map[string]string {
	cart := map[string]string{}
	for _, m := range pageLine.FindAllStringSubmatch(p.Body, -1) {
		cart[m[1]] = m[3] + " × " + m[4]
		if m[2] != m[4] {
			cart[m[1]] += " (data-count " + m[2] + ")"
		}
	}
	return cart
}

// requirePage fails the test unless the answer has the status (and, for
// a 303, the location).
func requirePage(t *testing.T, p shopPage, status int, location string) {
	t.Helper()
	require.Equal(t, status, p.Status, "%s", p)
	if status == http.StatusSeeOther {
		require.Equal(t, location, p.Location, "%s", p)
	}
}

// assertSessionCookie checks the cookie Sidecar sets, as
// docs/protocol.md §1 documents it at the defaults over plain http.
func assertSessionCookie(t *testing.T, p shopPage) {
	t.Helper()
	ck := p.SetCookie
	require.NotNil(t, ck, "%s sets Sidecar's cookie", p)
	assert.Len(t, ck.Value, 87, "TOKEN.MAC")
	assert.True(t, ck.HttpOnly, "HttpOnly")
	assert.Equal(t, http.SameSiteLaxMode, ck.SameSite, "SameSite=Lax")
	assert.Equal(t, "/", ck.Path, "Path=/")
	assert.False(t, ck.Secure, "no Secure over plain http")
	assert.Zero(t, ck.MaxAge, "a browser-session cookie: no Max-Age")
	assert.Empty(t, ck.RawExpires, "a browser-session cookie: no Expires")
}

// TestDemoApps puts each demo app (PHP, Node, Python, each through its
// kit) as two app servers behind the real binary on the demo's config
// and walks the shop as a browser would, checking every page and cookie:
// an anonymous cart write creates the session; a wrong password changes
// nothing; the login (principal, user, regenerate) issues a new cookie
// and the old one no longer reaches the session, nor can write to it;
// cart writes (a merge patch per SKU, null removing one) show on both
// app servers, and still after app1 is stopped; logout expires the
// cookie and the session is gone.
func TestDemoApps(t *testing.T) {
	for _, lang := range demoLangs {
		t.Run(lang, func(t *testing.T) {
			addr1, app1 := startDemoApp(t, lang, "app1")
			addr2, _ := startDemoApp(t, lang, "app2")
			sc := startDemoSidecar(t, []upstreamSpec{{Name: "app1", URL: "http://" + addr1}, {Name: "app2", URL: "http://" + addr2}})
			walkDemoShop(t, sc, app1)
		})
	}
}

// walkDemoShop is TestDemoApps' walk through one demo; app1 is the
// process of the upstream app1, which it stops half way.
func walkDemoShop(t *testing.T, sc *sidecarProc, app1 *proc) {
	sent := 0
	browser := &shopper{t: t, base: sc.URL(), sent: &sent}
	servers := map[string]int{}
	seen := func(p shopPage) shopPage {
		servers[p.Server()]++
		return p
	}

	// Anonymous: no session, no cookie.
	p := seen(browser.get("/"))
	requirePage(t, p, http.StatusOK, "")
	assert.Contains(t, p.Body, "Crème brûlée", "UTF-8 product names")
	assert.Contains(t, p.Body, "Matcha latte 抹茶")
	assert.Equal(t, "Not logged in", p.Who())
	assert.Equal(t, "none", p.SID())
	assert.Zero(t, p.Version())
	assert.Nil(t, p.SetCookie, "reading creates no session: %s", p)

	// An anonymous cart write creates the session and its cookie.
	p = browser.post("/cart", url.Values{"sku": {"creme-brulee"}})
	requirePage(t, p, http.StatusSeeOther, "/cart")
	assertSessionCookie(t, p)
	anonCookie := browser.cookie
	p = seen(browser.get("/cart"))
	requirePage(t, p, http.StatusOK, "")
	assert.Equal(t, map[string]string{"creme-brulee": "Crème brûlée × 1"}, p.Cart())
	assert.Equal(t, 1, p.Items())
	assert.Equal(t, "Not logged in", p.Who())
	anonSID, anonVer := p.SID(), p.Version()
	assert.Len(t, anonSID, 32, "the session's public handle: %s", p)
	assert.Positive(t, anonVer)
	assert.Nil(t, p.SetCookie, "a read leaves the cookie alone")

	// A wrong password: 401, the session as it was.
	p = browser.post("/login", url.Values{"user": {"zoë"}, "password": {"wrong"}})
	requirePage(t, p, http.StatusUnauthorized, "")
	assert.Contains(t, p.Body, `<p id="error">Wrong user name or password.</p>`)
	assert.Nil(t, p.SetCookie)
	assert.Equal(t, anonVer, p.Version(), "a failed login writes nothing")

	// The login: a principal, the user, and regenerate: a new cookie.
	p = browser.post("/login", url.Values{"user": {"zoë"}, "password": {"brûlée"}})
	requirePage(t, p, http.StatusSeeOther, "/")
	assertSessionCookie(t, p)
	require.NotEqual(t, anonCookie, browser.cookie, "the login regenerated the cookie")
	p = seen(browser.get("/"))
	requirePage(t, p, http.StatusOK, "")
	assert.Equal(t, "Logged in as Zoë Ørsted (zoë)", p.Who(), "UTF-8 in the session survives the round trip")
	assert.Equal(t, 1, p.Items(), "the anonymous cart came along")
	assert.NotEqual(t, anonSID, p.SID(), "a new session handle")
	assert.Greater(t, p.Version(), anonVer)

	// The pre-login cookie reaches no session at once (one Sidecar), and
	// a form posted with it writes nothing: the demo sees "replaced" and
	// sends the browser back, and Sidecar sets no cookie over the login's.
	stale := &shopper{t: t, base: sc.URL(), cookie: anonCookie, sent: &sent}
	p = seen(stale.get("/cart"))
	requirePage(t, p, http.StatusOK, "")
	assert.Equal(t, "Not logged in", p.Who(), "the old cookie is dead")
	assert.Contains(t, p.Body, `<p id="empty">Your cart is empty.</p>`)
	assert.Equal(t, "none", p.SID())
	assert.Nil(t, p.SetCookie, "a replaced cookie is neither set nor cleared")
	p = stale.post("/cart", url.Values{"sku": {"sachertorte"}})
	requirePage(t, p, http.StatusSeeOther, "/cart")
	assert.Nil(t, p.SetCookie, "%s", p)

	// Cart writes while logged in: one SKU per patch, null removes one.
	for _, f := range []url.Values{
		{"sku": {"smorrebrod"}}, {"sku": {"smorrebrod"}}, {"sku": {"matcha"}},
		{"sku": {"creme-brulee"}, "op": {"remove"}},
	} {
		p = browser.post("/cart", f)
		requirePage(t, p, http.StatusSeeOther, "/cart")
		assert.Nil(t, p.SetCookie, "a cart write keeps the cookie: %s", p)
	}
	want := map[string]string{"smorrebrod": "Smørrebrød × 2", "matcha": "Matcha latte 抹茶 × 1"}

	// Read on the other app server: Sidecar balances round robin, so
	// reads alternate; each server shows the same cart and user.
	var ver int
	for i := 0; i < 4; i++ {
		p = seen(browser.get("/cart"))
		requirePage(t, p, http.StatusOK, "")
		assert.Equal(t, want, p.Cart(), "on %s", p.Server())
		assert.Equal(t, "Logged in as Zoë Ørsted (zoë)", p.Who(), "on %s", p.Server())
		assert.Contains(t, p.Body, `<span id="total">€17.60</span>`, "on %s", p.Server())
		if i > 0 {
			assert.Equal(t, ver, p.Version(), "reads write nothing")
		}
		ver = p.Version()
	}
	assert.Positive(t, servers["app1"], "app1 answered: %v", servers)
	assert.Positive(t, servers["app2"], "app2 answered: %v", servers)

	// app1 goes away; app2 has the whole session.
	app1.kill()
	for i := 0; i < 2; i++ {
		p = browser.get("/cart")
		requirePage(t, p, http.StatusOK, "")
		assert.Equal(t, "app2", p.Server())
		assert.Equal(t, want, p.Cart())
		assert.Equal(t, ver, p.Version())
	}

	// Logout: the cookie expires, and the session is gone for its holder.
	loggedIn := browser.cookie
	p = browser.post("/logout", url.Values{})
	requirePage(t, p, http.StatusSeeOther, "/")
	require.NotNil(t, p.SetCookie, "logout expires the cookie: %s", p)
	assert.Negative(t, p.SetCookie.MaxAge, "expired: %s", p.SetCookie)
	assert.Empty(t, browser.cookie)
	p = browser.get("/")
	assert.Equal(t, "Not logged in", p.Who())
	assert.Equal(t, 0, p.Items())
	kept := &shopper{t: t, base: sc.URL(), cookie: loggedIn, sent: &sent}
	p = kept.get("/cart")
	requirePage(t, p, http.StatusOK, "")
	assert.Equal(t, "Not logged in", p.Who(), "the logged-out cookie reaches no session")
	assert.Equal(t, "none", p.SID())

	sum := sc.waitAccess(sent)
	for status, n := range sum.ByStatus {
		assert.Less(t, status, 500, "%d answers with status %d: %s", n, status, sum)
		assert.NotEqual(t, http.StatusConflict, status, "no write was refused: %s", sum)
	}
}
