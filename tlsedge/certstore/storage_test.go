package certstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/tlsedge/certstore"
)

// suiteCase is one case of the storage or lock suite.
type suiteCase struct {
	name string
	run  func(t *testing.T, e *env)
}

// TestStorage runs the storage suite (certmagic's Storage contract) and
// the lock suite on a standalone Redis and on a Cluster, each case with
// keys of its own.
func TestStorage(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			newClient := b.start(t)
			for _, c := range storageCases() {
				t.Run("storage/"+c.name, func(t *testing.T) { c.run(t, newEnv(newClient)) })
			}
			for _, c := range lockCases() {
				t.Run("lock/"+c.name, func(t *testing.T) { c.run(t, newEnv(newClient)) })
			}
		})
	}
}

// tree is a storage shaped like certmagic's, with a sibling whose name
// shares a prefix with a directory ("certificates-old" and
// "certificates") and one whose name shares a prefix with a file.
var tree = []string{
	"acme/ca.example/users/ops@example.com/ops.json",
	"certificates/ca.example/a.example/a.example.crt",
	"certificates/ca.example/a.example/a.example.key",
	"certificates/ca.example/a.example.org/a.example.org.crt",
	"certificates/ca.example/b.example/b.example.crt",
	"certificates/zz.example/c.example/c.example.crt",
	"certificates-old/x",
	"ocsp/a.example-1234",
}

// storeTree stores every key of tree, each with its own name as value.
func storeTree(t *testing.T, s *instance) {
	t.Helper()
	for _, k := range tree {
		require.NoError(t, s.Store(ctx(t), k, []byte(k)))
	}
}

