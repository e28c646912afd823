/**
 * Sidecar's lock service (docs/locks.md): named locks shared by every server
 * of the pool, the cross-server <cflock>, each lease with a fencing number.
 * Mirrors class Locks of clients/php/Sidecar.php.
 *
 *     locks = new SidecarLocks("http://127.0.0.1:9091", lockToken);
 *     locks.withLock("shop/stock/sku-1", 10, 3, function(lease) {
 *         // ... lease.fence (a string) fences the writes; lease.extend() for long work
 *     });
 *
 * Errors (type; errorCode is the HTTP status, 0 when unreachable):
 * Sidecar.LockNotObtained (409 on acquire), Sidecar.LockUnavailable (503 or
 * unreachable: do not go on unlocked), Sidecar.LockLost (the lease ran out;
 * after the callback returned, its result discarded), Sidecar.LockError.
 */
component output="false" {

    /**
     * @url the lock service's base URL (lock_service.listen)
     * @token lock_service.token
     * @options timeout: seconds a call may take beyond its wait (default 5)
     */
    public any function init(required string url, required string token, struct options = {}) {
        variables.baseUrl = reReplace(arguments.url, "/+$", "");
        variables.token = arguments.token;
        variables.timeout = structKeyExists(arguments.options, "timeout") ? val(arguments.options["timeout"]) : 5;
        if (variables.token == "") {
            throw(type="Sidecar.Config", message="SidecarLocks: the lock service token is empty (SIDECAR_LOCK_SERVICE__TOKEN)");
        }
        return this;
    }

    /**
     * Takes the lock name, runs fn(lease), releases the lock, and returns
     * fn's result. ttl and wait are seconds (sent as whole milliseconds).
     * No background renewal: for work that may outlast ttl, call
     * lease.extend() between steps.
     * @name the lock name (A-Z a-z 0-9 . _ : / -)
     * @ttl seconds the lease lasts
     * @wait seconds to wait for another holder
     * @fn function(lease)
     */
    public any function withLock(required string name, required numeric ttl, required numeric wait, required any fn) {
        var res = call(arguments.name, "acquire", {"ttl": msOf(arguments.ttl), "wait": msOf(arguments.wait)}, arguments.wait);
        if (res["status"] != 200) {
            error(arguments.name, "acquire", res["status"], res["body"]);
        }
        var lease = new SidecarLease(this, arguments.name, arguments.ttl, res["body"]);
        var ok = false;
        var result = "";
        try {
            result = arguments.fn(lease);
            ok = true;
        } catch (any e) {
            rethrow;
        } finally {
            res = call(arguments.name, "release", {"token": lease.token}, 0);
            if (ok && res["status"] != 200) {
                error(arguments.name, "release", res["status"], res["body"]);
            }
        }
        if (isNull(result)) {
            return;
        }
        return result;
    }

    /**
     * POSTs a JSON body to /locks/{name}/{op}; returns {status, body}.
     * Status 0: the service was not reached. Internal to the lock components.
     * @name the lock name
     * @op acquire, extend or release
     * @params ttl/wait (ms) or token
     * @wait seconds the service may wait
     */
    public struct function call(required string name, required string op, required struct params, required numeric wait) {
        var httpResult = {};
        var path = "";
        for (var segment in listToArray(arguments.name, "/", true)) {
            path = listAppend(path, encodeForURL(segment), "/");
        }
        cfhttp(method="POST", url=variables.baseUrl & "/locks/" & path & "/" & arguments.op, result="httpResult",
            timeout=ceiling(arguments.wait + variables.timeout), throwOnError=false) {
            cfhttpparam(type="header", name="Authorization", value="Bearer " & variables.token);
            cfhttpparam(type="header", name="Content-Type", value="application/json");
            cfhttpparam(type="body", value=jsonBody(arguments.params));
        }
        var status = val(httpResult.statusCode);
        var body = {};
        if (status != 0 && isJSON(httpResult.fileContent)) {
            var parsed = deserializeJSON(httpResult.fileContent);
            if (isStruct(parsed)) {
                body = parsed;
            }
        }
        if (status == 0) {
            body = {"error": "lock service unreachable at " & variables.baseUrl};
        }
        return {"status": status, "body": body};
    }

    /**
     * Throws the error for a failed call (never with the lease token).
     * Internal to the lock components.
     * @name the lock name
     * @op the operation
     * @status the HTTP status
     * @body the decoded answer
     */
    public void function error(required string name, required string op, required numeric status, required struct body) {
        var msg = "Sidecar lock """ & arguments.name & """: " & arguments.op & " answered "
            & (arguments.status == 0 ? "nothing" : arguments.status)
            & (structKeyExists(arguments.body, "error") ? ": " & arguments.body["error"] : "");
        var type = "Sidecar.LockError";
        if (arguments.status == 409 && arguments.op == "acquire") {
            type = "Sidecar.LockNotObtained";
        } else if (arguments.status == 409) {
            type = "Sidecar.LockLost";
        } else if (arguments.status == 503 || arguments.status == 0) {
            type = "Sidecar.LockUnavailable";
        }
        throw(type=type, message=msg, errorCode=arguments.status);
    }

    /**
     * Whole milliseconds of a number of seconds.
     * @seconds the duration
     */
    private numeric function msOf(required numeric seconds) {
        return max(0, round(arguments.seconds * 1000));
    }

    /**
     * The JSON body of a lock call: token as a string (base32, nothing to
     * escape), ttl and wait as whole numbers of milliseconds.
     * @params the members
     */
    private string function jsonBody(required struct params) {
        var members = [];
        for (var key in arguments.params) {
            if (compare(lCase(key), "token") == 0) {
                arrayAppend(members, '"token":"' & arguments.params[key] & '"');
            } else {
                arrayAppend(members, '"' & lCase(key) & '":' & toString(javacast("long", arguments.params[key])));
            }
        }
        return "{" & arrayToList(members, ",") & "}";
    }
}
