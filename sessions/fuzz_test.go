package sessions

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzVerifyCookie: no input makes the cookie parser panic, accept a value
// that is not exactly a signature it produced, or accept two spellings of
// one token. Seeds live in testdata/fuzz/FuzzVerifyCookie.
func FuzzVerifyCookie(f *testing.F) {
	s := mustSigner(f, secretA)
	var tok Token
	copy(tok[:], "0123456789abcdef0123456789abcdef")
	good := s.Sign(tok)
	f.Add(good)
	f.Add(good[:43])
	f.Add(good + "=")
	f.Add("")
	f.Add(".")
	f.Fuzz(func(t *testing.T, v string) {
		got, old, err := s.Verify(v)
		if err != nil {
			return
		}
		if old {
			t.Fatalf("single-secret signer reported an old secret")
		}
		if s.Sign(got) != v {
			t.Fatalf("accepted %q, which is not the canonical cookie for its token", v)
		}
	})
}

// FuzzMerge: any patch either fails with ErrBadPatch or yields a delta
// whose values are valid compact JSON and which, applied, gives a result
// that is stable under applying the same patch again (merge patches are
// idempotent). Seeds live in testdata/fuzz/FuzzMerge.
func FuzzMerge(f *testing.F) {
	for _, seed := range []string{
		`{"a":1}`, `{"a":null}`, `{"o":{"x":null,"y":[1,2]}}`, `[]`, `null`, `{`, `{"a":1}x`,
		`{"a":"\u00e9\ud83d\ude00"}`, `{"":{"":{"":null}}}`, ` {"n": 1.5e300 } `,
	} {
		f.Add(`{"a":{"x":1},"b":"s"}`, seed)
	}
	f.Fuzz(func(t *testing.T, current, patch string) {
		var attrs map[string]json.RawMessage
		if json.Unmarshal([]byte(current), &attrs) != nil {
			attrs = nil
		}
		set, del, err := Merge(attrs, []string{patch}, PatchLimits{})
		if err != nil {
			return
		}
		merged := map[string]json.RawMessage{}
		for k, v := range attrs {
			merged[k] = v
		}
		for k, v := range set {
			if !json.Valid(v) {
				t.Fatalf("attribute %q is not valid JSON: %q", k, v)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, v); err != nil || !bytes.Equal(buf.Bytes(), v) {
				t.Fatalf("attribute %q is not compact: %q", k, v)
			}
			merged[k] = v
		}
		for _, k := range del {
			if _, ok := set[k]; ok {
				t.Fatalf("%q is both set and deleted", k)
			}
			delete(merged, k)
		}
		set2, del2, err := Merge(merged, []string{patch}, PatchLimits{})
		if err != nil {
			t.Fatalf("patch accepted once, refused the second time: %v", err)
		}
		if len(del2) != len(del) {
			t.Fatalf("second application deleted %v, first %v", del2, del)
		}
		for k, v := range set2 {
			if !bytes.Equal(v, merged[k]) {
				t.Fatalf("not idempotent for %q: %s then %s", k, merged[k], v)
			}
		}
	})
}
