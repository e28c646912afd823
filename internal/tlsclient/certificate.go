package tlsclient

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// Certificate is a client certificate and its private key, read from two
// PEM files (one file may hold both). Whenever a server asks for a client
// certificate, the files are looked at (two stat calls): when either
// changed since it was read, the pair is read again. A pair that does not
// load, such as a certificate replaced before its key, keeps the previous
// pair in use and is tried again at the next handshake; onReloadError,
// when set, hears of each such failure. It is safe for concurrent use.
type Certificate struct {
	certFile, keyFile string
	onReloadError     func(error)

	mu    sync.Mutex
	cert  *tls.Certificate
	stamp [2]fileStamp // of certFile and keyFile when cert was read
}

// fileStamp is what tells a file changed: its modification time and size
// (os.Stat follows symbolic links, so a Kubernetes secret volume's swap
// of its ..data link shows as a change).
type fileStamp struct {
	mod  time.Time
	size int64
}

// LoadCertificate reads the pair in certFile and keyFile. It fails when a
// file cannot be read, holds no PEM block of its kind, or the key does not
// match the certificate; the error names the files, never the key.
// onReloadError may be nil.
func LoadCertificate(certFile, keyFile string, onReloadError func(error)) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile, onReloadError: onReloadError}
	stamp, err := c.stat()
	if err != nil {
		return nil, err
	}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cert, c.stamp = cert, stamp
	return c, nil
}

// get is tls.Config.GetClientCertificate: the pair, read again first when
// its files changed.
func (c *Certificate) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp, err := c.stat()
	if err == nil && stamp != c.stamp {
		var cert *tls.Certificate
		if cert, err = c.load(); err == nil {
			c.cert, c.stamp = cert, stamp
		}
	}
	if err != nil && c.onReloadError != nil {
		c.onReloadError(err)
	}
	return c.cert, nil
}

// stat stamps both files.
func (c *Certificate) stat() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, path := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(path)
		if err != nil {
			return out, fmt.Errorf("reading %q: %w", path, unwrapPath(err))
		}
		out[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return out, nil
}

// load reads and parses the pair.
func (c *Certificate) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		// crypto/tls's messages name neither file, and never hold key
		// material.
		return nil, fmt.Errorf("loading the certificate %q with the key %q: %w", c.certFile, c.keyFile, unwrapPath(err))
	}
	return &cert, nil
}
