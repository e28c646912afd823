package sessions

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
)

func benchAlgorithms(b *testing.B) []benchAlgorithm {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	es, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	return []benchAlgorithm{
		{"HS256", HeaderOptions{Secret: []byte(headerSecret)}},
		{"EdDSA", HeaderOptions{Algorithm: EdDSA, Keys: []crypto.Signer{ed}}},
		{"ES256", HeaderOptions{Algorithm: ES256, Keys: []crypto.Signer{es}}},
	}
}
