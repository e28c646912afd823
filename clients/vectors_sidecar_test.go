package clients

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// checkSidecarApplies proves a patch vector against Sidecar itself: the
// vector's headers, parsed as the proxy parses them and committed by the
// session Manager to a session holding patchStart on the memory store,
// leave the stored session equal to the vector's result, with the
// principal the ops set. Each patch value is printable ASCII and within
// the kits' size guard.
func checkSidecarApplies(t *testing.T, w *pendingWrites, v patchVector) {
	t.Helper()
	got := map[string][]string{}
	for _, h := range v.Headers {
		got[h[0]] = append(got[h[0]], h[1])
		if h[0] != "X-Sidecar-Patch" {
			continue
		}
		assert.LessOrEqual(t, len(h[1]), maxPatchBytes, "%s: the size guard", v.Name)
		for _, c := range []byte(h[1]) {
			assert.True(t, c >= 0x20 && c <= 0x7e, "%s: the patch is printable ASCII", v.Name)
		}
	}
	act, err := sessions.ParseAction(got["X-Sidecar-Action"])
	require.NoError(t, err, v.Name)
	p, err := sessions.ParsePrincipal(got["X-Sidecar-Principal"])
	require.NoError(t, err, v.Name)

	m, store := vectorManager(t)
	ctx := context.Background()
	s, err := m.Load(ctx, storeVectorSession(t, m, store, patchStart, ""))
	require.NoError(t, err)
	change := &sessions.Change{Patches: got["X-Sidecar-Patch"], Action: act, Principal: p}
	require.NoError(t, m.Commit(ctx, s, change), "%s: Sidecar applies the headers", v.Name)
	after, err := m.Load(ctx, m.Signer().Sign(s.Token()))
	require.NoError(t, err)

	data, principal := map[string]json.RawMessage{}, ""
	if rec := after.Record(); rec != nil {
		data, principal = rec.Attrs, rec.Principal
	} else {
		assert.Equal(t, "destroy", w.action, "%s: only destroy ends the session", v.Name)
	}
	stored, err := json.Marshal(data)
	require.NoError(t, err)
	assert.JSONEq(t, string(v.Result), string(stored), "%s: the stored data is the vector's result", v.Name)
	if w.principal != nil && w.action != "destroy" {
		assert.Equal(t, *w.principal, principal, "%s: the principal", v.Name)
	}
}

// maxPatchBytes is the kits' size guard on each X-Sidecar-Patch value.
const maxPatchBytes = 6144

// TestMergeCompositionIsExact checks the model's rule for two merge()
// calls on one name against Sidecar's own merge, on stored data with
// nested objects (which patchStart lacks): whether the model composes the
// deltas into one or switches to replacing the attribute, its headers
// must store what applying the two deltas one after the other stores.
func TestMergeCompositionIsExact(t *testing.T) {
	const start = `{"u":{"p":{"a":1,"b":{"c":2}},"s":5,"l":[1]}}`
	deltas := []string{
		`{}`, `{"p":null}`, `{"p":{"a":null}}`, `{"p":{"b":{"d":3}}}`, `{"p":{"b":null,"e":1}}`,
		`{"p":7}`, `{"s":{"x":1}}`, `{"s":null}`, `{"l":{"y":2}}`, `{"l":[2]}`, `{"n":{"m":{}}}`, `{"p":{}}`,
	}
	var attrs map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(start), &attrs))
	for _, d1 := range deltas {
		for _, d2 := range deltas {
			want, del, err := sessions.Merge(attrs, []string{`{"u":` + d1 + `}`, `{"u":` + d2 + `}`}, sessions.PatchLimits{})
			require.NoError(t, err)
			w, failed := runOps(t, start, []patchOp{merge("u", d1), merge("u", d2)})
			require.Empty(t, failed)
			var patches []string
			for _, h := range w.headers(t) {
				patches = append(patches, h[1])
			}
			got, gotDel, err := sessions.Merge(attrs, patches, sessions.PatchLimits{})
			require.NoError(t, err)
			assert.Equal(t, del, gotDel, "%s then %s: %v", d1, d2, patches)
			assert.JSONEq(t, string(want["u"]), string(got["u"]), "%s then %s: %v", d1, d2, patches)
			assert.JSONEq(t, string(want["u"]), encodeJSON(w.result().vals["u"]), "%s then %s: the local read", d1, d2)
		}
	}
}
