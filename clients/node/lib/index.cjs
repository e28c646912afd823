'use strict';
// The one implementation; index.cjs and index.mjs both expose exactly this.

const errors = require('./errors.cjs');
const { Sidecar } = require('./sidecar.cjs');
const { Session, asciiJSON, MAX_PATCH_BYTES } = require('./session.cjs');
const { Locks, Lease } = require('./locks.cjs');

module.exports = {
  Sidecar,
  Session,
  Locks,
  Lease,
  InvalidSessionError: errors.InvalidSessionError,
  HeadersSentError: errors.HeadersSentError,
  JwksError: errors.JwksError,
  LockError: errors.LockError,
  LockNotObtained: errors.LockNotObtained,
  LockUnavailable: errors.LockUnavailable,
  LockLost: errors.LockLost,
  REASONS: errors.REASONS,
  MAX_PATCH_BYTES,
  asciiJSON,
};
