package handover

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// msg is one parsed protocol line.
type msg struct {
	verb string
	args []string
	fds  []int // passed with the line; the receiver must close them
}

// writeMsg sends one protocol line, with fds attached as SCM_RIGHTS.
func writeMsg(conn *net.UnixConn, verb string, args []string, fds []int) error {
	line := strings.Join(append([]string{magic, version, verb}, args...), " ") + "\n"
	if len(line) > maxLine {
		return fmt.Errorf("%w: line too long", ErrProtocol)
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
func readMsg(conn *net.UnixConn) (_ msg, err error) {
	var (
		buf  = make([]byte, maxLine)
		oob  = make([]byte, syscall.CmsgSpace(maxListeners*4))
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
			return msg{}, fmt.Errorf("%w: line too long", ErrProtocol)
		}
		n, oobn, flags, _, err := conn.ReadMsgUnix(buf[got:], oob)
		if oobn > 0 {
			rights, perr := parseRights(oob[:oobn])
			fds = append(fds, rights...)
			if perr != nil {
				return msg{}, perr
			}
		}
		if flags&syscall.MSG_CTRUNC != 0 {
			return msg{}, fmt.Errorf("%w: too many FDs", ErrProtocol)
		}
		if err != nil {
			return msg{}, err
		}
		if n == 0 { // ReadMsgUnix reports end of stream as (0, nil)
			if got == 0 {
				return msg{}, io.EOF
			}
			return msg{}, io.ErrUnexpectedEOF
		}
		got += n
		if i := bytes.IndexByte(buf[:got], '\n'); i >= 0 {
			if i != got-1 {
				return msg{}, fmt.Errorf("%w: data after the line", ErrProtocol)
			}
			line = buf[:i]
		}
	}
	f := strings.Split(string(line), " ")
	if len(f) < 3 || f[0] != magic {
		return msg{}, fmt.Errorf("%w: not a handover line: %q", ErrProtocol, line)
	}
	if f[1] != version {
		return msg{}, fmt.Errorf("%w: %q, want %q", ErrVersion, f[1], version)
	}
	return msg{verb: f[2], args: f[3:], fds: fds}, nil
}

// parseRights returns the FDs in the SCM_RIGHTS messages of oob. On error
// it still returns those it could parse, for the caller to close.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: control message: %v", ErrProtocol, err)
	}
	var fds []int
	for i := range msgs {
		rights, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			return fds, fmt.Errorf("%w: control message: %v", ErrProtocol, err)
		}
		fds = append(fds, rights...)
	}
	return fds, nil
}

// closeFDs closes received FDs that no listener took.
func closeFDs(fds []int) {
	for _, fd := range fds {
		_ = syscall.Close(fd)
	}
}

// validName reports whether name can travel in a protocol line.
func validName(name string) bool {
	if name == "" || len(name) > maxName {
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
