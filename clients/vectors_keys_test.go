package clients

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// The test keys of the vectors. They are public (committed, and derived
// from published seeds): never use them outside tests.
const (
	ed25519KeyFile1 = "ed25519-1.pem"
	ed25519KeyFile2 = "ed25519-2.pem"
	p256KeyFile     = "es256-p256.pem"
)

// vectorKeys are the vectors' asymmetric keys: two published Ed25519
// keys (the second stands for a rotation), one Ed25519 key that is not
// published (unknown kid) and the published P-256 key.
type vectorKeys struct {
	ed      [3]ed25519.PrivateKey
	es      *ecdsa.PrivateKey
	edKids  [3]string
	esKidV  string
	jwksDoc jwksDoc
}

// loadVectorKeys derives the Ed25519 keys from fixed seeds and reads the
// P-256 key from testdata/keys (with -update, it makes one if missing).
// The Ed25519 keys are also kept there as PKCS#8 PEM files for tests and
// demos that configure Sidecar with headers.key_files; without -update
// they must match the seeds.
func loadVectorKeys(t *testing.T) *vectorKeys {
	t.Helper()
	k := &vectorKeys{}
	for i := range k.ed {
		k.ed[i] = ed25519.NewKeyFromSeed(sha256Sum("sidecar test vectors: ed25519 key " + string(rune('1'+i))))
	}
	for i, name := range []string{ed25519KeyFile1, ed25519KeyFile2} {
		der, err := x509.MarshalPKCS8PrivateKey(k.ed[i])
		require.NoError(t, err)
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if *update {
			require.NoError(t, os.WriteFile(keyPath(name), pemBytes, 0o644))
			continue
		}
		onDisk, err := os.ReadFile(keyPath(name))
		require.NoError(t, err, "run: go test ./clients -run TestVectors -update")
		require.Equal(t, string(pemBytes), string(onDisk), "%s is the key derived from its seed", name)
	}
	k.es = readP256(t)
	for i := range k.ed {
		k.edKids[i] = thumbprint(t, okpJWK(k.ed[i].Public().(ed25519.PublicKey)))
	}
	esJWK := ecJWK(k.es.Public().(*ecdsa.PublicKey))
	k.esKidV = thumbprint(t, esJWK)
	for i := range 2 {
		j := okpJWK(k.ed[i].Public().(ed25519.PublicKey))
		j.Kid, j.Alg, j.Use = k.edKids[i], "EdDSA", "sig"
		k.jwksDoc.Keys = append(k.jwksDoc.Keys, j)
	}
	esJWK.Kid, esJWK.Alg, esJWK.Use = k.esKidV, "ES256", "sig"
	k.jwksDoc.Keys = append(k.jwksDoc.Keys, esJWK)
	// The document is the one Sidecar serves for these keys.
	served, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Algorithm: sessions.EdDSA,
		Keys: []crypto.Signer{k.ed[0], k.ed[1], k.es}})
	require.NoError(t, err)
	var doc jwksDoc
	require.NoError(t, json.Unmarshal(served.JWKS(), &doc))
	require.Equal(t, k.jwksDoc, doc, "the JWKS Sidecar serves has RFC 7638 kids")
	return k
}

func readP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	raw, err := os.ReadFile(keyPath(p256KeyFile))
	if errors.Is(err, os.ErrNotExist) && *update {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		der, err := x509.MarshalPKCS8PrivateKey(key)
		require.NoError(t, err)
		raw = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		require.NoError(t, os.WriteFile(keyPath(p256KeyFile), raw, 0o644))
	} else {
		require.NoError(t, err)
	}
	block, _ := pem.Decode(raw)
	require.NotNil(t, block, "%s holds a PEM block", p256KeyFile)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	es, ok := key.(*ecdsa.PrivateKey)
	require.True(t, ok, "%s holds an ECDSA key", p256KeyFile)
	return es
}

func (k *vectorKeys) jwks() jwksDoc { return k.jwksDoc }
func (k *vectorKeys) esKid() string { return k.esKidV }

func okpJWK(pub ed25519.PublicKey) jwk {
	return jwk{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(pub)}
}

func ecJWK(pub *ecdsa.PublicKey) jwk {
	pt, _ := pub.Bytes() // 0x04 || X || Y, 32 bytes each
	return jwk{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(pt[1:33]), Y: b64.EncodeToString(pt[33:])}
}

// thumbprint is the RFC 7638 JWK thumbprint: SHA-256 of the required
// members in lexical order, without white space, base64url.
func thumbprint(t *testing.T, j jwk) string {
	t.Helper()
	var doc string
	switch j.Kty {
	case "OKP":
		doc = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	case "EC":
		doc = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	default:
		t.Fatalf("no thumbprint for kty %q", j.Kty)
	}
	sum := sha256.Sum256([]byte(doc))
	return b64.EncodeToString(sum[:])
}

// signEdDSA is the header Sidecar signs with Ed25519 key i at clock at.
func (k *vectorKeys) signEdDSA(t *testing.T, i int, s *sessions.Session, at time.Time) string {
	t.Helper()
	return k.signEdDSAWith(t, i, s, func(o *sessions.HeaderOptions) { o.Clock = func() time.Time { return at } })
}

