<cfscript>
// GET: the login form. POST: check the password, then write the session:
// the principal, the user (quoted keys: their case is kept), and a new
// cookie (regenerate), so that a session id planted before the login is
// worth nothing after it.
variables.shop = application.shop;
variables.sess = request.sidecar;
if (cgi.request_method != "POST") {
    writeOutput(variables.shop.page(variables.sess, "Log in", variables.shop.loginHtml("")));
} else if (variables.shop.isReplaced(variables.sess)) {
    variables.shop.seeOther(variables.sess, "login.cfm");
} else {
    variables.user = variables.shop.findUser(
        structKeyExists(form, "user") ? form.user : "",
        structKeyExists(form, "password") ? form.password : "");
    if (structIsEmpty(variables.user)) {
        cfheader(statusCode=401, statusText="Unauthorized");
        writeOutput(variables.shop.page(variables.sess, "Log in", variables.shop.loginHtml("Wrong user name or password.")));
    } else {
        variables.sess.setPrincipal(variables.user["login"]);
        variables.sess.set("user", {"login": variables.user["login"], "name": variables.user["name"]});
        variables.sess.regenerate();
        variables.shop.seeOther(variables.sess, "index.cfm");
    }
}
</cfscript>
