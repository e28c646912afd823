package proxy

import (
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// CookieOptions describe Sidecar's session cookie. The zero value of each
// optional field is its stated default.
type CookieOptions struct {
	// Name is the cookie name; "" means DefaultCookieName ("sidecar_sid").
	Name string
	// Path is the cookie path; "" means DefaultCookiePath ("/").
	Path string
	// Domain, when set, is sent as the Domain attribute.
	Domain string
	// SameSite defaults (zero) to http.SameSiteLaxMode.
	SameSite http.SameSite
	// AlwaysSecure sets Secure even on plain-HTTP client connections (TLS
	// terminated in front of Sidecar). Otherwise Secure is set when the
	// client used https: a TLS connection, or a trusted proxy's
	// X-Forwarded-Proto: https (Options.TrustedProxies).
	AlwaysSecure bool
	// Persistent sends Max-Age up to the session's absolute expiry; false
	// gives a browser-session cookie.
	Persistent bool
	// KeepUpstream forwards Sidecar's cookie to the app; false (the
	// default) removes it from the Cookie header.
	KeepUpstream bool
}

func (c CookieOptions) withDefaults() CookieOptions {
	if c.Name == "" {
		c.Name = DefaultCookieName
	}
	if c.Path == "" {
		c.Path = DefaultCookiePath
	}
	if c.SameSite == 0 {
		c.SameSite = http.SameSiteLaxMode
	}
	return c
}

// set renders the Set-Cookie value for value; absExp bounds Max-Age in
// persistent mode.
func (c *CookieOptions) set(value string, secure bool, absExp time.Time, now time.Time) string {
	ck := c.base(secure)
	ck.Value = value
	if c.Persistent {
		if ma := int(absExp.Sub(now) / time.Second); ma > 0 {
			ck.MaxAge = ma
		}
	}
	return ck.String()
}

// expire renders a Set-Cookie that deletes the cookie.
func (c *CookieOptions) expire(secure bool) string {
	ck := c.base(secure)
	ck.MaxAge = -1
	return ck.String()
}

func (c *CookieOptions) base(secure bool) http.Cookie {
	return http.Cookie{
		Name:     c.Name,
		Path:     c.Path,
		Domain:   c.Domain,
		HttpOnly: true,
		Secure:   secure || c.AlwaysSecure,
		SameSite: c.SameSite,
	}
}

// stripCookie removes every name=value pair called name from the Cookie
// headers in h, dropping a header that ends up empty.
func stripCookie(h http.Header, name string) {
	vs := h["Cookie"]
	if len(vs) == 0 {
		return
	}
	out := vs[:0]
	for _, v := range vs {
		if !strings.Contains(v, name) {
			out = append(out, v)
			continue
		}
		var kept []string
		for part := range strings.SplitSeq(v, ";") {
			p := strings.TrimSpace(part)
			if p == "" {
				continue
			}
			if n, _, _ := strings.Cut(p, "="); strings.TrimSpace(n) == name {
				continue
			}
			kept = append(kept, p)
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, "; "))
		}
	}
	if len(out) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = out
}

// dropSetCookie removes Set-Cookie headers from the app that would set
// Sidecar's cookie: the cookie is Sidecar's alone.
func dropSetCookie(h http.Header, name string) {
	vs := h["Set-Cookie"]
	if len(vs) == 0 {
		return
	}
	out := vs[:0]
	for _, v := range vs {
		if n, _, _ := strings.Cut(v, "="); strings.TrimSpace(n) == name {
			continue
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		delete(h, "Set-Cookie")
		return
	}
	h["Set-Cookie"] = out
}

// cookieValue returns the first of the request's Sidecar cookies that
// signer verifies, or the first one when none does (the Manager then
// treats it as a bad cookie), or "". It reads the Cookie header as
// Request.CookiesNamed does (quotes stripped, a value with a byte a cookie
// may not hold skipped), without allocating; it does not apply net/http's
// limit on the number of cookies, whose purpose is to bound those
// allocations.
func (p *Proxy) cookieValue(r *http.Request, signer *sessions.Signer) string {
	first, n := "", 0
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, v, _ := strings.Cut(textproto.TrimString(part), "=")
			if textproto.TrimString(name) != p.cookie.Name {
				continue
			}
			v, ok := plainCookieValue(v)
			if !ok {
				continue
			}
			switch n++; {
			case n == 1:
				first = v
				continue
			case n == 2 && validCookie(signer, first):
				return first
			}
			if validCookie(signer, v) {
				return v
			}
		}
	}
	return first
}

func validCookie(signer *sessions.Signer, v string) bool {
	_, _, err := signer.Verify(v)
	return err == nil
}

// plainCookieValue is a Cookie header's value without its double quotes,
// and whether it is valid (net/http's parseCookieValue).
func plainCookieValue(raw string) (string, bool) {
	if len(raw) > 1 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	for i := 0; i < len(raw); i++ {
		if b := raw[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return "", false
		}
	}
	return raw, true
}
