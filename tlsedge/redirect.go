package tlsedge

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Redirect is the handler of the plain-HTTP listener next to an HTTPS one:
// it answers every request with 308 Permanent Redirect to the same host,
// path and query over https. 308 (not 301) keeps the method and body, so
// a POST sent to http:// is re-sent as a POST.
//
// The host is the request's Host without its port; Port is added to it
// unless it is 443. A request without a Host (HTTP/1.0) gets 400: there is
// nothing to redirect it to. The request body is not read. Put ACME's
// HTTP-01 handler in front of it (certmagic's
// ACMEIssuer.HTTPChallengeHandler) to answer challenges on the same
// listener.
type Redirect struct {
	// Port is the HTTPS port clients reach. Zero or 443 leaves the port out
	// of the Location.
	Port int
}

// ServeHTTP answers 308 with the https:// Location, or 400 without a Host.
func (rd Redirect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := hostWithoutPort(r.Host)
	if host == "" {
		http.Error(w, "400 Bad Request: a Host header is required", http.StatusBadRequest)
		return
	}
	if rd.Port != 0 && rd.Port != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(rd.Port))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 literal
	}
	uri := r.URL.RequestURI()
	if !strings.HasPrefix(uri, "/") {
		uri = "/" // "OPTIONS *", or an opaque URL: not a path to keep
	}
	w.Header().Set("Location", "https://"+host+uri)
	w.WriteHeader(http.StatusPermanentRedirect)
}

// hostWithoutPort is host without its port, and an IPv6 literal without its
// brackets. net/http has already refused a Host with characters a header or
// URL cannot hold.
func hostWithoutPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// HSTS returns h adding "Strict-Transport-Security: max-age=N" (N the whole
// seconds of maxAge) to every response, for the HTTPS listener; maxAge
// must be at least a second. The header is set before h runs, so when the
// app sends its own as well, Sidecar's comes first, and a browser uses the
// first (RFC 6797 §8.1). includeSubDomains and preload are not sent: they
// commit every name under the domain, which is the apex domain's decision,
// not one app's.
func HSTS(h http.Handler, maxAge time.Duration) http.Handler {
	value := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", value)
		h.ServeHTTP(w, r)
	})
}
