//go:build unix

package redistest

import (
	"crypto/tls"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TLS makes a server listen for TLS only (--port 0 --tls-port): see
// StartTLS and StartClusterTLS. redis-server reads the files at start.
type TLS struct {
	// CertFile and KeyFile are the server's certificate, valid for
	// 127.0.0.1, and its key (PEM). In a cluster every node presents them,
	// on the cluster bus too, so the certificate must also be valid for
	// client authentication.
	CertFile, KeyFile string
	// CAFile verifies client certificates and, on a cluster bus, the other
	// nodes' (PEM); redis-server wants one even when it asks clients for
	// none.
	CAFile string
	// AuthClients requires a client certificate issued by CAFile
	// (--tls-auth-clients yes); false asks for none.
	AuthClients bool
	// Client is how the helpers themselves connect (readiness pings,
	// cluster set-up, the Client methods): it must trust the server's
	// certificate and, with AuthClients, present a client certificate.
	Client *tls.Config
}

// StartTLS is Start for a server that speaks only TLS, as o describes.
// Addr and Port are its TLS port.
func StartTLS(t testing.TB, o TLS, extraArgs ...string) *Server {
	t.Helper()
	checkTLS(t, o)
	return start(t, "", &o, func(int) []string { return extraArgs })
}

// StartClusterTLS is StartCluster for nodes that speak only TLS, as o
// describes, to clients and on the cluster bus (--tls-cluster yes); the
// cluster reports the nodes' TLS ports.
func StartClusterTLS(t testing.TB, masters int, o TLS) *Cluster {
	t.Helper()
	checkTLS(t, o)
	return startCluster(t, masters, &o)
}

// checkTLS fails t when o misses what redis-server or the helpers need.
func checkTLS(t testing.TB, o TLS) {
	t.Helper()
	if o.CertFile == "" || o.KeyFile == "" || o.CAFile == "" || o.Client == nil {
		t.Fatalf("redistest: TLS needs CertFile, KeyFile, CAFile and Client")
	}
}

// portArgs are the listening arguments of a server on port: a plain port,
// or with TLS no plain port and the TLS files.
func (s *Server) portArgs(port int) []string {
	if s.tls == nil {
		return []string{"--port", strconv.Itoa(port)}
	}
	auth := "no"
	if s.tls.AuthClients {
		auth = "yes"
	}
	return []string{
		"--port", "0",
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", s.tls.CertFile,
		"--tls-key-file", s.tls.KeyFile,
		"--tls-ca-cert-file", s.tls.CAFile,
		"--tls-auth-clients", auth,
	}
}

// clientTLS is how the helpers connect to s: nil for plain text.
func (s *Server) clientTLS() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.Client
}

// options are the go-redis options of a helper's client of s.
func (s *Server) options() *redis.Options {
	return &redis.Options{Addr: s.Addr(), ContextTimeoutEnabled: true, TLSConfig: s.clientTLS()}
}
