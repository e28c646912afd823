//go:build linux

package redistest

import "syscall"

// sysProcAttr makes the kernel kill a started server when the test binary
// dies, so a panic or a -timeout kill leaves no redis-server behind. (The
// signal fires when the OS thread that started the child exits; Go keeps
// its threads for the life of the process unless a goroutine exits while
// locked to one, which this package never does.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
