/**
 * The session of one request (Sidecar.cfc's read/start return it): the
 * verified claims, and the request's writes, sent back to Sidecar as
 * response headers by flush(). Mirrors class Session of
 * clients/php/Sidecar.php function for function.
 *
 * Keys keep their case: always write request.sidecar.set("cart", cart)
 * (a quoted name), never request.sidecar.cart = ..., and build values with
 * quoted keys ({"sku-1": 2}) or structNew("ordered"). CFML structs ignore
 * case when looking keys up, so two names that differ only in case are one
 * name here.
 */
component output="false" {

    variables.MAX_PATCH_BYTES = 6144;
    variables.HEADER_NAMES = ["X-Sidecar-Patch", "X-Sidecar-Principal", "X-Sidecar-Action"];

    /**
     * @claims the verified payload
     * @anonymous a session of a request that did not come through Sidecar: writes throw
     */
    public any function init(required struct claims, boolean anonymous = false) {
        variables["instance"] = {
            "claims": arguments.claims,
            "anonymous": arguments.anonymous,
            "patch": structNew("ordered"),
            "principal": "",
            "principalSet": false,
            "action": "",
            "attached": false
        };
        return this;
    }

    /**
     * The attribute name (with this request's writes), or defaultValue.
     * @name the attribute
     * @defaultValue returned when it is absent
     */
    public any function get(required string name, any defaultValue = "") {
        var data = all();
        if (structKeyExists(data, arguments.name) && !isNull(data[arguments.name])) {
            return data[arguments.name];
        }
        return arguments.defaultValue;
    }

    /**
     * The session's data with this request's writes applied as Sidecar will
     * apply them (RFC 7396: a struct value merges into a stored object).
     * {} after destroy().
     */
    public struct function all() {
        var st = variables["instance"];
        if (st["action"] == "destroy") {
            return structNew("ordered");
        }
        var payload = st["claims"];
        var data = structNew("ordered");
        if (structKeyExists(payload, "data") && isStruct(payload["data"])) {
            structAppend(data, payload["data"]);
        }
        var patch = st["patch"];
        for (var name in patch) {
            if (patch[name]["remove"]) {
                structDelete(data, name);
            } else {
                data[name] = mergeValue(structKeyExists(data, name) ? data[name] : "", patch[name]["value"]);
            }
        }
        return data;
    }

    /**
     * The principal (claim sub, or as set by setPrincipal), "" when none.
     */
    public string function principal() {
        var st = variables["instance"];
        if (st["action"] == "destroy") {
            return "";
        }
        if (st["principalSet"]) {
            return st["principal"];
        }
        var payload = st["claims"];
        return structKeyExists(payload, "sub") && isSimpleValue(payload["sub"]) ? payload["sub"] : "";
    }

    /**
     * Whether the request came without a live session (claim new).
     */
    public boolean function isNew() {
        var st = variables["instance"];
        var payload = st["claims"];
        return structKeyExists(payload, "new") && isBoolean(payload["new"]) && payload["new"];
    }

    /**
     * The session's public handle (claim sid), "" without a session.
     */
    public string function sid() {
        var st = variables["instance"];
        var payload = st["claims"];
        return structKeyExists(payload, "sid") ? payload["sid"] : "";
    }

    /**
     * The session version (claim ver), 0 without a session.
     */
    public numeric function version() {
        var st = variables["instance"];
        var payload = st["claims"];
        return structKeyExists(payload, "ver") ? val(payload["ver"]) : 0;
    }

    /**
     * The verified payload.
     */
    public struct function claims() {
        var st = variables["instance"];
        return st["claims"];
    }

    /**
     * Sets a top-level attribute. A struct value merges into a stored object
     * per RFC 7396; other values replace.
     * @name the attribute (case kept)
     * @value the value (quoted keys or ordered structs)
     */
    public void function set(required string name, required any value) {
        var st = variables["instance"];
        checkWritable(arguments.name);
        if (st["action"] != "destroy") {
            st["patch"][arguments.name] = {"remove": false, "value": arguments.value};
        }
    }

    /**
     * Deletes a top-level attribute.
     * @name the attribute
     */
    public void function remove(required string name) {
        var st = variables["instance"];
        checkWritable(arguments.name);
        if (st["action"] != "destroy") {
            st["patch"][arguments.name] = {"remove": true, "value": ""};
        }
    }

    /**
     * Sets the principal (the logged-in user); "" clears it. Throws
     * Sidecar.Usage on control characters.
     * @principal the principal
     */
    public void function setPrincipal(required string principal) {
        var st = variables["instance"];
        checkWritable("principal");
        if (reFind("[\x00-\x1f\x7f]", arguments.principal) > 0) {
            throw(type="Sidecar.Usage", message="Sidecar: the principal must not contain control characters");
        }
        if (st["action"] != "destroy") {
            st["principal"] = arguments.principal;
            st["principalSet"] = true;
        }
    }

    /**
     * Asks Sidecar for a new session token, same data (after login).
     */
    public void function regenerate() {
        var st = variables["instance"];
        checkWritable("regenerate");
        if (st["action"] != "destroy") {
            st["action"] = "regenerate";
        }
    }

    /**
     * Asks Sidecar to delete the session (logout). It drops this request's
     * other writes; later writes in this request are ignored.
     */
    public void function destroy() {
        var st = variables["instance"];
        checkWritable("destroy");
        st["action"] = "destroy";
        st["patch"] = structNew("ordered");
        st["principal"] = "";
        st["principalSet"] = false;
    }

    /**
     * The response headers for this request's writes, in order: Patch,
     * Principal, Action: an array of [name, value]. The principal is the
     * logical string (flush() re-encodes it). Throws Sidecar.Usage "patch
     * too large" past MAX_PATCH_BYTES.
     */
    public array function headers() {
        var st = variables["instance"];
        if (st["action"] == "destroy") {
            return [["X-Sidecar-Action", "destroy"]];
        }
        var out = [];
        if (!structIsEmpty(st["patch"])) {
            var json = encodePatch(st["patch"]);
            if (len(json) > variables.MAX_PATCH_BYTES) {
                throw(type="Sidecar.Usage", message="Sidecar: patch too large (" & len(json) & " bytes, at most "
                    & variables.MAX_PATCH_BYTES & "): keep big data out of the session");
            }
            arrayAppend(out, ["X-Sidecar-Patch", json]);
        }
        if (st["principalSet"]) {
            arrayAppend(out, ["X-Sidecar-Principal", st["principal"]]);
        }
        if (st["action"] != "") {
            arrayAppend(out, ["X-Sidecar-Action", st["action"]]);
        }
        return out;
    }

    /**
     * Sets headers() on the response now, replacing what an earlier flush
     * set (HttpServletResponse.setHeader). Call it in onRequestEnd and before
     * cflocation, cfabort or cfflush. The principal goes out as its UTF-8
     * bytes re-read as ISO-8859-1, because the servlet container writes
     * header strings as ISO-8859-1. Throws Sidecar.HeadersSent when the
     * response is already committed.
     */
    public void function flush() {
        var response = getPageContext().getResponse();
        if (response.isCommitted()) {
            headersSentError();
        }
        for (var pair in headers()) {
            var value = pair[2];
            if (pair[1] == "X-Sidecar-Principal") {
                value = charsetEncode(charsetDecode(value, "utf-8"), "iso-8859-1");
            }
            response.setHeader(pair[1], value);
        }
    }

    /**
     * Marks the session as this request's (Sidecar.start): writes then check
     * that the response is not committed.
     */
    public void function attach() {
        var st = variables["instance"];
        st["attached"] = true;
    }

    /**
     * Encodes the top-level patch: always a JSON object, ASCII only.
     * @patch name => {remove, value}, in first-touch order
     */
    private string function encodePatch(required struct patch) {
        var members = [];
        for (var name in arguments.patch) {
            var entry = arguments.patch[name];
            arrayAppend(members, encodeString(name) & ":" & (entry["remove"] ? "null" : encodeJson(entry["value"])));
        }
        return "{" & arrayToList(members, ",") & "}";
    }

    /**
     * One JSON value, ASCII only, with the number and boolean types CFML
     * gives it (serializeJSON would upper-case keys and guess types).
     * @value the value
     */
    private string function encodeJson(any value) {
        if (isNull(arguments.value)) {
            return "null";
        }
        var v = arguments.value;
        if (isStruct(v) && !isObject(v)) {
            var members = [];
            for (var key in v) {
                arrayAppend(members, encodeString(key) & ":" & (isNull(v[key]) ? "null" : encodeJson(v[key])));
            }
            return "{" & arrayToList(members, ",") & "}";
        }
        if (isArray(v)) {
            var items = [];
            for (var i = 1; i <= arrayLen(v); i++) {
                arrayAppend(items, arrayIsDefined(v, i) ? encodeJson(v[i]) : "null");
            }
            return "[" & arrayToList(items, ",") & "]";
        }
        if (!isSimpleValue(v)) {
            throw(type="Sidecar.Usage", message="Sidecar: session value not encodable as JSON");
        }
        var cls = v.getClass().getName();
        if (cls == "java.lang.Boolean") {
            return v ? "true" : "false";
        }
        if (listFind("java.lang.Integer,java.lang.Long,java.lang.Short,java.lang.Byte,java.math.BigInteger", cls)) {
            return toString(v);
        }
        if (listFind("java.lang.Double,java.lang.Float,java.math.BigDecimal", cls)) {
            return encodeNumber(v);
        }
        return encodeString(toString(v));
    }

    /**
     * A CFML number as JSON: whole numbers without a fraction.
     * @num the number
     */
    private string function encodeNumber(required numeric num) {
        if (arguments.num == int(arguments.num) && abs(arguments.num) < 1000000000000000) {
            return toString(javacast("long", arguments.num));
        }
        return toString(javacast("double", arguments.num));
    }

    /**
     * A JSON string: escapes " \ and \b \f \n \r \t, every other code unit
     * below 0x20 and above 0x7e as \u + four lower-case hex digits (so a
     * character above U+FFFF becomes its UTF-16 surrogate pair).
     * @text the string
     */
    private string function encodeString(required string text) {
        var out = createObject("java", "java.lang.StringBuilder").init('"');
        var short = {"34": '\"', "92": "\\", "8": "\b", "12": "\f", "10": "\n", "13": "\r", "9": "\t"};
        for (var i = 1; i <= len(arguments.text); i++) {
            var code = asc(mid(arguments.text, i, 1));
            if (structKeyExists(short, code)) {
                out.append(short[code]);
            } else if (code < 32 || code > 126) {
                out.append("\u" & right("000" & lCase(formatBaseN(code, 16)), 4));
            } else {
                out.append(chr(code));
            }
        }
        return out.append('"').toString();
    }

    /**
     * RFC 7396: applies patch to target (one attribute's value).
     * @target the stored value
     * @patch the written value
     */
    private any function mergeValue(required any target, required any patch) {
        if (!isStruct(arguments.patch)) {
            return arguments.patch;
        }
        var out = structNew("ordered");
        if (isStruct(arguments.target)) {
            structAppend(out, arguments.target);
        }
        for (var key in arguments.patch) {
            if (isNull(arguments.patch[key])) {
                structDelete(out, key);
            } else {
                out[key] = mergeValue(structKeyExists(out, key) ? out[key] : "", arguments.patch[key]);
            }
        }
        return out;
    }

    /**
     * Rejects a write that Sidecar could never see: an empty name, a session
     * of a request that did not come through Sidecar, or a write after the
     * response was committed.
     * @name the attribute name
     */
    private void function checkWritable(required string name) {
        var st = variables["instance"];
        if (arguments.name == "") {
            throw(type="Sidecar.Usage", message="Sidecar: an attribute name must not be empty");
        }
        if (st["anonymous"]) {
            throw(type="Sidecar.Usage", message="Sidecar: this request did not come through Sidecar "
                & "(no X-Sidecar-Session): session writes would be lost");
        }
        if (st["attached"] && getPageContext().getResponse().isCommitted()) {
            headersSentError();
        }
    }

    /**
     * Throws Sidecar.HeadersSent.
     */
    private void function headersSentError() {
        throw(type="Sidecar.HeadersSent", message="Sidecar: session write after the response was committed "
            & "(cfflush, or more output than the buffer holds); Sidecar would never see it. "
            & "Write the session before any cfflush, and call request.sidecar.flush() before it");
    }
}
