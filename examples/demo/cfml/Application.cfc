/**
 * The demo shop in CFML (Lucee 5/6, Adobe ColdFusion 2021+): the twin of
 * examples/demo/php, page for page. index.cfm lists the products,
 * login.cfm logs in, cart.cfm shows and changes the cart, logout.cfm logs
 * out. Every page reads and writes the session through the CFML kit
 * (clients/cfml/Sidecar.cfc) as request.sidecar.
 *
 * Serve this folder from the servlet container's web root (or a virtual
 * directory) on two app servers behind Sidecar, with the environment
 * variables SIDECAR_HEADERS__SECRET (Sidecar's headers.secret) and
 * DEMO_SERVER_NAME (app1, app2). No CFML engine runs in this repository:
 * CFLint parses and lints these files.
 */
component output="false" {

    this.name = "sidecar-demo-shop";
    // Sidecar owns the session: the engine's own would set CFID/CFTOKEN or
    // JSESSIONID cookies and keep a per-server SESSION scope.
    this.sessionManagement = false;
    this.setClientCookies = false;
    this.clientManagement = false;
    // The kit, by relative path from this folder.
    this.mappings["/sidecarkit"] = getDirectoryFromPath(getCurrentTemplatePath()) & "../../../clients/cfml/";

    /**
     * One verifier (it holds the options and the JWKS cache) and the shop.
     */
    public boolean function onApplicationStart() {
        var here = getDirectoryFromPath(getCurrentTemplatePath());
        application.sidecar = createObject("component", "sidecarkit.Sidecar").fromEnv();
        application.shop = new Shop(here & "../shop.json");
        return true;
    }

    /**
     * Verifies X-Sidecar-Session into request.sidecar; a request that did not
     * come through Sidecar gets 500 (the reason is logged, never the token).
     * @targetPage the requested page
     */
    public boolean function onRequestStart(required string targetPage) {
        try {
            request.sidecar = application.sidecar.start();
        } catch (any e) {
            if (e.type != "Sidecar.InvalidSession") {
                rethrow;
            }
            writeLog(type="error", file="sidecar", text="X-Sidecar-Session refused: " & e.errorCode);
            cfheader(statusCode=500, statusText="Session header invalid");
            writeOutput("This page must be reached through Sidecar.");
            abort;
        }
        return true;
    }

    /**
     * Sends the session's writes, while the page is still in the buffer.
     * @targetPage the requested page
     */
    public void function onRequestEnd(required string targetPage) {
        if (structKeyExists(request, "sidecar")) {
            request.sidecar.flush();
        }
    }
}
