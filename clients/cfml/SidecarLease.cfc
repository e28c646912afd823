/**
 * A held lock, handed to the withLock callback: this.name, this.fence (the
 * fencing number as a string, from fence_string: CFML would read the big
 * integer as a float), this.token (a secret: never log it), this.expiresAt
 * (the service's UTC timestamp text). Mirrors class Lease of
 * clients/php/Sidecar.php.
 */
component output="false" {

    /**
     * Internal: withLock builds leases.
     * @locks the SidecarLocks that took it
     * @name the lock name
     * @ttl the lease's seconds
     * @body the lock service's lease answer
     */
    public any function init(required any locks, required string name, required numeric ttl, required struct body) {
        variables.locks = arguments.locks;
        variables.leaseTtl = arguments.ttl;
        this.name = arguments.name;
        this.token = structKeyExists(arguments.body, "token") ? arguments.body["token"] : "";
        update(arguments.body);
        return this;
    }

    /**
     * Pushes the expiry to ttl seconds from now (default: the withLock ttl);
     * the fence stays. Call it between steps of long work. Throws
     * Sidecar.LockLost when the lease already ran out.
     * @ttl seconds; 0 keeps the withLock ttl
     */
    public void function extend(numeric ttl = 0) {
        if (arguments.ttl > 0) {
            variables.leaseTtl = arguments.ttl;
        }
        var res = variables.locks.call(this.name, "extend",
            {"token": this.token, "ttl": max(1, round(variables.leaseTtl * 1000))}, 0);
        if (res["status"] != 200) {
            variables.locks.error(this.name, "extend", res["status"], res["body"]);
        }
        update(res["body"]);
    }

    /**
     * Reads fence and expiry from a lease answer.
     * @body the answer
     */
    private void function update(required struct body) {
        this.fence = structKeyExists(arguments.body, "fence_string") ? toString(arguments.body["fence_string"]) : "0";
        this.expiresAt = structKeyExists(arguments.body, "expires_at") ? arguments.body["expires_at"] : "";
    }
}
