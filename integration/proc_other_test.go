//go:build !linux

package integration

import "syscall"

// sysProcAttr: without Linux's parent-death signal, t.Cleanup alone stops
// started processes.
func sysProcAttr() *syscall.SysProcAttr { return nil }
