package integration

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sidecarproxy/sidecar/ops"
)

// The container image without a Docker engine (none runs here): the test
// reads the Dockerfile, builds the build context as docker build would
// (the repository less .dockerignore), runs the Dockerfile's build script
// in it with the same build arguments, and then runs the binary as the
// image would: the final stage's files at their paths under a directory,
// the header's docker run line's volumes and bind mounts mapped to
// directories, the exposed ports to free ones, and every container path
// in the config, the environment and the commands rewritten to its host
// path. ENTRYPOINT+CMD is what serves, HEALTHCHECK's command what probes.

// The build arguments the test passes, as the header's docker build does.
const (
	imageVersion = "v0.0.0-container-test"
	imageCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// builtImage is the built image: its binary and files under root.
type builtImage struct {
	df     *dockerfile
	root   string // the final stage's files, at their paths
	binary string // the static binary, in root
	// exposed are the EXPOSE ports.
	exposed map[string]bool
}

// TestContainerImage checks the Dockerfile, builds the image's binary with
// .ci/build and runs it as docker run would (see above).
func TestContainerImage(t *testing.T) {
	for _, kv := range os.Environ() {
		require.False(t, strings.HasPrefix(kv, "SIDECAR_"), "a container does not inherit the host's environment: unset %s", kv)
	}
	df := parseDockerfile(t, "../Dockerfile")
	t.Run("Dockerfile", func(t *testing.T) { checkDockerfile(t, df) })
	img := buildImage(t, df)

	t.Run("static binary", func(t *testing.T) {
		f, err := elf.Open(img.binary)
		require.NoError(t, err)
		defer f.Close()
		for _, p := range f.Progs {
			assert.NotEqual(t, elf.PT_INTERP, p.Type, "no dynamic loader (CGO_ENABLED=0)")
			assert.NotEqual(t, elf.PT_DYNAMIC, p.Type, "no dynamic section")
		}
		libs, err := f.ImportedLibraries()
		require.NoError(t, err)
		assert.Empty(t, libs, "no shared library")
		assert.Nil(t, f.Section(".symtab"), "no symbol table (-s)")
		assert.Nil(t, f.Section(".debug_info"), "no DWARF (-w)")
		b, err := os.ReadFile(img.binary)
		require.NoError(t, err)
		wd, err := filepath.Abs("..")
		require.NoError(t, err)
		assert.False(t, bytes.Contains(b, []byte(wd)), "no build path in the binary (-trimpath)")
		info, err := buildinfo.ReadFile(img.binary)
		require.NoError(t, err)
		pgo := ""
		for _, s := range info.Settings {
			if s.Key == "-pgo" {
				pgo = s.Value
			}
		}
		assert.Equal(t, "default.pgo", filepath.Base(pgo), "profile-guided with cmd/sidecar/default.pgo (-pgo=auto)")
	})

	t.Run("version", func(t *testing.T) {
		out, code := img.run(t, nil, "version")
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, "version: "+imageVersion+"\n")
		assert.Contains(t, out, "commit: "+imageCommit+"\n")
	})

	t.Run("the image's config", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(img.root, "etc/sidecar/config.yaml"))
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal(b, &doc))
		assert.Empty(t, inlineSecrets(doc, ""), "no inline secret: they come from *_file keys or the environment")
		ops, _ := doc["ops"].(map[string]any)
		assert.NotEmpty(t, ops["listen"], "ops.listen is on, for the HEALTHCHECK")
	})

	serveLine := func(t *testing.T) []string {
		for _, r := range df.headerCommands(t, "docker run") {
			if !slices.Contains(r, "--rm") {
				return r
			}
		}
		t.Fatal("the header has no docker run line that serves")
		return nil
	}

	t.Run("docker run line of the header", func(t *testing.T) {
		c := img.newContainer(t, serveLine(t))
		for _, kg := range df.headerCommands(t, "docker run") { // docker run --rm sidecar keygen ... > FILE
			if !slices.Contains(kg, "--rm") {
				continue
			}
			k := img.newContainer(t, kg)
			require.NotEmpty(t, k.redirect, "the secret goes to a file: %v", kg)
			out, code := k.exec(t, k.command(t))
			require.Equal(t, 0, code, out)
			dst := filepath.Join(c.cwd, k.redirect) // the same shell, the same $PWD
			require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
			require.NoError(t, os.WriteFile(dst, []byte(out), 0o644))
		}
		p := c.start(t)
		c.waitHealthy(t, p)
		out, code := c.exec(t, []string{c.command(t)[0], "check", "--config", "/" + imageConfig})
		require.Equal(t, 0, code, out)
		assert.NotContains(t, out, "warning", "the run line's variables all name keys, and ops.listen is on")
		c.stop(t, p)
		out, code = c.exec(t, c.healthcheck(t))
		assert.Equal(t, 1, code, "the HEALTHCHECK fails once Sidecar is gone: %s", out)
	})

	t.Run("serves an app, and health follows it", func(t *testing.T) {
		c := img.newContainer(t, serveLine(t))
		c.writeSecrets(t)
		app := newApp(t, "app1")
		c.env = append(c.env, "SIDECAR_UPSTREAMS=app1="+app.URL) // -e, after the run line's
		p := c.start(t)
		ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		waitFor(t, p, "/readyz answering 200", func() bool { return ops.Probe(ctx, "http://"+c.opsAddr+"/readyz") == nil })
		out, code := c.exec(t, c.healthcheck(t))
		require.Equal(t, 0, code, out)
		assert.Equal(t, "healthy: GET http://"+c.opsAddr+"/healthz answered 200\n", out)

		cl := &client{t: t}
		requireOK(t, cl.do("http://"+c.proxyAddr, "/set?k=cart&v=3", nil), "a write through the proxy")
		require.NotEmpty(t, cl.cookie, "a session")
		r := cl.do("http://"+c.proxyAddr, "/", nil)
		requireOK(t, r, "reading the session back")
		assert.Equal(t, map[string]any{"cart": float64(3)}, r.View.Data)
		assert.FileExists(t, c.path("/var/lib/sidecar/sidecar.db"), "sessions on the volume")

		c.stop(t, p)
		out, code = c.exec(t, c.healthcheck(t))
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, "sidecar health: unhealthy: GET http://"+c.opsAddr+"/healthz: ")
		assert.Contains(t, out, "connection refused")
	})

	t.Run("a mounted config without ops.listen", func(t *testing.T) {
		c := img.newContainer(t, serveLine(t))
		c.writeSecrets(t)
		b, err := os.ReadFile(filepath.Join(img.root, imageConfig))
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, yaml.Unmarshal(b, &doc))
		delete(doc, "ops")
		b, err = yaml.Marshal(doc)
		require.NoError(t, err)
		c.writeConfig(t, string(b))

		out, code := c.exec(t, c.healthcheck(t))
		assert.Equal(t, 1, code, out)
		assert.Contains(t, out, "ops.listen is off, yet the container HEALTHCHECK (sidecar health) needs /healthz, /readyz or /metrics there: set ops.listen")
		out, code = c.exec(t, []string{c.command(t)[0], "check", "--config", "/" + imageConfig})
		assert.Equal(t, 0, code, out)
		assert.Contains(t, out, "warning: ops.listen is off, yet the container HEALTHCHECK (sidecar health) needs")
	})
}

