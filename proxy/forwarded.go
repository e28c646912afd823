package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// MaxForwardedHops bounds how much of a trusted peer's X-Forwarded-For
// Sidecar reads: at most this many addresses, from the right. A longer
// chain of trusted addresses is cut there, and the client is the last
// address read.
const MaxForwardedHops = 16

// maxForwardedEntry is the longest X-Forwarded-For entry read as an
// address: "[ipv6%zone]:port" fits; anything longer is malformed.
const maxForwardedEntry = 64

// maxForwardedHost is the longest X-Forwarded-Host believed.
const maxForwardedHost = 255

// What stopped the walk of a trusted peer's X-Forwarded-For early
// ([Forwarded.Problem]).
const (
	// ForwardedMalformed: an entry was not an IP address (with an
	// optional port); the client is the hop that wrote it.
	ForwardedMalformed = "malformed"
	// ForwardedTooLong: MaxForwardedHops trusted addresses were read and
	// more followed; the client is the last address read.
	ForwardedTooLong = "too_long"
)

// TrustedProxies are the peers (load balancers, proxies in front of
// Sidecar) whose forwarding headers Sidecar believes. The empty list, the
// default, trusts nobody: every client is the address of its own
// connection, and whatever forwarding headers it sent are replaced.
//
// IPv4-mapped IPv6 peers (::ffff:a.b.c.d) are matched as IPv4; zones are
// ignored.
type TrustedProxies []netip.Prefix

// ParseTrustedProxy parses one trusted proxy: a CIDR prefix
// ("10.0.0.0/8", "fd00::/8") or a single address ("192.0.2.7", "::1"). Host
// bits set in a prefix are cleared ("10.1.2.3/8" is 10.0.0.0/8). IPv4 is
// written as IPv4: an IPv4-mapped IPv6 prefix is refused, as is a zone.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errors.New("empty: want a CIDR prefix or an IP address")
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR prefix nor an IP address", s)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: zones are not supported", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR prefix nor an IP address", s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: write IPv4 prefixes as IPv4 (e.g. 10.0.0.0/8)", s)
	}
	return p.Masked(), nil
}

// Contains reports whether a is a trusted proxy.
func (t TrustedProxies) Contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Forwarded is what Sidecar believes about the client of one request, as
// [TrustedProxies.Derive] works it out, and tells the app with
// [Forwarded.SetHeaders].
type Forwarded struct {
	// Client is the client's address: the rightmost untrusted address of
	// the chain. It is not valid when the connection's address is unknown
	// (RemoteAddr not an IP and port).
	Client netip.Addr
	// Chain is the X-Forwarded-For the app gets: Client first, then the
	// trusted proxies the request passed through, the peer last. Entries
	// left of the client, which anyone could have written, are not in it.
	// Empty when Client is not valid.
	Chain []netip.Addr
	// Proto is the scheme the client used: "https" or "http".
	Proto string
	// Host is the host the client asked for.
	Host string
	// Problem says what stopped the walk of a trusted peer's
	// X-Forwarded-For early: "", [ForwardedMalformed] or
	// [ForwardedTooLong].
	Problem string
	// PeerTrusted reports whether the peer is a trusted proxy, whose
	// forwarding headers (and X-Request-Id) were believed.
	PeerTrusted bool
}

// Derive works out who the client of r is, from r.RemoteAddr, r.TLS,
// r.Host and r.Header; it does not modify r.
//
// When the peer (r.RemoteAddr) is not trusted, the peer is the client,
// the scheme is https on a TLS connection and http otherwise, and the host
// is r.Host: the peer's forwarding headers are ignored.
//
// When the peer is trusted, its canonical X-Forwarded-For is walked from
// the right: each trusted address is a proxy the request passed through,
// and the first untrusted one is the client. A malformed entry stops the
// walk (the client is then the trusted hop that wrote it), as does
// reaching MaxForwardedHops addresses; when every address is trusted, the
// leftmost is the client. Entries may carry a port ("192.0.2.1:4711",
// "[2001:db8::1]:4711"), which is dropped; empty entries are skipped. The
// scheme is the peer's X-Forwarded-Proto when it is a single value, http
// or https (in any case); otherwise the connection's. The host is the
// peer's X-Forwarded-Host when it is a single host[:port] of at most 255
// bytes; otherwise r.Host. Forwarded (RFC 7239) is not read: Sidecar
// writes its own from these.
func (t TrustedProxies) Derive(r *http.Request) Forwarded { return t.derive(r, nil) }

// derive is Derive, with the chain of an untrusted peer appended to
// chain (a Proxy passes room in its request state).
func (t TrustedProxies) derive(r *http.Request, chain []netip.Addr) Forwarded {
	f := Forwarded{Proto: "http", Host: r.Host}
	if r.TLS != nil {
		f.Proto = "https"
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return f
	}
	peer := ap.Addr().Unmap().WithZone("")
	f.Client, f.Chain = peer, append(chain, peer)
	if !t.Contains(peer) {
		return f
	}
	f.PeerTrusted = true
	f.Chain, f.Problem = t.walk(r.Header["X-Forwarded-For"], peer)
	f.Client = f.Chain[0]
	if p, ok := single(r.Header["X-Forwarded-Proto"]); ok {
		if p = strings.ToLower(p); p == "http" || p == "https" {
			f.Proto = p
		}
	}
	if h, ok := single(r.Header["X-Forwarded-Host"]); ok && saneHost(h) {
		f.Host = h
	}
	return f
}

