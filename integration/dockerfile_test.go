package integration

import (
	"cmp"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// What the container tests (container_test.go) read of the Dockerfile and
// .dockerignore, in place of a Docker engine: just enough of both formats
// for what the repository's own files use, and failing loudly on more.

// dockerfile is the repository's Dockerfile, parsed.
type dockerfile struct {
	header []string         // the shell commands of the leading comment, continuations joined
	instrs []dockerInstr    // in order, continuations joined, comments dropped
	env    []string         // the final stage's ENV, as KEY=VALUE
	byName map[string][]int // instruction name → indexes into instrs
}

// dockerInstr is one instruction: "COPY", and the rest of its line.
type dockerInstr struct {
	name, args string
}

// parseDockerfile reads the Dockerfile at p.
func parseDockerfile(t *testing.T, p string) *dockerfile {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	df := &dockerfile{byName: map[string][]int{}}
	lines := strings.Split(string(b), "\n")
	i := 0
	var cmd string
	for ; i < len(lines) && strings.HasPrefix(lines[i], "#"); i++ { // the header
		l := strings.TrimSpace(strings.TrimPrefix(lines[i], "#"))
		cmd += l
		if strings.HasSuffix(cmd, `\`) {
			cmd = strings.TrimSuffix(cmd, `\`)
			continue
		}
		if cmd != "" {
			df.header = append(df.header, cmd)
		}
		cmd = ""
	}
	var cur string
	for ; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "#") || (l == "" && cur == "") {
			continue
		}
		cur += l
		if strings.HasSuffix(cur, `\`) {
			cur = strings.TrimSuffix(cur, `\`) + " "
			continue
		}
		name, args, _ := strings.Cut(cur, " ")
		cur = ""
		in := dockerInstr{strings.ToUpper(name), strings.TrimSpace(args)}
		if in.name == "FROM" {
			df.env = nil // ENV is per stage: keep the final one's
		}
		if in.name == "ENV" {
			words := shellWords(t, in.args)
			for _, w := range words {
				require.Contains(t, w, "=", "ENV %s: only the KEY=VALUE form is read here", in.args)
			}
			df.env = append(df.env, words...)
		}
		df.byName[in.name] = append(df.byName[in.name], len(df.instrs))
		df.instrs = append(df.instrs, in)
	}
	return df
}

// all returns the arguments of every instruction called name.
func (df *dockerfile) all(name string) []string {
	var out []string
	for _, i := range df.byName[name] {
		out = append(out, df.instrs[i].args)
	}
	return out
}

// one returns the arguments of the one instruction called name.
func (df *dockerfile) one(t *testing.T, name string) string {
	t.Helper()
	all := df.all(name)
	require.Len(t, all, 1, "one %s instruction", name)
	return all[0]
}

// execForm decodes an instruction's JSON array (exec form), after the
// options that precede it (HEALTHCHECK --interval=... CMD [...]).
func execForm(t *testing.T, args string) []string {
	t.Helper()
	i := strings.Index(args, "[")
	require.GreaterOrEqual(t, i, 0, "exec form (a JSON array) expected: %s", args)
	var out []string
	require.NoError(t, json.Unmarshal([]byte(args[i:]), &out), "exec form: %s", args)
	return out
}

// headerCommands returns the header's commands that start with prefix
// ("docker run"), split into words.
func (df *dockerfile) headerCommands(t *testing.T, prefix string) [][]string {
	var out [][]string
	for _, c := range df.header {
		if strings.HasPrefix(c, prefix+" ") {
			out = append(out, shellWords(t, c))
		}
	}
	return out
}

// shellWords splits s into words as sh would, for the quoting the
// Dockerfile uses: double quotes (kept literal inside, $(...) and $VAR
// left as written) and single quotes. Unbalanced quotes fail the test.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var (
		out   []string
		word  strings.Builder
		in    rune // the open quote, or 0
		isArg bool
	)
	for _, r := range s {
		switch {
		case in != 0 && r == in:
			in = 0
		case in != 0:
			word.WriteRune(r)
		case r == '"' || r == '\'':
			in, isArg = r, true
		case r == ' ' || r == '\t':
			if isArg {
				out = append(out, word.String())
				word.Reset()
				isArg = false
			}
		default:
			word.WriteRune(r)
			isArg = true
		}
	}
	require.Zero(t, in, "unbalanced quote in %q", s)
	if isArg {
		out = append(out, word.String())
	}
	return out
}

// compareVersions compares two dotted Go versions ("1.26.8", "1.26"),
// returning -1, 0 or 1; a missing part counts as 0.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return cmp.Compare(x, y)
		}
	}
	return 0
}

// dockerignore is the patterns of a .dockerignore, for the subset of its
// syntax the repository's file uses: comments, a leading "/" (ignored, as
// Docker does), "**/" for any depth, and path.Match patterns otherwise. A
// pattern excludes what it matches and everything below it. Exceptions
// ("!") are refused, as this matcher does not implement them.
type dockerignore []string

func readDockerignore(t *testing.T, p string) dockerignore {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	var out dockerignore
	for l := range strings.Lines(string(b)) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		require.False(t, strings.HasPrefix(l, "!"), ".dockerignore: exceptions are not read by this test: %s", l)
		_, err := path.Match(l, "x")
		require.NoError(t, err, ".dockerignore pattern %s", l)
		out = append(out, strings.TrimPrefix(l, "/"))
	}
	return out
}

// excludes reports whether rel (slash-separated, relative to the context
// root) is left out of the build context.
func (d dockerignore) excludes(rel string) bool {
	parts := strings.Split(rel, "/")
	for n := 1; n <= len(parts); n++ { // rel and each directory above it
		for _, p := range d {
			pattern, anyDepth := strings.CutPrefix(p, "**/")
			for start := 0; start < n; start++ {
				if !anyDepth && start > 0 {
					break
				}
				if ok, _ := path.Match(pattern, strings.Join(parts[start:n], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

// copyContext copies the files of root that the build context would hold
// into dst, and returns their relative paths.
func copyContext(t *testing.T, root, dst string, ignore dockerignore) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if ignore.excludes(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		files = append(files, rel)
		return copyFile(p, target)
	})
	require.NoError(t, err)
	slices.Sort(files)
	return files
}

// copyFile copies src to dst with src's permission bits.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