// checkDockerfile checks what the tests cannot run: a multi-stage build
// by the one build script, a minimal runtime image, a non-root user, a
// HEALTHCHECK run by the binary itself.
func checkDockerfile(t *testing.T, df *dockerfile) {
	froms := df.all("FROM")
	require.GreaterOrEqual(t, len(froms), 2, "multi-stage")
	build := strings.Fields(froms[0])
	require.True(t, strings.HasPrefix(build[0], "golang:"), "the build stage is Go's image: %s", froms[0])
	gomod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	want := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	require.NotNil(t, want)
	have := strings.TrimPrefix(build[0], "golang:")
	assert.GreaterOrEqual(t, compareVersions(have, string(want[1])), 0,
		"the builder's Go (%s) is at least go.mod's (%s): its image sets GOTOOLCHAIN=local", have, want[1])
	assert.Regexp(t, `^gcr\.io/distroless/static(-debian\d+)?:nonroot$`, froms[len(froms)-1], "a minimal runtime image, without libc or shell")

	user := df.one(t, "USER")
	assert.NotRegexp(t, `^(0|root)(:|$)`, user, "not root")
	assert.Subset(t, df.all("ARG"), []string{"VERSION", "COMMIT"}, "the build arguments of the script")
	hc := execForm(t, df.one(t, "HEALTHCHECK"))
	assert.Equal(t, []string{"/usr/local/bin/sidecar", "health"}, hc[:2], "the binary probes itself: distroless has no curl")
	assert.Contains(t, df.env, "SIDECAR_OPS__NEEDED_BY=the container HEALTHCHECK (sidecar health)",
		"a config without ops.listen is reported")
	builds := df.headerCommands(t, "docker build")
	require.Len(t, builds, 1)
	assert.Contains(t, strings.Join(builds[0], " "), "--build-arg VERSION=$(git describe --tags --always --dirty) --build-arg COMMIT=$(git rev-parse HEAD)")
}

