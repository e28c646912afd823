package sessions

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nested returns a patch whose value under "a" nests depth-1 arrays, so
// the whole patch nests depth deep.
func nested(depth int) string {
	return `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
}

// TestCheckPatchAccepts: what checkPatch lets through is what
// encoding/json accepts, within the limits.
func TestCheckPatchAccepts(t *testing.T) {
	for _, p := range []string{
		`{}`, ` {} `, "\t{\r\n}\n", `{"a":1}`, `{"a":-0.5e+10,"b":0,"c":-0,"d":1E5,"e":12.0}`,
		`{"a":true,"b":false,"c":null,"d":"","e":[],"f":{},"g":[1,"x",{"y":[null]}]}`,
		`{"é":"ü","日本":"語","emoji":"😀"}`,
		`{"a":"\u00e9\ud83d\ude00\uD83D\uDE00\"\\\/\b\f\n\r\t"}`,
		`{"a\u0000":"\u0000","":{"x\u0000":1}}`, // NUL is fine inside a name, not first
		`{"a":"\uFFFD","b":"` + "\uFFFD\uFFFF" + `"}`,
		nested(DefaultMaxPatchDepth),
		`{"a":{"b":{"c":[[["d"]]]}}}`,
	} {
		t.Run(p, func(t *testing.T) {
			require.True(t, json.Valid([]byte(p)))
			assert.NoError(t, checkPatch(p, DefaultMaxPatchDepth))
		})
	}
}

// TestCheckPatchRefuses pins issue 9 item 4: what PHP's json_decode or
// Python's json.loads would choke on, on every later request, is refused
// before it is stored.
func TestCheckPatchRefuses(t *testing.T) {
	tests := []struct {
		name, patch string
		want        error
	}{
		{"empty", ``, errNotObject},
		{"array", `[{"a":1}]`, errNotObject},
		{"null", `null`, errNotObject},
		{"string", `"{}"`, errNotObject},
		{"unclosed", `{"a":1`, errSyntax},
		{"trailing", `{"a":1} x`, errSyntax},
		{"two objects", `{}{}`, errSyntax},
		{"trailing comma", `{"a":1,}`, errSyntax},
		{"array trailing comma", `{"a":[1,]}`, errSyntax},
		{"single quotes", `{'a':1}`, errSyntax},
		{"bare name", `{a:1}`, errSyntax},
		{"missing colon", `{"a" 1}`, errSyntax},
		{"missing value", `{"a":}`, errSyntax},
		{"leading zero", `{"a":01}`, errSyntax},
		{"bare dot", `{"a":1.}`, errSyntax},
		{"bare exponent", `{"a":1e}`, errSyntax},
		{"plus", `{"a":+1}`, errSyntax},
		{"NaN", `{"a":NaN}`, errSyntax},
		{"truncated literal", `{"a":tru}`, errSyntax},
		{"raw newline in string", "{\"a\":\"x\ny\"}", errSyntax},
		{"bad escape", `{"a":"\x"}`, errSyntax},
		{"short unicode escape", `{"a":"\u12"}`, errSyntax},
		{"mismatched brackets", `{"a":[}`, errSyntax},
		{"invalid UTF-8 in value", "{\"a\":\"\xff\"}", errBadUTF8},
		{"invalid UTF-8 in name", "{\"\xc3\":1}", errBadUTF8},
		{"truncated UTF-8 sequence", "{\"a\":\"\xe6\x97\"}", errBadUTF8},
		{"overlong encoding", "{\"a\":\"\xc0\xaf\"}", errBadUTF8},
		{"raw UTF-8 surrogate", "{\"a\":\"\xed\xa0\x80\"}", errBadUTF8},
		{"lone high surrogate", `{"a":"\ud800"}`, errLoneSurrogate},
		{"lone high surrogate in name", `{"\uD800":1}`, errLoneSurrogate},
		{"lone low surrogate", `{"a":"\udc00"}`, errLoneSurrogate},
		{"high then text", `{"a":"\ud83dx\ude00"}`, errLoneSurrogate},
		{"high then high", `{"a":"\ud83d\ud83d"}`, errLoneSurrogate},
		{"high then other escape", `{"a":"\ud83d\n"}`, errLoneSurrogate},
		{"reversed pair", `{"a":"\ude00\ud83d"}`, errLoneSurrogate},
		{"high at end", `{"a":"\ud83d"}`, errLoneSurrogate},
		{"NUL-led name", `{"\u0000a":1}`, errNULName},
		{"NUL-led nested name", `{"a":{"\u0000":1}}`, errNULName},
		{"too deep", nested(DefaultMaxPatchDepth + 1), errTooDeep},
		{"too deep objects", `{"a":` + strings.Repeat(`{"a":`, DefaultMaxPatchDepth) + `1` + strings.Repeat(`}`, DefaultMaxPatchDepth+1), errTooDeep},
		// The depth limit fires at the first bracket past it, before the
		// rest is read: the tail here is not even JSON.
		{"too deep stops early", `{"a":` + strings.Repeat("[", 4000) + "\xff garbage", errTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPatch(tt.patch, DefaultMaxPatchDepth)
			assert.ErrorIs(t, err, tt.want)
		})
	}
}

// TestMergeLimits: the limits apply to all the patches of a response
// before any is merged, and a refusal says which limit.
func TestMergeLimits(t *testing.T) {
	lim := PatchLimits{MaxDepth: 3, MaxBytes: 40}
	_, _, err := Merge(nil, []string{`{"a":[[1]]}`}, lim)
	require.NoError(t, err)
	_, _, err = Merge(nil, []string{`{"a":[[[1]]]}`}, lim)
	assert.ErrorIs(t, err, ErrBadPatch)
	assert.ErrorIs(t, err, errTooDeep)
	_, _, err = Merge(nil, []string{`{"a":"` + strings.Repeat("x", 20) + `"}`, `{"b":"` + strings.Repeat("y", 20) + `"}`}, lim)
	assert.ErrorIs(t, err, ErrBadPatch, "the limit is on the patches together")
	assert.Contains(t, err.Error(), "over the limit of 40")

	// Defaults: 32 deep, 32 KiB.
	_, _, err = Merge(nil, []string{nested(DefaultMaxPatchDepth)}, PatchLimits{})
	require.NoError(t, err)
	_, _, err = Merge(nil, []string{`{"a":"` + strings.Repeat("x", DefaultMaxPatchBytes) + `"}`}, PatchLimits{})
	assert.ErrorIs(t, err, ErrBadPatch)
}

// TestMergeRefusesBeforeMerging is the regression test for the 2 MB patch
// nested 500 deep that cost 30 CPU-seconds and 1.4 GiB before max_bytes
// was checked: it is refused for its size without being read, and even
// with the size limit lifted, after reading no further than the first
// bracket past the depth limit.
func TestMergeRefusesBeforeMerging(t *testing.T) {
	p := hostilePatch(2<<20, 500)
	for name, lim := range map[string]PatchLimits{
		"size":                  {},
		"depth, size limit off": {MaxBytes: 4 << 20},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, _, err = Merge(nil, []string{p}, lim) })
			require.ErrorIs(t, err, ErrBadPatch)
			// Decoding any of it would allocate megabytes; the bound
			// leaves room for what a busy runtime allocates meanwhile.
			assert.Less(t, n, uint64(64<<10), "bytes allocated refusing a %d-byte patch", len(p))
		})
	}
}

// allocated returns the bytes the heap grew by while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hostilePatch returns a patch of about size bytes whose nesting reaches
// depth, with the bulk of its bytes in strings at the deepest level.
func hostilePatch(size, depth int) string {
	var b strings.Builder
	b.Grow(size + 16*depth)
	for range depth {
		b.WriteString(`{"k":`)
	}
	b.WriteString(`[`)
	chunk := `"` + strings.Repeat("x", 1000) + `",`
	for b.Len() < size {
		b.WriteString(chunk)
	}
	b.WriteString(`0]`)
	b.WriteString(strings.Repeat("}", depth))
	return b.String()
}

func TestParsePrincipal(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want *string
		err  bool
	}{
		{"absent", nil, nil, false},
		{"one", []string{" ann "}, ptr("ann"), false},
		{"empty clears", []string{""}, ptr(""), false},
		{"same twice", []string{"ann", " ann"}, ptr("ann"), false},
		{"unicode", []string{"jürgen@例え.jp"}, ptr("jürgen@例え.jp"), false},
		{"conflict", []string{"ann", "bob"}, nil, true},
		{"conflict with empty", []string{"ann", ""}, nil, true},
		{"invalid UTF-8", []string{"ann\xff"}, nil, true},
		{"control character", []string{"ann\x00bob"}, nil, true},
		{"DEL", []string{"ann\x7f"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrincipal(tt.in)
			if tt.err {
				assert.ErrorIs(t, err, ErrBadPrincipal)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func ptr(s string) *string { return &s }

// FuzzCheckPatch compares checkPatch with encoding/json and an independent
// reading of the rules: it accepts exactly the valid JSON objects that are
// valid UTF-8, nest at most DefaultMaxPatchDepth deep, have no lone
// escaped surrogate and no NUL-led name. Seeds live in
// testdata/fuzz/FuzzCheckPatch.
func FuzzCheckPatch(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,{"b":null}]}`, `{"a":"\ud83d\ude00"}`, `{"a":"\ud800"}`,
		"{\"a\":\"\xff\"}", `{"\u0000":1}`, nested(DefaultMaxPatchDepth), nested(DefaultMaxPatchDepth + 1),
		`{"a":1e5,"b":-0.0}`, `[]`, `{"a":1}x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := checkPatch(p, DefaultMaxPatchDepth)
		want := json.Valid([]byte(p)) && utf8.ValidString(p) && strings.HasPrefix(strings.TrimLeft(p, " \t\r\n"), "{")
		if want {
			want = strictJSON([]byte(p), DefaultMaxPatchDepth) == nil
		}
		if (err == nil) != want {
			t.Fatalf("checkPatch(%q) = %v, want accepted=%v", p, err, want)
		}
		if err != nil && !errors.Is(err, errNotObject) && !errors.Is(err, errSyntax) && !errors.Is(err, errTooDeep) &&
			!errors.Is(err, errBadUTF8) && !errors.Is(err, errLoneSurrogate) && !errors.Is(err, errNULName) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}
