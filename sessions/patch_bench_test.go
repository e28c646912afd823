package sessions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// typicalPatch is about 200 bytes, as a login or cart update sends.
const typicalPatch = `{"user":{"id":4711,"name":"Jürgen Müller","roles":["editor","billing"]},` +
	`"cart":{"items":[{"sku":"A-100","qty":2},{"sku":"B-7","qty":1}],"currency":"EUR"},"csrf":"k3J9xQ2vLm8pR4tY"}`

// BenchmarkMerge compares the validating path with the one before issue 9
// (legacyMerge, kept below for this comparison only).
func BenchmarkMerge(b *testing.B) {
	attrs := map[string]json.RawMessage{"user": json.RawMessage(`{"id":1}`), "theme": json.RawMessage(`"dark"`)}
	hostile := hostilePatch(2<<20, 500)
	b.Run("typical/validating", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Merge(attrs, []string{typicalPatch}, PatchLimits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("typical/legacy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := legacyMerge(attrs, []string{typicalPatch}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check-only/typical", func(b *testing.B) {
		b.ReportAllocs()
		p := typicalPatch
		for b.Loop() {
			if err := checkPatch(p, DefaultMaxPatchDepth); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hostile-2MB-500deep/validating", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Merge(attrs, []string{hostile}, PatchLimits{}); err == nil {
				b.Fatal("accepted")
			}
		}
	})
	b.Run("hostile-2MB-500deep/validating-no-size-limit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Merge(attrs, []string{hostile}, PatchLimits{MaxBytes: 4 << 20}); err == nil {
				b.Fatal("accepted")
			}
		}
	})
	shallow := hostilePatch(2<<20, 30)
	b.Run("2MB-30deep/check-only", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(shallow)))
		p := shallow
		for b.Loop() {
			if err := checkPatch(p, DefaultMaxPatchDepth); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLegacyHostile is the old path on the hostile patch: a
// 2 MB patch nested 500 deep. One iteration takes tens of seconds; run it
// with -benchtime=1x.
func BenchmarkLegacyHostile(b *testing.B) {
	hostile := hostilePatch(2<<20, 500)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := legacyMerge(nil, []string{hostile}); err != nil {
			b.Fatal(err)
		}
	}
}

// legacyMerge is Merge as it was before issue 9: a full json.Unmarshal of
// each patch, then a merge that decodes and re-encodes every level.
func legacyMerge(attrs map[string]json.RawMessage, patches []string) (set map[string]json.RawMessage, del []string, err error) {
	work := map[string]json.RawMessage{}
	touched := map[string]bool{}
	for i, raw := range patches {
		b := bytes.TrimSpace([]byte(raw))
		if len(b) == 0 || b[0] != '{' {
			return nil, nil, ErrBadPatch
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(b, &members); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrBadPatch, err)
		}
		for k, v := range members {
			cur, ok := work[k]
			if !ok && !touched[k] {
				cur = attrs[k]
			}
			nv, err := mergeValue(cur, v)
			if err != nil {
				return nil, nil, fmt.Errorf("patch header %d of %d: %w: %v", i+1, len(patches), ErrBadPatch, err)
			}
			touched[k] = true
			if nv == nil {
				delete(work, k)
			} else {
				work[k] = nv
			}
		}
	}
	for k := range touched {
		if v, ok := work[k]; ok {
			if set == nil {
				set = map[string]json.RawMessage{}
			}
			set[k] = v
		} else {
			del = append(del, k)
		}
	}
	return set, del, nil
}
