package sessions_test

import (
	"context"
	"encoding/base64"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// The decoders apps use, run on what Sidecar sends them. These tests need
// php-cli and python3 (Debian packages php-cli and python3) and fail
// without them: skipping would hide exactly the breakage they exist for.
const (
	// phpDecode decodes each base64 line of stdin as firebase/php-jwt
	// decodes a JWT payload (json_decode into objects, depth 512) and
	// prints ok or the error.
	phpDecode = `while (($l = fgets(STDIN)) !== false) {
  $v = json_decode(base64_decode(trim($l)), false, 512, JSON_BIGINT_AS_STRING);
  echo json_last_error() === 0 ? "ok" : json_last_error_msg(), "\n";
}`
	// pyDecode does the same with json.loads, and re-encodes every string
	// as UTF-8, which fails on the lone surrogates json.loads lets in.
	pyDecode = `import base64, json, sys
def walk(v):
    if isinstance(v, str): v.encode("utf-8")
    elif isinstance(v, dict):
        for k, x in v.items(): walk(k); walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
for l in sys.stdin:
    try:
        walk(json.loads(base64.b64decode(l.strip())))
        print("ok")
    except Exception as e:
        print(type(e).__name__)`
)

// interpreter finds name on PATH, or a versioned name (php8.2) when
// Debian's alternatives link is missing.
func interpreter(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/local/bin", "/usr/bin"} {
		if m, _ := filepath.Glob(filepath.Join(dir, name+"[0-9]*")); len(m) > 0 {
			return m[0]
		}
	}
	t.Fatalf("%s is not installed: these tests need it (Debian: php-cli, python3)", name)
	return ""
}

// decodeAll runs script under the interpreter on each document and
// returns one verdict per document.
func decodeAll(t *testing.T, interp string, args []string, docs [][]byte) []string {
	t.Helper()
	var in strings.Builder
	for _, d := range docs {
		in.WriteString(base64.StdEncoding.EncodeToString(d) + "\n")
	}
	cmd := exec.Command(interp, args...)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, got, len(docs), "%s", out)
	return got
}

// TestJWTDecodesInPHPAndPython: the JWT of an accepted patch with deep
// and non-ASCII content decodes in PHP and Python, and each kind of
// document Sidecar now refuses is one that PHP's json_decode or Python
// cannot decode (issue 9 item 4).
func TestJWTDecodesInPHPAndPython(t *testing.T) {
	php := interpreter(t, "php")
	py := interpreter(t, "python3")

	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	signer, err := sessions.NewSigner([][]byte{[]byte(secret)})
	require.NoError(t, err)
	m, err := sessions.NewManager(sessions.Options{Store: mem, Signer: signer})
	require.NoError(t, err)
	hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte("header-secret-0123456789abcdefghijk")})
	require.NoError(t, err)
	deepest := strings.Repeat(`{"d":`, sessions.DefaultMaxPatchDepth-2) + `[1]` + strings.Repeat(`}`, sessions.DefaultMaxPatchDepth-2)
	patch := `{"u":"é😀\ud83d\ude00\u00e9\u2028","日本":{"語":[1.5e300,-0,true,null,"\/"]},` +
		`"k\u0000":"\u0000","<&>":"<&>","":"","deep":` + deepest + `}`
	s, err := m.Load(context.Background(), "")
	require.NoError(t, err)
	require.NoError(t, m.Commit(context.Background(), s, &sessions.Change{Patches: []string{patch}, Principal: ptr("jürgen")}))
	tok, err := hdr.Sign(s, "req")
	require.NoError(t, err)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	require.NoError(t, err)
	require.NoError(t, sessions.StrictJSON(payload, sessions.DefaultMaxPatchDepth+1))

	refused := map[string]string{
		"lone high surrogate": `{"a":"\ud800"}`,
		"lone low surrogate":  `{"a":"\udc00"}`,
		"unpaired high":       `{"a":"\ud83dA"}`,
		"invalid UTF-8":       "{\"a\":\"\xff\"}",
		"NUL-led name":        `{"\u0000a":1}`,
		"nested 4000 deep":    `{"a":` + strings.Repeat("[", 4000) + strings.Repeat("]", 4000) + `}`,
	}
	docs := [][]byte{payload}
	var names []string
	for name, doc := range refused {
		_, _, err := sessions.Merge(nil, []string{doc}, sessions.PatchLimits{})
		assert.ErrorIs(t, err, sessions.ErrBadPatch, "Sidecar refuses: %s", name)
		docs, names = append(docs, []byte(doc)), append(names, name)
	}
	phpGot := decodeAll(t, php, []string{"-r", phpDecode}, docs)
	pyGot := decodeAll(t, py, []string{"-c", pyDecode}, docs)
	assert.Equal(t, "ok", phpGot[0], "PHP decodes the accepted session's JWT")
	assert.Equal(t, "ok", pyGot[0], "Python decodes the accepted session's JWT")
	for i, name := range names {
		// Each refused document breaks at least one of them.
		assert.True(t, phpGot[i+1] != "ok" || pyGot[i+1] != "ok", "%s: PHP %s, Python %s", name, phpGot[i+1], pyGot[i+1])
		t.Logf("%-20s PHP: %-50s Python: %s", name, phpGot[i+1], pyGot[i+1])
	}
}
