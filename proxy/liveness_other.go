//go:build !(linux || darwin || dragonfly || freebsd || netbsd || openbsd)

package proxy

// peekSupported is false where a socket cannot be peeked at without
// blocking: connections are used as they are.
const peekSupported = false

func peekClosed(int, []byte) bool { return false }
