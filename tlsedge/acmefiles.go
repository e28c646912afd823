package tlsedge

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/caddyserver/certmagic"

	"github.com/sidecarproxy/sidecar/internal/fscheck"
)

// LoadACMERoots is the system's root pool plus the certificates of the
// PEM file path, to verify the CA's directory (for a private CA, such as
// a test's); nil (the system's roots alone) for "". It fails when the file
// cannot be read or holds no certificate.
func LoadACMERoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // no system roots here: the file's alone
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", path)
	}
	return pool, nil
}

// ACMEFileStorage is certmagic's file storage in dir. With create, dir is
// created (mode 0700: it holds private keys) when missing; without, as
// for a configuration check, it is only inspected (fscheck.Dir): missing,
// or a directory.
func ACMEFileStorage(dir string, create bool) (certmagic.Storage, error) {
	if !create {
		if err := fscheck.Dir(dir); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &certmagic.FileStorage{Path: dir}, nil
}
