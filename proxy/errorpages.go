package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxErrorPageBytes is the largest error page file LoadErrorPages reads:
// a page is sent whole from memory on every 502, 503 and 504, and is
// meant to be one self-contained document (no external assets, which
// Sidecar would not serve anyway while the app is down).
const MaxErrorPageBytes = 64 << 10

// RequestIDPlaceholder in an error page is replaced by the request's id
// (the X-Request-Id of the response and of the access log line), escaped
// for HTML in a .html page and for a JSON string in a .json page, so a
// user can quote it to support.
const RequestIDPlaceholder = "{{request_id}}"

// pageFormat is the media type of an error page.
type pageFormat uint8

const (
	formatText pageFormat = iota // text/plain: what neither asks for HTML nor JSON gets
	formatHTML
	formatJSON
	numFormats
)

var formatTypes = [numFormats]string{"text/plain; charset=utf-8", "text/html; charset=utf-8", "application/json"}

// pageStatuses are the statuses with replaceable pages.
var pageStatuses = [...]int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// pageFiles are the replaceable formats and their file extensions.
var pageFiles = [...]struct {
	format pageFormat
	ext    string
}{{formatHTML, ".html"}, {formatJSON, ".json"}}

// page is one error page split at its placeholders: the request id goes
// between consecutive parts.
type page struct {
	parts []string
}

// newPage splits body at RequestIDPlaceholder.
func newPage(body string) page { return page{parts: strings.Split(body, RequestIDPlaceholder)} }

// render returns the page with id, escaped for f, in each placeholder.
func (pg page) render(f pageFormat, id string) []byte {
	if len(pg.parts) == 1 {
		return []byte(pg.parts[0])
	}
	switch f {
	case formatHTML:
		id = html.EscapeString(id)
	case formatJSON:
		b, _ := json.Marshal(id) // a string always marshals
		id = string(b[1 : len(b)-1])
	}
	return []byte(strings.Join(pg.parts, id))
}

// ErrorPages are the bodies of the 502, 503 and 504 responses that Sidecar
// itself sends (an app unreachable or broken, the store or every upstream
// unavailable, an app too slow), in HTML for browsers, JSON for API
// clients and plain text for anything else (see writeError for how the
// request's Accept header chooses). Each page is an operator's file or
// the built-in one; the built-in pages say only the status and the
// request id: no upstream name, no error text. Other statuses Sidecar
// sends (400, 409) are plain text.
//
// An ErrorPages is immutable; the zero value and nil are the built-in
// pages.
type ErrorPages struct {
	custom map[int]*[numFormats]page // status → format → page; missing: built-in
}

// LoadErrorPages reads the operator's pages from dir: any of 502.html,
// 503.html, 504.html, 502.json, 503.json and 504.json; a page without a
// file is the built-in one. dir "" gives the built-in pages alone.
//
// It returns an error naming the file when dir cannot be read or holds
// none of those files (a misspelt name would otherwise quietly leave the
// built-in pages), or when a file cannot be read, is over
// MaxErrorPageBytes, is not UTF-8, or (a .json page) is not valid JSON
// once its placeholders are filled. Other files in dir are ignored.
func LoadErrorPages(dir string) (*ErrorPages, error) {
	if dir == "" {
		return &ErrorPages{}, nil
	}
	if _, err := os.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("reading error pages: %w", unwrapPath(err))
	}
	ep := &ErrorPages{custom: map[int]*[numFormats]page{}}
	for _, status := range pageStatuses {
		for _, pf := range pageFiles {
			f, name := pf.format, strconv.Itoa(status)+pf.ext
			body, ok, err := readPage(filepath.Join(dir, name), f)
			if err != nil {
				return nil, fmt.Errorf("error page %s: %w", name, err)
			}
			if !ok {
				continue
			}
			if ep.custom[status] == nil {
				ep.custom[status] = &[numFormats]page{}
			}
			ep.custom[status][f] = newPage(body)
		}
	}
	if len(ep.custom) == 0 {
		return nil, fmt.Errorf("%s holds no error page (expected any of 502.html, 503.html, 504.html, 502.json, 503.json, 504.json)", dir)
	}
	return ep, nil
}

// readPage reads one page file; ok is false when it does not exist.
func readPage(path string, f pageFormat) (body string, ok bool, err error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, unwrapPath(err)
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, MaxErrorPageBytes+1))
	switch {
	case err != nil:
		return "", false, unwrapPath(err)
	case len(b) > MaxErrorPageBytes:
		return "", false, fmt.Errorf("larger than %d bytes", MaxErrorPageBytes)
	case !utf8.Valid(b):
		return "", false, errors.New("not UTF-8")
	case f == formatJSON && !json.Valid(newPage(string(b)).render(f, "0123456789abcdef")):
		return "", false, errors.New("not valid JSON")
	}
	return string(b), true, nil
}

// unwrapPath drops the path and operation an fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// render returns the Content-Type and body of the response with status to
// a request whose Accept header is accept and whose id is id.
func (ep *ErrorPages) render(status int, accept, id string) (contentType string, body []byte) {
	f := formatText
	if isPageStatus(status) {
		f = negotiate(accept)
	}
	if ep != nil {
		if pages := ep.custom[status]; pages != nil && pages[f].parts != nil {
			return formatTypes[f], pages[f].render(f, id)
		}
	}
	return formatTypes[f], builtinPage(status, f).render(f, id)
}

// Custom lists the operator's pages in use, as file names ("502.html"),
// for the log at start and reload.
func (ep *ErrorPages) Custom() []string {
	var out []string
	if ep == nil {
		return out
	}
	for _, status := range pageStatuses {
		for _, pf := range pageFiles {
			if pages := ep.custom[status]; pages != nil && pages[pf.format].parts != nil {
				out = append(out, strconv.Itoa(status)+pf.ext)
			}
		}
	}
	return out
}

func isPageStatus(status int) bool {
	for _, s := range pageStatuses {
		if s == status {
			return true
		}
	}
	return false
}

// builtinPage is the page Sidecar sends when the operator has none: the
// status, a sentence that names no part of the system, and the request id.
func builtinPage(status int, f pageFormat) page {
	text := http.StatusText(status)
	switch f {
	case formatHTML:
		return newPage(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>` + strconv.Itoa(status) + " " + text + `</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto; padding: 0 1em">
<h1>` + strconv.Itoa(status) + " " + text + `</h1>
<p>` + builtinSentence(status) + `</p>
<p><small>Request id: ` + RequestIDPlaceholder + `</small></p>
</body></html>
`)
	case formatJSON:
		return newPage(`{"status":` + strconv.Itoa(status) + `,"error":"` + text + `","request_id":"` + RequestIDPlaceholder + `"}` + "\n")
	}
	return newPage(strconv.Itoa(status) + " " + text + "\n")
}

func builtinSentence(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return "The service is briefly unavailable. Please try again in a moment."
	case http.StatusGatewayTimeout:
		return "The application took too long to answer. Please try again."
	}
	return "The application could not complete this request. Please try again."
}
