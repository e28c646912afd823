package admin

import (
	"net/http"

	"github.com/sidecarproxy/sidecar/lockservice"
)

// lockStats answers GET /locks/stats with the same body as the lock
// service's GET /locks/stats.
func (h *Handler) lockStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, lockservice.StatsOf(h.locker))
}
