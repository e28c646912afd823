package proxy

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// maxCombinedField bounds the Referer and User-Agent written to a
// combined-format line; the rest is cut.
const maxCombinedField = 1024

// clfTime is the time format of the combined log format ([%t]).
const clfTime = "02/Jan/2006:15:04:05 -0700"

// appendCombined appends the request's line in the NCSA combined log
// format, as Apache's and nginx's "combined":
//
//	client - - [time] "METHOD PATH PROTO" status bytes "referer" "user-agent"
//
// The client is the address Sidecar believes (Forwarded.Client: the
// peer, or what a trusted proxy forwarded); the identity and user fields
// are always "-" (a session's principal is never logged); the path is
// sent escaped and without its query string, which may carry tokens; the
// referer loses its query, fragment and user info for the same reason;
// bytes is "-" for an empty body. Referer and user agent are cut at
// maxCombinedField bytes, and as nginx does, '"', '\' and bytes outside
// printable ASCII are written as \xHH so that no field can break the line.
func appendCombined(b []byte, r *http.Request, st *reqState) []byte {
	b = appendClient(b, r, st)
	b = append(b, " - - ["...)
	b = st.start.AppendFormat(b, clfTime)
	b = append(b, `] "`...)
	b = appendEscaped(b, r.Method, -1)
	b = append(b, ' ')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "-"
	}
	b = appendEscaped(b, path, -1)
	b = append(b, ' ')
	b = appendEscaped(b, r.Proto, -1)
	b = append(b, `" `...)
	b = strconv.AppendInt(b, int64(st.sw.status), 10)
	b = append(b, ' ')
	if st.sw.bytes > 0 {
		b = strconv.AppendInt(b, st.sw.bytes, 10)
	} else {
		b = append(b, '-')
	}
	b = append(b, ` "`...)
	b = appendField(b, referer(r.Header.Get("Referer")))
	b = append(b, `" "`...)
	b = appendField(b, r.Header.Get("User-Agent"))
	return append(b, "\"\n"...)
}

// appendClient appends the client's address, or the peer's host when the
// address is unknown, or "-".
func appendClient(b []byte, r *http.Request, st *reqState) []byte {
	if st.fwd.Client.IsValid() {
		return st.fwd.Client.AppendTo(b)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil && host != "" {
		return appendEscaped(b, host, -1)
	}
	return append(b, '-')
}

// referer is the Referer without its query, fragment and user info, "" when
// it is not a URL.
func referer(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// appendField appends s, escaped and cut at maxCombinedField bytes, or "-"
// when it is empty.
func appendField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendEscaped(b, s, maxCombinedField)
}

// appendEscaped appends s with '"', '\' and every byte outside printable
// ASCII written as \xHH, cut after max bytes of s when max >= 0.
func appendEscaped(b []byte, s string, max int) []byte {
	const hex = "0123456789ABCDEF"
	if max >= 0 && len(s) > max {
		s = s[:max]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return b
}
