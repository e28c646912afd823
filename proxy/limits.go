package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// Limits bound what a client may send before Sidecar passes its request
// on: the size of the request head (431) and of the body (413), how slowly
// the body may arrive (408), and how much memory and disk the bodies
// waiting to be sent may hold, process-wide (503 with Retry-After). A body
// that ends early or is malformed gets 400 (logged as 499 when the client
// reset the connection), never reaches an app whole-looking, and never
// counts against an upstream. The zero value of each field is its stated
// default.
//
// A request body is read from the client before an upstream is chosen and
// before the session is locked or its header signed (nginx's
// proxy_request_buffering): a slow upload ties up neither an app's thread
// nor a session lock, and an app sees a buffered body only once it is
// complete. The first RetryOptions.BufferBytes of it are held in memory,
// in chunks reserved from BufferOptions.MemoryBytes as the bytes arrive
// (never from Content-Length up front); what does not fit goes to an
// unlinked temporary file, up to BufferOptions.MaxFileBytes per request and
// BufferOptions.DiskBytes in all. A buffered body, in memory or on disk, is
// replayable on a retry and is sent with a Content-Length. A body longer
// than both per-request limits is streamed from that point on: it is not
// replayable (see RetryOptions), and the upload guards still apply. When
// the process-wide budgets are used up the request gets 503 with
// Retry-After.
type Limits struct {
	// MaxHeaderBytes caps the request head: the request line, the Host
	// line and every header field counted as "Name: value\r\n", and the
	// final CRLF. A larger head gets 431. 0 means DefaultMaxHeaderBytes
	// (3584, sized so that an app server with an 8 KiB limit accepts it
	// with Sidecar's own headers added); negative: no check here.
	// net/http's own bound (the server's MaxHeaderBytes plus 4096 bytes)
	// still answers 431 before Sidecar sees the request.
	MaxHeaderBytes int
	// MaxBodyBytes caps a request body: a Content-Length over it gets 413
	// before any byte is read, a chunked body gets 413 once it passes it.
	// 0 (the default) means no limit.
	MaxBodyBytes int64
	// BodyReadTimeout is the longest wait for the next bytes of a request
	// body; passing it gets 408. 0 means DefaultBodyReadTimeout (30s);
	// negative: no limit.
	BodyReadTimeout time.Duration
	// MinUploadRate, in bytes per second, is the slowest a request body
	// may arrive once MinUploadGrace has passed: after n bytes the body
	// must have been read for at most MinUploadGrace + n/MinUploadRate
	// (Apache's mod_reqtimeout MinRate), else 408. 0 means
	// DefaultMinUploadRate (1024); negative: no minimum.
	MinUploadRate int64
	// MinUploadGrace is how long a body may take before MinUploadRate
	// applies. 0 means DefaultMinUploadGrace (10s); negative: none.
	MinUploadGrace time.Duration
	// Buffer bounds the memory and disk that request bodies held for
	// their upstream may use.
	Buffer BufferOptions
}

// BufferOptions bound the request bodies Sidecar holds, process-wide; the
// per-request part in memory is RetryOptions.BufferBytes. The zero value
// of each field is its stated default.
type BufferOptions struct {
	// MemoryBytes is the memory all buffered bodies together may hold. 0
	// means DefaultBufferMemoryBytes (64 MiB); negative: none, every
	// buffered body goes to a temporary file.
	MemoryBytes int64
	// DiskBytes is the size all temporary files together may reach. 0
	// means DefaultBufferDiskBytes (1 GiB); negative: no temporary files.
	DiskBytes int64
	// MaxFileBytes is the largest temporary file of one request; the rest
	// of a longer body is streamed. 0 means DefaultBufferMaxFileBytes
	// (128 MiB); negative: no temporary files.
	MaxFileBytes int64
	// TempDir is where temporary files are created (and unlinked at
	// once). "" means os.TempDir(). Where that is a tmpfs, the files take
	// memory, not disk.
	TempDir string
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.BodyReadTimeout == 0 {
		l.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if l.MinUploadRate == 0 {
		l.MinUploadRate = DefaultMinUploadRate
	}
	if l.MinUploadGrace == 0 {
		l.MinUploadGrace = DefaultMinUploadGrace
	}
	b := &l.Buffer
	if b.MemoryBytes == 0 {
		b.MemoryBytes = DefaultBufferMemoryBytes
	}
	if b.DiskBytes == 0 {
		b.DiskBytes = DefaultBufferDiskBytes
	}
	if b.MaxFileBytes == 0 {
		b.MaxFileBytes = DefaultBufferMaxFileBytes
	}
	if b.TempDir == "" {
		b.TempDir = os.TempDir()
	}
	return l
}

// The errors of a request refused for its size or pace; classify maps
// each to its status.
var (
	// errHeaderTooLarge: 431.
	errHeaderTooLarge = errors.New("proxy: request header fields too large")
	// errBodyTooLarge: 413.
	errBodyTooLarge = errors.New("proxy: request body too large")
	// errSlowUpload: the client sent its body too slowly, 408. It wraps
	// the read's timeout, and is itself wrapped by errClientBody.
	errSlowUpload = errors.New("proxy: request body too slow")
	// errBufferFull: the memory and disk budgets for bodies are used up,
	// or the temporary file failed; 503 with Retry-After.
	errBufferFull = errors.New("proxy: no room to buffer the request body")
)

// headSize is the size of r's request head as Limits.MaxHeaderBytes
// counts it. It is the head as forwarded, give or take the spaces a
// client put around values.
func headSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// checkRequest refuses, before any byte of the body is read, a request
// whose head passes MaxHeaderBytes or whose Content-Length passes
// MaxBodyBytes.
func (l Limits) checkRequest(r *http.Request) error {
	if l.MaxHeaderBytes > 0 {
		if n := headSize(r); n > l.MaxHeaderBytes {
			return fmt.Errorf("%w: %d bytes, more than %d", errHeaderTooLarge, n, l.MaxHeaderBytes)
		}
	}
	if l.MaxBodyBytes > 0 && r.ContentLength > l.MaxBodyBytes {
		return fmt.Errorf("%w: Content-Length %d, more than %d", errBodyTooLarge, r.ContentLength, l.MaxBodyBytes)
	}
	return nil
}
