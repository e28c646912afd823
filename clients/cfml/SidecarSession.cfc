/**
 * The session of one request (Sidecar.cfc's read/start return it): the
 * verified claims, and the request's writes, sent back to Sidecar as
 * response headers by flush(). Mirrors class Session of
 * clients/php/Sidecar.php function for function.
 *
 * set("user", value) replaces the attribute; merge("cart", delta) merges a
 * struct into it (RFC 7396), so concurrent requests that change different
 * members keep each other's changes. A member set to deleted() (or to null,
 * where the engine has null support) deletes that member in merge():
 *     request.sidecar.merge("cart", {"sku-1": request.sidecar.deleted()});
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
    // The one key of deleted(), the kit's JSON null.
    variables.DELETE_KEY = "__sidecar_delete__";

    /**
     * @claims the verified payload
     * @anonymous a session of a request that did not come through Sidecar: writes throw
     */
    public any function init(required struct claims, boolean anonymous = false) {
        variables["instance"] = {
            "claims": arguments.claims,
            "anonymous": arguments.anonymous,
            "writes": structNew("ordered"),
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
     * apply them. {} after destroy().
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
        for (var name in st["writes"]) {
            var value = current(name);
            if (isDeleted(value)) {
                structDelete(data, name);
            } else {
                data[name] = value;
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
     * Sets a top-level attribute to exactly value: it replaces what is
     * stored (a struct value is sent after a patch that deletes the
     * attribute). A value cannot hold null (or deleted()) as a struct
     * member: Sidecar's merge would drop it; use merge() to delete members.
     * Throws Sidecar.Usage on such a member.
     * @name the attribute (case kept)
     * @value the value (quoted keys or ordered structs)
     */
    public void function set(required string name, required any value) {
        var st = variables["instance"];
        checkWritable(arguments.name);
        var v = jsonValue(arguments.value);
        if (hasNullMember(v)) {
            throw(type="Sidecar.Usage", message="Sidecar: set(""" & arguments.name & """): the value holds null as a "
                & "struct member, which Sidecar cannot store: leave the member out, or use merge() to delete it");
        }
        if (st["action"] != "destroy") {
            st["writes"][arguments.name] = {"merge": false, "value": v};
        }
    }

    /**
     * Merges delta into the attribute as RFC 7396 says: its members replace
     * the stored struct's, a member set to deleted() (or null) deletes that
     * member, struct members merge in turn (an absent or non-struct
     * attribute counts as {}). Throws Sidecar.Usage when delta is not a
     * struct.
     * @name the attribute (case kept)
     * @delta a struct (quoted keys or ordered)
     */
    public void function merge(required string name, required any delta) {
        var st = variables["instance"];
        checkWritable(arguments.name);
        if (!isJsonObject(arguments.delta)) {
            throw(type="Sidecar.Usage", message="Sidecar: merge(""" & arguments.name & """) needs a struct");
        }
        var d = jsonValue(arguments.delta);
        if (st["action"] != "destroy") {
            st["writes"][arguments.name] = merged(arguments.name, d);
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
            st["writes"][arguments.name] = {"merge": false, "value": deleted()};
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
        st["writes"] = structNew("ordered");
        st["principal"] = "";
        st["principalSet"] = false;
    }

    /**
     * The response headers for this request's writes, in order: Patch
     * (twice when set() gave an attribute a struct: first a patch that
     * deletes those attributes), Principal, Action: an array of [name,
     * value]. The principal is the logical string (flush() re-encodes it).
     * Throws Sidecar.Usage "patch too large" past MAX_PATCH_BYTES.
     */
    public array function headers() {
        var st = variables["instance"];
        if (st["action"] == "destroy") {
            return [["X-Sidecar-Action", "destroy"]];
        }
        var cleared = structNew("ordered");
        var patch = structNew("ordered");
        for (var name in st["writes"]) {
            var w = st["writes"][name];
            if (!w["merge"] && isJsonObject(w["value"])) {
                cleared[name] = deleted();
            }
            patch[name] = w["value"];
        }
        var out = [];
        if (!structIsEmpty(cleared)) {
            arrayAppend(out, patchHeader(cleared));
        }
        if (!structIsEmpty(patch)) {
            arrayAppend(out, patchHeader(patch));
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
     * Puts headers() on the response now, replacing what an earlier flush
     * put there: the first value of each header with
     * HttpServletResponse.setHeader (which drops earlier values), the
     * second X-Sidecar-Patch with addHeader, so both go out in order. Call
     * it in onRequestEnd and before cflocation, cfabort or cfflush. The
     * principal goes out as its UTF-8 bytes re-read as ISO-8859-1, because
     * the servlet container writes header strings as ISO-8859-1. Throws
     * Sidecar.HeadersSent when the response is already committed.
     */
    public void function flush() {
        var response = getPageContext().getResponse();
        if (response.isCommitted()) {
            headersSentError();
        }
        var added = {};
        for (var pair in headers()) {
            var value = pair[2];
            if (pair[1] == "X-Sidecar-Principal") {
                value = charsetEncode(charsetDecode(value, "utf-8"), "iso-8859-1");
            }
            if (structKeyExists(added, pair[1])) {
                response.addHeader(pair[1], value);
            } else {
                response.setHeader(pair[1], value);
                added[pair[1]] = true;
            }
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
     * The attribute as this request reads it (deleted(): absent).
     * @name the attribute
     */
    private any function current(required string name) {
        var st = variables["instance"];
        var payload = st["claims"];
        var stored = deleted();
        if (structKeyExists(payload, "data") && isStruct(payload["data"]) && structKeyExists(payload["data"], arguments.name)
                && !isNull(payload["data"][arguments.name])) {
            stored = payload["data"][arguments.name];
        }
        if (!structKeyExists(st["writes"], arguments.name)) {
            return stored;
        }
        var w = st["writes"][arguments.name];
        if (w["merge"]) {
            return mergePatch(stored, w["value"]);
        }
        return w["value"];
    }

    /**
     * What name holds after merge(name, delta): the deltas composed, while
     * that is exact; else the merged value, which then replaces the
     * attribute. A struct {merge, value}.
     * @name the attribute
     * @delta the new delta (kit form)
     */
    private struct function merged(required string name, required struct delta) {
        var st = variables["instance"];
        if (!structKeyExists(st["writes"], arguments.name)) {
            return {"merge": true, "value": arguments.delta};
        }
        var w = st["writes"][arguments.name];
        if (w["merge"]) {
            var composed = compose(w["value"], arguments.delta);
            if (!isDeleted(composed)) {
                return {"merge": true, "value": composed};
            }
        }
        return {"merge": false, "value": mergePatch(current(arguments.name), arguments.delta)};
    }

    /**
     * One X-Sidecar-Patch header of these members: [name, value]. Throws
     * Sidecar.Usage "patch too large" past MAX_PATCH_BYTES.
     * @members name => value, in order
     */
    private array function patchHeader(required struct members) {
        var json = encodePatch(arguments.members);
        if (len(json) > variables.MAX_PATCH_BYTES) {
            throw(type="Sidecar.Usage", message="Sidecar: patch too large (" & len(json) & " bytes, at most "
                & variables.MAX_PATCH_BYTES & "): keep big data out of the session");
        }
        return ["X-Sidecar-Patch", json];
    }

    /**
     * Encodes the top-level patch: always a JSON object, ASCII only.
     * @patch name => value, in first-touch order
     */
    private string function encodePatch(required struct patch) {
        var members = [];
        for (var name in arguments.patch) {
            arrayAppend(members, encodeString(name) & ":" & encodeJson(arguments.patch[name]));
        }
        return "{" & arrayToList(members, ",") & "}";
    }

    /**
     * One JSON value, ASCII only, with the number and boolean types CFML
     * gives it (serializeJSON would upper-case keys and guess types).
     * @value the value
     */
    private string function encodeJson(any value) {
        if (isNull(arguments.value) || isDeleted(arguments.value)) {
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
     * A copy of value in the kit's form: null struct members (and a null
     * value) as deleted(), structs ordered; arrays are copied as they are.
     * @value the value
     */
    private any function jsonValue(any value) {
        if (isNull(arguments.value)) {
            return deleted();
        }
        var v = arguments.value;
        if (isJsonObject(v)) {
            var out = structNew("ordered");
            for (var key in v) {
                out[key] = isNull(v[key]) ? deleted() : jsonValue(v[key]);
            }
            return out;
        }
        if (isArray(v)) {
            return duplicate(v);
        }
        return v;
    }

    /**
     * RFC 7396: patch merged into target (into {} when target is not a
     * struct); neither is changed.
     * @target the current value (deleted(): absent)
     * @patch the delta
     */
    private struct function mergePatch(required any target, required struct patch) {
        var out = structNew("ordered");
        if (isJsonObject(arguments.target)) {
            structAppend(out, arguments.target);
        }
        for (var key in arguments.patch) {
            var v = arguments.patch[key];
            if (isDeleted(v)) {
                structDelete(out, key);
            } else if (isJsonObject(v)) {
                out[key] = mergePatch(structKeyExists(out, key) ? out[key] : deleted(), v);
            } else {
                out[key] = v;
            }
        }
        return out;
    }

    /**
     * The one delta that merges as a then b do (members of b replace those
     * of a in place, new ones go last, structs in both compose), or
     * deleted() when there is none: a member of a is deleted() or not a
     * struct and b's is a struct.
     * @a the earlier delta
     * @b the later delta
     */
    private struct function compose(required struct a, required struct b) {
        var out = structNew("ordered");
        structAppend(out, arguments.a);
        for (var key in arguments.b) {
            var v = arguments.b[key];
            if (structKeyExists(out, key) && isJsonObject(v)) {
                if (!isJsonObject(out[key])) {
                    return deleted();
                }
                v = compose(out[key], v);
                if (isDeleted(v)) {
                    return deleted();
                }
            }
            out[key] = v;
        }
        return out;
    }

    /**
     * Whether a value (kit form) holds deleted() as a struct member, at any
     * depth of structs (arrays do not count).
     * @value the value
     */
    private boolean function hasNullMember(required any value) {
        if (!isJsonObject(arguments.value)) {
            return false;
        }
        for (var key in arguments.value) {
            if (isDeleted(arguments.value[key]) || hasNullMember(arguments.value[key])) {
                return true;
            }
        }
        return false;
    }

    /**
     * The kit's JSON null, for engines without null support: a struct with
     * the one reserved key "__sidecar_delete__" (do not store such a
     * struct otherwise). merge("cart", {"sku-1": request.sidecar.deleted()})
     * deletes sku-1 from the cart.
     */
    public struct function deleted() {
        var marker = structNew("ordered");
        marker[variables.DELETE_KEY] = true;
        return marker;
    }

    /**
     * Whether value is deleted().
     * @value the value
     */
    private boolean function isDeleted(any value) {
        return !isNull(arguments.value) && isStruct(arguments.value) && !isObject(arguments.value)
            && structCount(arguments.value) == 1 && structKeyExists(arguments.value, variables.DELETE_KEY);
    }

    /**
     * Whether value is a JSON object: a struct (not a component, not deleted()).
     * @value the value
     */
    private boolean function isJsonObject(any value) {
        return !isNull(arguments.value) && isStruct(arguments.value) && !isObject(arguments.value) && !isDeleted(arguments.value);
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
