package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/tlsclient"
)

// backendTLS builds the TLS client configuration of the section at key
// (store.redis.tls, locks.redlock_tls or proxy.upstream_tls). It reads
// the CA bundle and the client certificate, so that `sidecar check`
// refuses a missing or unparsable file, naming its key. A client
// certificate that changes on disk later but does not load is logged,
// and the previous one stays in use.
func (m *Main) backendTLS(key string, c config.BackendTLSConfig) (*tls.Config, error) {
	o := tlsclient.Options{
		ServerName:         c.ServerName,
		MinVersion:         c.MinVersion.TLS(),
		InsecureSkipVerify: c.InsecureSkipVerify,
	}
	if c.CAFile != "" {
		roots, err := tlsclient.LoadRoots(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", key, err)
		}
		o.RootCAs = roots
	}
	if c.CertFile != "" {
		for _, f := range [][2]string{{key + ".cert_file", c.CertFile}, {key + ".key_file", c.KeyFile}} {
			if _, err := os.Stat(f[1]); err != nil {
				return nil, fmt.Errorf("%s: %w", f[0], err)
			}
		}
		log := m.log.With().Str("key", key).Logger()
		cert, err := tlsclient.LoadCertificate(c.CertFile, c.KeyFile, func(err error) {
			log.Warn().Err(err).Msg("the client certificate changed on disk but does not load; still presenting the previous one")
		})
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", key, err)
		}
		o.Certificate = cert
	}
	return tlsclient.New(o), nil
}

// redisTLS is backendTLS for a Redis deployment, or nil when its
// addresses are not rediss:// (useTLS false).
func (m *Main) redisTLS(key string, useTLS bool, c config.BackendTLSConfig) (*tls.Config, error) {
	if !useTLS {
		return nil, nil
	}
	return m.backendTLS(key, c)
}

// redisTLSDialer dials a Redis server over TLS with conf, within the
// caller's context. go-redis's own TLS dial (tls.DialWithDialer) ignores
// the context, so a server that accepts and never completes the handshake
// would hold a request for the client's whole dial timeout rather than its
// store.timeout. The server name, when conf names none, is the host
// dialled: with Sentinel and Cluster, the address they report.
func redisTLSDialer(conf *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: conf}
	return d.DialContext
}

// tlsFault reports whether err says the TLS set-up is wrong rather than
// that the server is unreachable: its certificate does not verify, it
// does not speak TLS, or it refused the handshake with an alert (such as
// "certificate required" for a missing client certificate). Waiting does
// not cure these, so serve refuses to start on them.
func tlsFault(err error) bool {
	var verr *tls.CertificateVerificationError
	var rerr tls.RecordHeaderError
	var operr *net.OpError
	return errors.As(err, &verr) || errors.As(err, &rerr) ||
		errors.As(err, &operr) && operr.Op == "remote error" // crypto/tls's wrapping of a peer's alert
}

// plainToTLS reports whether err is what a plain-text client gets from a
// server that expects a TLS handshake: the connection closed or reset.
func plainToTLS(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// unanswered reports whether err is a time-out: what a TLS client gets
// from a plain-text Redis, which waits for the end of a command line that
// a ClientHello never sends (as it does from a Redis that hangs).
func unanswered(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
