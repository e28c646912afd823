package clients

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// patchVector is one encoder vector: ops applied to an empty session,
// and the headers() the kit must then return (clients spec §2).
type patchVector struct {
	Name    string     `json:"name"`
	Ops     []patchOp  `json:"ops"`
	Headers [][]string `json:"headers"`
}

// patchOp is ["set", name, value], ["remove", name], ["principal",
// value or null], ["regenerate"] or ["destroy"]. A set value is raw JSON
// so that the order of its object members is kept.
type patchOp []json.RawMessage

func op(name string, args ...string) patchOp {
	o := patchOp{json.RawMessage(strconv.Quote(name))}
	for _, a := range args {
		o = append(o, json.RawMessage(a))
	}
	return o
}

func set(name, value string) patchOp { return op("set", jsonString(name), value) }
func remove(name string) patchOp     { return op("remove", jsonString(name)) }
func principal(p string) patchOp     { return op("principal", p) }

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// patchCases are the encoder vectors' ops, in the file's order.
var patchCases = []struct {
	name string
	ops  []patchOp
}{
	{"no writes", nil},
	{"set one object", []patchOp{set("cart", `{"sku-1":2}`)}},
	{"set and remove", []patchOp{set("a", `1`), remove("b")}},
	{"set then remove the same name", []patchOp{set("a", `1`), remove("a")}},
	{"last write wins, first-touch order", []patchOp{set("a", `1`), set("b", `2`), set("a", `3`)}},
	{"remove then set", []patchOp{remove("a"), set("b", `1`), set("a", `2`)}},
	{"names are never sorted", []patchOp{set("zeta", `1`), set("alpha", `2`), set("mid", `3`)}},
	{"principal Zoë", []patchOp{principal(`"Zoë"`)}},
	{"principal cleared with null", []patchOp{principal(`null`)}},
	{"principal cleared with empty string", []patchOp{principal(`""`)}},
	{"principal last write wins", []patchOp{principal(`"ann"`), principal(`"Zoë"`)}},
	{"unicode values, astral plane as surrogate pairs", []patchOp{set("name", `"Zoë € 𝄞"`)}},
	{"unicode names", []patchOp{set("café", `"x"`), set("ключ", `"значение"`)}},
	{"JSON escapes, slash and HTML characters left alone", []patchOp{set("note", `"a \"quote\" \\ back / slash <b>&amp;\n\ttab\r\b\f \u0001"`)}},
	{"nested objects keep member order", []patchOp{set("cart", `{"items":[{"sku":"b-2","qty":1},{"sku":"a-1","qty":2}],"meta":{"by":"Zoë","tags":[]}}`)}},
	{"empty object and empty array values", []patchOp{set("prefs", `{}`), set("list", `[]`)}},
	{"values of every JSON type", []patchOp{set("t", `true`), set("f", `false`), set("n", `-12`), set("s", `""`), set("l", `[1,"two",null,{"x":null}]`)}},
	{"login: set, principal, regenerate", []patchOp{set("user", `{"name":"Zoë"}`), principal(`"Zoë"`), op("regenerate")}},
	{"regenerate alone", []patchOp{op("regenerate")}},
	{"destroy drops patches and principal", []patchOp{set("a", `1`), principal(`"Zoë"`), op("destroy")}},
	{"destroy wins over a later regenerate", []patchOp{op("destroy"), op("regenerate")}},
	{"destroy wins over an earlier regenerate", []patchOp{set("a", `1`), op("regenerate"), op("destroy")}},
}

// patchVectors runs the reference encoder on patchCases and checks that
// Sidecar accepts what it produced and ends up with the session the ops
// describe.
func patchVectors(t *testing.T) []patchVector {
	t.Helper()
	var out []patchVector
	for _, c := range patchCases {
		ops := c.ops
		if ops == nil {
			ops = []patchOp{}
		}
		m := runOps(t, ops)
		headers := m.headers(t)
		checkSidecarAccepts(t, c.name, m, headers)
		out = append(out, patchVector{Name: c.name, Ops: ops, Headers: headers})
	}
	return out
}

// pendingWrites is the writes model of clients spec §2.
type pendingWrites struct {
	names     []string                   // first-touch order
	values    map[string]json.RawMessage // nil value: removed
	principal *string
	action    string
}

func runOps(t *testing.T, ops []patchOp) *pendingWrites {
	t.Helper()
	w := &pendingWrites{values: map[string]json.RawMessage{}}
	for _, o := range ops {
		var verb, name string
		require.NoError(t, json.Unmarshal(o[0], &verb))
		if len(o) > 1 && verb != "principal" {
			require.NoError(t, json.Unmarshal(o[1], &name))
		}
		switch verb {
		case "set", "remove":
			if _, seen := w.values[name]; !seen {
				w.names = append(w.names, name)
			}
			w.values[name] = nil
			if verb == "set" {
				w.values[name] = o[2]
			}
		case "principal":
			var p *string
			require.NoError(t, json.Unmarshal(o[1], &p))
			if p == nil {
				p = new(string)
			}
			w.principal = p
		case "regenerate":
			if w.action == "" {
				w.action = verb
			}
		case "destroy":
			w.action = verb
		default:
			t.Fatalf("unknown op %q", verb)
		}
	}
	return w
}

