package tlsedge

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// DefaultCheckInterval is how often, at most, [FileCertificate] looks at
// its files again when FileOptions.CheckInterval is zero.
const DefaultCheckInterval = 5 * time.Second

// FileOptions configures a [FileCertificate]. The zero value is ready to
// use.
type FileOptions struct {
	// CheckInterval is the least time between two looks at the files: a
	// handshake that comes later than that after the last look stats both
	// files (and reloads them if they changed). Zero means
	// DefaultCheckInterval.
	CheckInterval time.Duration
	// Logger receives a line for every certificate loaded and a warning
	// for every pair that could not be (the current certificate is kept).
	// The zero value discards them.
	Logger zerolog.Logger
	// Now is the clock; nil means time.Now. Tests set a fake one.
	Now func() time.Time
}

// FileCertificate is a certificate and key read from two PEM files that is
// replaced, without a restart, when the files change: the way cert-manager
// and Kubernetes rotate a mounted Secret (both files rewritten, or a
// symlink swapped to a new directory holding both).
//
// There is no goroutine and nothing to close: [FileCertificate.GetCertificate]
// (the tls.Config hook) looks at the files when at least CheckInterval has
// passed since the last look. Looking costs two stat calls; a change is
// noticed by a file's identity (device and inode, which a symlink swap or a
// rename over the file changes), size or modification time. One handshake
// does the look and any reload while the others go on with the current
// certificate, so a reload (reading and parsing the pair, well under a
// millisecond) delays only that one handshake. An idle server looks at
// nothing; its first handshake after a rotation gets the new certificate.
//
// A pair that does not load (a file missing, half written, or a key that
// does not match the certificate, as between the two renames of a
// rotation) keeps the current certificate and logs a warning once per
// state of the files; the next change of either file is tried again. It
// never fails a handshake that the previous certificate could serve.
//
// It is safe for concurrent use.
type FileCertificate struct {
	certFile, keyFile string
	interval          time.Duration
	log               zerolog.Logger
	now               func() time.Time

	cert      atomic.Pointer[tls.Certificate]
	nextCheck atomic.Int64 // unix nanoseconds before which no handshake looks

	mu   sync.Mutex // held by the one handshake that looks; guards seen
	seen fileStamps // the files as they were at the last look
}

// fileStamps identifies the state of the certificate and key files; a nil
// entry is a file that could not be stat'ed.
type fileStamps [2]os.FileInfo

// same reports whether the files are unchanged between s and o.
func (s fileStamps) same(o fileStamps) bool {
	for i := range s {
		a, b := s[i], o[i]
		if a == nil || b == nil {
			if a != b {
				return false
			}
			continue
		}
		if !os.SameFile(a, b) || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime()) {
			return false
		}
	}
	return true
}

// NewFileCertificate loads certFile and keyFile (PEM: the certificate chain,
// leaf first, and its private key). Unlike later reloads, this first load
// must succeed: the error names the file and never holds key material.
func NewFileCertificate(certFile, keyFile string, opts FileOptions) (*FileCertificate, error) {
	f := &FileCertificate{certFile: certFile, keyFile: keyFile, interval: opts.CheckInterval,
		log: opts.Logger, now: opts.Now}
	if f.interval <= 0 {
		f.interval = DefaultCheckInterval
	}
	if f.now == nil {
		f.now = time.Now
	}
	f.seen = f.stat()
	cert, err := f.load()
	if err != nil {
		return nil, err
	}
	f.cert.Store(cert)
	f.nextCheck.Store(f.now().Add(f.interval).UnixNano())
	f.logLoaded(cert, "certificate loaded")
	return f, nil
}

// GetCertificate returns the current certificate, for
// tls.Config.GetCertificate; it serves it whatever the client's server
// name. It first looks at the files if CheckInterval has passed since the
// last look. It never returns an error.
func (f *FileCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.maybeReload()
	return f.cert.Load(), nil
}

// Certificate returns the certificate being served now, without looking at
// the files.
func (f *FileCertificate) Certificate() *tls.Certificate { return f.cert.Load() }

// Reload looks at the files now, whatever the interval, and loads them if
// they changed since the last look. It reports whether a new certificate
// is being served; err is why a changed pair did not load (the current
// certificate is kept, and the warning logged).
func (f *FileCertificate) Reload() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextCheck.Store(f.now().Add(f.interval).UnixNano())
	return f.reloadLocked()
}

// maybeReload looks at the files when the interval has passed and no other
// handshake is looking already.
func (f *FileCertificate) maybeReload() {
	if f.now().UnixNano() < f.nextCheck.Load() || !f.mu.TryLock() {
		return
	}
	defer f.mu.Unlock()
	now := f.now()
	if now.UnixNano() < f.nextCheck.Load() {
		return // another handshake looked while this one waited for mu
	}
	f.nextCheck.Store(now.Add(f.interval).UnixNano())
	_, _ = f.reloadLocked() // logged
}

// reloadLocked loads the files if they changed since the last look. f.mu
// must be held.
func (f *FileCertificate) reloadLocked() (bool, error) {
	stamps := f.stat()
	if stamps.same(f.seen) {
		return false, nil
	}
	// Recorded before reading: a file that changes while it is read is
	// seen as changed at the next look and read again.
	f.seen = stamps
	cert, err := f.load()
	if err != nil {
		f.log.Warn().Err(err).Str("cert_file", f.certFile).Str("key_file", f.keyFile).
			Msg("the certificate files changed but do not load; still serving the previous certificate")
		return false, err
	}
	if old := f.cert.Load(); old != nil && bytes.Equal(old.Certificate[0], cert.Certificate[0]) &&
		len(old.Certificate) == len(cert.Certificate) {
		return false, nil // rewritten with the same content
	}
	f.cert.Store(cert)
	f.logLoaded(cert, "certificate reloaded")
	return true, nil
}

// stat returns the current state of the two files (following symlinks, so
// a swapped link shows up as another file).
func (f *FileCertificate) stat() fileStamps {
	var s fileStamps
	for i, name := range []string{f.certFile, f.keyFile} {
		if fi, err := os.Stat(name); err == nil {
			s[i] = fi
		}
	}
	return s
}

// load reads and checks the pair.
func (f *FileCertificate) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		// The error of LoadX509KeyPair names the problem (a missing file, no
		// PEM block, a key that does not match) and never the key.
		return nil, fmt.Errorf("loading %s and %s: %w", f.certFile, f.keyFile, err)
	}
	if cert.Leaf == nil {
		return nil, errors.New("loading the certificate: no leaf certificate")
	}
	return &cert, nil
}

func (f *FileCertificate) logLoaded(cert *tls.Certificate, msg string) {
	leaf := cert.Leaf
	ev := f.log.Info()
	if f.now().After(leaf.NotAfter) {
		ev = f.log.Warn()
		msg += " (it has expired)"
	}
	ev.Str("cert_file", f.certFile).Str("subject", leaf.Subject.String()).
		Strs("dns_names", leaf.DNSNames).Str("serial", leaf.SerialNumber.Text(16)).
		Time("not_after", leaf.NotAfter).Msg(msg)
}
