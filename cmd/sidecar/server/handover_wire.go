package server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// handoverMsg is one parsed protocol line.
type handoverMsg struct {
	verb string
	args []string
	fds  []int // passed with the line; the receiver must close them
}

// writeMsg sends one protocol line, with fds attached as SCM_RIGHTS.
func writeMsg(conn *net.UnixConn, verb string, args []string, fds []int) error {
	line := strings.Join(append([]string{handoverMagic, handoverVersion, verb}, args...), " ") + "\n"
	if len(line) > handoverMaxLine {
		return fmt.Errorf("%w: line too long", errHandoverProtocol)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	n, oobn, err := conn.WriteMsgUnix([]byte(line), oob, nil)
	if err == nil && (n != len(line) || oobn != len(oob)) {
		err = io.ErrShortWrite
	}
	return err
}

// readMsg reads one protocol line and the FDs passed with it. The peer
// sends nothing more until answered, so bytes after the newline are a
// protocol error. On error, received FDs are closed.
func readMsg(conn *net.UnixConn) (_ handoverMsg, err error) {
	var (
		buf  = make([]byte, handoverMaxLine)
		oob  = make([]byte, syscall.CmsgSpace(handoverMaxListeners*4))
		got  int
		fds  []int
		line []byte
	)
	defer func() {
		if err != nil {
			closeFDs(fds)
		}
	}()
	for line == nil {
		if got == len(buf) {
			return handoverMsg{}, fmt.Errorf("%w: line too long", errHandoverProtocol)
		}
		n, oobn, flags, _, err := conn.ReadMsgUnix(buf[got:], oob)
		if oobn > 0 {
			rights, perr := parseRights(oob[:oobn])
			fds = append(fds, rights...)
			if perr != nil {
				return handoverMsg{}, perr
			}
		}
		if flags&syscall.MSG_CTRUNC != 0 {
			return handoverMsg{}, fmt.Errorf("%w: too many FDs", errHandoverProtocol)
		}
		if err != nil {
			return handoverMsg{}, err
		}
		if n == 0 { // ReadMsgUnix reports end of stream as (0, nil)
			if got == 0 {
				return handoverMsg{}, io.EOF
			}
			return handoverMsg{}, io.ErrUnexpectedEOF
		}
		got += n
		if i := bytes.IndexByte(buf[:got], '\n'); i >= 0 {
			if i != got-1 {
				return handoverMsg{}, fmt.Errorf("%w: data after the line", errHandoverProtocol)
			}
			line = buf[:i]
		}
	}
	f := strings.Split(string(line), " ")
	if len(f) < 3 || f[0] != handoverMagic {
		return handoverMsg{}, fmt.Errorf("%w: not a handover line: %q", errHandoverProtocol, line)
	}
	if f[1] != handoverVersion {
		return handoverMsg{}, fmt.Errorf("%w: %q, want %q", errHandoverVersion, f[1], handoverVersion)
	}
	return handoverMsg{verb: f[2], args: f[3:], fds: fds}, nil
}

// parseRights returns the FDs in the SCM_RIGHTS messages of oob. On error
// it still returns those it could parse, for the caller to close.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: control message: %v", errHandoverProtocol, err)
	}
	var fds []int
	for i := range msgs {
		rights, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			return fds, fmt.Errorf("%w: control message: %v", errHandoverProtocol, err)
		}
		fds = append(fds, rights...)
	}
	return fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
}

// validHandoverName reports whether name can travel in a protocol line.
func validHandoverName(name string) bool {
	if name == "" || len(name) > handoverMaxName {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}
