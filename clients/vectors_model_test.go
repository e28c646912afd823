package clients

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The kits' model of session values (clients spec §2, set/merge): JSON
// values that keep the order of object members, as every kit's runtime
// does (PHP arrays, JS objects, Python dicts, CFML ordered structs). A
// value is nil (JSON null), *jsonObject, []any, string, json.Number or
// bool.

// jsonObject is a JSON object in member order.
type jsonObject struct {
	keys []string
	vals map[string]any
}

func newObject() *jsonObject { return &jsonObject{vals: map[string]any{}} }

// get is the member k and whether it is present.
func (o *jsonObject) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// put sets member k: in its place when present, else last.
func (o *jsonObject) put(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// del removes member k.
func (o *jsonObject) del(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			return
		}
	}
}

// clone copies the object's own members (values are shared: the model
// never changes a value in place).
func (o *jsonObject) clone() *jsonObject {
	c := newObject()
	for _, k := range o.keys {
		c.put(k, o.vals[k])
	}
	return c
}

// parseJSON decodes one JSON value into the model, keeping member order.
func parseJSON(t *testing.T, raw []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	v, err := readJSON(d)
	require.NoError(t, err, "%s", raw)
	_, err = d.Token()
	require.ErrorIs(t, err, io.EOF, "one value in %s", raw)
	return v
}

func readJSON(d *json.Decoder) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case json.Delim:
		if x == '[' {
			items := []any{}
			for d.More() {
				v, err := readJSON(d)
				if err != nil {
					return nil, err
				}
				items = append(items, v)
			}
			_, err = d.Token()
			return items, err
		}
		o := newObject()
		for d.More() {
			k, err := d.Token()
			if err != nil {
				return nil, err
			}
			v, err := readJSON(d)
			if err != nil {
				return nil, err
			}
			o.put(k.(string), v)
		}
		_, err = d.Token()
		return o, err
	default:
		return x, nil // string, json.Number, bool or nil
	}
}

// encodeJSON is the kits' encoding of a value: compact, members in order,
// strings as asciiString writes them, numbers as written.
func encodeJSON(v any) string {
	var b strings.Builder
	writeJSON(&b, v)
	return b.String()
}

func writeJSON(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case *jsonObject:
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(asciiString(k))
			b.WriteByte(':')
			writeJSON(b, x.vals[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, item)
		}
		b.WriteByte(']')
	case string:
		b.WriteString(asciiString(x))
	case json.Number:
		b.WriteString(x.String())
	case bool:
		b.WriteString(strconv.FormatBool(x))
	default:
		panic("not a model value")
	}
}

// mergePatch is RFC 7396 as the kits apply merge() locally: patch merged
// into target, or into {} when target is absent or not an object; a null
// member deletes, an object member merges, anything else replaces. Neither
// argument is changed.
func mergePatch(target any, patch *jsonObject) *jsonObject {
	out := newObject()
	if t, ok := target.(*jsonObject); ok {
		out = t.clone()
	}
	for _, k := range patch.keys {
		switch v := patch.vals[k].(type) {
		case nil:
			out.del(k)
		case *jsonObject:
			cur, _ := out.get(k)
			out.put(k, mergePatch(cur, v))
		default:
			out.put(k, v)
		}
	}
	return out
}

// composeDeltas is the one delta that merges as a then b do, members of b
// replacing those of a in place and new ones last, objects present in
// both composed recursively. It is not exact, and reports false, when a
// member of a is null or not an object and b's is an object: merging b's
// object into whatever a left (deleted, or a scalar) is not the same as
// merging it into the stored value.
func composeDeltas(a, b *jsonObject) (*jsonObject, bool) {
	out := a.clone()
	for _, k := range b.keys {
		bv := b.vals[k]
		av, present := out.get(k)
		bo, bObj := bv.(*jsonObject)
		ao, aObj := av.(*jsonObject)
		switch {
		case present && aObj && bObj:
			c, ok := composeDeltas(ao, bo)
			if !ok {
				return nil, false
			}
			out.put(k, c)
		case present && bObj:
			return nil, false
		default:
			out.put(k, bv)
		}
	}
	return out, true
}

// hasNullMember reports whether v holds null as an object member, in v or
// in an object member of it at any depth: what Sidecar's merge would drop.
// Arrays are stored as they are, so what they hold does not count.
func hasNullMember(v any) bool {
	o, ok := v.(*jsonObject)
	if !ok {
		return false
	}
	for _, k := range o.keys {
		if o.vals[k] == nil || hasNullMember(o.vals[k]) {
			return true
		}
	}
	return false
}
