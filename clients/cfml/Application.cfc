/**
 * Example Application.cfc for an app behind Sidecar (Lucee 5/6, Adobe
 * ColdFusion 2021+). Copy Sidecar.cfc, SidecarSession.cfc, SidecarLocks.cfc
 * and SidecarLease.cfc next to it (or into a mapped folder and adjust the
 * component paths). Pages then use request.sidecar:
 *
 *     cart = request.sidecar.get("cart", structNew("ordered"));
 *     request.sidecar.merge("cart", {"sku-1": 1});    // this item only
 *     request.sidecar.set("user", {"login": "ann"});  // the whole value
 */
component output="false" {

    this.name = "sidecar-example";
    // Sidecar owns the session (the cookie, the store, timeouts, regenerate,
    // logout), so the engine's own must be off: otherwise every server of the
    // pool keeps a private SESSION scope and sets its own CFID/CFTOKEN or
    // JSESSIONID cookie, which is exactly the sticky-session state Sidecar
    // replaces. request.sidecar is the session instead of the SESSION scope.
    this.sessionManagement = false;
    this.setClientCookies = false;
    this.clientManagement = false;

    /**
     * One verifier per application: it holds the options and the JWKS cache.
     * The secret comes from the environment variable SIDECAR_HEADERS__SECRET.
     */
    public boolean function onApplicationStart() {
        application.sidecar = createObject("component", "Sidecar").fromEnv();
        return true;
    }

    /**
     * Reads and verifies X-Sidecar-Session into request.sidecar. A request
     * without a valid header did not come through Sidecar (or was forged):
     * answer 500 and log the reason, never the token.
     */
    public boolean function onRequestStart() {
        try {
            request.sidecar = application.sidecar.start();
        } catch (any e) {
            if (e.type != "Sidecar.InvalidSession") {
                rethrow;
            }
            writeLog(type="error", file="sidecar", text="X-Sidecar-Session refused: " & e.errorCode);
            cfheader(statusCode=500, statusText="Session header invalid");
            writeOutput("Internal Server Error");
            abort;
        }
        return true;
    }

    /**
     * Sends the session's writes as response headers. The page's output is
     * still in the engine's buffer here, so headers can be set; a cfflush (or
     * more output than the buffer holds) commits the response first, and then
     * flush() throws Sidecar.HeadersSent. Pages that cfflush, cflocation or
     * cfabort call request.sidecar.flush() themselves first.
     */
    public void function onRequestEnd() {
        if (structKeyExists(request, "sidecar")) {
            request.sidecar.flush();
        }
    }
}
