package clients

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"
)

// patchStart is the session data every patch vector starts from (the
// file's "patch_start"): a kit loads it as the session's data, applies the
// ops, and must then send the vector's headers and read its result.
const patchStart = `{"cart":{"sku-1":1,"sku-2":3},"user":{"name":"x","admin":true}}`

// patchVector is one encoder vector: ops applied to a session holding
// patchStart, the headers() the kit must then return (clients spec §2),
// and the session data after Sidecar applied them, which all() must equal.
type patchVector struct {
	Name    string          `json:"name"`
	Ops     []patchOp       `json:"ops"`
	Headers [][]string      `json:"headers"`
	Result  json.RawMessage `json:"result"`
}

// patchErrorVector is a sequence of ops whose last one the kit must refuse
// (a programming error, thrown at once): error names why.
type patchErrorVector struct {
	Name  string    `json:"name"`
	Ops   []patchOp `json:"ops"`
	Error string    `json:"error"`
}

// The errors of patchErrorVector.
const (
	errNullMember     = "null_member"      // set() of a value with null as an object member
	errMergeNotObject = "merge_not_object" // merge() of a delta that is not an object
)

// patchOp is ["set", name, value], ["merge", name, delta], ["remove",
// name], ["principal", value or null], ["regenerate"] or ["destroy"]. A
// value is raw JSON so that the order of its object members is kept.
type patchOp []json.RawMessage

func op(name string, args ...string) patchOp {
	o := patchOp{json.RawMessage(strconv.Quote(name))}
	for _, a := range args {
		o = append(o, json.RawMessage(a))
	}
	return o
}