// walk reads the header lines of X-Forwarded-For from the right and
// returns the believed chain, client first and peer last, and what, if
// anything, stopped it early.
func (t TrustedProxies) walk(lines []string, peer netip.Addr) ([]netip.Addr, string) {
	rev := []netip.Addr{peer} // peer first, client last
	problem := ""
	read := 0
walk:
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, entry = rest[:j], rest[j+1:]
			} else {
				rest, entry = "", rest
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			if read == MaxForwardedHops {
				problem = ForwardedTooLong
				break walk
			}
			a, ok := parseForwardedFor(entry)
			if !ok {
				problem = ForwardedMalformed
				break walk
			}
			read++
			rev = append(rev, a)
			if !t.Contains(a) {
				break walk
			}
		}
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev, problem
}

// parseForwardedFor parses one X-Forwarded-For entry: an IP address,
// optionally with a port, IPv6 optionally in brackets.
func parseForwardedFor(s string) (netip.Addr, bool) {
	if len(s) > maxForwardedEntry {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			inner, ok := strings.CutPrefix(s, "[")
			if inner, ok2 := strings.CutSuffix(inner, "]"); ok && ok2 {
				if a, err = netip.ParseAddr(inner); err == nil && a.Is6() {
					return a.Unmap().WithZone(""), true
				}
			}
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// single returns the value of a header that was sent once, as one value
// (no comma list).
func single(vs []string) (string, bool) {
	if len(vs) != 1 || strings.IndexByte(vs[0], ',') >= 0 {
		return "", false
	}
	v := strings.TrimSpace(vs[0])
	return v, v != ""
}

// saneHost reports whether h looks like a host[:port]: letters, digits
// and ".-_:[]", at most maxForwardedHost bytes.
func saneHost(h string) bool {
	if h == "" || len(h) > maxForwardedHost {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-_:[]", c) >= 0) {
			return false
		}
	}
	return true
}

// SetHeaders writes f into the headers of the request to the app,
// replacing any X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and
// Forwarded already there. X-Forwarded-For is f.Chain joined by ", "
// (removed when empty). Forwarded has one element per address of the
// chain, the first also with the host and the scheme the client asked
// for: `for=192.0.2.1;host=example.com;proto=https, for="[2001:db8::7]"`.
func (f Forwarded) SetHeaders(h http.Header) { f.setHeaders(h, make([]string, 4)) }

// setHeaders is SetHeaders with vals, 4 strings, as room for the header
// values: one string holds both headers' text, one allocation.
func (f Forwarded) setHeaders(h http.Header, vals []string) {
	var buf [128]byte
	b := f.appendChain(buf[:0])
	xff := len(b)
	s := string(f.appendForwarded(b))
	if xff == 0 {
		delete(h, "X-Forwarded-For")
	} else {
		vals[0] = s[:xff]
		h["X-Forwarded-For"] = vals[0:1:1]
	}
	vals[1] = f.Proto
	h["X-Forwarded-Proto"] = vals[1:2:2]
	if f.Host == "" {
		delete(h, "X-Forwarded-Host")
	} else {
		vals[2] = f.Host
		h["X-Forwarded-Host"] = vals[2:3:3]
	}
	vals[3] = s[xff:]
	h["Forwarded"] = vals[3:4:4]
}

// appendChain appends f.Chain joined by ", " (X-Forwarded-For).
func (f Forwarded) appendChain(b []byte) []byte {
	for i, a := range f.Chain {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = a.AppendTo(b)
	}
	return b
}

// appendForwarded appends the Forwarded header (RFC 7239).
func (f Forwarded) appendForwarded(b []byte) []byte {
	if len(f.Chain) > 0 {
		b = append(b, "for="...)
		b = appendForwardedNode(b, f.Chain[0])
		b = append(b, ';')
	}
	if f.Host != "" {
		b = append(b, "host="...)
		b = appendForwardedValue(b, f.Host)
		b = append(b, ';')
	}
	b = append(b, "proto="...)
	b = append(b, f.Proto...)
	for _, a := range f.Chain[min(1, len(f.Chain)):] {
		b = append(b, ", for="...)
		b = appendForwardedNode(b, a)
	}
	return b
}

// appendForwardedNode appends an address as a Forwarded node: IPv6 in
// brackets, quoted (RFC 7239 section 6).
func appendForwardedNode(b []byte, a netip.Addr) []byte {
	if a.Is6() {
		b = append(b, `"[`...)
		return append(a.AppendTo(b), `]"`...)
	}
	return a.AppendTo(b)
}

// appendForwardedValue appends v as a token, or as a quoted string ('\'
// and '"' escaped) when it holds a byte a token may not (such as ':' in
// "example.com:8443").
func appendForwardedValue(b []byte, v string) []byte {
	token := true
	for i := 0; i < len(v) && token; i++ {
		token = isTokenByte(v[i])
	}
	if token {
		return append(b, v...)
	}
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' || v[i] == '"' {
			b = append(b, '\\')
		}
		b = append(b, v[i])
	}
	return append(b, '"')
}

// isTokenByte reports whether c is a tchar (RFC 9110 section 5.6.2).
func isTokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
