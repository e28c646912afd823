package proxy

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept string
		want   pageFormat
	}{
		{"", formatText},
		{"*/*", formatText},
		{"text/*", formatText},
		{"text/plain", formatText},
		{"text/html", formatHTML},
		{"TEXT/HTML", formatHTML},
		{"application/json", formatJSON},
		{"application/problem+json", formatJSON},
		{"application/*", formatJSON},
		// Firefox and Chrome navigating.
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", formatHTML},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7", formatHTML},
		// axios, and clients that prefer JSON by q.
		{"application/json, text/plain, */*", formatJSON},
		{"text/html;q=0.5, application/json", formatJSON},
		{"application/json;q=0.9, text/html", formatHTML},
		// The most specific range sets a format's q.
		{"text/*;q=0.1, text/html;q=0.9, application/json;q=0.5", formatHTML},
		{"application/json;q=0, */*", formatText},
		{"text/html;q=0", formatText},
		// Malformed parts are skipped, not fatal.
		{"garbage, ,;q=x, application/json", formatJSON},
		{"text/html;q=2", formatText},
		{"image/png", formatText},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, negotiate(tt.accept), "%q", tt.accept)
	}
}

func TestNegotiateReadsABoundedNumberOfRanges(t *testing.T) {
	accept := strings.Repeat("image/png, ", maxAcceptRanges) + "application/json"
	assert.Equal(t, formatText, negotiate(accept), "a range past the bound is ignored")
	assert.Equal(t, formatJSON, negotiate(strings.Repeat("image/png, ", maxAcceptRanges-1)+"application/json"))
	assert.Zero(t, testing.AllocsPerRun(100, func() { negotiate(accept) }))
}