// signEdDSAWith is signEdDSA at vectorNow with other options: Sidecar's
// HeaderSigner with Ed25519 key i first and the other published one
// after it.
func (k *vectorKeys) signEdDSAWith(t *testing.T, i int, s *sessions.Session, edit func(*sessions.HeaderOptions)) string {
	t.Helper()
	keys := []crypto.Signer{k.ed[i]}
	if i < 2 {
		keys = append(keys, k.ed[1-i])
	}
	return sign(t, hsSigner(t, func(o *sessions.HeaderOptions) {
		o.Secret, o.Algorithm, o.Keys = nil, sessions.EdDSA, keys
		edit(o)
	}), s)
}

// signUnknown signs with the Ed25519 key the JWKS does not publish.
func (k *vectorKeys) signUnknown(t *testing.T, s *sessions.Session) string {
	t.Helper()
	return k.signEdDSA(t, 2, s, vectorNow)
}

// craftEdDSA signs payload under header with the first Ed25519 key.
func (k *vectorKeys) craftEdDSA(t *testing.T, header string, payload []byte) string {
	t.Helper()
	return craft(header, payload, nil, func(in string) []byte {
		sig, err := jwt.SigningMethodEdDSA.Sign(in, k.ed[0])
		require.NoError(t, err)
		return sig
	})
}

// signES256 is the header Sidecar signs with the P-256 key at clock at.
func (k *vectorKeys) signES256(t *testing.T, s *sessions.Session, at time.Time) string {
	t.Helper()
	return sign(t, hsSigner(t, func(o *sessions.HeaderOptions) {
		o.Secret, o.Algorithm, o.Keys = nil, sessions.ES256, []crypto.Signer{k.es}
		o.Clock = func() time.Time { return at }
	}), s)
}

// es256DER re-encodes an ES256 token's r||s signature as ASN.1 DER, the
// form OpenSSL produces and JWS forbids.
func (k *vectorKeys) es256DER(t *testing.T, tok string) string {
	t.Helper()
	p := strings.Split(tok, ".")
	sig, err := b64.DecodeString(p[2])
	require.NoError(t, err)
	return p[0] + "." + p[1] + "." + b64.EncodeToString(rawToDER(sig))
}

func rawToDER(sig []byte) []byte {
	der, _ := asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(sig[:len(sig)/2]), new(big.Int).SetBytes(sig[len(sig)/2:]),
	})
	return der
}

const hs256Header = `{"alg":"HS256","typ":"JWT"}`

// craft joins header, payload and signature as a compact JWS; the
// signature is sig, or signer's over the signing input.
func craft(header string, payload, sig []byte, signer ...func(string) []byte) string {
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(payload)
	if len(signer) > 0 {
		sig = signer[0](in)
	}
	return in + "." + b64.EncodeToString(sig)
}

func craftHS256(t *testing.T, header string, payload []byte, key string) string {
	t.Helper()
	return craftHS(t, header, payload, key, 256)
}

// craftHS signs with HMAC-SHA-256 or -384 whatever the header says.
func craftHS(t *testing.T, header string, payload []byte, key string, bits int) string {
	t.Helper()
	m := jwt.SigningMethodHS256
	if bits == 384 {
		m = jwt.SigningMethodHS384
	}
	return craft(header, payload, nil, func(in string) []byte {
		sig, err := m.Sign(in, []byte(key))
		require.NoError(t, err)
		return sig
	})
}

// payloadOf is a token's decoded payload.
func payloadOf(t *testing.T, tok string) json.RawMessage {
	t.Helper()
	p := strings.Split(tok, ".")
	require.Len(t, p, 3)
	b, err := b64.DecodeString(p[1])
	require.NoError(t, err)
	return b
}

func tokenAlg(tok string) (string, error) {
	p := strings.Split(tok, ".")
	h, err := b64.DecodeString(p[0])
	if err != nil {
		return "", err
	}
	var head struct {
		Alg string `json:"alg"`
	}
	err = json.Unmarshal(h, &head)
	return head.Alg, err
}

func claimsMap(t *testing.T, payload []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var m map[string]any
	require.NoError(t, d.Decode(&m))
	return m
}

func marshalClaims(t *testing.T, m map[string]any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(m))
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// tamperPayload makes the session's principal "admin", keeping the
// signature.
func tamperPayload(t *testing.T, tok string) string {
	t.Helper()
	p := strings.Split(tok, ".")
	payload := payloadOf(t, tok)
	forged := bytes.Replace(payload, []byte(`"sub":"`+vectorPrincipal+`"`), []byte(`"sub":"admin"`), 1)
	require.NotEqual(t, string(payload), string(forged), "the token has the vector principal")
	return p[0] + "." + b64.EncodeToString(forged) + "." + p[2]
}

// tamperSignature changes the signature's first character (the last may
// carry padding bits some decoders ignore).
func tamperSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 1
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}
