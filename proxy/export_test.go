package proxy

// RenderErrorPage exposes ErrorPages.render to the external tests: the
// body of the page for status, Accept header accept and request id.
func RenderErrorPage(ep *ErrorPages, status int, accept, id string) string {
	_, body := ep.render(status, accept, id)
	return string(body)
}
