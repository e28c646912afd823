package handover

import (
	"errors"
	"net"
	"os"
	"time"
)

const (
	magic        = "sidecar-handover"
	version      = "1"
	stepTimeout  = 10 * time.Second // deadline of each protocol step, both sides
	maxLine      = 1024             // bytes per protocol line, newline included
	maxListeners = 16               // FDs per hand-over
	maxName      = 64               // bytes per listener name
	socketMode   = 0o600
)

var (
	// ErrInUse is returned by [Serve] when a live process answers on the
	// socket at its path: two processes must not serve one path.
	ErrInUse = errors.New("handover: socket is served by a live process")
	// ErrRejected is returned by [TakeOver] when the old process answered
	// "error", e.g. because its listeners are already closed.
	ErrRejected = errors.New("handover: old process rejected the hand-over")
	// ErrProtocol wraps a malformed or unexpected line, or FDs that do not
	// match the listener names.
	ErrProtocol = errors.New("handover: protocol error")
	// ErrVersion is returned by [TakeOver] when the old process speaks
	// another protocol version (a Sidecar too old or too new to hand over
	// to this one).
	ErrVersion = errors.New("handover: unsupported protocol version")

	// errNoRequest: a peer hung up without asking anything (e.g.
	// removeStaleSocket's probe); not worth a warning.
	errNoRequest = errors.New("handover: peer closed without a handover request")
)

// fileListener is a listener whose socket can be duplicated as a file:
// *net.TCPListener and *net.UnixListener. Wrappers such as tls.NewListener
// are not: hand over the raw listener and wrap it again in the new process.
type fileListener interface {
	net.Listener
	File() (*os.File, error)
}

var (
	_ fileListener = (*net.TCPListener)(nil)
	_ fileListener = (*net.UnixListener)(nil)
)
