package sessions

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Algorithm is the JWS algorithm of the session header (protocol §2).
type Algorithm string

// The algorithms HeaderSigner signs with.
const (
	// HS256 is HMAC-SHA256 with a secret the apps share: the default.
	HS256 Algorithm = "HS256"
	// EdDSA is Ed25519 (RFC 8037): the apps verify with the public key.
	EdDSA Algorithm = "EdDSA"
	// ES256 is ECDSA on P-256 with SHA-256, the signature as r||s (RFC
	// 7518 §3.4), for runtimes without Ed25519 (Java 11).
	ES256 Algorithm = "ES256"
)

// Validate reports whether a is HS256, EdDSA or ES256.
func (a Algorithm) Validate() error {
	switch a {
	case HS256, EdDSA, ES256:
		return nil
	}
	return fmt.Errorf("%q is not one of %s, %s, %s", string(a), HS256, EdDSA, ES256)
}

// signatureLen is the length in bytes of a's signatures.
func (a Algorithm) signatureLen() int {
	if a == HS256 {
		return sha256.Size
	}
	return 64 // Ed25519; ES256's r||s, 32 bytes each
}

// KeyAlgorithm is the algorithm that signs with a key whose public half
// is pub: EdDSA for Ed25519, ES256 for ECDSA on P-256. Other keys are an
// error.
func KeyAlgorithm(pub crypto.PublicKey) (Algorithm, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return EdDSA, nil
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return ES256, nil
		}
		return "", fmt.Errorf("sessions: ECDSA key on %s: only P-256 (ES256) is supported", k.Curve.Params().Name)
	}
	return "", fmt.Errorf("sessions: %T is neither an Ed25519 nor a P-256 key", pub)
}

// JWK is a public key as the JWKS document publishes it (RFC 7517, with
// RFC 8037 for Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"` // EC only
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// PublicJWK is pub (Ed25519 or P-256) as a JWK, its kid the RFC 7638
// thumbprint, use "sig".
func PublicJWK(pub crypto.PublicKey) (JWK, error) {
	alg, err := KeyAlgorithm(pub)
	if err != nil {
		return JWK{}, err
	}
	var j JWK
	var members string // the thumbprint's input: required members, sorted
	switch k := pub.(type) {
	case ed25519.PublicKey:
		j = JWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k)}
		members = `{"crv":"Ed25519","kty":"OKP","x":"` + j.X + `"}`
	case *ecdsa.PublicKey:
		pt, err := k.Bytes() // 0x04 || X || Y
		if err != nil {
			return JWK{}, fmt.Errorf("sessions: encoding the P-256 key: %w", err)
		}
		j = JWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(pt[1:33]), Y: b64.EncodeToString(pt[33:65])}
		members = `{"crv":"P-256","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	}
	sum := sha256.Sum256([]byte(members))
	j.Kid, j.Alg, j.Use = b64.EncodeToString(sum[:]), string(alg), "sig"
	return j, nil
}

// KeyID is the kid Sidecar gives the key whose public half is pub: its
// RFC 7638 JWK thumbprint (SHA-256, base64url), 43 characters.
func KeyID(pub crypto.PublicKey) (string, error) {
	j, err := PublicJWK(pub)
	return j.Kid, err
}

// headerKey is one of HeaderOptions.Keys, ready to sign and verify.
type headerKey struct {
	signer crypto.Signer
	public crypto.PublicKey // ed25519.PublicKey or *ecdsa.PublicKey
	alg    Algorithm
	kid    string
}

// newHeaderKeys checks keys (the first must sign with alg) and returns
// them with their JWKS document.
func newHeaderKeys(alg Algorithm, keys []crypto.Signer) ([]headerKey, []byte, error) {
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("sessions: %s needs at least one header key", alg)
	}
	out := make([]headerKey, 0, len(keys))
	set := struct {
		Keys []JWK `json:"keys"`
	}{}
	seen := map[string]int{}
	for i, s := range keys {
		if s == nil {
			return nil, nil, fmt.Errorf("sessions: header key %d is nil", i)
		}
		pub := s.Public()
		j, err := PublicJWK(pub)
		if err != nil {
			return nil, nil, fmt.Errorf("header key %d: %w", i, err)
		}
		if i == 0 && Algorithm(j.Alg) != alg {
			return nil, nil, fmt.Errorf("sessions: the first header key signs and is a %s key, not %s", j.Alg, alg)
		}
		if prev, dup := seen[j.Kid]; dup {
			return nil, nil, fmt.Errorf("sessions: header keys %d and %d are the same key", prev, i)
		}
		seen[j.Kid] = i
		out = append(out, headerKey{signer: s, public: pub, alg: Algorithm(j.Alg), kid: j.Kid})
		set.Keys = append(set.Keys, j)
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, nil, fmt.Errorf("sessions: encoding the JWKS: %w", err)
	}
	return out, doc, nil
}

// sign returns k's JWS signature of input, appended to dst when the key
// type lets it (ES256; Ed25519 allocates its own).
func (k *headerKey) sign(input, dst []byte) ([]byte, error) {
	if k.alg == EdDSA {
		if priv, ok := k.signer.(ed25519.PrivateKey); ok {
			return ed25519.Sign(priv, input), nil
		}
		return k.signer.Sign(nil, input, crypto.Hash(0))
	}
	digest := sha256.Sum256(input)
	der, err := k.signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return appendRawECDSA(dst, der)
}

// appendRawECDSA converts an ASN.1 ECDSA signature on P-256 into the
// 64-byte r||s form JWS requires, appended to dst.
func appendRawECDSA(dst, der []byte) ([]byte, error) {
	var r, s []byte
	in, seq := cryptobyte.String(der), cryptobyte.String(nil)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() ||
		len(r) > 32 || len(s) > 32 {
		return nil, errors.New("sessions: malformed ECDSA signature")
	}
	for _, n := range [][]byte{r, s} {
		for range 32 - len(n) {
			dst = append(dst, 0)
		}
		dst = append(dst, n...)
	}
	return dst, nil
}

// JWKS is the JWKS document (RFC 7517) of h's keys, public halves only,
// each with its kid, alg and use "sig", the signing key first; nil under
// HS256, which has nothing to publish. The slice is shared: do not modify
// it.
func (h *HeaderSigner) JWKS() []byte { return h.jwks }
