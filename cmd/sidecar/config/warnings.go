package config

import (
	"fmt"
	"slices"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Warnings returns what in a valid configuration runs but is likely a
// mistake, one sentence each; `sidecar check` prints them and `sidecar
// serve` logs them at start. The configuration is not refused.
//
// Today: session.max_bytes that cannot fit headers.max_bytes, because a
// session's header is about 4/3 of its size plus some 400 bytes of
// claims; such a max_bytes is never reached, since writes are refused
// once the header would pass headers.max_bytes. And a
// server.trusted_proxies entry that trusts every client (a /0 prefix).
//
// And, with tls.acme, a challenge whose port is not where the CA connects
// (80 for HTTP-01, 443 for TLS-ALPN-01), or HTTP-01 without
// tls.http_listen.
//
// And a back-end TLS section in use with insecure_skip_verify
// (store.redis.tls, locks.redlock_tls, proxy.upstream_tls), or
// proxy.upstream_tls set while no upstream is https://.
//
// And limits.max_header_bytes raised past what Tomcat accepts by default
// next to a session header of headers.max_bytes.
//
// And ops.pprof on while ops.listen is off or not on loopback.
//
// And, with headers.algorithm EdDSA or ES256, a headers.secret that is
// set but unused, and an ops.listen that is off, so that nothing serves
// the JWKS the apps verify with.
//
// And, first, each SIDECAR_ environment variable that names no key, which
// [Load] ignored (sorted by name, with a "did you mean" hint when one is
// close; never its value).
func (c Config) Warnings() []string {
	out := slices.Clone(c.ignoredEnv)
	if w := c.sessionSizeWarning(); w != "" {
		out = append(out, w)
	}
	if w := c.Server.TrustedProxies.trustWarning(); w != "" {
		out = append(out, w)
	}
	out = append(out, c.tlsWarnings()...)
	out = append(out, c.backendTLSWarnings()...)
	if w := c.headLimitWarning(); w != "" {
		out = append(out, w)
	}
	if w := c.OpsWarning(); w != "" {
		out = append(out, w)
	}
	if w := c.PprofWarning(); w != "" {
		out = append(out, w)
	}
	return append(out, c.Headers.keyWarnings(c.Ops.Enabled())...)
}

// keyWarnings are the warnings of an EdDSA or ES256 header.
func (h HeadersConfig) keyWarnings(opsOn bool) []string {
	if !usesKeys(h.Algorithm) {
		return nil
	}
	var out []string
	if h.Secret != "" {
		out = append(out, fmt.Sprintf("headers.secret is set but unused: headers.algorithm is %s, so the session header is signed with "+
			"headers.key_files[0] and apps verify it with the public keys; remove it from Sidecar's config (and, once no app verifies HS256 any more, from the apps)",
			h.Algorithm))
	}
	if !opsOn {
		out = append(out, fmt.Sprintf("headers.algorithm is %s but ops.listen is off: nothing serves /.well-known/jwks.json, "+
			"so the apps need the public keys some other way; set ops.listen (a loopback or internal address)", h.Algorithm))
	}
	return out
}

func (c Config) sessionSizeWarning() string {
	// The length of a header depends on the algorithm (and the kid), not
	// on the secret.
	opts := c.Headers.HeaderOptions()
	if !usesKeys(c.Headers.Algorithm) || len(opts.Keys) == 0 {
		opts.Algorithm, opts.Secret, opts.Keys = sessions.HS256, []byte("length only"), nil
	}
	h, err := sessions.NewHeaderSigner(opts)
	if err != nil || c.Headers.MaxBytes <= 0 || c.Session.MaxBytes <= 0 {
		return ""
	}
	need := h.SessionHeaderLen(c.Session.MaxBytes)
	if need <= c.Headers.MaxBytes {
		return ""
	}
	fits := h.LargestSession()
	return fmt.Sprintf("session.max_bytes (%d) cannot fit headers.max_bytes (%d): a session of %d bytes makes a session header of %d bytes, "+
		"so writes are refused (502) once a session nears %d bytes (less with a principal or many attributes); "+
		"lower session.max_bytes to about %d, or raise headers.max_bytes to at least %d together with the app server's request header limits",
		c.Session.MaxBytes, c.Headers.MaxBytes, c.Session.MaxBytes, need, fits, fits*3/4, need)
}
