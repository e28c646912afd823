// Package fscheck tells, before a program needs them, whether the files
// and directories it will create or open later can be: `sidecar check`
// uses it to refuse what `sidecar serve` would fail on, without creating
// or opening anything a running Sidecar holds.
//
// Errors name the path, never a configuration key: the caller adds the
// key. A file system error is returned as it is (an *fs.PathError).
package fscheck

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// wOK is access(2)'s W_OK: may the caller write.
const wOK = 2

// File reports what would stop a program from opening, or creating, the
// file at path without opening it (a running Sidecar holds a bolt file's
// lock): a parent directory that is missing or is not one, a path that is
// a directory, or, when the file does not exist yet, a parent directory
// this process may not write.
func File(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	fi, err = os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := syscall.Access(dir, wOK); err != nil {
			return fmt.Errorf("cannot create a file in %s: %w", dir, err)
		}
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s is a directory", path)
	}
	return nil
}

// Dir reports what would stop a program from using dir as a directory
// that it creates when it is missing: dir exists and is not a directory,
// or cannot be inspected.
func Dir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// TempFiles reports whether a program can create files in dir ("" is
// os.TempDir()): it creates one and removes it again.
func TempFiles(dir string) error {
	f, err := os.CreateTemp(dir, "sidecar-check-*")
	if err != nil {
		return err
	}
	_ = f.Close()
	return os.Remove(f.Name())
}