// entrypoint is ENTRYPOINT's exec form.
func (df *dockerfile) entrypoint(t *testing.T) []string { return execForm(t, df.one(t, "ENTRYPOINT")) }

// inlineSecrets lists the keys of doc (a parsed config) that hold a
// secret's value rather than a file's name.
func inlineSecrets(doc map[string]any, prefix string) []string {
	var out []string
	for k, v := range doc {
		key := strings.TrimPrefix(prefix+"."+k, ".")
		if m, ok := v.(map[string]any); ok {
			out = append(out, inlineSecrets(m, key)...)
			continue
		}
		if regexp.MustCompile(`(secret|secrets|token|password)$`).MatchString(k) {
			out = append(out, key)
		}
	}
	return out
}

// buildImage builds the context and runs the build stage's script in it,
// then lays out the final stage's files under a root directory.
func buildImage(t *testing.T, df *dockerfile) *builtImage {
	t.Helper()
	ctxDir := t.TempDir()
	files := copyContext(t, "..", ctxDir, readDockerignore(t, "../.dockerignore"))
	assert.Subset(t, files, []string{"go.mod", "go.sum", ".ci/build", "deploy/container.yaml", "cmd/sidecar/main.go", "cmd/sidecar/default.pgo"}, "the build context holds what the build needs")
	for _, f := range files {
		assert.NotRegexp(t, `(^|/)(\.git|.*\.(test|db|prof))$`, f, "left out of the build context")
	}

	var script []string
	for _, r := range df.all("RUN") {
		for part := range strings.SplitSeq(r, "&&") {
			if w := strings.Fields(part); len(w) > 0 && w[0] == ".ci/build" {
				script = w
			}
		}
	}
	require.Equal(t, []string{".ci/build", "-o", "/out/sidecar"}, script, "the build stage runs .ci/build -o /out/sidecar")
	stage := t.TempDir() // the build stage's /out
	cmd := exec.Command(filepath.Join(ctxDir, ".ci/build"), "-o", filepath.Join(stage, "sidecar"))
	cmd.Dir = ctxDir // WORKDIR /src, where COPY . . put the context
	cmd.Env = append(os.Environ(), "VERSION="+imageVersion, "COMMIT="+imageCommit)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, ".ci/build in the build context:\n%s", out)

	img := &builtImage{df: df, root: t.TempDir(), exposed: map[string]bool{}}
	for _, c := range df.all("COPY") {
		w := strings.Fields(c)
		from := ctxDir
		for len(w) > 0 && strings.HasPrefix(w[0], "--") {
			if strings.HasPrefix(w[0], "--from=") {
				from = stage
			}
			w = w[1:]
		}
		if len(w) != 2 || w[0] == "." || w[0] == "go.mod" { // the build stage's own
			continue
		}
		src, dst := filepath.Join(from, strings.TrimPrefix(w[0], "/out")), filepath.Join(img.root, w[1])
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		if w[0] == "/out/data" {
			require.NoError(t, os.MkdirAll(dst, 0o755))
			continue
		}
		require.NoError(t, copyFile(src, dst), "COPY %s", c)
	}
	img.binary = filepath.Join(img.root, img.df.entrypoint(t)[0])
	for _, e := range strings.Fields(df.one(t, "EXPOSE")) {
		img.exposed[e] = true
	}
	return img
}

// run runs the image's binary with args and env, as docker run IMAGE ARGS.
func (img *builtImage) run(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	return runWith(t, env, img.binary, args...)
}

// runWith runs bin with args and exactly env to completion within
// exitTimeout, and returns its combined output and exit code.
func runWith(t *testing.T, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || ctx.Err() != nil) {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
	return string(out), cmd.ProcessState.ExitCode()
}
