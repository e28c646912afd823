//go:build unix && !linux

package redistest

import "syscall"

// sysProcAttr returns nil: only Linux has a parent-death signal, so
// elsewhere only t.Cleanup stops the servers.
func sysProcAttr() *syscall.SysProcAttr { return nil }
