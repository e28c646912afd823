package app

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/server"
	"github.com/sidecarproxy/sidecar/tlsedge"
)

// edge is the client-facing TLS built from tls.*.
type edge struct {
	// tls is the proxy listener's configuration; nil: plain HTTP.
	tls *tls.Config
	// plain is the plain-HTTP listener (tls.http_listen); zero: none.
	plain server.Side
	// acme manages certificates from Run on; nil without tls.acme.
	acme *tlsedge.ACME
}

// buildEdge builds the TLS configuration: a static certificate that follows
// its files, or certmagic; TLS 1.2 (or tls.min_version) at least; HTTP/2
// offered by ALPN, which Go's http.Server then serves (it configures h2 for
// a TLSConfig whose NextProtos list it). It loads (and so checks) the
// certificate files, and builds but does not start certmagic.
func (m *Main) buildEdge(preflight bool, storeRedis goredis.UniversalClient) (edge, error) {
	c := m.cfg
	t := c.TLS
	var e edge
	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	protos := []string{"h2", "http/1.1"}
	var plain http.Handler = tlsedge.Redirect{Port: c.RedirectPort()}
	switch {
	case t.CertFile != "":
		cert, err := tlsedge.NewFileCertificate(t.CertFile, t.KeyFile,
			tlsedge.FileOptions{Logger: m.log.With().Str("log", "tls").Logger()})
		if err != nil {
			return edge{}, fmt.Errorf("tls.cert_file: %w", err)
		}
		getCert = cert.GetCertificate
	case t.ACME.Enabled():
		// nil is the file storage of tls.acme.storage; with
		// tls.acme.storage_type redis, the fleet's shared storage.
		storage, err := m.certStorage(storeRedis)
		if err != nil {
			return edge{}, err
		}
		a, err := m.newACME(storage, preflight)
		if err != nil {
			return edge{}, err
		}
		e.acme = a
		getCert = a.GetCertificate
		protos = append(protos, a.NextProtos()...)
		plain = a.HTTPChallenge(plain)
	default:
		return edge{}, nil
	}
	e.tls = &tls.Config{
		GetCertificate: getCert,
		MinVersion:     t.MinVersion.TLS(),
		NextProtos:     protos,
	}
	if t.HTTPListen != "" {
		e.plain = server.Side{Listen: t.HTTPListen, Handler: plain}
	}
	return e, nil
}

// withHSTS adds the Strict-Transport-Security header of tls.hsts to the
// HTTPS listener's responses; h unchanged when it is off or TLS is.
func (e edge) withHSTS(h http.Handler, maxAge time.Duration) http.Handler {
	if e.tls == nil || maxAge <= 0 {
		return h
	}
	return tlsedge.HSTS(h, maxAge)
}
