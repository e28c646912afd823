package sessions

import (
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of what a session keeps about the client that created it
// (Record.ClientIP and Record.UserAgent).
const (
	// MaxClientIPBytes is the longest client address kept: the longest
	// textual IPv6 address, with an embedded IPv4 address and no zone.
	MaxClientIPBytes = 45
	// MaxUserAgentBytes is the most bytes of a User-Agent kept; a longer
	// one is cut at a character boundary.
	MaxUserAgentBytes = 256
)

// SetClient records who sent the request: the client's address (as the
// proxy works it out, believing only trusted proxies) and its User-Agent.
// They are kept, bounded (ClientIP, CleanUserAgent), only if the request
// creates a session; a session that exists keeps those of its creation.
func (s *Session) SetClient(addr netip.Addr, userAgent string) {
	s.clientAddr, s.userAgent = addr, userAgent
}

// ClientIP is addr as Record.ClientIP keeps it: without a zone, IPv4 as
// IPv4, "" when addr is not valid.
func ClientIP(addr netip.Addr) string {
	if !addr.IsValid() {
		return ""
	}
	ip := addr.Unmap().WithZone("").String()
	if len(ip) > MaxClientIPBytes { // cannot happen without a zone; a bound all the same
		return ""
	}
	return ip
}

// CleanUserAgent is ua as Record.UserAgent keeps it: valid UTF-8 (each
// invalid byte becomes U+FFFD), control and format characters (which
// could rewrite a terminal line or reorder text when an operator lists
// sessions) replaced by U+FFFD, cut to at most MaxUserAgentBytes at a
// character boundary.
func CleanUserAgent(ua string) string {
	if len(ua) <= MaxUserAgentBytes && printableASCII(ua) {
		return ua
	}
	var b strings.Builder
	b.Grow(min(len(ua), MaxUserAgentBytes))
	for _, r := range ua {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > MaxUserAgentBytes {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// printableASCII reports whether s holds only printable ASCII (space to
// tilde).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
