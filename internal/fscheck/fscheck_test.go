package fscheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.db")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	readOnly := filepath.Join(dir, "ro")
	require.NoError(t, os.Mkdir(readOnly, 0o500))
	tests := []struct {
		name, path, want string // want "" passes
	}{
		{"new file in a directory", filepath.Join(dir, "new.db"), ""},
		{"existing file", file, ""},
		{"missing directory", filepath.Join(dir, "nope", "s.db"), "directory " + filepath.Join(dir, "nope") + " does not exist"},
		{"parent is a file", filepath.Join(file, "s.db"), file + " is not a directory"},
		{"path is a directory", dir, dir + " is a directory"},
	}
	if os.Geteuid() != 0 { // root may write anywhere
		tests = append(tests, struct{ name, path, want string }{"read-only directory", filepath.Join(readOnly, "s.db"),
			"cannot create a file in " + readOnly + ": permission denied"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := File(tt.path)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tt.want)
		})
	}
	_, err := os.Stat(filepath.Join(dir, "new.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "File creates nothing")
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	assert.NoError(t, Dir(dir))
	assert.NoError(t, Dir(filepath.Join(dir, "missing")), "a missing directory is created later")
	assert.EqualError(t, Dir(file), file+" is not a directory")
	var perr *fs.PathError
	assert.ErrorAs(t, Dir(filepath.Join(file, "sub")), &perr, "a path under a file: stat's error")
}

func TestTempFiles(t *testing.T) {
	dir := t.TempDir()
	assert.NoError(t, TempFiles(dir))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the probe file is removed")
	assert.ErrorIs(t, TempFiles(filepath.Join(dir, "missing")), os.ErrNotExist)
}
