'use strict';
// Error types. Callers branch on the class (instanceof) and, for
// InvalidSessionError, on err.reason — never on message text.

/** Reason codes of InvalidSessionError, in the order the checks run. */
const REASONS = Object.freeze([
  'missing', 'malformed', 'algorithm', 'unknown_kid', 'signature',
  'missing_claim', 'issuer', 'audience', 'expired', 'issued_in_future',
]);

/**
 * The X-Sidecar-Session header is missing or does not verify. `reason` is one
 * of REASONS. The token itself is never part of the message.
 */
class InvalidSessionError extends Error {
  constructor(reason, detail) {
    super(`invalid X-Sidecar-Session: ${reason}${detail ? ` (${detail})` : ''}`);
    this.name = 'InvalidSessionError';
    this.reason = reason;
  }
}

/** A session write came after the response headers were sent. */
class HeadersSentError extends Error {
  constructor(what) {
    super(`Sidecar session: ${what} after the response headers were sent; write the session before the body`);
    this.name = 'HeadersSentError';
  }
}

/** The JWKS document could not be fetched or parsed (and no usable copy is cached). */
class JwksError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'JwksError';
  }
}

/** Base class of the lock helper's errors. `status` is the HTTP status, when there was one. */
class LockError extends Error {
  constructor(message, { status, name, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'LockError';
    this.status = status;
    this.lockName = name;
  }
}

/** Someone else held the lock for the whole wait (409 "not obtained"). */
class LockNotObtained extends LockError {
  constructor(name) {
    super(`lock ${name} not obtained`, { status: 409, name });
    this.name = 'LockNotObtained';
  }
}

/** The lock backend is unreachable (503); retryAfter in seconds when the service sent one. */
class LockUnavailable extends LockError {
  constructor(name, retryAfter) {
    super(`lock service unavailable for ${name}`, { status: 503, name });
    this.name = 'LockUnavailable';
    this.retryAfter = retryAfter;
  }
}

/** The lease ran out (or was lost) while fn ran: someone else may have held the lock meanwhile. */
class LockLost extends LockError {
  constructor(name) {
    super(`lock ${name} was lost before it was released`, { status: 409, name });
    this.name = 'LockLost';
  }
}

module.exports = {
  REASONS, InvalidSessionError, HeadersSentError, JwksError,
  LockError, LockNotObtained, LockUnavailable, LockLost,
};
