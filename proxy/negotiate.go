package proxy

import (
	"strconv"
	"strings"
)

// maxAcceptRanges bounds the media ranges of an Accept header that
// negotiate reads; browsers send about ten. Later ones are ignored.
const maxAcceptRanges = 32

// negotiate chooses the format of an error page from the request's Accept
// header (RFC 9110 §12.5.1): the format with the highest q, among HTML
// (text/html), JSON (application/json or any application/…+json) and
// plain text. On a tie the more specific match wins (text/html over
// text/* over */*), then the range written first: a browser's
// "text/html,…,*/*;q=0.8" gets HTML, an API client's
// "application/json, text/plain, */*" gets JSON. A header that prefers
// none of them, "*/*" (curl, fetch) or no header gets plain text. It
// reads at most maxAcceptRanges ranges and allocates nothing.
func negotiate(accept string) pageFormat {
	type match struct {
		q, specificity, pos int // q in thousandths; pos: index of the range
		found               bool
	}
	var best [numFormats]match
	rest := accept
	for pos := 0; rest != "" && pos < maxAcceptRanges; pos++ {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		mediaRange, params, _ := strings.Cut(item, ";")
		mediaRange = strings.TrimSpace(mediaRange)
		q := acceptQ(params)
		for f := range numFormats {
			spec := rangeMatches(mediaRange, f)
			if spec == 0 {
				continue
			}
			// The most specific range matching a format sets its q.
			if m := &best[f]; !m.found || spec > m.specificity {
				*m = match{q: q, specificity: spec, pos: pos, found: true}
			}
		}
	}
	choice, chosen := formatText, match{}
	for f := range numFormats { // text first: it wins a full tie
		m := best[f]
		if !m.found || m.q == 0 {
			continue
		}
		if !chosen.found || m.q > chosen.q ||
			m.q == chosen.q && (m.specificity > chosen.specificity ||
				m.specificity == chosen.specificity && m.pos < chosen.pos) {
			choice, chosen = f, m
		}
	}
	return choice
}

// rangeMatches says how specifically mediaRange matches format f: 3 for
// the type itself, 2 for type/*, 1 for */*, 0 for no match.
func rangeMatches(mediaRange string, f pageFormat) int {
	typ, sub, ok := strings.Cut(mediaRange, "/")
	if !ok {
		return 0
	}
	want := [numFormats][2]string{formatText: {"text", "plain"}, formatHTML: {"text", "html"}, formatJSON: {"application", "json"}}[f]
	switch {
	case typ == "*" && sub == "*":
		return 1
	case !strings.EqualFold(typ, want[0]):
		return 0
	case sub == "*":
		return 2
	case strings.EqualFold(sub, want[1]),
		f == formatJSON && len(sub) > 5 && strings.EqualFold(sub[len(sub)-5:], "+json"):
		return 3
	}
	return 0
}

// acceptQ reads the q parameter of a media range's parameters ("; q=0.8;
// level=1"), in thousandths: 1000 when absent, 0 when malformed.
func acceptQ(params string) int {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || f < 0 || f > 1 {
			return 0
		}
		return int(f*1000 + 0.5)
	}
	return 1000
}
