/**
 * Sidecar app kit for CFML (Lucee 5/6, Adobe ColdFusion 2021+): verifies the
 * X-Sidecar-Session header Sidecar puts on every request (HS256 with the
 * shared secret, or ES256 with the JWKS document), and hands out the
 * request's session (SidecarSession.cfc). No JWT library: HMAC-SHA256 is the
 * built-in hmac(), ES256 is java.security.Signature. EdDSA is not supported:
 * ColdFusion 2021 runs on Java 11, which has no Ed25519, so Ed25519 JWKs are
 * ignored and EdDSA tokens fail with reason "algorithm" (use HS256 or ES256).
 *
 * Keep one instance in the application scope (see Application.cfc):
 *     application.sidecar = createObject("component", "Sidecar").fromEnv();
 *     request.sidecar = application.sidecar.start();   // in onRequestStart
 *
 * This file mirrors clients/php/Sidecar.php function for function (same
 * public names in the same order, same order of checks); the PHP suite's
 * drift guard (clients/php/tests/mirror.php) checks it. Errors: type
 * "Sidecar.InvalidSession" with errorCode = the reason (missing, malformed,
 * algorithm, unknown_kid, signature, missing_claim, issuer, audience,
 * expired, issued_in_future).
 */
component output="false" {

    variables.REASONS = ["missing", "malformed", "algorithm", "unknown_kid", "signature",
        "missing_claim", "issuer", "audience", "expired", "issued_in_future"];
    variables.MAX_TOKEN_BYTES = 65536;
    variables.FETCH_TIMEOUT = 2;
    // Seconds a request waits for another's unknown-kid refetch (cflock counts whole seconds).
    variables.CACHE_LOCK_WAIT = 3;
    // DER prefix of a P-256 SubjectPublicKeyInfo, before 04||x||y.
    variables.P256_SPKI_PREFIX = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

    /**
     * Options (a struct with quoted keys): secret (HS256 key, Sidecar's
     * headers.secret), jwks (a JWKS document, struct or JSON text), jwksUrl
     * (fetched with cfhttp, 2 s timeout), issuer ("sidecar"), audience
     * ("app"), leeway (5 seconds), clock (a function returning unix seconds),
     * jwksRefreshMin (5 s between refetches for an unknown kid), jwksTtl
     * (300 s), fetch (a function(url, timeout) returning the JWKS text; for
     * tests), allowMissing (false). At least one of secret, jwks, jwksUrl.
     * The JWKS cache lives in this instance (keep it in the application scope).
     * @options the options above
     */
    public any function init(required struct options) {
        var known = "secret,jwks,jwksUrl,issuer,audience,leeway,clock,jwksRefreshMin,jwksTtl,jwksCacheFile,fetch,allowMissing";
        var opts = arguments.options;
        for (var optionName in opts) {
            if (!listFindNoCase(known, optionName)) {
                throw(type="Sidecar.Config", message="Sidecar: unknown option """ & optionName & """");
            }
        }
        variables.secret = structKeyExists(opts, "secret") ? toString(opts["secret"]) : "";
        variables.jwksUrl = structKeyExists(opts, "jwksUrl") ? toString(opts["jwksUrl"]) : "";
        if (variables.secret == "" && !structKeyExists(opts, "jwks") && variables.jwksUrl == "") {
            throw(type="Sidecar.Config", message="Sidecar: give at least one of secret, jwks or jwksUrl");
        }
        variables.staticKeys = structKeyExists(opts, "jwks") ? parseJwks(opts["jwks"]) : [];
        variables.issuer = structKeyExists(opts, "issuer") ? toString(opts["issuer"]) : "sidecar";
        variables.audience = structKeyExists(opts, "audience") ? toString(opts["audience"]) : "app";
        variables.leeway = structKeyExists(opts, "leeway") ? val(opts["leeway"]) : 5;
        variables.clock = structKeyExists(opts, "clock") ? opts["clock"] : wallClock;
        variables.jwksRefreshMin = structKeyExists(opts, "jwksRefreshMin") ? val(opts["jwksRefreshMin"]) : 5;
        variables.jwksTtl = structKeyExists(opts, "jwksTtl") ? val(opts["jwksTtl"]) : 300;
        variables.fetch = structKeyExists(opts, "fetch") ? opts["fetch"] : httpGet;
        variables.allowMissing = structKeyExists(opts, "allowMissing") && isBoolean(opts["allowMissing"]) && opts["allowMissing"];
        variables.fetched = {};
        return this;
    }

    /**
     * Initialises this instance with the secret from the environment variable
     * SIDECAR_HEADERS__SECRET (the name Sidecar reads):
     *     application.sidecar = createObject("component", "Sidecar").fromEnv();
     * @options more options (see init)
     */
    public any function fromEnv(struct options = {}) {
        var name = "SIDECAR_HEADERS__SECRET";
        var opts = duplicate(arguments.options);
        var secretValue = createObject("java", "java.lang.System").getenv(name);
        if (isNull(secretValue)) {
            secretValue = "";
        }
        if (secretValue == "" && !structKeyExists(opts, "jwks") && !structKeyExists(opts, "jwksUrl")) {
            throw(type="Sidecar.Config", message="Sidecar: the environment variable " & name & " is empty. "
                & "Set it for the servlet container (setenv.sh, the service unit or the container), "
                & "the way php-fpm needs env[...] when clear_env is on");
        }
        if (secretValue != "") {
            opts["secret"] = secretValue;
        }
        return init(opts);
    }

    /**
     * Reads and verifies this request's X-Sidecar-Session header and marks
     * the session as this request's: its writes then check that the response
     * is not committed yet. Call it in onRequestStart, and call
     * request.sidecar.flush() in onRequestEnd (and before cflocation, cfabort
     * or cfflush). Throws Sidecar.InvalidSession.
     * @server request variables with HTTP_X_SIDECAR_SESSION (default: the servlet request)
     */
    public any function start(struct server) {
        var sess = isNull(arguments.server) ? read() : read(arguments.server);
        sess.attach();
        return sess;
    }

    /**
     * Reads and verifies the header; emit the writes yourself with headers()
     * or flush(). Throws Sidecar.InvalidSession.
     * @server request variables with HTTP_X_SIDECAR_SESSION (default: the servlet request)
     */
    public any function read(struct server) {
        var token = javacast("null", "");
        if (isNull(arguments.server)) {
            token = getPageContext().getRequest().getHeader("X-Sidecar-Session");
        } else if (structKeyExists(arguments.server, "HTTP_X_SIDECAR_SESSION")) {
            token = toString(arguments.server["HTTP_X_SIDECAR_SESSION"]);
        }
        if (isNull(token) && variables.allowMissing) {
            return new SidecarSession({"new": true, "sid": "", "ver": 0, "data": {}}, true);
        }
        if (isNull(token)) {
            return new SidecarSession(verify());
        }
        return new SidecarSession(verify(token));
    }

    /**
     * Verifies a compact JWS and returns its payload (a struct, keys in their
     * case). Throws Sidecar.InvalidSession with the reason of the first
     * failed check as errorCode.
     * @token the compact JWS; missing gives reason "missing"
     */
    public struct function verify(string token) {
        if (isNull(arguments.token)) {
            invalidSession("missing");
        }
        var tok = arguments.token;
        // 1. malformed
        if (len(tok) > variables.MAX_TOKEN_BYTES) {
            invalidSession("malformed", "longer than " & variables.MAX_TOKEN_BYTES & " bytes");
        }
        var parts = listToArray(tok, ".", true);
        if (arrayLen(parts) != 3) {
            invalidSession("malformed", "not three parts");
        }
        for (var part in parts) {
            if (!isBase64Url(part)) {
                invalidSession("malformed", "not base64url");
            }
        }
        var header = decodeObject(parts[1]);
        var claims = decodeObject(parts[2]);
        if (isNull(header) || isNull(claims)) {
            invalidSession("malformed", "not a JSON object");
        }
        if (structKeyExists(header, "crit")) {
            invalidSession("malformed", "crit header");
        }
        if (!structKeyExists(header, "alg") || !isJsonString(header["alg"])) {
            invalidSession("malformed", "alg is not a string");
        }
        var alg = header["alg"];
        // 2. algorithm
        if (!allowsAlgorithm(alg)) {
            invalidSession("algorithm", "alg not allowed");
        }
        // 3. unknown_kid
        var key = {};
        if (compare(alg, "HS256") != 0) {
            key = findKey(alg, structKeyExists(header, "kid") ? header["kid"] : 0);
        }
        // 4. signature
        var input = parts[1] & "." & parts[2];
        var sig = base64UrlDecode(parts[3]);
        if (!checkSignature(alg, key, input, sig)) {
            invalidSession("signature");
        }
        checkClaims(claims);
        return claims;
    }

    /**
     * Checks the claims, steps 5 to 9 (the signature is good).
     * @claims the payload
     */
    private void function checkClaims(required struct claims) {
        var c = arguments.claims;
        // 5. missing_claim
        for (var claimName in ["iss", "aud", "exp", "iat"]) {
            if (!structKeyExists(c, claimName)) {
                invalidSession("missing_claim", claimName);
            }
        }
        if (!isNumber(c["exp"]) || !isNumber(c["iat"])) {
            invalidSession("missing_claim", "exp or iat is not a number");
        }
        // 6. issuer
        if (!isJsonString(c["iss"]) || compare(c["iss"], variables.issuer) != 0) {
            invalidSession("issuer");
        }
        // 7. audience
        var aud = isArray(c["aud"]) ? c["aud"] : [c["aud"]];
        var found = false;
        for (var entry in aud) {
            if (!isNull(entry) && isJsonString(entry) && compare(entry, variables.audience) == 0) {
                found = true;
            }
        }
        if (!found) {
            invalidSession("audience");
        }
        var now = variables.clock();
        // 8. expired
        if (now >= c["exp"] + variables.leeway) {
            invalidSession("expired");
        }
        // 9. issued_in_future (a nbf that is not a number fails closed)
        if (c["iat"] > now + variables.leeway) {
            invalidSession("issued_in_future");
        }
        if (structKeyExists(c, "nbf") && (!isNumber(c["nbf"]) || c["nbf"] > now + variables.leeway)) {
            invalidSession("issued_in_future", "nbf");
        }
    }

    /**
     * Whether a configured key allows alg. With a jwksUrl, an asymmetric alg
     * the current JWKS lacks counts as an unknown kid first.
     * @alg the JOSE alg
     */
    private boolean function allowsAlgorithm(required string alg) {
        if (compare(arguments.alg, "HS256") == 0) {
            return variables.secret != "";
        }
        if (compare(arguments.alg, "EdDSA") != 0 && compare(arguments.alg, "ES256") != 0) {
            return false;
        }
        for (var jwk in keys()) {
            if (compare(jwk["alg"], arguments.alg) == 0) {
                return true;
            }
        }
        return refetchForUnknownKid() && allowsAlgorithm(arguments.alg);
    }

    /**
     * The JWK named kid for alg, refetching the JWKS (rate-limited) when it
     * is unknown. Throws Sidecar.InvalidSession unknown_kid.
     * @alg the JOSE alg
     * @kid the header's kid (any JSON value)
     */
    private struct function findKey(required string alg, required any kid) {
        if (!isJsonString(arguments.kid)) {
            invalidSession("unknown_kid", "no kid");
        }
        for (var attempt = 0; attempt < 2; attempt++) {
            for (var jwk in keys()) {
                if (compare(jwk["kid"], arguments.kid) == 0 && compare(jwk["alg"], arguments.alg) == 0) {
                    return jwk;
                }
            }
            if (attempt == 0 && !refetchForUnknownKid()) {
                break;
            }
        }
        invalidSession("unknown_kid");
    }

    /**
     * Verifies sig over input with the alg's key; false on any mismatch.
     * @alg HS256 or ES256
     * @key the JWK entry (empty for HS256)
     * @input the signing input
     * @sig the signature bytes
     */
    private boolean function checkSignature(required string alg, required struct key, required string input, required binary sig) {
        if (compare(arguments.alg, "HS256") == 0) {
            var mac = binaryDecode(hmac(arguments.input, variables.secret, "HMACSHA256", "utf-8"), "hex");
            return len(arguments.sig) == 32
                && createObject("java", "java.security.MessageDigest").isEqual(mac, arguments.sig);
        }
        if (compare(arguments.alg, "EdDSA") == 0) {
            return false; // no Ed25519 on Java 11 (never reached: no EdDSA key is imported)
        }
        if (len(arguments.sig) != 64) {
            return false;
        }
        try {
            var verifier = createObject("java", "java.security.Signature").getInstance("SHA256withECDSA");
            verifier.initVerify(arguments.key["key"]);
            verifier.update(charsetDecode(arguments.input, "utf-8"));
            return verifier.verify(rawToDer(lCase(binaryEncode(arguments.sig, "hex"))));
        } catch (any e) {
            return false;
        }
    }

    /**
     * Converts an ES256 signature r||s (128 hex digits) to the DER
     * SEQUENCE { INTEGER r, INTEGER s } that Java verifies.
     * @hex r||s in hex
     */
    private binary function rawToDer(required string hex) {
        var body = derInteger(mid(arguments.hex, 1, 64)) & derInteger(mid(arguments.hex, 65, 64));
        return binaryDecode("30" & hexByte(len(body) / 2) & body, "hex");
    }

    /**
     * One DER INTEGER (hex) from a 32-byte unsigned big-endian hex number.
     * @hex the number in hex
     */
    private string function derInteger(required string hex) {
        var h = arguments.hex;
        while (len(h) > 2 && left(h, 2) == "00") {
            h = mid(h, 3, len(h) - 2);
        }
        if (inputBaseN(left(h, 1), 16) >= 8) {
            h = "00" & h;
        }
        return "02" & hexByte(len(h) / 2) & h;
    }

    /**
     * The usable keys of a JWKS document: P-256 (ES256) keys with a string
     * kid; others (Ed25519 included, see above) are ignored.
     * @jwks a JWKS document, struct or JSON text
     */
    private array function parseJwks(required any jwks) {
        var doc = arguments.jwks;
        if (isSimpleValue(doc)) {
            doc = isJSON(doc) ? deserializeJSON(doc) : "";
        }
        if (!isStruct(doc) || !structKeyExists(doc, "keys") || !isArray(doc["keys"])) {
            throw(type="Sidecar.Config", message="Sidecar: jwks is not a JWKS document ({""keys"": [...]})");
        }
        var out = [];
        for (var jwk in doc["keys"]) {
            var key = isStruct(jwk) ? importJwk(jwk) : {};
            if (!structIsEmpty(key)) {
                arrayAppend(out, key);
            }
        }
        return out;
    }

    /**
     * One JWK as {kid, alg, key}, or {} when it is not a usable signing key.
     * @jwk the JWK
     */
    private struct function importJwk(required struct jwk) {
        var j = arguments.jwk;
        var kty = structKeyExists(j, "kty") ? j["kty"] : "";
        var crv = structKeyExists(j, "crv") ? j["crv"] : "";
        var alg = "";
        if (compare(kty, "EC") == 0 && compare(crv, "P-256") == 0) {
            alg = "ES256";
        }
        if (alg == "" || !structKeyExists(j, "kid") || !isJsonString(j["kid"])
            || structKeyExists(j, "alg") && compare(j["alg"], alg) != 0
            || structKeyExists(j, "use") && compare(j["use"], "sig") != 0) {
            return {};
        }
        var x = jwkBytes(j, "x");
        var y = jwkBytes(j, "y");
        if (len(x) != 64 || len(y) != 64) {
            return {};
        }
        try {
            var spec = createObject("java", "java.security.spec.X509EncodedKeySpec")
                .init(binaryDecode(variables.P256_SPKI_PREFIX & "04" & x & y, "hex"));
            var pub = createObject("java", "java.security.KeyFactory").getInstance("EC").generatePublic(spec);
            return {"kid": j["kid"], "alg": alg, "key": pub};
        } catch (any e) {
            return {};
        }
    }

    /**
     * A JWK member's bytes in lower-case hex ("" when absent or not base64url).
     * @jwk the JWK
     * @member the member name
     */
    private string function jwkBytes(required struct jwk, required string member) {
        if (!structKeyExists(arguments.jwk, arguments.member) || !isJsonString(arguments.jwk[arguments.member])
            || !isBase64Url(arguments.jwk[arguments.member])) {
            return "";
        }
        return lCase(binaryEncode(base64UrlDecode(arguments.jwk[arguments.member]), "hex"));
    }

    /**
     * The configured keys plus those of jwksUrl (fetched when older than
     * jwksTtl; a failed fetch keeps the stale keys, retried at most every
     * jwksRefreshMin).
     */
    private array function keys() {
        if (variables.jwksUrl == "") {
            return variables.staticKeys;
        }
        var now = variables.clock();
        var state = readCache();
        if (structIsEmpty(state) || now - state["fetched_at"] >= variables.jwksTtl
                && now - state["tried_at"] >= variables.jwksRefreshMin) {
            state = fetchJwks(state, now, false);
        }
        var all = [];
        arrayAppend(all, variables.staticKeys, true);
        arrayAppend(all, state["keys"], true);
        return all;
    }

    /**
     * Refetches jwksUrl for an unknown kid unless one such refetch happened
     * less than jwksRefreshMin ago, under an exclusive named lock, so that
     * of the requests that meet a new kid at once one fetches and the
     * others then use its keys. Returns whether the keys changed (look
     * again); false too when another request held the lock for
     * CACHE_LOCK_WAIT seconds: go on without fetching.
     */
    private boolean function refetchForUnknownKid() {
        if (variables.jwksUrl == "") {
            return false;
        }
        var seen = readCache();
        var seenAt = structIsEmpty(seen) ? -1 : seen["fetched_at"];
        var changed = false;
        lock name="sidecar-jwks-refetch-#hash(variables.jwksUrl)#" type="exclusive"
                timeout="#variables.CACHE_LOCK_WAIT#" throwOnTimeout="false" {
            changed = refetchUnlessRecent(seenAt);
        }
        return changed;
    }

    /**
     * Refetches jwksUrl unless a refetch for an unknown kid happened less
     * than jwksRefreshMin ago (by this request or another). Returns whether
     * the keys now differ from those fetched at seenAt.
     * @seenAt fetched_at of the keys the caller looked in (-1: none)
     */
    private boolean function refetchUnlessRecent(required numeric seenAt) {
        var now = variables.clock();
        var state = readCache();
        if (!structIsEmpty(state) && now - state["refetched_at"] < variables.jwksRefreshMin) {
            return state["fetched_at"] != arguments.seenAt;
        }
        fetchJwks(state, now, true);
        return true;
    }

    /**
     * Fetches jwksUrl and stores the result. A failed fetch keeps the
     * previous keys (if any) and records the attempt.
     * @previous the previous state ({} when none)
     * @now the clock
     * @forUnknownKid whether this is an unknown-kid refetch
     */
    private struct function fetchJwks(required struct previous, required numeric now, required boolean forUnknownKid) {
        var state = structCopy(arguments.previous);
        if (structIsEmpty(state)) {
            state = {"fetched_at": 0, "refetched_at": -1000000000000, "tried_at": -1000000000000, "keys": []};
        }
        state["tried_at"] = arguments.now;
        if (arguments.forUnknownKid) {
            state["refetched_at"] = arguments.now;
        }
        try {
            state["keys"] = parseJwks(variables.fetch(variables.jwksUrl, variables.FETCH_TIMEOUT));
            state["fetched_at"] = arguments.now;
        } catch (any e) {
            writeLog(type="warning", text="Sidecar: fetching the JWKS from " & variables.jwksUrl & " failed: " & e.message);
        }
        writeCache(state);
        return state;
    }

    /**
     * The cached JWKS state ({} when none). CFML keeps it in this instance,
     * which lives in the application scope (PHP needs a file).
     */
    private struct function readCache() {
        var state = {};
        lock name="sidecar-jwks-#hash(variables.jwksUrl)#" type="readonly" timeout="5" {
            state = variables.fetched;
        }
        return state;
    }

    /**
     * Stores the JWKS state.
     * @state the new state
     */
    private void function writeCache(required struct state) {
        lock name="sidecar-jwks-#hash(variables.jwksUrl)#" type="exclusive" timeout="5" {
            variables.fetched = arguments.state;
        }
    }

    /**
     * The default fetcher: GET url with a timeout; the body of a 200.
     * @url the JWKS URL
     * @timeout seconds
     */
    public string function httpGet(required string url, required numeric timeout) {
        var httpResult = {};
        cfhttp(method="GET", url=arguments.url, timeout=ceiling(arguments.timeout), result="httpResult", throwOnError=false) {
            cfhttpparam(type="header", name="Accept", value="application/json");
        }
        if (val(httpResult.statusCode) != 200) {
            throw(type="Sidecar.Fetch", message="status " & httpResult.statusCode);
        }
        return toString(httpResult.fileContent);
    }

    /**
     * Whether s is base64url without padding (possibly empty).
     * @s the text
     */
    private boolean function isBase64Url(required string s) {
        return reFind("^[A-Za-z0-9_-]*$", arguments.s) == 1 && len(arguments.s) mod 4 != 1
            || arguments.s == "";
    }

    /**
     * The bytes of a base64url text.
     * @s the text
     */
    private binary function base64UrlDecode(required string s) {
        var b64 = replace(replace(arguments.s, "-", "+", "all"), "_", "/", "all");
        if (b64 == "") {
            return charsetDecode("", "utf-8");
        }
        return binaryDecode(b64 & repeatString("=", (4 - len(b64) mod 4) mod 4), "base64");
    }

    /**
     * A base64url JSON object as a struct, or null when it is not a JSON object.
     * @part the base64url text
     */
    private any function decodeObject(required string part) {
        var json = charsetEncode(base64UrlDecode(arguments.part), "utf-8");
        if (!isJSON(json)) {
            return javacast("null", "");
        }
        var obj = deserializeJSON(json);
        if (!isStruct(obj)) {
            return javacast("null", "");
        }
        return obj;
    }

    /**
     * Whether v is a JSON number (not a string, not a boolean).
     * @v the value
     */
    private boolean function isNumber(any v) {
        return !isNull(arguments.v) && isNumeric(arguments.v) && !isJsonString(arguments.v) && !isJsonBoolean(arguments.v);
    }

    /**
     * Whether v came from a JSON string (CFML would happily treat "1" as 1).
     * @v the value
     */
    private boolean function isJsonString(any v) {
        return !isNull(arguments.v) && isSimpleValue(arguments.v)
            && arguments.v.getClass().getName() == "java.lang.String";
    }

    /**
     * Whether v is a boolean.
     * @v the value
     */
    private boolean function isJsonBoolean(any v) {
        return !isNull(arguments.v) && isSimpleValue(arguments.v)
            && arguments.v.getClass().getName() == "java.lang.Boolean";
    }

    /**
     * Two hex digits of a byte count (DER short form).
     * @n the count, below 128
     */
    private string function hexByte(required numeric n) {
        return right("0" & lCase(formatBaseN(arguments.n, 16)), 2);
    }

    /**
     * The current unix time in seconds (the default clock).
     */
    private numeric function wallClock() {
        return createObject("java", "java.lang.System").currentTimeMillis() / 1000;
    }

    /**
     * Throws Sidecar.InvalidSession; errorCode is the reason. Never with the token.
     * @reason the reason code
     * @detail a hint for the log
     */
    private void function invalidSession(required string reason, string detail = "") {
        throw(type="Sidecar.InvalidSession", errorCode=arguments.reason,
            message="invalid X-Sidecar-Session: " & arguments.reason & (arguments.detail == "" ? "" : " (" & arguments.detail & ")"),
            extendedInfo=arguments.reason);
    }
}
