package ops

import "net/http"

// JWKSPath is where the ops listener serves the JWKS document: the
// well-known path of RFC 8414 and OpenID Connect discovery, which JWT
// libraries expect.
const JWKSPath = "/.well-known/jwks.json"

// JWKSCacheControl lets apps and caches keep the JWKS for five minutes.
// A verifier that meets an unknown kid refetches at once (the kits in
// clients/ do), so a rotation does not wait for it.
const JWKSCacheControl = "public, max-age=300"

// noJWKS is the 404 body under HS256.
const noJWKS = `{"error":"no JWKS: the session header is signed with HS256 and a shared secret (headers.algorithm); ` +
	`set headers.algorithm to EdDSA or ES256 with headers.key_files to publish public keys"}` + "\n"

// jwks serves the current JWKS document.
func (h *Handler) jwks(w http.ResponseWriter, _ *http.Request) {
	var doc []byte
	if h.opts.JWKS != nil {
		doc = h.opts.JWKS()
	}
	w.Header().Set("Content-Type", "application/json")
	if doc == nil {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(noJWKS))
		return
	}
	w.Header().Set("Cache-Control", JWKSCacheControl)
	_, _ = w.Write(doc)
}
