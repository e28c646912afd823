package sessions

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// benchSession is a live session of about n bytes (Record.Size) in two
// attributes, with a principal.
func benchSession(n int) *Session {
	now := time.Unix(1_767_225_600, 0)
	var tok Token
	copy(tok[:], "benchmark session token 32 bytes")
	return &Session{token: tok, verified: true, rec: &Record{
		Attrs: map[string]json.RawMessage{
			"cart": json.RawMessage(`{"sku-1":2,"sku-2":1}`),
			"blob": json.RawMessage(`"` + strings.Repeat("x", max(n-30, 0)) + `"`),
		},
		Principal: "ann@example.com", Version: 3, Created: now, IdleExp: now.Add(time.Hour), AbsExp: now.Add(2 * time.Hour),
	}}
}

// BenchmarkSign is the per-request cost of the session header, per
// algorithm and session size (no budget, so the 4 KB session is signed
// whole).
func BenchmarkSign(b *testing.B) {
	for _, alg := range benchAlgorithms(b) {
		for _, size := range []struct {
			name string
			n    int
		}{{"100B", 100}, {"4KB", 4096}} {
			b.Run(alg.name+"/"+size.name, func(b *testing.B) {
				opts := alg.opts
				opts.MaxBytes = -1
				h, err := NewHeaderSigner(opts)
				if err != nil {
					b.Fatal(err)
				}
				s := benchSession(size.n)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := h.Sign(s, "0123456789abcdef0123456789abcdef"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

type benchAlgorithm struct {
	name string
	opts HeaderOptions
}