func set(name, value string) patchOp   { return op("set", jsonString(name), value) }
func merge(name, delta string) patchOp { return op("merge", jsonString(name), delta) }
func remove(name string) patchOp       { return op("remove", jsonString(name)) }
func principal(p string) patchOp       { return op("principal", p) }

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
	{"set replaces: the cart without sku-1", []patchOp{set("cart", `{"sku-2":3}`)}},
	{"set and remove", []patchOp{set("a", `1`), remove("b")}},
	{"set then remove the same name", []patchOp{set("a", `1`), remove("a")}},
	{"last write wins, first-touch order", []patchOp{set("a", `1`), set("b", `2`), set("a", `3`)}},
	{"remove then set", []patchOp{remove("a"), set("b", `1`), set("a", `2`)}},
	{"names are never sorted", []patchOp{set("zeta", `1`), set("alpha", `2`), set("mid", `3`)}},
	{"set null removes", []patchOp{set("user", `null`)}},
	{"object set then removed: one header", []patchOp{set("cart", `{"sku-9":1}`), remove("cart")}},
	{"object replaced by a scalar: one header", []patchOp{set("cart", `{"sku-9":1}`), set("cart", `5`)}},
	{"scalar replaced by an object", []patchOp{set("cart", `5`), set("cart", `{"sku-9":1}`)}},
	{"set an empty object", []patchOp{set("prefs", `{}`)}},
	{"objects set among scalars, first-touch order in both headers",
		[]patchOp{set("user", `{"name":"y"}`), set("a", `1`), set("cart", `{"sku-3":1}`), set("a", `2`)}},
	{"principal Zoë", []patchOp{principal(`"Zoë"`)}},
	{"principal cleared with null", []patchOp{principal(`null`)}},
	{"principal cleared with empty string", []patchOp{principal(`""`)}},
	{"principal last write wins", []patchOp{principal(`"ann"`), principal(`"Zoë"`)}},
	{"unicode values, astral plane as surrogate pairs", []patchOp{set("name", `"Zoë € 𝄞"`)}},
	{"unicode names", []patchOp{set("café", `"x"`), set("ключ", `"значение"`)}},
	{"JSON escapes, slash and HTML characters left alone", []patchOp{set("note", `"a \"quote\" \\ back / slash <b>&amp;\n\ttab\r\b\f \u0001"`)}},
	{"nested objects keep member order", []patchOp{set("cart", `{"items":[{"sku":"b-2","qty":1},{"sku":"a-1","qty":2}],"meta":{"by":"Zoë","tags":[]}}`)}},
	{"empty object and empty array values", []patchOp{set("prefs", `{}`), set("list", `[]`)}},
	{"values of every JSON type, null inside arrays kept", []patchOp{set("t", `true`), set("f", `false`), set("n", `-12`), set("s", `""`), set("l", `[1,"two",null,{"x":null}]`)}},
	{"merge one member", []patchOp{merge("cart", `{"sku-3":1}`)}},
	{"merge with a null member deletes it", []patchOp{merge("cart", `{"sku-1":null}`)}},
	{"merge on an absent attribute", []patchOp{merge("prefs", `{"theme":"dark","lang":null}`)}},
	{"merge of an empty object changes nothing", []patchOp{merge("cart", `{}`)}},
	{"merge: arrays and scalars inside replace", []patchOp{merge("user", `{"tags":["a",null],"name":"y"}`)}},
	{"merge: a nested null leaves an empty object", []patchOp{merge("user", `{"prefs":{"x":null}}`)}},
	{"merge twice composes, in place and in order", []patchOp{merge("cart", `{"sku-1":5}`), merge("cart", `{"sku-3":1,"sku-1":null}`)}},
	{"merge twice composes nested objects", []patchOp{merge("user", `{"prefs":{"a":1}}`), merge("user", `{"prefs":{"b":2},"admin":null}`)}},
	{"merge: a later null wins over an earlier object", []patchOp{merge("user", `{"prefs":{"a":1}}`), merge("user", `{"prefs":null}`)}},
	{"merge: null then object switches to replace", []patchOp{merge("cart", `{"sku-1":null}`), merge("cart", `{"sku-1":{"size":"L"}}`)}},
	{"merge: scalar then object switches to replace", []patchOp{merge("user", `{"admin":false}`), merge("user", `{"admin":{"level":2}}`)}},
	{"set then merge", []patchOp{set("cart", `{"sku-9":1}`), merge("cart", `{"sku-8":2,"sku-9":null}`)}},
	{"set then merge leaving an empty object", []patchOp{set("user", `{"prefs":{"x":1}}`), merge("user", `{"prefs":{"x":null}}`)}},
	{"set a scalar then merge", []patchOp{set("cart", `5`), merge("cart", `{"a":1}`)}},
	{"merge then set", []patchOp{merge("cart", `{"sku-3":1}`), set("cart", `{"sku-4":4}`)}},
	{"merge then set a scalar", []patchOp{merge("cart", `{"sku-3":1}`), set("cart", `"none"`)}},
	{"merge then remove", []patchOp{merge("cart", `{"sku-3":1}`), remove("cart")}},
	{"remove then merge", []patchOp{remove("cart"), merge("cart", `{"sku-5":1}`)}},
	{"merge and set on several names, first-touch order",
		[]patchOp{merge("cart", `{"sku-1":2}`), set("user", `{"name":"z"}`), merge("prefs", `{"a":1}`), merge("cart", `{"sku-2":null}`)}},
	{"login: set, principal, regenerate", []patchOp{set("user", `{"name":"Zoë"}`), principal(`"Zoë"`), op("regenerate")}},
	{"regenerate alone", []patchOp{op("regenerate")}},
	{"destroy drops patches and principal", []patchOp{set("a", `1`), principal(`"Zoë"`), op("destroy")}},
	{"destroy drops merges", []patchOp{merge("cart", `{"sku-3":1}`), set("user", `{"name":"y"}`), op("destroy")}},
	{"destroy wins over a later regenerate", []patchOp{op("destroy"), op("regenerate")}},
	{"destroy wins over an earlier regenerate", []patchOp{set("a", `1`), op("regenerate"), op("destroy")}},
}

// patchErrorCases are the ops of the error vectors: the last op fails.
var patchErrorCases = []struct {
	name string
	ops  []patchOp
	err  string
}{
	{"set with a null member", []patchOp{set("cart", `{"sku-1":null}`)}, errNullMember},
	{"set with a nested null member", []patchOp{set("user", `{"prefs":{"theme":null}}`)}, errNullMember},
	{"set with a null member under an array's sibling", []patchOp{set("a", `1`), set("user", `{"x":{"y":[null],"z":null}}`)}, errNullMember},
	{"merge of an array", []patchOp{merge("cart", `[1]`)}, errMergeNotObject},
	{"merge of a scalar", []patchOp{merge("cart", `5`)}, errMergeNotObject},
	{"merge of null", []patchOp{merge("cart", `null`)}, errMergeNotObject},
}

// patchVectors runs the reference model on patchCases, from patchStart,
// and checks with Sidecar's own patch code that the headers it produced
// leave the session as the model says.
func patchVectors(t *testing.T) ([]patchVector, []patchErrorVector) {
	t.Helper()
	var out []patchVector
	for _, c := range patchCases {
		ops := c.ops
		if ops == nil {
			ops = []patchOp{}
		}
		w, failed := runOps(t, patchStart, ops)
		require.Empty(t, failed, c.name)
		v := patchVector{Name: c.name, Ops: ops, Headers: w.headers(t), Result: json.RawMessage(encodeJSON(w.result()))}
		checkSidecarApplies(t, w, v)
		out = append(out, v)
	}
	var errs []patchErrorVector
	for _, c := range patchErrorCases {
		_, failed := runOps(t, patchStart, c.ops)
		require.Equal(t, c.err, failed, c.name)
		errs = append(errs, patchErrorVector{Name: c.name, Ops: c.ops, Error: c.err})
	}
	return out, errs
}

