package integration

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
)

// tlsClient is an HTTP client that trusts only roots, sends serverName
// (SNI, and the name it verifies) whatever address it dials, speaks HTTP/2
// when the server offers it, and follows no redirect.
func tlsClient(roots *x509.CertPool, serverName string) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: serverName},
			ForceAttemptHTTP2: true, // a custom TLSClientConfig turns it off otherwise
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       requestTimeout,
	}
}

// servedCert completes a TLS handshake with addr, sending serverName and
// trusting only roots, and returns the leaf the server presented, or the
// handshake's error.
func servedCert(addr, serverName string, roots *x509.CertPool) (*x509.Certificate, error) {
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: requestTimeout},
		Config:    &tls.Config{RootCAs: roots, ServerName: serverName},
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}
