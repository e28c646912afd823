package sessions

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func raw(m map[string]string) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range m {
		out[k] = json.RawMessage(v)
	}
	return out
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name    string
		attrs   map[string]string
		patches []string
		set     map[string]string
		del     []string
	}{
		{"set scalar", nil, []string{`{"user":"ann"}`}, map[string]string{"user": `"ann"`}, nil},
		{"compacts values", nil, []string{`{"cart": [ 1, 2 ]}`}, map[string]string{"cart": `[1,2]`}, nil},
		{"delete existing", map[string]string{"a": "1"}, []string{`{"a":null}`}, nil, []string{"a"}},
		{"delete absent is still sent", nil, []string{`{"a":null}`}, nil, []string{"a"}},
		{"object merges", map[string]string{"p": `{"x":1,"y":2}`}, []string{`{"p":{"y":null,"z":3}}`},
			map[string]string{"p": `{"x":1,"z":3}`}, nil},
		{"object replaces scalar", map[string]string{"p": `5`}, []string{`{"p":{"a":1}}`},
			map[string]string{"p": `{"a":1}`}, nil},
		{"nested nulls dropped on new object", nil, []string{`{"p":{"a":null,"b":{"c":null,"d":1}}}`},
			map[string]string{"p": `{"b":{"d":1}}`}, nil},
		{"array replaces", map[string]string{"l": `[1,2,3]`}, []string{`{"l":[4]}`}, map[string]string{"l": `[4]`}, nil},
		{"patches apply in order", nil, []string{`{"a":1}`, `{"a":2,"b":1}`, `{"b":null}`},
			map[string]string{"a": "2"}, []string{"b"}},
		{"delete then set", map[string]string{"a": `{"x":1}`}, []string{`{"a":null}`, `{"a":{"y":2}}`},
			map[string]string{"a": `{"y":2}`}, nil},
		{"empty patch", map[string]string{"a": "1"}, []string{`{}`}, nil, nil},
		{"untouched attrs not in delta", map[string]string{"a": "1", "b": "2"}, []string{`{"b":3}`},
			map[string]string{"b": "3"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attrs := raw(tt.attrs)
			before := raw(tt.attrs)
			set, del, err := Merge(attrs, tt.patches, PatchLimits{})
			require.NoError(t, err)
			want := raw(tt.set)
			if tt.set == nil {
				want = nil
			}
			assert.Equal(t, len(want), len(set))
			for k, v := range want {
				assert.JSONEq(t, string(v), string(set[k]), k)
			}
			slices.Sort(del)
			assert.Equal(t, tt.del, del)
			assert.Equal(t, before, attrs, "Merge must not modify its input")
		})
	}
}

// TestMergeErrors pins protocol §4: a patch that is not a JSON object is
// the app's error.
func TestMergeErrors(t *testing.T) {
	for _, p := range []string{``, ` `, `null`, `[]`, `[{"a":1}]`, `"str"`, `42`, `true`,
		`{`, `{"a":}`, `{"a":1} trailing`, `{"a":1}{"b":2}`, `{'a':1}`, "{\"a\":\"\xff\"", `{"a":1,}`} {
		t.Run(p, func(t *testing.T) {
			_, _, err := Merge(nil, []string{`{"ok":1}`, p}, PatchLimits{})
			assert.ErrorIs(t, err, ErrBadPatch)
		})
	}
}

func TestParseAction(t *testing.T) {
	tests := []struct {
		in   []string
		want Action
		err  bool
	}{
		{nil, ActionNone, false},
		{[]string{"regenerate"}, ActionRegenerate, false},
		{[]string{" Destroy "}, ActionDestroy, false},
		{[]string{"destroy", "destroy"}, ActionDestroy, false},
		{[]string{"destroy", "regenerate"}, ActionNone, true},
		{[]string{"logout"}, ActionNone, true},
		{[]string{""}, ActionNone, true},
	}
	for _, tt := range tests {
		t.Run(fmtFields(tt.in), func(t *testing.T) {
			got, err := ParseAction(tt.in)
			if tt.err {
				assert.ErrorIs(t, err, ErrBadAction)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func fmtFields(vs []string) string {
	b, _ := json.Marshal(vs)
	return string(b)
}