// pending is one name's writes so far: an accumulated merge delta, or
// the final value that replaces the attribute (nil: removed).
type pending struct {
	merge bool
	value any
}

// pendingWrites is the writes model of clients spec §2.
type pendingWrites struct {
	start     *jsonObject         // the session's data before the request
	names     []string            // first-touch order
	writes    map[string]*pending // by name
	principal *string
	action    string
}

// runOps applies ops to a session holding the data start. failed is the
// error code of the op that was refused, which must be the last.
func runOps(t *testing.T, start string, ops []patchOp) (w *pendingWrites, failed string) {
	t.Helper()
	data, ok := parseJSON(t, []byte(start)).(*jsonObject)
	require.True(t, ok, "the start is an object")
	w = &pendingWrites{start: data, writes: map[string]*pending{}}
	for i, o := range ops {
		require.Empty(t, failed, "op %d comes after the one that failed", i)
		var verb, name string
		require.NoError(t, json.Unmarshal(o[0], &verb))
		if len(o) > 1 && verb != "principal" {
			require.NoError(t, json.Unmarshal(o[1], &name))
		}
		switch verb {
		case "set":
			v := parseJSON(t, o[2])
			if hasNullMember(v) {
				failed = errNullMember
				continue
			}
			w.write(name, &pending{value: v})
		case "remove":
			w.write(name, &pending{})
		case "merge":
			d, ok := parseJSON(t, o[2]).(*jsonObject)
			if !ok {
				failed = errMergeNotObject
				continue
			}
			w.write(name, w.merged(name, d))
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
	return w, failed
}

func (w *pendingWrites) write(name string, p *pending) {
	if _, seen := w.writes[name]; !seen {
		w.names = append(w.names, name)
	}
	w.writes[name] = p
}

// merged is name's state after merge(name, d): a merge delta composed
// with the earlier one where that is exact, else the value replacing the
// attribute, computed here.
func (w *pendingWrites) merged(name string, d *jsonObject) *pending {
	p, seen := w.writes[name]
	if !seen {
		return &pending{merge: true, value: d}
	}
	if p.merge {
		if c, ok := composeDeltas(p.value.(*jsonObject), d); ok {
			return &pending{merge: true, value: c}
		}
	}
	return &pending{value: mergePatch(w.current(name), d)}
}

// current is the attribute name as this request reads it (nil: absent).
func (w *pendingWrites) current(name string) any {
	stored, _ := w.start.get(name)
	p, seen := w.writes[name]
	switch {
	case !seen:
		return stored
	case p.merge:
		return mergePatch(stored, p.value.(*jsonObject))
	}
	return p.value
}

// result is the session data after the request: all() at its end.
func (w *pendingWrites) result() *jsonObject {
	out := newObject()
	if w.action == "destroy" {
		return out
	}
	for _, k := range w.start.keys {
		out.put(k, w.start.vals[k])
	}
	for _, n := range w.names {
		if v := w.current(n); v != nil {
			out.put(n, v)
		} else {
			out.del(n)
		}
	}
	return out
}

// headers is what a kit's headers() returns: the null-first patch when a
// name is replaced by an object, the patch, Principal, Action.
func (w *pendingWrites) headers(t *testing.T) [][]string {
	t.Helper()
	h := [][]string{}
	if w.action == "destroy" {
		return append(h, []string{"X-Sidecar-Action", "destroy"})
	}
	cleared, patch := newObject(), newObject()
	for _, n := range w.names {
		p := w.writes[n]
		if _, obj := p.value.(*jsonObject); obj && !p.merge {
			cleared.put(n, nil)
		}
		patch.put(n, p.value)
	}
	if len(cleared.keys) > 0 {
		h = append(h, []string{"X-Sidecar-Patch", encodeJSON(cleared)})
	}
	if len(patch.keys) > 0 {
		h = append(h, []string{"X-Sidecar-Patch", encodeJSON(patch)})
	}
	if w.principal != nil {
		h = append(h, []string{"X-Sidecar-Principal", *w.principal})
	}
	if w.action != "" {
		h = append(h, []string{"X-Sidecar-Action", w.action})
	}
	return h
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
