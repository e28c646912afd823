package config

import (
	"fmt"
	"time"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
)

// minHeadBytes is the least limits.max_header_bytes: a browser's request
// without cookies is about 1 KB.
const minHeadBytes = 1024

// LimitsConfig bounds what a client may send (limits): the request head
// (431), the body's size (413) and pace (408), and the memory and disk
// that bodies waiting for an app may hold (503 with Retry-After). A body
// is read whole from the client before an app is chosen, so that a slow
// upload never ties up an app's thread: the first proxy.retry.buffer_bytes
// of it in memory, the rest in a temporary file (see [BodyBufferConfig]).
// A body that ends early or is malformed gets 400. See [proxy.Limits]. Its
// keys take a restart.
type LimitsConfig struct {
	// MaxHeaderBytes caps the request line and headers a client sends,
	// counted as "Name: value\r\n" each: a larger head gets 431. Sized
	// with headers.max_bytes: the app server must accept the client's
	// head plus Sidecar's session header and its other headers (about
	// 500 bytes), and Tomcat accepts 8192 bytes in all by default. At
	// least 1024. Default 3584 ([proxy.DefaultMaxHeaderBytes]: 8192 -
	// 4096 - 512); see [Config.Warnings].
	MaxHeaderBytes int `koanf:"max_header_bytes"`
	// MaxBodyBytes caps a request body: a larger Content-Length gets 413
	// before any byte is read, a chunked body once it passes the limit.
	// 0 (the default): no limit.
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// BodyReadTimeout is the longest a client may pause while sending a
	// body: 408 after it. Greater than 0. Default 30s.
	BodyReadTimeout time.Duration `koanf:"body_read_timeout"`
	// MinUploadRate, in bytes per second, is the slowest a body may
	// arrive once MinUploadGrace has passed: n bytes may take
	// MinUploadGrace + n/MinUploadRate in all, 408 after. 0: no minimum.
	// Default 1024.
	MinUploadRate int64 `koanf:"min_upload_rate"`
	// MinUploadGrace is the time a body has before MinUploadRate applies.
	// Default 10s.
	MinUploadGrace time.Duration `koanf:"min_upload_grace"`
	// Buffer bounds the memory and disk of bodies held for an app.
	Buffer BodyBufferConfig `koanf:"buffer"`
}

// BodyBufferConfig bounds the request bodies Sidecar holds
// (limits.buffer), for the whole process. Each body takes up to
// proxy.retry.buffer_bytes of memory, then up to MaxFileBytes of
// temporary file; the rest of a longer body is streamed to the app as it
// arrives, and such a request is not retried once a byte of it was sent.
// A buffered body is sent with a Content-Length and is replayed on a
// retry. When MemoryBytes and DiskBytes are used up, a request with a
// body gets 503 with Retry-After.
type BodyBufferConfig struct {
	// MemoryBytes is the memory all bodies together may hold. 0: none,
	// every body goes to a temporary file. Default 67108864 (64 MiB).
	MemoryBytes int64 `koanf:"memory_bytes"`
	// DiskBytes is the size all temporary files together may reach. 0: no
	// temporary files. Default 1073741824 (1 GiB).
	DiskBytes int64 `koanf:"disk_bytes"`
	// MaxFileBytes is the largest temporary file of one request, at most
	// DiskBytes. 0: no temporary files. Default 134217728 (128 MiB).
	MaxFileBytes int64 `koanf:"max_file_bytes"`
	// TempDir is the directory of the temporary files; each is unlinked as
	// soon as it is created. On a tmpfs they take memory. Default
	// os.TempDir() ($TMPDIR, else /tmp).
	TempDir string `koanf:"temp_dir"`
}

// FilesEnabled reports whether bodies may go to temporary files.
func (b BodyBufferConfig) FilesEnabled() bool { return b.DiskBytes > 0 && b.MaxFileBytes > 0 }

