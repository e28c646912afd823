package keygen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Key is a fresh private key for headers.key_files.
type Key struct {
	// PEM is the key as a PKCS#8 "PRIVATE KEY" PEM block: what
	// headers.key_files reads. It is secret: store it in a file only
	// Sidecar can read (mode 0600).
	PEM []byte
	// KeyID is the kid the session header and the JWKS will name it by
	// (its RFC 7638 thumbprint). It is public.
	KeyID string
}

// NewKey returns a fresh key for alg: an Ed25519 key for "EdDSA", a
// P-256 key for "ES256"; any other alg (HS256 included, which has no key
// but headers.secret) is an error.
func NewKey(alg string) (Key, error) {
	var key crypto.Signer
	var err error
	switch sessions.Algorithm(alg) {
	case sessions.EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case sessions.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return Key{}, fmt.Errorf("--algorithm must be EdDSA or ES256 (HS256 has no key file: it signs with headers.secret), got %q", alg)
	}
	if err != nil {
		return Key{}, fmt.Errorf("generating the key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Key{}, fmt.Errorf("encoding the key: %w", err)
	}
	kid, err := sessions.KeyID(key.Public())
	if err != nil {
		return Key{}, err
	}
	return Key{PEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), KeyID: kid}, nil
}

// Note is what `sidecar keygen --algorithm` prints on stderr next to the
// key: its kid, and how to store and use it.
func (k Key) Note(alg string) string {
	return fmt.Sprintf("# %s key, kid %s. Save it readable only by Sidecar, e.g.\n"+
		"#   (umask 077; sidecar keygen --algorithm %s > /etc/sidecar/header-key.pem)\n"+
		"# and list it first in headers.key_files, with headers.algorithm: %s.\n", alg, k.KeyID, alg, alg)
}

// WriteKey is `sidecar keygen --algorithm alg`: a fresh key (NewKey) as
// PEM on stdout, ready to redirect into a key file, and its Note on
// stderr.
func WriteKey(alg string, stdout, stderr io.Writer) error {
	k, err := NewKey(alg)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(stderr, k.Note(alg)); err != nil {
		return err
	}
	_, err = stdout.Write(k.PEM)
	return err
}
