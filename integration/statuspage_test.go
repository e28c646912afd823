package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
)

const statusPageToken = "status-page-admin-token-0123456789"

// TestStatusPageInChromium drives the admin listener's status page in a
// real headless Chromium: it signs in with HTTP Basic (the token in the
// URL's credentials), the page loads and renders (a screenshot of many
// colours, its inline style applied under its Content-Security-Policy),
// a hostile User-Agent shows as text and runs nothing, the drain button
// drains the upstream, and searching a principal and clicking "revoke
// all" removes its sessions, both checked through the JSON API.
func TestStatusPageInChromium(t *testing.T) {
	app := newApp(t, "app")
	c := baseConfig(app.URL)
	c.Admin.Listen = "127.0.0.1:0"
	c.Admin.Token = statusPageToken
	m, base := startSidecar(t, c)
	api, err := admin.NewClient(m.AdminAddr(), []byte(statusPageToken), nil)
	require.NoError(t, err)
	t.Cleanup(api.CloseIdleConnections)

	// ann logs in from three clients, one of them with a hostile
	// User-Agent; bob from one.
	const hostile = `<script>document.title="pwned"</script><img src=x onerror="document.title='pwned'">`
	for _, ua := range []string{"ann-phone/1.0", "ann-laptop/2.0", hostile} {
		requireOK(t, (&client{t: t}).do(base, "/login?user=ann", http.Header{"User-Agent": {ua}}), "ann's login from %s", ua)
	}
	requireOK(t, (&client{t: t}).do(base, "/login?user=bob", nil), "bob's login")

	b := startChromium(t)
	page := "http://" + m.AdminAddr() + "/"
	b.navigate("http://ops:" + statusPageToken + "@" + m.AdminAddr() + "/")
	b.waitDOM("the status page", `document.querySelector('tr#upstream-app')`)
	assert.Equal(t, `"Sidecar status"`, b.eval(`document.title`))
	assert.Equal(t, `"up"`, b.eval(`document.querySelector('tr#upstream-app td.state').textContent`))
	assert.Equal(t, `"4"`, b.eval(`document.querySelector('#live').textContent`))
	assert.Equal(t, `"rgb(32, 80, 143)"`, b.eval(`getComputedStyle(document.querySelector('th')).backgroundColor`),
		"the inline style sheet applies: the policy allows its hash")

	raw, img := b.screenshot()
	assert.Greater(t, len(raw), 1000, "the screenshot is a real PNG")
	assert.GreaterOrEqual(t, img.Bounds().Dx(), 800)
	assert.GreaterOrEqual(t, colours(img, 20), 20, "the page renders: text and coloured rows, not a blank page")

	// Drain, then check through the JSON API.
	b.click(`form#drain-app button`)
	b.waitDOM("the page after the drain", `document.querySelector('tr#upstream-app.st-draining') && document.querySelector('form#undrain-app')`)
	assert.Equal(t, `"`+page+`?drained=app"`, b.eval(`location.href`), "the post redirected back to the page (303)")
	st, err := api.State(t.Context(), "app")
	require.NoError(t, err)
	assert.True(t, st.Draining, "the drain button drained the upstream: %+v", st)
	assert.Equal(t, "draining", st.State)

	// Search for ann, check the listing, revoke all.
	b.eval(`document.querySelector('form#search input[name=principal]').value = 'ann'`)
	b.click(`form#search button`)
	b.waitDOM("ann's sessions", `document.querySelectorAll('table#sessions tbody tr').length === 3`)
	uas := b.eval(`Array.from(document.querySelectorAll('table#sessions td.ua')).map(e => e.textContent)`)
	var got []string
	require.NoError(t, json.Unmarshal([]byte(uas), &got))
	assert.ElementsMatch(t, []string{"ann-phone/1.0", "ann-laptop/2.0", hostile}, got, "the hostile User-Agent shows as text")
	assert.Equal(t, "0", b.eval(`document.querySelectorAll('script, img').length`), "and adds no element")
	assert.Equal(t, `"Sidecar status"`, b.eval(`document.title`), "nor runs")

	b.click(`form#revoke-all button`)
	b.waitDOM("the page after the revoke", `document.querySelector('#no-sessions')`)
	assert.Contains(t, b.eval(`document.querySelector('#notice').textContent`), "Revoked 3 session(s) of ann.")
	list, err := api.Sessions(t.Context(), "ann")
	require.NoError(t, err)
	assert.Zero(t, list.Total, "the revoke button removed ann's sessions: %+v", list)
	list, err = api.Sessions(t.Context(), "bob")
	require.NoError(t, err)
	assert.Equal(t, 1, list.Total, "bob's session is left")
	assert.Equal(t, `"1"`, b.eval(`document.querySelector('#live').textContent`))

	// Undrain puts the upstream back.
	b.click(`form#undrain-app button`)
	b.waitDOM("the page after the undrain", `document.querySelector('tr#upstream-app.st-up')`)
	st, err = api.State(t.Context(), "app")
	require.NoError(t, err)
	assert.False(t, st.Draining)
	assert.False(t, strings.Contains(b.eval(`document.body.innerText`), statusPageToken), "the token is never on the page")

	// CSRF: a page of another origin (another port of the same host: same
	// site, so SameSite would not help) whose form posts to the drain
	// URL. The browser sends its cached Basic credentials along; the
	// Origin check refuses the post.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form id="f" method="post" action="%sui/upstreams/app/drain"></form><script>document.getElementById("f").submit()</script>`, page)
	}))
	t.Cleanup(evil.Close)
	b.navigate(evil.URL)
	b.waitDOM("the refused cross-site post", `location.href.startsWith(`+jsString(page)+`) && document.querySelector('#error')`)
	assert.Contains(t, b.eval(`document.querySelector('#error').textContent`), "403 Forbidden: the request's Origin is not this page's origin")
	st, err = api.State(t.Context(), "app")
	require.NoError(t, err)
	assert.False(t, st.Draining, "a cross-site post drained nothing")

	// DNS rebinding: a name an attacker controls resolves to the admin
	// listener (chromiumFlags map rebind.test to 127.0.0.1). The Host
	// header names it, and the page refuses it even with the token.
	_, port, _ := strings.Cut(m.AdminAddr(), ":")
	b.navigate("http://ops:" + statusPageToken + "@rebind.test:" + port + "/")
	b.waitDOM("the refused rebound name", `document.querySelector('#error')`)
	assert.Contains(t, b.eval(`document.querySelector('#error').textContent`), "403 Forbidden: this page answers only to")
	assert.Equal(t, "0", b.eval(`document.querySelectorAll('tr#upstream-app').length`))
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
