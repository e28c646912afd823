package tlsclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/tlstest"
)

// listen starts a TCP listener whose connections serve runs on, each in
// its own goroutine, until the test ends (t.Cleanup closes the listener
// and the connections).
func listen(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				go func() { <-done; _ = c.Close() }()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// tlsEcho serves TLS with ca's certificate for 127.0.0.1, requiring a
// client certificate from ca when mtls is set, and echoes one line.
func tlsEcho(t *testing.T, ca *tlstest.CA, mtls bool) string {
	cert := ca.Server(t, "127.0.0.1").Load(t)
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if mtls {
		conf.ClientAuth, conf.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool()
	}
	return listen(t, func(c net.Conn) {
		s := tls.Server(c, conf)
		line, err := bufio.NewReader(s).ReadString('\n')
		if err == nil {
			_, _ = s.Write([]byte(line))
		}
	})
}

// roundTrip dials addr with conf within a second, sends a line and reads
// the answer: the error a client such as go-redis sees.
func roundTrip(conf *tls.Config, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var c net.Conn
	var err error
	if conf == nil {
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	} else {
		c, err = DialContext(conf)(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	_, err = bufio.NewReader(c).ReadString('\n')
	return err
}

// TestFaultsAreTold: each way a TLS set-up can be wrong is told apart
// from a server that only does not answer, on real connections.
func TestFaultsAreTold(t *testing.T) {
	ca := tlstest.NewCA(t, "back-end CA")
	other := tlstest.NewCA(t, "another CA")
	client := ca.Client(t, "sidecar")
	plainHangs := listen(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }) // waits for a line that never ends
	tests := []struct {
		name                          string
		conf                          *tls.Config // nil: plain text
		addr                          string
		fault, plainToTLS, unanswered bool
	}{
		{"good", ca.ClientConfig(t, client), tlsEcho(t, ca, true), false, false, false},
		{"untrusted server", other.ClientConfig(t, client), tlsEcho(t, ca, false), true, false, false},
		{"no client certificate", &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13}, tlsEcho(t, ca, true), true, false, false},
		{"plain text to a TLS server", nil, tlsEcho(t, ca, false), false, true, false},
		{"TLS to a plain server", ca.ClientConfig(t, client), plainHangs, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := roundTrip(tt.conf, tt.addr)
			if !tt.fault && !tt.plainToTLS && !tt.unanswered {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.fault, IsSetupFault(err), "IsSetupFault(%v)", err)
			assert.Equal(t, tt.plainToTLS, IsPlainToTLS(err), "IsPlainToTLS(%v)", err)
			assert.Equal(t, tt.unanswered, IsUnanswered(err), "IsUnanswered(%v)", err)
		})
	}
}
