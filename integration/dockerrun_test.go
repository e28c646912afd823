package integration

import (
	"cmp"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The docker run of container_test.go, without a Docker engine.

// container is one docker run of the image: its own copy of the image's
// files (symbolic links, but for the config, whose paths and ports it
// maps), its mounts, its environment and its exposed ports on free host
// addresses.
type container struct {
	img      *builtImage
	cwd      string            // the shell's directory, $PWD
	root     string            // this container's files
	mapper   *strings.Replacer // container paths and addresses → the host's
	env      []string          // ENV then -e, mapped
	args     []string          // after the image name (CMD when none), as written
	redirect string            // the file of "> FILE", relative to cwd
	// proxyAddr and opsAddr are the host addresses of the config's listen
	// and ops.listen.
	proxyAddr, opsAddr string
}

// newContainer reads a docker run command line (its words).
func (img *builtImage) newContainer(t *testing.T, words []string) *container {
	t.Helper()
	c := &container{img: img, cwd: t.TempDir(), root: t.TempDir()}
	mounts := map[string]string{} // container path → host path
	var runEnv []string
	i := 2 // after "docker run"
	for ; i < len(words) && strings.HasPrefix(words[i], "-"); i++ {
		switch words[i] {
		case "--rm", "-d", "-i", "-t", "-it":
			continue
		}
		require.Less(t, i+1, len(words), "%s takes a value", words[i])
		i++
		switch v := words[i]; words[i-1] {
		case "-e":
			runEnv = append(runEnv, v)
		case "-v":
			parts := strings.Split(v, ":")
			host := strings.ReplaceAll(parts[0], "$PWD", c.cwd)
			if !filepath.IsAbs(host) { // a named volume
				host = filepath.Join(c.cwd, "volumes", host)
			}
			require.NoError(t, os.MkdirAll(host, 0o755))
			mounts[parts[1]] = host
		}
	}
	require.Less(t, i, len(words), "an image name in %v", words)
	c.args = words[i+1:]
	if j := slices.Index(c.args, ">"); j >= 0 {
		c.redirect = c.args[j+1]
		c.args = c.args[:j]
	}
	if len(c.args) == 0 {
		c.args = execForm(t, img.df.one(t, "CMD"))
	}

	// The image's top-level directories map into root; the mounts over
	// them, and the exposed ports, take precedence (longest first).
	pairs := map[string]string{}
	entries, err := os.ReadDir(img.root)
	require.NoError(t, err)
	for _, e := range entries {
		pairs["/"+e.Name()+"/"] = filepath.Join(c.root, e.Name()) + "/"
	}
	for in, host := range mounts {
		pairs[in] = host
	}
	for port := range img.exposed {
		pairs["0.0.0.0:"+port] = freeAddr(t)
	}
	olds := slices.SortedFunc(maps.Keys(pairs), func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	var args []string
	for _, o := range olds {
		args = append(args, o, pairs[o])
	}
	c.mapper = strings.NewReplacer(args...)
	c.layout(t)
	for _, kv := range append(slices.Clone(img.df.env), runEnv...) {
		c.env = append(c.env, c.mapper.Replace(kv))
	}
	var doc struct {
		Listen string
		Ops    struct{ Listen string }
	}
	b, err := os.ReadFile(filepath.Join(img.root, imageConfig))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &doc))
	c.proxyAddr, c.opsAddr = c.mapper.Replace(doc.Listen), c.mapper.Replace(doc.Ops.Listen)
	require.NotEqual(t, doc.Listen, c.proxyAddr, "listen's port is exposed")
	require.NotEqual(t, doc.Ops.Listen, c.opsAddr, "ops.listen's port is exposed")
	return c
}

// imageConfig is where the image keeps its config.
const imageConfig = "etc/sidecar/config.yaml"

// layout fills root from the image's files: the config mapped, the rest
// linked.
func (c *container) layout(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(c.img.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.img.root, p)
		dst := filepath.Join(c.root, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case rel == filepath.FromSlash(imageConfig):
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, []byte(c.mapper.Replace(string(b))), 0o644)
		}
		return os.Symlink(p, dst)
	})
	require.NoError(t, err)
}

// writeConfig replaces the container's config with body (container paths
// mapped), as a file mounted over the image's would.
func (c *container) writeConfig(t *testing.T, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(c.root, imageConfig), []byte(c.mapper.Replace(body)), 0o644))
}

// path is the host path of a container path.
func (c *container) path(p string) string { return c.mapper.Replace(p) }

// command is ENTRYPOINT then the run line's arguments.
func (c *container) command(t *testing.T) []string {
	return append(c.img.df.entrypoint(t), c.args...)
}

// healthcheck is the HEALTHCHECK's command.
func (c *container) healthcheck(t *testing.T) []string {
	return execForm(t, c.img.df.one(t, "HEALTHCHECK"))
}

// exec runs argv (container paths) in the container's environment, as
// docker exec does, and returns its output and exit code.
func (c *container) exec(t *testing.T, argv []string) (string, int) {
	t.Helper()
	mapped := make([]string, len(argv))
	for i, a := range argv {
		mapped[i] = c.mapper.Replace(a)
	}
	return runWith(t, c.env, mapped[0], mapped[1:]...)
}

// start runs the container's command in the background.
func (c *container) start(t *testing.T) *proc {
	t.Helper()
	argv := c.command(t)
	for i, a := range argv {
		argv[i] = c.mapper.Replace(a)
	}
	p := startProc(t, "sidecar container", c.env, argv[0], argv[1:]...)
	p.quiet = quietLine
	return p
}

// waitHealthy waits until the HEALTHCHECK's command passes.
func (c *container) waitHealthy(t *testing.T, p *proc) {
	t.Helper()
	waitFor(t, p, "the HEALTHCHECK passing", func() bool {
		_, code := c.exec(t, c.healthcheck(t))
		return code == 0
	})
}

// stop sends SIGTERM and requires a clean exit.
func (c *container) stop(t *testing.T, p *proc) {
	t.Helper()
	p.signal(syscall.SIGTERM)
	require.Equal(t, 0, p.wait(), "exit status after SIGTERM\n%s", p.dump())
}

// writeSecrets puts the test's secrets where the image's config reads
// them.
func (c *container) writeSecrets(t *testing.T) {
	t.Helper()
	for file, secret := range map[string]string{"session_secrets": cookieSecret, "header_secret": headerSecret} {
		p := c.path("/run/secrets/sidecar/" + file)
		require.NotEqual(t, "/run/secrets/sidecar/"+file, p, "the run line mounts the secrets")
		require.NoError(t, os.WriteFile(p, []byte(secret+"\n"), 0o644))
	}
}
