//go:build linux

package integration

import "syscall"

// sysProcAttr makes the kernel kill a started process when the test binary
// dies (a panic, a -timeout), so no app server or Sidecar outlives a run.
// (The signal fires when the OS thread that started the child exits; Go
// keeps its threads for the life of the process unless a goroutine exits
// while locked to one, which these tests never do.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
