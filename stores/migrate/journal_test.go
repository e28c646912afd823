package migrate_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/stores/migrate"
)

func TestJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := migrate.OpenJournal(path)
	require.NoError(t, err)
	keys := []string{"0123abcd", "a key\nwith a newline", `"quoted"`}
	for _, k := range keys {
		require.NoError(t, j.Add(k))
	}
	require.NoError(t, j.Add(keys[0]), "adding a listed key again")
	require.NoError(t, j.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	j, err = migrate.OpenJournal(path)
	require.NoError(t, err)
	assert.Equal(t, len(keys), j.Len())
	for _, k := range keys {
		assert.True(t, j.Has(k), "%q after reopening", k)
	}
	assert.False(t, j.Has("other"))
	require.NoError(t, j.Add("later"))
	require.NoError(t, j.Close())

	t.Run("CutOffLastLineDropped", func(t *testing.T) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		_, err = f.WriteString(`"half a ke`)
		require.NoError(t, err)
		require.NoError(t, f.Close())

		j, err := migrate.OpenJournal(path)
		require.NoError(t, err)
		assert.Equal(t, len(keys)+1, j.Len())
		require.NoError(t, j.Add("after the cut"))
		require.NoError(t, j.Close())
		j, err = migrate.OpenJournal(path)
		require.NoError(t, err, "the key added after a cut-off line is on a line of its own")
		assert.True(t, j.Has("after the cut"))
		require.NoError(t, j.Close())
	})

	t.Run("NotAJournal", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "sidecar.yaml")
		require.NoError(t, os.WriteFile(other, []byte("store:\n  type: bolt\n"), 0o600))
		_, err := migrate.OpenJournal(other)
		assert.ErrorContains(t, err, "line 1 is not a quoted key")
	})
}
