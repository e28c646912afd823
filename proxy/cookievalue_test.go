package proxy

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// TestCookieValueReadsAsNetHTTP: the allocation-free cookie scan finds
// the value the earlier implementation, over Request.CookiesNamed, found.
func TestCookieValueReadsAsNetHTTP(t *testing.T) {
	signer, err := sessions.NewSigner([][]byte{[]byte("a-cookie-secret-of-at-least-32-bytes")})
	require.NoError(t, err)
	tok, err := sessions.NewToken()
	require.NoError(t, err)
	good := signer.Sign(tok)
	bad := good[:len(good)-1] + "A"
	if bad == good {
		bad = good[:len(good)-1] + "B"
	}
	p := &Proxy{cookie: CookieOptions{}.withDefaults()}
	reference := func(r *http.Request) string { // the implementation replaced
		cs := r.CookiesNamed(p.cookie.Name)
		switch len(cs) {
		case 0:
			return ""
		case 1:
			return cs[0].Value
		}
		for _, c := range cs {
			if _, _, err := signer.Verify(c.Value); err == nil {
				return c.Value
			}
		}
		return cs[0].Value
	}
	for name, lines := range map[string][]string{
		"none":                 nil,
		"alone":                {"sidecar_sid=" + good},
		"among others":         {"a=1; sidecar_sid=" + good + "; b=2"},
		"spaces":               {"  a=1 ;   sidecar_sid=" + good + " ;b=2  "},
		"quoted":               {`sidecar_sid="` + good + `"`},
		"empty value":          {"sidecar_sid="},
		"no equals":            {"sidecar_sid"},
		"invalid byte skipped": {"sidecar_sid=a\\b; sidecar_sid=" + good},
		"forged then good":     {"sidecar_sid=" + bad + "; sidecar_sid=" + good},
		"good then forged":     {"sidecar_sid=" + good + "; sidecar_sid=" + bad},
		"two forged":           {"sidecar_sid=" + bad + "x; sidecar_sid=" + bad},
		"across lines":         {"a=1; sidecar_sid=" + bad, "sidecar_sid=" + good},
		"name is a prefix":     {"sidecar_sidx=1; xsidecar_sid=2"},
		"name with spaces":     {" sidecar_sid =" + good},
		"semicolons only":      {";;; ;"},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, "http://example.com/", nil)
			require.NoError(t, err)
			r.Header["Cookie"] = lines
			assert.Equal(t, reference(r), p.cookieValue(r, signer))
		})
	}
}
