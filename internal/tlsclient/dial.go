package tlsclient

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"syscall"
)

// DialContext returns a dial function that connects over TLS with conf
// within the caller's context: the TCP connect and the handshake alike
// end with ctx. It is for clients whose own TLS dial ignores the context,
// as go-redis's (tls.DialWithDialer) does, so that a server that accepts
// and never completes the handshake holds a request no longer than the
// request's deadline. The server name, when conf names none, is the host
// dialled: with Redis Sentinel and Cluster, the address they report.
func DialContext(conf *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: conf}
	return d.DialContext
}

// IsSetupFault reports whether err says the TLS set-up is wrong rather
// than that the server is unreachable: its certificate does not verify,
// it does not speak TLS, or it refused the handshake with an alert (such
// as "certificate required" for a missing client certificate). Waiting
// does not cure these.
func IsSetupFault(err error) bool {
	var verr *tls.CertificateVerificationError
	var rerr tls.RecordHeaderError
	var operr *net.OpError
	return errors.As(err, &verr) || errors.As(err, &rerr) ||
		errors.As(err, &operr) && operr.Op == "remote error" // crypto/tls's wrapping of a peer's alert
}

// IsPlainToTLS reports whether err is what a plain-text client gets from
// a server that expects a TLS handshake: the connection closed or reset.
func IsPlainToTLS(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// IsUnanswered reports whether err is a time-out: what a TLS client gets
// from a plain-text server that waits for a line of its protocol (a Redis
// waits for the end of a command line, which a ClientHello never sends),
// as it does from a server that hangs.
func IsUnanswered(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
