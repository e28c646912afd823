package admin

import (
	"net/http"

	"github.com/sidecarproxy/sidecar/proxy"
)

// UpstreamList is the body of GET /upstreams.
type UpstreamList struct {
	Upstreams []proxy.State `json:"upstreams"`
}

// listUpstreams answers GET /upstreams.
func (h *Handler) listUpstreams(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, UpstreamList{Upstreams: h.pool.States()})
}

// drain returns the handler of POST /upstreams/{name}/drain (on) or
// /undrain (off), which answers with the upstream's new State.
func (h *Handler) drain(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := h.setDraining(r, r.PathValue("name"), on)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}
}

// setDraining drains (on) or undrains the upstream name for r, from the
// API or the status page, and logs the change with r's address.
func (h *Handler) setDraining(r *http.Request, name string, on bool) (proxy.State, error) {
	st, err := h.pool.SetDraining(name, on)
	if err != nil {
		return st, err
	}
	h.log.Info().Str("upstream", name).Bool("draining", on).Str("state", st.State).
		Str("remote_addr", r.RemoteAddr).Msg("admin API: drain state set")
	return st, nil
}

// probe answers POST /upstreams/{name}/probe with one probe's
// proxy.ProbeResult: 200 whether it passed or failed, 404 for an unknown
// name. POST because it does network I/O and is never to be cached. The
// probe is bounded by the health check timeout and by the request.
func (h *Handler) probe(w http.ResponseWriter, r *http.Request) {
	res, err := h.pool.Probe(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