func (l LimitsConfig) validate(p *problems) {
	if l.MaxHeaderBytes < minHeadBytes {
		p.add("limits.max_header_bytes", "must be at least %d (got %d)", minHeadBytes, l.MaxHeaderBytes)
	}
	if l.MaxBodyBytes < 0 {
		p.add("limits.max_body_bytes", "must not be negative (got %d; 0 means no limit)", l.MaxBodyBytes)
	}
	p.positive("limits.body_read_timeout", l.BodyReadTimeout)
	if l.MinUploadRate < 0 {
		p.add("limits.min_upload_rate", "must not be negative (got %d; 0 means no minimum)", l.MinUploadRate)
	}
	if l.MinUploadGrace < 0 {
		p.add("limits.min_upload_grace", "must not be negative (got %v)", l.MinUploadGrace)
	}
	b := l.Buffer
	for _, k := range []struct {
		key string
		n   int64
	}{{"limits.buffer.memory_bytes", b.MemoryBytes}, {"limits.buffer.disk_bytes", b.DiskBytes}, {"limits.buffer.max_file_bytes", b.MaxFileBytes}} {
		if k.n < 0 {
			p.add(k.key, "must not be negative (got %d)", k.n)
		}
	}
	if b.FilesEnabled() {
		if b.MaxFileBytes > b.DiskBytes {
			p.add("limits.buffer.max_file_bytes", "must be at most limits.buffer.disk_bytes (%d), got %d: a larger file could never be written",
				b.DiskBytes, b.MaxFileBytes)
		}
		if b.TempDir == "" {
			p.add("limits.buffer.temp_dir", "must not be empty while temporary files are on (disk_bytes and max_file_bytes)")
		}
	}
}

// headLimitWarning warns when limits.max_header_bytes was raised past
// what an app server with an 8 KiB request-head limit (Tomcat's default)
// accepts together with Sidecar's headers, while headers.max_bytes is
// still sized for such a server. (A raised headers.max_bytes says the app
// server takes more.)
func (c Config) headLimitWarning() string {
	total := c.Limits.MaxHeaderBytes + c.Headers.MaxBytes + proxy.HeaderReserveBytes
	if c.Headers.MaxBytes > sessions.DefaultHeaderMaxBytes || total <= proxy.AppServerHeaderBytes {
		return ""
	}
	return fmt.Sprintf("limits.max_header_bytes (%d) + headers.max_bytes (%d) + about %d bytes of Sidecar's other headers is %d bytes: "+
		"more than the %d bytes of request headers Tomcat (maxHttpHeaderSize) accepts by default, so such requests may get 400 from the app server; "+
		"nginx (large_client_header_buffers 4 8k) and Apache httpd (LimitRequestFieldSize 8190) limit each header line to about 8 KB instead. "+
		"Lower limits.max_header_bytes to %d, or raise the app server's limit",
		c.Limits.MaxHeaderBytes, c.Headers.MaxBytes, proxy.HeaderReserveBytes, total, proxy.AppServerHeaderBytes,
		proxy.AppServerHeaderBytes-c.Headers.MaxBytes-proxy.HeaderReserveBytes)
}

// Options translates limits.* for the proxy. In the config 0 turns
// a minimum, the memory or the temporary files off, where the library
// reads 0 as its default and a negative value as off.
func (c LimitsConfig) Options() proxy.Limits {
	off := func(n int64) int64 {
		if n == 0 {
			return -1
		}
		return n
	}
	grace := c.MinUploadGrace
	if grace == 0 {
		grace = -1
	}
	return proxy.Limits{
		MaxHeaderBytes:  c.MaxHeaderBytes,
		MaxBodyBytes:    c.MaxBodyBytes,
		BodyReadTimeout: c.BodyReadTimeout,
		MinUploadRate:   off(c.MinUploadRate),
		MinUploadGrace:  grace,
		Buffer: proxy.BufferOptions{
			MemoryBytes:  off(c.Buffer.MemoryBytes),
			DiskBytes:    off(c.Buffer.DiskBytes),
			MaxFileBytes: off(c.Buffer.MaxFileBytes),
			TempDir:      c.Buffer.TempDir,
		},
	}
}
