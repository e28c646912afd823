package clients

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"strings"
)

// refereeVerify is the kits' verification algorithm (clients spec §1)
// transcribed as plainly as possible, with the options of case c: the
// secret or the JWKS, the file's issuer, audience and leeway, and c.Now
// as the clock. It returns the payload, or the reason it is refused.
// It exists only to check that the vectors say what they mean.
func refereeVerify(v *vectorFile, c vectorCase) (json.RawMessage, string) {
	tok := c.Token
	parts := strings.Split(tok, ".")
	if len(tok) > 65536 || len(parts) != 3 {
		return nil, "malformed"
	}
	var raw [3][]byte
	for i, p := range parts {
		if strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return nil, "malformed"
		}
		b, err := b64.DecodeString(p)
		if err != nil {
			return nil, "malformed"
		}
		raw[i] = b
	}
	var head map[string]json.RawMessage
	var claims map[string]json.RawMessage
	if !isObject(raw[0], &head) || !isObject(raw[1], &claims) {
		return nil, "malformed"
	}
	var alg string
	if _, crit := head["crit"]; crit || json.Unmarshal(head["alg"], &alg) != nil {
		return nil, "malformed"
	}
	in := []byte(parts[0] + "." + parts[1])
	sig := raw[2]
	switch {
	case alg == "HS256" && c.VerifyWith == "secret":
		m := hmac.New(sha256.New, []byte(v.HS256Secret))
		m.Write(in)
		if !hmac.Equal(m.Sum(nil), sig) {
			return nil, "signature"
		}
	case (alg == "EdDSA" || alg == "ES256") && c.VerifyWith == "jwks":
		var kid string
		if json.Unmarshal(head["kid"], &kid) != nil {
			return nil, "unknown_kid"
		}
		key := findJWK(v.JWKS, kid, alg)
		if key == nil {
			return nil, "unknown_kid"
		}
		if !verifyJWK(key, in, sig) {
			return nil, "signature"
		}
	default:
		return nil, "algorithm"
	}
	var iss, aud string
	var auds []string
	var exp, iat, nbf float64
	if json.Unmarshal(claims["iss"], &iss) != nil || claims["aud"] == nil ||
		json.Unmarshal(claims["exp"], &exp) != nil || json.Unmarshal(claims["iat"], &iat) != nil {
		return nil, "missing_claim"
	}
	if iss != v.Issuer {
		return nil, "issuer"
	}
	if json.Unmarshal(claims["aud"], &aud) == nil {
		auds = []string{aud}
	} else {
		_ = json.Unmarshal(claims["aud"], &auds)
	}
	found := false
	for _, a := range auds {
		found = found || a == v.Audience
	}
	now, leeway := float64(c.Now), float64(v.Leeway)
	switch {
	case !found:
		return nil, "audience"
	case now >= exp+leeway:
		return nil, "expired"
	case iat > now+leeway:
		return nil, "issued_in_future"
	case claims["nbf"] != nil && json.Unmarshal(claims["nbf"], &nbf) == nil && nbf > now+leeway:
		return nil, "issued_in_future"
	}
	return raw[1], ""
}

// isObject decodes a JSON object into dst; anything else is false.
func isObject(b []byte, dst *map[string]json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Unmarshal(b, dst) == nil
}

// findJWK is the published key kid of the type alg needs, or nil.
func findJWK(set jwksDoc, kid, alg string) *jwk {
	for i, k := range set.Keys {
		if k.Kid == kid && (alg == "EdDSA" && k.Kty == "OKP" && k.Crv == "Ed25519" ||
			alg == "ES256" && k.Kty == "EC" && k.Crv == "P-256") {
			return &set.Keys[i]
		}
	}
	return nil
}

func verifyJWK(k *jwk, in, sig []byte) bool {
	x, err := b64.DecodeString(k.X)
	if err != nil {
		return false
	}
	if k.Kty == "OKP" {
		return len(x) == ed25519.PublicKeySize && ed25519.Verify(x, in, sig)
	}
	y, err := b64.DecodeString(k.Y)
	if err != nil || len(sig) != 64 {
		return false
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return false
	}
	digest := sha256.Sum256(in)
	return ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}