// headers is what a kit's headers() returns: Patch, Principal, Action.
func (w *pendingWrites) headers(t *testing.T) [][]string {
	t.Helper()
	h := [][]string{}
	if w.action == "destroy" {
		return append(h, []string{"X-Sidecar-Action", "destroy"})
	}
	if len(w.names) > 0 {
		var b strings.Builder
		b.WriteByte('{')
		for i, n := range w.names {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(asciiString(n))
			b.WriteByte(':')
			v := w.values[n]
			if v == nil {
				b.WriteString("null")
			} else {
				b.WriteString(asciiJSON(t, v))
			}
		}
		b.WriteByte('}')
		h = append(h, []string{"X-Sidecar-Patch", b.String()})
	}
	if w.principal != nil {
		h = append(h, []string{"X-Sidecar-Principal", *w.principal})
	}
	if w.action != "" {
		h = append(h, []string{"X-Sidecar-Action", w.action})
	}
	return h
}

// asciiJSON re-encodes a JSON value compactly, in its own member order,
// with strings as asciiString writes them and numbers as written.
func asciiJSON(t *testing.T, v json.RawMessage) string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var b strings.Builder
	// After each token, whether a comma or colon must precede the next one:
	// a stack of (in object?, items so far) per open container.
	type level struct {
		object bool
		n      int
	}
	var stack []level
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if delim, ok := tok.(json.Delim); ok && (delim == '}' || delim == ']') {
			stack = stack[:len(stack)-1]
			b.WriteRune(rune(delim))
			continue
		}
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			switch {
			case top.object && top.n%2 == 1:
				b.WriteByte(':')
			case top.n > 0:
				b.WriteByte(',')
			}
			top.n++
		}
		switch x := tok.(type) {
		case json.Delim:
			b.WriteRune(rune(x))
			stack = append(stack, level{object: x == '{'})
		case string:
			b.WriteString(asciiString(x))
		case json.Number:
			b.WriteString(x.String())
		case bool:
			b.WriteString(strconv.FormatBool(x))
		case nil:
			b.WriteString("null")
		}
	}
	return b.String()
}

// asciiString is the kits' string encoding: JSON's mandatory escapes with
// the short forms \" \\ \b \f \n \r \t, other control characters and
// every character above U+007E as \u followed by four lowercase hex digits
// (characters above U+FFFF as a surrogate pair), "/" and everything else
// as is.
func asciiString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r > 0x7e && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, hi, lo)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// checkSidecarAccepts parses headers as Sidecar does and checks that the
// session would end up as the ops describe.
func checkSidecarAccepts(t *testing.T, name string, w *pendingWrites, headers [][]string) {
	t.Helper()
	got := map[string][]string{}
	for _, h := range headers {
		got[h[0]] = append(got[h[0]], h[1])
		for _, c := range []byte(h[1]) {
			if h[0] == "X-Sidecar-Patch" {
				assert.True(t, c >= 0x20 && c <= 0x7e, "%s: the patch is printable ASCII", name)
			}
		}
	}
	act, err := sessions.ParseAction(got["X-Sidecar-Action"])
	require.NoError(t, err, name)
	assert.Equal(t, w.action != "", act != sessions.ActionNone, name)
	p, err := sessions.ParsePrincipal(got["X-Sidecar-Principal"])
	require.NoError(t, err, name)
	if act != sessions.ActionDestroy && w.principal != nil {
		require.NotNil(t, p, name)
		assert.Equal(t, *w.principal, *p, name)
	}
	before := map[string]json.RawMessage{"a": json.RawMessage(`0`), "b": json.RawMessage(`0`)}
	setAttrs, del, err := sessions.Merge(before, got["X-Sidecar-Patch"], sessions.PatchLimits{})
	require.NoError(t, err, "%s: Sidecar accepts the patch", name)
	if act == sessions.ActionDestroy {
		assert.Empty(t, got["X-Sidecar-Patch"], name)
		return
	}
	for _, n := range w.names {
		if w.values[n] == nil {
			assert.Contains(t, del, n, name)
			continue
		}
		var want, have any
		require.NoError(t, json.Unmarshal(w.values[n], &want))
		require.NoError(t, json.Unmarshal(setAttrs[n], &have))
		assert.Equal(t, want, have, "%s: %s", name, n)
	}
}
