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
		name := r.PathValue("name")
		st, err := h.pool.SetDraining(name, on)
		if err != nil {
			writeErr(w, err)
			return
		}
		h.log.Info().Str("upstream", name).Bool("draining", on).Str("state", st.State).
			Str("remote_addr", r.RemoteAddr).Msg("admin API: drain state set")
		writeJSON(w, http.StatusOK, st)
	}
}