func storageCases() []suiteCase {
	return []suiteCase{
		{"load of a missing key is fs.ErrNotExist", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{})
			_, err := s.Load(ctx(t), "certificates/x/y.crt")
			assert.ErrorIs(t, err, fs.ErrNotExist)
			storeTree(t, s)
			_, err = s.Load(ctx(t), "certificates/ca.example")
			assert.ErrorIs(t, err, fs.ErrNotExist, "a directory has no value")
		}},
		{"store then load, overwrite, binary and empty values", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{})
			key := "certificates/ca.example/a.example/a.example.key"
			require.NoError(t, s.Store(ctx(t), key, []byte("first")))
			require.NoError(t, s.Store(ctx(t), key, []byte("second")))
			got, err := s.Load(ctx(t), key)
			require.NoError(t, err)
			assert.Equal(t, []byte("second"), got)

			binary := []byte{0, 1, 2, 0xff, '\n', 0}
			require.NoError(t, s.Store(ctx(t), key, binary))
			got, err = s.Load(ctx(t), key)
			require.NoError(t, err)
			assert.Equal(t, binary, got)

			require.NoError(t, s.Store(ctx(t), "empty", nil))
			got, err = s.Load(ctx(t), "empty")
			require.NoError(t, err, "an empty value is a value")
			assert.Empty(t, got)

			other := e.instance(t, certstore.Options{})
			got, err = other.Load(ctx(t), key)
			require.NoError(t, err)
			assert.Equal(t, binary, got, "another instance on the same prefix sees it")
		}},
		{"stat of files, directories and missing keys", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{})
			_, err := s.Stat(ctx(t), "")
			assert.ErrorIs(t, err, fs.ErrNotExist, "the root, before anything is stored")
			storeTree(t, s)
			key := "certificates/ca.example/a.example/a.example.crt"
			info, err := s.Stat(ctx(t), key)
			require.NoError(t, err)
			assert.Equal(t, key, info.Key)
			assert.True(t, info.IsTerminal)
			assert.Equal(t, int64(len(key)), info.Size)
			assert.False(t, info.Modified.IsZero())

			require.NoError(t, s.Store(ctx(t), key, []byte("longer than before")))
			again, err := s.Stat(ctx(t), key)
			require.NoError(t, err)
			assert.Equal(t, int64(len("longer than before")), again.Size)
			assert.False(t, again.Modified.Before(info.Modified), "a later Store is not older")

			for _, dir := range []string{"", "certificates", "certificates/ca.example", "certificates/ca.example/a.example"} {
				info, err := s.Stat(ctx(t), dir)
				require.NoError(t, err, dir)
				assert.Equal(t, dir, info.Key)
				assert.False(t, info.IsTerminal, "%q is a directory", dir)
			}
			for _, missing := range []string{"certificates/ca", "certificates/ca.example/a", "certificates/ca.example/a.example/a.example", "nothing"} {
				_, err := s.Stat(ctx(t), missing)
				assert.ErrorIs(t, err, fs.ErrNotExist, "%q: prefixes are whole components", missing)
			}
		}},
		{"exists", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{})
			storeTree(t, s)
			for key, want := range map[string]bool{
				"certificates": true, "certificates/ca.example/b.example": true,
				"certificates/ca.example/b.example/b.example.crt": true, "certificates-old/x": true,
				"certificates/ca": false, "certificates-o": false, "ocsp/a.example": false, "missing": false,
			} {
				assert.Equal(t, want, s.Exists(ctx(t), key), key)
			}
		}},
		{"list, not recursive", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{})
			storeTree(t, s)
			for path, want := range map[string][]string{
				"":             {"acme", "certificates", "certificates-old", "ocsp"},
				"certificates": {"certificates/ca.example", "certificates/zz.example"},
				"certificates/ca.example": {
					"certificates/ca.example/a.example", "certificates/ca.example/a.example.org", "certificates/ca.example/b.example",
				},
				"certificates/ca.example/a.example": {
					"certificates/ca.example/a.example/a.example.crt", "certificates/ca.example/a.example/a.example.key",
				},
				"certificates/ca.example/a.example/a.example.crt": nil, // a file has no children
			} {
				got, err := s.List(ctx(t), path, false)
				require.NoError(t, err, path)
				assert.Equal(t, want, got, path)
			}
			for _, missing := range []string{"certificates/ca", "nothing"} {
				_, err := s.List(ctx(t), missing, false)
				assert.ErrorIs(t, err, fs.ErrNotExist, missing)
			}
		}},
		{"list, recursive", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{})
			storeTree(t, s)
			got, err := s.List(ctx(t), "certificates", true)
			require.NoError(t, err)
			assert.Equal(t, []string{
				"certificates/ca.example",
				"certificates/ca.example/a.example",
				"certificates/ca.example/a.example.org", // byte order: '.' before '/'
				"certificates/ca.example/a.example.org/a.example.org.crt",
				"certificates/ca.example/a.example/a.example.crt",
				"certificates/ca.example/a.example/a.example.key",
				"certificates/ca.example/b.example",
				"certificates/ca.example/b.example/b.example.crt",
				"certificates/zz.example",
				"certificates/zz.example/c.example",
				"certificates/zz.example/c.example/c.example.crt",
			}, got)
			all, err := s.List(ctx(t), "", true)
			require.NoError(t, err)
			for _, k := range tree {
				assert.Contains(t, all, k)
			}
			_, err = s.List(ctx(t), "nothing", true)
			assert.ErrorIs(t, err, fs.ErrNotExist)
		}},
		{"list pages through thousands of keys", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{})
			const n = 2500 // listed in three pages
			for i := range n {
				require.NoError(t, s.Store(ctx(t), fmt.Sprintf("ocsp/k%05d", i), nil))
			}
			require.NoError(t, s.Store(ctx(t), "ocsp/sub/k", nil))
			got, err := s.List(ctx(t), "ocsp", false)
			require.NoError(t, err)
			assert.Len(t, got, n+1)
			assert.Equal(t, "ocsp/k00000", got[0])
			assert.Equal(t, "ocsp/sub", got[n])
			got, err = s.List(ctx(t), "ocsp", true)
			require.NoError(t, err)
			assert.Len(t, got, n+2, "the keys, sub and sub/k")
		}},
		{"delete a file, a directory, a missing key", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{})
			storeTree(t, s)
			require.NoError(t, s.Delete(ctx(t), "ocsp/a.example-1234"))
			assert.False(t, s.Exists(ctx(t), "ocsp/a.example-1234"))
			assert.False(t, s.Exists(ctx(t), "ocsp"), "its directory is gone with it")

			require.NoError(t, s.Delete(ctx(t), "certificates/ca.example/a.example"))
			for _, k := range []string{"certificates/ca.example/a.example", "certificates/ca.example/a.example/a.example.crt"} {
				assert.False(t, s.Exists(ctx(t), k), k)
			}
			for _, k := range []string{"certificates/ca.example/a.example.org/a.example.org.crt", "certificates/ca.example/b.example/b.example.crt"} {
				assert.True(t, s.Exists(ctx(t), k), "%s: a sibling is kept", k)
			}

			require.NoError(t, s.Delete(ctx(t), "certificates"))
			assert.True(t, s.Exists(ctx(t), "certificates-old/x"), "a name sharing the directory's prefix is kept")
			got, err := s.List(ctx(t), "", true)
			require.NoError(t, err)
			assert.Equal(t, []string{"acme", "acme/ca.example", "acme/ca.example/users", "acme/ca.example/users/ops@example.com",
				"acme/ca.example/users/ops@example.com/ops.json", "certificates-old", "certificates-old/x"}, got)

			require.NoError(t, s.Delete(ctx(t), "certificates"), "deleting again is not an error")
			require.NoError(t, s.Delete(ctx(t), "never/stored"))
			assert.Error(t, s.Delete(ctx(t), ""), "the whole storage is never deleted by an empty key")
			assert.True(t, s.Exists(ctx(t), "acme"))
		}},
		{"delete a directory larger than a batch", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{})
			for i := range 250 {
				require.NoError(t, s.Store(ctx(t), fmt.Sprintf("d/%d/v", i), []byte("x")))
			}
			require.NoError(t, s.Store(ctx(t), "d", []byte("a file and a directory")))
			require.NoError(t, s.Delete(ctx(t), "d"))
			_, err := s.List(ctx(t), "", true)
			assert.ErrorIs(t, err, fs.ErrNotExist, "nothing left")
			assert.Empty(t, e.keys(t, s), "no Redis key left behind")
		}},
		{"values over MaxValueBytes and bad keys are refused", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{MaxValueBytes: 8})
			require.NoError(t, s.Store(ctx(t), "k", []byte("12345678")))
			err := s.Store(ctx(t), "k", []byte("123456789"))
			require.ErrorIs(t, err, certstore.ErrTooLarge)
			assert.NotContains(t, err.Error(), "123456789", "errors never quote values")
			got, err := s.Load(ctx(t), "k")
			require.NoError(t, err)
			assert.Equal(t, []byte("12345678"), got, "the refused Store wrote nothing")

			assert.Error(t, s.Store(ctx(t), "", []byte("v")))
			assert.Error(t, s.Store(ctx(t), string(bytes.Repeat([]byte("a"), certstore.MaxKeyBytes+1)), []byte("v")))
			_, err = s.Load(ctx(t), "")
			assert.Error(t, err)
		}},
		{"concurrent stores to one key leave one whole value", func(t *testing.T, e *env) {
			a, b := e.instance(t, certstore.Options{}), e.instance(t, certstore.Options{})
			va, vb := bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 64<<10)
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					s, v := a, va
					if i%2 == 1 {
						s, v = b, vb
					}
					assert.NoError(t, s.Store(ctx(t), "k", v))
				})
			}
			wg.Wait()
			got, err := a.Load(ctx(t), "k")
			require.NoError(t, err)
			assert.True(t, bytes.Equal(got, va) || bytes.Equal(got, vb), "one value, not a mix")
		}},
		{"key layout as documented", func(t *testing.T, e *env) {
			s := e.instance(t, certstore.Options{})
			key := "certificates/ca.example/a.example/a.example.crt"
			require.NoError(t, s.Store(ctx(t), key, []byte("PEM")))
			tag := "{" + e.prefix + "}"
			v, err := s.client.HGet(ctx(t), tag+"f:"+key, "v").Result()
			require.NoError(t, err)
			assert.Equal(t, "PEM", v)
			m, err := s.client.HGet(ctx(t), tag+"f:"+key, "m").Int64()
			require.NoError(t, err)
			info, err := s.Stat(ctx(t), key)
			require.NoError(t, err)
			assert.Equal(t, info.Modified.UnixMilli(), m)
			members, err := s.client.ZRangeWithScores(ctx(t), tag+"index", 0, -1).Result()
			require.NoError(t, err)
			require.Len(t, members, 1)
			assert.Equal(t, key, members[0].Member)
			assert.Zero(t, members[0].Score)
			assert.ElementsMatch(t, []string{tag + "f:" + key, tag + "index"}, e.keys(t, s))
		}},
		{"options that cannot be used", func(t *testing.T, e *env) {
			client := e.newClient(t)
			_, err := certstore.New(client, nil, certstore.Options{})
			assert.Error(t, err)
			for _, prefix := range []string{"a{b", "a}b"} {
				_, err = certstore.New(client, e.instance(t, certstore.Options{}).locker, certstore.Options{Prefix: prefix})
				assert.Error(t, err, prefix)
			}
		}},
	}
}

// keys returns every Redis key of e's storage, scanning each master.
func (e *env) keys(t *testing.T, s *instance) []string {
	t.Helper()
	var out []string
	var mu sync.Mutex
	scan := func(c interface {
		Scan(ctx context.Context, cursor uint64, match string, count int64) *redis.ScanCmd
	}) error {
		iter := c.Scan(ctx(t), 0, "{"+e.prefix+"}*", 100).Iterator()
		for iter.Next(ctx(t)) {
			mu.Lock()
			out = append(out, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		require.NoError(t, cc.ForEachMaster(ctx(t), func(_ context.Context, c *redis.Client) error { return scan(c) }))
	} else {
		require.NoError(t, scan(s.client))
	}
	return out
}
