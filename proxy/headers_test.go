package proxy

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStripPrefixed(t *testing.T) {
	n := newNames("X-Sidecar-")
	h := http.Header{
		"X-Sidecar-Session":   {"forged"},
		"x-sidecar-session":   {"forged"},
		"X_sidecar_session":   {"forged"},
		"X-SIDECAR_Data":      {"forged"},
		"x_Sidecar-anything":  {"forged"},
		"X.Sidecar.Session":   {"forged"},
		"X-Sidecar.Principal": {"forged"},
		"X Sidecar~Patch":     {"forged"},
		"X-Sidecar-":          {"forged"},
		"X-Sidecarx":          {"kept"},
		"X-Side":              {"kept"},
		"Xx-Sidecar-Session":  {"kept"},
		"Accept":              {"kept"},
	}
	assert.Equal(t, 9, n.stripPrefixed(h))
	assert.Equal(t, http.Header{
		"X-Sidecarx": {"kept"}, "X-Side": {"kept"}, "Xx-Sidecar-Session": {"kept"}, "Accept": {"kept"},
	}, h)
}

func TestCustomPrefix(t *testing.T) {
	n := newNames("X-App-Sess_")
	assert.Equal(t, "x-app-sess-", n.prefix)
	assert.Equal(t, "X-App-Sess_session", n.session)
	h := http.Header{"X_APP_SESS_PATCH": {`{}`}, "X-Sidecar-Patch": {"kept"}}
	d := n.takeDirectives(h)
	assert.Equal(t, []string{`{}`}, d.patches)
	assert.Equal(t, http.Header{"X-Sidecar-Patch": {"kept"}}, h)
}

func TestTakeDirectives(t *testing.T) {
	n := newNames("X-Sidecar-")
	h := http.Header{
		"X-Sidecar-Patch":     {`{"a":1}`, `{"b":2}`},
		"X_sidecar_patch":     {`{"c":3}`},
		"X-Sidecar-Action":    {"regenerate"},
		"X-Sidecar-Principal": {" ann "},
		"X-Sidecar-Debug":     {"secret internals"},
		"Content-Type":        {"text/html"},
	}
	d := n.takeDirectives(h)
	assert.Equal(t, []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, d.patches, "sorted by raw name, then in order")
	assert.Equal(t, []string{"regenerate"}, d.actions)
	assert.Equal(t, []string{" ann "}, d.principals, "trimmed by sessions.ParsePrincipal")
	assert.Equal(t, http.Header{"Content-Type": {"text/html"}}, h, "every prefixed header is consumed")

	empty := n.takeDirectives(http.Header{"X-Sidecar-Principal": {""}})
	assert.Equal(t, []string{""}, empty.principals, "an empty principal clears it")
}

// TestTakeDirectivesKeepsEveryPrincipal pins issue 9 item 4: two
// spellings of the principal header (or two lines of one) used to be
// settled by the sort order of their raw names; every value is now kept,
// so that sessions.ParsePrincipal refuses a conflict.
func TestTakeDirectivesKeepsEveryPrincipal(t *testing.T) {
	n := newNames("X-Sidecar-")
	d := n.takeDirectives(http.Header{
		"X-Sidecar-Principal": {"ann", "bob"},
		"X_sidecar_principal": {"eve"},
	})
	assert.ElementsMatch(t, []string{"ann", "bob", "eve"}, d.principals)
}

func TestStripCookie(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"only ours", []string{"sidecar_sid=abc"}, nil},
		{"first", []string{"sidecar_sid=abc; theme=dark"}, []string{"theme=dark"}},
		{"middle", []string{"a=1; sidecar_sid=abc; b=2"}, []string{"a=1; b=2"}},
		{"several headers", []string{"a=1", "sidecar_sid=x", "b=2; sidecar_sid=y"}, []string{"a=1", "b=2"}},
		{"similar name kept", []string{"sidecar_sid2=x; xsidecar_sid=y"}, []string{"sidecar_sid2=x; xsidecar_sid=y"}},
		{"none", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.in != nil {
				h["Cookie"] = append([]string(nil), tt.in...)
			}
			stripCookie(h, "sidecar_sid")
			assert.Equal(t, tt.want, h["Cookie"])
		})
	}
}

func TestDropSetCookie(t *testing.T) {
	h := http.Header{"Set-Cookie": {"sidecar_sid=evil; Path=/", "JSESSIONID=1; Path=/"}}
	dropSetCookie(h, "sidecar_sid")
	assert.Equal(t, []string{"JSESSIONID=1; Path=/"}, h["Set-Cookie"])
	h = http.Header{"Set-Cookie": {"sidecar_sid=evil"}}
	dropSetCookie(h, "sidecar_sid")
	assert.NotContains(t, h, "Set-Cookie")
}

// TestStripEdge pins issue 10 item 5: a client's X_Forwarded_For reached a
// PHP app as HTTP_X_FORWARDED_FOR, overriding the X-Forwarded-For Sidecar
// set (the class of oauth2-proxy's CVE-2025-64484), because only Sidecar's
// own prefix was folded. Every other spelling of a header Sidecar sets is
// dropped, and by default every header with '_' (nginx's default).
func TestStripEdge(t *testing.T) {
	in := func() http.Header {
		return http.Header{
			"X_forwarded_for":   {"7.7.7.7"},
			"X_Forwarded_Proto": {"https"},
			"X_request_id":      {"attacker"},
			"X.Forwarded.For":   {"7.7.7.7"},
			"X-Forwarded.Host":  {"evil.example"},
			"Forwarded_":        {"for=7.7.7.7"},
			"X-Custom_Header":   {"underscore"},
			"X-Forwarded-For":   {"canonical: the ReverseProxy replaces it"},
			"X-Request-Id":      {"canonical: Sidecar overwrites it"},
			"Accept":            {"kept"},
		}
	}
	h := in()
	assert.Equal(t, 7, stripEdge(h, false))
	assert.Equal(t, http.Header{
		"X-Forwarded-For": {"canonical: the ReverseProxy replaces it"},
		"X-Request-Id":    {"canonical: Sidecar overwrites it"},
		"Accept":          {"kept"},
	}, h)

	h = in()
	assert.Equal(t, 5, stripEdge(h, true), "with underscores allowed, only spoofs of Sidecar's headers go")
	assert.Equal(t, []string{"underscore"}, h["X-Custom_Header"])
	assert.Equal(t, []string{"for=7.7.7.7"}, h["Forwarded_"], "HTTP_FORWARDED_ is not HTTP_FORWARDED")
}
