package proxy

import (
	"net/http"
	"slices"
	"strings"
)

// normalize folds a header name the way the most permissive app gateway
// might: lower case, with every byte that is not a letter or digit read as
// '-'. PHP, CGI and WSGI turn '-' and '_' (and PHP also '.') into the same
// variable name, so x_sidecar_session and X.Sidecar.Session are both
// attempts at X-Sidecar-Session.
func normalize(name string) string {
	b := []byte(name)
	for i, c := range b {
		b[i] = foldByte(c)
	}
	return string(b)
}

func foldByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		return c
	}
	return '-'
}

// hasFoldedPrefix reports whether name, normalised, starts with the
// already-normalised prefix. It does not allocate.
func hasFoldedPrefix(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if foldByte(name[i]) != prefix[i] {
			return false
		}
	}
	return true
}

// foldedEqual reports whether name, normalised, equals the normalised want.
func foldedEqual(name, want string) bool {
	return len(name) == len(want) && hasFoldedPrefix(name, want)
}

// names holds the normalised header names Sidecar owns.
type names struct {
	prefix    string // normalised, e.g. "x-sidecar-"
	session   string // canonical spelling sent upstream
	patch     string // normalised
	action    string
	principal string
}

func newNames(prefix string) names {
	p := normalize(prefix)
	return names{
		prefix:    p,
		session:   http.CanonicalHeaderKey(prefix + "Session"),
		patch:     p + "patch",
		action:    p + "action",
		principal: p + "principal",
	}
}

// forwarding are the normalised names of the request headers Sidecar sets
// for the app besides its own prefix: the canonical spellings are replaced
// (httputil.ReverseProxy drops the client's X-Forwarded-* and Forwarded,
// and Sidecar sets X-Request-Id), so only other spellings could get
// through, and an app gateway would read them as the same variable
// (X_Forwarded_For is PHP's HTTP_X_FORWARDED_FOR, as is X-Forwarded-For).
var forwarding = []string{"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-request-id"}

// stripEdge deletes, from a client's request headers, every header whose
// name folds onto one Sidecar sets (forwarding) in a spelling other than
// its canonical one, and, unless allowUnderscores, every header with '_'
// in its name, as nginx does by default (underscores_in_headers off): CGI,
// PHP and WSGI cannot tell X_Anything from X-Anything. It returns how many
// it deleted.
func stripEdge(h http.Header, allowUnderscores bool) int {
	deleted := 0
	for k := range h {
		if !allowUnderscores && strings.IndexByte(k, '_') >= 0 || spoofsForwarding(k) {
			delete(h, k)
			deleted++
		}
	}
	return deleted
}

// spoofsForwarding reports whether name folds onto a forwarding header
// without being its canonical spelling.
func spoofsForwarding(name string) bool {
	for _, f := range forwarding {
		if foldedEqual(name, f) {
			return name != http.CanonicalHeaderKey(f)
		}
	}
	return false
}

// stripPrefixed deletes every header whose normalised name starts with the
// prefix, and returns how many it deleted.
func (n *names) stripPrefixed(h http.Header) int {
	deleted := 0
	for k := range h {
		if hasFoldedPrefix(k, n.prefix) {
			delete(h, k)
			deleted++
		}
	}
	return deleted
}

// directives are the session headers of one app response.
type directives struct {
	patches    []string
	actions    []string
	principals []string
}

// takeDirectives removes every prefixed header from the app's response and
// returns the patch, action and principal values among them. Spellings
// that normalise alike are taken in sorted order of their raw names, so the
// result does not depend on map order. Every principal value is kept:
// several that disagree are the app's error (sessions.ParsePrincipal), not
// settled by that order.
func (n *names) takeDirectives(h http.Header) directives {
	var keys []string
	for k := range h {
		if hasFoldedPrefix(k, n.prefix) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return directives{}
	}
	slices.Sort(keys)
	var d directives
	for _, k := range keys {
		vs := h[k]
		delete(h, k)
		switch {
		case foldedEqual(k, n.patch):
			d.patches = append(d.patches, vs...)
		case foldedEqual(k, n.action):
			d.actions = append(d.actions, vs...)
		case foldedEqual(k, n.principal):
			d.principals = append(d.principals, vs...)
		}
	}
	return d
}
