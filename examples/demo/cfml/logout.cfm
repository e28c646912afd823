<cfscript>
// POST: log out. destroy() asks Sidecar to delete the session and expire
// the cookie, on every app server at once.
if (cgi.request_method == "POST") {
    request.sidecar.destroy();
}
application.shop.seeOther(request.sidecar, "index.cfm");
</cfscript>
