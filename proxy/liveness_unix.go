//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package proxy

import "syscall"

const peekSupported = true

// peekClosed peeks at one byte of fd (into b) without blocking: EOF (the app's
// FIN), an error (a reset) or a byte nobody asked for mean the app is done
// with the connection; EAGAIN means it is open and quiet.
func peekClosed(fd int, b []byte) bool {
	for {
		_, _, err := syscall.Recvfrom(fd, b, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			return false
		}
		return true // read 0 (the app's FIN) or 1 (a byte nobody asked for), or a reset
	}
}
