// ES module entry point: import { Sidecar } from '@sidecarproxy/session'.
// A thin wrapper over the CommonJS implementation, so both entry points share
// one copy of every class (instanceof works across them).
import kit from './lib/index.cjs';

export const {
  Sidecar,
  Session,
  Locks,
  Lease,
  InvalidSessionError,
  HeadersSentError,
  JwksError,
  LockError,
  LockNotObtained,
  LockUnavailable,
  LockLost,
  REASONS,
  MAX_PATCH_BYTES,
  asciiJSON,
} = kit;
export default kit;
