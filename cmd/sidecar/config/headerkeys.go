package config

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/sidecarproxy/sidecar/sessions"
)

// headerKey is one key of headers.key_files, as Load read it.
type headerKey struct {
	signer crypto.Signer
	alg    sessions.Algorithm // the algorithm the key signs with
	kid    string
}

// headerKeys are the keys of headers.key_files, in order.
type headerKeys struct {
	list []headerKey
}

// loaded is the list of keys Load read (nil before).
func (h HeadersConfig) loaded() []headerKey {
	if h.keys == nil {
		return nil
	}
	return h.keys.list
}

// usesKeys reports whether a signs with headers.key_files.
func usesKeys(a sessions.Algorithm) bool { return a == sessions.EdDSA || a == sessions.ES256 }

// readKeyFiles reads and parses every file of headers.key_files. Each
// error names the entry ("headers.key_files[1]") and its path, never the
// contents.
func (h *HeadersConfig) readKeyFiles() error {
	h.keys = nil
	var errs problems
	var keys []headerKey
	seen := map[string]int{}
	for i, path := range h.KeyFiles {
		key := fmt.Sprintf("headers.key_files[%d]", i)
		b, err := readFile(path, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k, err := parseKeyPEM(b)
		if err != nil {
			errs.add(key, "%q: %v", path, err)
			continue
		}
		if j, dup := seen[k.kid]; dup {
			errs.add(key, "%q holds the same key as headers.key_files[%d]", path, j)
			continue
		}
		seen[k.kid] = i
		keys = append(keys, k)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(keys) > 0 {
		h.keys = &headerKeys{list: keys}
	}
	return nil
}

// parseKeyPEM parses one PEM "PRIVATE KEY" block (PKCS#8) holding an
// Ed25519 or P-256 key.
func parseKeyPEM(b []byte) (headerKey, error) {
	block, rest := pem.Decode(b)
	var next *pem.Block
	if block != nil {
		next, _ = pem.Decode(rest)
	}
	switch {
	case block == nil:
		return headerKey{}, errors.New("holds no PEM block (want a PKCS#8 \"PRIVATE KEY\", as `sidecar keygen --algorithm EdDSA` writes)")
	case block.Type == "ENCRYPTED PRIVATE KEY":
		return headerKey{}, errors.New("holds an encrypted key; give Sidecar an unencrypted PKCS#8 key in a file only it can read (mode 0600)")
	case block.Type == "EC PRIVATE KEY":
		return headerKey{}, errors.New("holds a SEC 1 \"EC PRIVATE KEY\"; convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in old.pem -out key.pem")
	case block.Type != "PRIVATE KEY":
		return headerKey{}, fmt.Errorf("holds a PEM %q block, not a PKCS#8 \"PRIVATE KEY\"", block.Type)
	case next != nil:
		return headerKey{}, fmt.Errorf("holds more than one PEM block (a second %q); put one key in each file", next.Type)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return headerKey{}, fmt.Errorf("is not a valid PKCS#8 private key: %v", err)
	}
	signer, ok := parsed.(crypto.Signer)
	if !ok {
		return headerKey{}, fmt.Errorf("holds a %T, which cannot sign", parsed)
	}
	alg, err := sessions.KeyAlgorithm(signer.Public())
	if err != nil {
		return headerKey{}, errors.New("holds a key Sidecar cannot sign the session header with: only Ed25519 (EdDSA) and P-256 (ES256) are supported")
	}
	kid, err := sessions.KeyID(signer.Public())
	if err != nil {
		return headerKey{}, err
	}
	return headerKey{signer: signer, alg: alg, kid: kid}, nil
}

// validateKeys checks headers.key_files against headers.algorithm.
func (h HeadersConfig) validateKeys(p *problems) {
	switch {
	case !usesKeys(h.Algorithm):
		if len(h.KeyFiles) > 0 {
			p.add("headers.key_files", "is only for headers.algorithm EdDSA or ES256 (headers.algorithm is %s, which signs with headers.secret)", h.Algorithm)
		}
	case len(h.KeyFiles) == 0:
		p.add("headers.key_files", "is required with headers.algorithm %s: list PKCS#8 PEM private keys, the signing key first (make one with: sidecar keygen --algorithm %s)", h.Algorithm, h.Algorithm)
	case len(h.loaded()) > 0 && h.loaded()[0].alg != h.Algorithm:
		p.add("headers.key_files[0]", "%q is the signing key and holds a %s key, but headers.algorithm is %s", h.KeyFiles[0], h.loaded()[0].alg, h.Algorithm)
	}
}

// signers are the keys of headers.key_files, the signing key first.
func (h HeadersConfig) signers() []crypto.Signer {
	out := make([]crypto.Signer, len(h.loaded()))
	for i, k := range h.loaded() {
		out[i] = k.signer
	}
	return out
}

// KeyIDs are the kids of headers.key_files as Load read them (RFC 7638
// thumbprints, the signing key's first), or nil: what the JWKS
// publishes. They name keys without revealing them, so they may be
// logged.
func (h HeadersConfig) KeyIDs() []string {
	var out []string
	for _, k := range h.loaded() {
		out = append(out, k.kid)
	}
	return out
}

// keysChanged reports whether the keys Load read for c and next differ,
// which the paths alone do not tell: a rotation may rewrite the files in
// place.
func (h HeadersConfig) keysChanged(next HeadersConfig) bool {
	return !slices.Equal(h.KeyIDs(), next.KeyIDs())
}
