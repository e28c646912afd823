package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/sidecarproxy/sidecar/sessions"
)

// MaxRequestIDLen is the longest X-Request-Id Sidecar takes from a
// trusted proxy (sessions.MaxRequestIDLen, which the header budget
// assumes).
const MaxRequestIDLen = sessions.MaxRequestIDLen

// requestID returns the id of a request: the X-Request-Id its peer sent
// when the peer is a trusted proxy (fwd.PeerTrusted) and the header is
// one valid id (validRequestID), else a new one. replaced reports a
// trusted peer's id that was not valid, for the log.
//
// The id goes to the app in X-Request-Id and as the session JWT's jti,
// back to the client in X-Request-Id, and into the access log. A client
// that is not a trusted proxy cannot choose it: it would then pick what
// the logs and the app see.
func requestID(r *http.Request, fwd Forwarded) (id string, replaced bool) {
	if fwd.PeerTrusted {
		switch vs := r.Header["X-Request-Id"]; {
		case len(vs) == 1 && validRequestID(vs[0]):
			return vs[0], false
		case len(vs) > 0:
			replaced = true
		}
	}
	return newRequestID(), replaced
}

// validRequestID reports whether id may be used as a request id: 1 to
// MaxRequestIDLen characters of [A-Za-z0-9._:-], which covers UUIDs,
// nginx's $request_id, Heroku's and Envoy's ids and needs no escaping in
// a header, a JWT or a log line.
func validRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// newRequestID returns 32 random hex digits.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	var id [2 * len(b)]byte
	hex.Encode(id[:], b[:])
	return string(id[:])
}
