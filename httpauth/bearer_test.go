package httpauth

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBearerAllows(t *testing.T) {
	tok := NewBearer([]byte("s3cret-token-0123456789"))
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"Bearer s3cret-token-0123456789", true},
		{"bearer s3cret-token-0123456789", true},
		{"Bearer  s3cret-token-0123456789 ", true},
		{"Bearer s3cret-token-012345678", false},
		{"Bearer s3cret-token-0123456789x", false},
		{"Basic s3cret-token-0123456789", false},
		{"s3cret-token-0123456789", false},
		{"", false},
	} {
		t.Run(tc.header, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			assert.Equal(t, tc.want, tok.Allows(r), "%q", tc.header)
		})
	}
}
