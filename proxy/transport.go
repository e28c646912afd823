package proxy

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// TransportOptions tune the connection pool to the apps. The zero value of
// each field is its stated default.
type TransportOptions struct {
	// DialTimeout bounds connecting to an app; 0 means DefaultDialTimeout
	// (5s).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for an app's response headers
	// after the request is written (a 504 when it passes); 0 means
	// DefaultResponseHeaderTimeout (60s).
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes idle keep-alive connections; 0 means
	// DefaultIdleConnTimeout (90s).
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost keeps this many idle connections per app; 0
	// means DefaultMaxIdleConnsPerHost (256). Go's default of 2 churns
	// connections under load.
	MaxIdleConnsPerHost int
	// MaxResponseHeaderBytes caps the bytes of an app's response headers
	// (status line included); 0 means DefaultMaxResponseHeaderBytes
	// (64 KiB). It must exceed the largest legitimate patch: the patches
	// of one response may hold sessions.PatchBytesFactor (4) times
	// session.max_bytes, so Sidecar's wiring raises it to twice that when
	// max_bytes is over 8 KiB. A response past it is the app's fault: the
	// client gets 502 and the session is left alone (see
	// errResponseHeaderTooLarge). Go's default is 10 MB, enough for a
	// hostile patch to cost seconds of CPU before any check.
	MaxResponseHeaderBytes int64
	// TLSClientConfig is the TLS of https:// upstreams: the CAs trusted,
	// the client certificate, the server name (SNI and the name verified;
	// empty: each upstream URL's host) and the minimum version. nil means
	// Go's defaults: the system's roots, no client certificate, the URL's
	// host, TLS 1.2. Health checks and probes use it too. Upstreams are
	// spoken to in HTTP/1.1 over TLS as well: no ALPN, no HTTP/2.
	TLSClientConfig *tls.Config
}

// errResponseHeaderTooLarge: the app's response headers passed
// TransportOptions.MaxResponseHeaderBytes and the transport stopped
// reading them. It is the app's fault, not the client's: 502, nothing
// committed. It is not retried (the app may have acted on the request,
// and would answer the same again) and does not count toward passive
// ejection: the app answered, so it is neither down nor unreachable, and
// every upstream running the same code would answer alike, so ejecting
// one would only shrink the pool (a client replaying the request could
// eject upstream after upstream). It counts as a response instead, like a
// patch the app got wrong.
var errResponseHeaderTooLarge = errors.New("proxy: app response headers too large")

// requestWriteBuffer is the buffer each connection to an app writes
// requests through: 16 KiB, where Go's 4 KiB made a request carrying a
// session header of a few KiB (headers.max_bytes is 4096 by default, and
// may be raised) go out in two or three write calls instead of one.
const requestWriteBuffer = 16 << 10

// NewTransport returns an HTTP/1.1 keep-alive transport for the apps,
// https:// ones included (with o.TLSClientConfig). Its connections check,
// before a request the transport would not resend by itself (a POST, say)
// is written on one reused from the idle pool, that the app has not
// closed it (see liveConn; the check costs one non-blocking syscall).
func NewTransport(o TransportOptions) *http.Transport {
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.ResponseHeaderTimeout == 0 {
		o.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if o.IdleConnTimeout == 0 {
		o.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if o.MaxResponseHeaderBytes <= 0 {
		o.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	return &http.Transport{
		DialContext: dialLive((&net.Dialer{
			Timeout:   o.DialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext),
		MaxIdleConnsPerHost:    o.MaxIdleConnsPerHost,
		WriteBufferSize:        requestWriteBuffer,
		IdleConnTimeout:        o.IdleConnTimeout,
		ResponseHeaderTimeout:  o.ResponseHeaderTimeout,
		MaxResponseHeaderBytes: o.MaxResponseHeaderBytes,
		ExpectContinueTimeout:  time.Second,
		// Pass Accept-Encoding and compressed bodies through untouched
		// instead of asking apps for gzip and unpacking it for clients.
		DisableCompression: true,
		// The transport clones it and fills ServerName from the URL when
		// it is empty. With DialContext set, it offers no HTTP/2.
		TLSClientConfig: o.TLSClientConfig,
	}
}

// asLiveConn returns the liveConn under c, the connection a try got: c
// itself, or the TCP connection under the TLS one of an https://
// upstream.
func asLiveConn(c net.Conn) (*liveConn, bool) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*liveConn)
	return lc, ok
}

// responseHeaderLimit is the header limit rt enforces, when it is an
// *http.Transport, or 0 (unknown).
func responseHeaderLimit(rt http.RoundTripper) int64 {
	t, ok := rt.(*http.Transport)
	switch {
	case !ok:
		return 0
	case t.MaxResponseHeaderBytes > 0:
		return t.MaxResponseHeaderBytes
	}
	return 10 << 20 // net/http's default
}

// bufferPool is the ReverseProxy copy-buffer pool: 32 KiB buffers reused
// across requests instead of allocated per response. Buffers are pooled
// as pointers so that Put does not allocate.
type bufferPool struct{ p sync.Pool }

// NewBufferPool returns the pooled copy buffer Sidecar gives its
// ReverseProxy, for any other ReverseProxy that should match it (the
// baseline proxy in bench/).
func NewBufferPool() httputil.BufferPool { return newBufferPool() }

const copyBufferSize = 32 << 10

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any {
		b := make([]byte, copyBufferSize)
		return &b
	}}}
}

func (b *bufferPool) Get() []byte { return *b.p.Get().(*[]byte) }

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != copyBufferSize {
		return
	}
	buf = buf[:copyBufferSize]
	b.p.Put(&buf)
}
