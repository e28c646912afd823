package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
	boltstore "github.com/sidecarproxy/sidecar/stores/bolt"
)

// boltConfig writes a config file whose store is the bolt file at db.
func boltConfig(t *testing.T, db string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sidecar.yaml")
	body := checkConfig(fmt.Sprintf("store:\n  type: bolt\n  bolt:\n    path: %q\n", db))
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func runMigrate(environ []string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runStore(append([]string{"migrate"}, args...), &out, &errOut, environ)
	return code, out.String(), errOut.String()
}

func TestStoreMigrateUsage(t *testing.T) {
	from := boltConfig(t, filepath.Join(t.TempDir(), "a.db"))
	for name, args := range map[string][]string{
		"no subcommand":      nil,
		"unknown subcommand": {"copy", "--from", from, "--to", from},
		"no --to":            {"migrate", "--from", from},
		"stray argument":     {"migrate", "--from", from, "--to", from, "extra"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			assert.Equal(t, 2, runStore(args, &out, &errOut, nil))
			assert.Contains(t, errOut.String(), "usage: sidecar store migrate")
		})
	}
}

func TestStoreMigrateRefuses(t *testing.T) {
	dir := t.TempDir()
	src := boltConfig(t, filepath.Join(dir, "src.db"))
	dst := boltConfig(t, filepath.Join(dir, "dst.db"))

	code, _, stderr := runMigrate([]string{"SIDECAR_STORE__BOLT__PATH=/x.db"}, "--from", src, "--to", dst)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "SIDECAR_STORE__BOLT__PATH would apply to both --from and --to")

	code, _, stderr = runMigrate(nil, "--from", src, "--to", boltConfig(t, filepath.Join(dir, ".", "src.db")))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "--from and --to name the same store")

	mem := filepath.Join(t.TempDir(), "memory.yaml")
	require.NoError(t, os.WriteFile(mem, []byte(checkConfig("store:\n  type: memory\n")), 0o600))
	code, _, stderr = runMigrate(nil, "--from", mem, "--to", dst)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "store.type memory")

	code, _, stderr = runMigrate(nil, "--from", src, "--to", dst)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "--from: store.bolt.path", "a source file that does not exist")
	assert.NoFileExists(t, filepath.Join(dir, "src.db"), "the source is never created")
}

// TestStoreMigrateBoltLocked: a bolt file a running Sidecar holds is
// refused within seconds, saying what to do, not waited for forever.
func TestStoreMigrateBoltLocked(t *testing.T) {
	dir := t.TempDir()
	held, err := boltstore.Open(filepath.Join(dir, "src.db"), boltstore.Options{SweepInterval: -1})
	require.NoError(t, err)
	defer func() { require.NoError(t, held.Close()) }()
	start := time.Now()
	code, _, stderr := runMigrate(nil, "--from", boltConfig(t, filepath.Join(dir, "src.db")), "--to", boltConfig(t, filepath.Join(dir, "dst.db")))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "is in use, most likely by a running Sidecar: stop it first")
	assert.Less(t, time.Since(start), 20*time.Second)
}

func TestStoreMigrateBoltToBolt(t *testing.T) {
	dir := t.TempDir()
	s, err := boltstore.Open(filepath.Join(dir, "src.db"), boltstore.Options{SweepInterval: -1, NoSync: true})
	require.NoError(t, err)
	now := time.Now().Truncate(time.Millisecond)
	for i := range 3 {
		require.NoError(t, s.Create(t.Context(), fmt.Sprintf("key-%d", i), &sessions.Record{
			Attrs:   map[string]json.RawMessage{"n": json.RawMessage(fmt.Sprint(i))},
			Version: 1, Created: now, IdleExp: now.Add(time.Hour), AbsExp: now.Add(2 * time.Hour),
		}))
	}
	require.NoError(t, s.Close())
	src, dst := boltConfig(t, filepath.Join(dir, "src.db")), boltConfig(t, filepath.Join(dir, "dst.db"))
	journal := filepath.Join(dir, "journal")

	code, stdout, stderr := runMigrate(nil, "--from", src, "--to", dst, "--journal", journal, "--dry-run")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "dry run, nothing written: 3 read: 3 copied, 0 already in the target, 0 expired, 0 in the journal, 0 failed\n", stdout)
	code, stdout, stderr = runMigrate(nil, "--from", src, "--to", dst, "--journal", journal)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "3 read: 3 copied, 0 already in the target, 0 expired, 0 in the journal, 0 failed\n", stdout)
	code, stdout, stderr = runMigrate(nil, "--from", src, "--to", dst, "--journal", journal)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "3 read: 0 copied, 0 already in the target, 0 expired, 3 in the journal, 0 failed\n", stdout)
}

// TestStoreMigrateWarnsOfLogouts: a target config whose cookie secrets
// would not verify the source's cookies, or whose cookie name differs,
// logs everyone out despite the copy; the command says so.
func TestStoreMigrateWarnsOfLogouts(t *testing.T) {
	dir := t.TempDir()
	s, err := boltstore.Open(filepath.Join(dir, "src.db"), boltstore.Options{SweepInterval: -1})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	to := filepath.Join(dir, "to.yaml")
	body := strings.Replace(checkConfig(fmt.Sprintf("store:\n  type: bolt\n  bolt:\n    path: %q\n", filepath.Join(dir, "dst.db"))),
		testCookieSecret, "another-cookie-secret-0123456789abcdef01", 1)
	body = strings.Replace(body, "session:\n", "session:\n  cookie_name: other\n", 1)
	require.NoError(t, os.WriteFile(to, []byte(body), 0o600))
	code, _, stderr := runMigrate(nil, "--from", boltConfig(t, filepath.Join(dir, "src.db")), "--to", to)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "warning: --to's session.secrets do not include --from's first one")
	assert.Contains(t, stderr, `warning: --to's session.cookie_name "other" is not --from's "sidecar_sid"`)
	assert.NotContains(t, stderr, testCookieSecret)
}
