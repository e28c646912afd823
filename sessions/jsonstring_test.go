package sessions

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func marshalString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestAppendJSONStringMatchesMarshal: the signer's allocation-free JSON
// string writer is byte for byte encoding/json's, on which the header
// length (Len) and the apps' decoders rely.
func TestAppendJSONStringMatchesMarshal(t *testing.T) {
	for _, s := range []string{
		"", "ann", "Zoë € 𝄞", `q"uote \ back`, "<a&b>", "\x00\x01\x1f\x7f", "\b\f\n\r\t",
		"\u2028\u2029", "bad \xff utf8 \xc3", "end \xe2\x82", "ascii/slash",
	} {
		assert.Equal(t, marshalString(s), string(appendJSONString(nil, s)), "%q", s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	f.Add("Zoë <&> \u2028 \xff")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendJSONString([]byte("x"), s)), "x"+marshalString(s); got != want {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
