package handover

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// closeSocket removes path (if it is still our socket) and closes the unix
// listener, once.
func (s *server) closeSocket() error {
	s.closeOnce.Do(func() {
		var err error
		if fi, lerr := os.Lstat(s.path); lerr == nil && os.SameFile(fi, s.sock) {
			if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = fmt.Errorf("removing handover socket: %w", rerr)
			}
		}
		if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = errors.Join(err, cerr)
		}
		s.closeErr = err
	})
	return s.closeErr
}

// listenSocket binds a unix socket at path with mode 0600 (see the
// Security section of the package doc), replacing a stale socket file.
func listenSocket(path string) (*net.UnixListener, os.FileInfo, error) {
	tmpDir, err := os.MkdirTemp(filepath.Dir(path), ".handover") // mode 0700
	if err != nil {
		return nil, nil, fmt.Errorf("handover socket: %w", err)
	}
	defer os.RemoveAll(tmpDir) // the socket stays reachable through its link at path
	tmp := filepath.Join(tmpDir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("handover socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // closeSocket removes path, and only if still ours
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		_ = ln.Close()
		return nil, nil, fmt.Errorf("handover socket: %w", err)
	}
	if err := os.Chmod(tmp, socketMode); err != nil {
		return fail(err)
	}
	err = os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) {
		if err = removeStaleSocket(path); err == nil {
			err = os.Link(tmp, path)
		}
	}
	if err != nil {
		return fail(err)
	}
	sock, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return ln, sock, nil
}

// removeStaleSocket removes the socket file at path if nothing answers on
// it. It returns ErrInUse if a process answers, and an error if path is
// not a socket.
func removeStaleSocket(path string) error {
	before, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if before.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not removing it", path)
	}
	conn, err := net.DialTimeout("unix", path, stepTimeout)
	if err == nil {
		_ = conn.Close()
		return fmt.Errorf("%s: %w", path, ErrInUse)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("probing %s: %w", path, err)
	}
	// Nobody listens: a crashed process left it. Remove it unless it was
	// replaced meanwhile.
	after, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !os.SameFile(before, after) {
		return fmt.Errorf("%s: %w", path, ErrInUse)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// CheckPath reports, without binding anything, what would stop Serve from
// serving a hand-over socket at path: a directory that is missing or is
// not one, or a file at path that is not a socket (Serve never removes
// one). A socket file at path is fine: a live process there is taken over
// at start, a stale one is replaced.
func CheckPath(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("handover socket: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("handover socket: %s is not a directory", dir)
	}
	fi, err = os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("handover socket: %w", err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("handover socket: %s exists and is not a socket", path)
	}
	return nil
}
