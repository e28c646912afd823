// One lock-test worker, a separate process and so a separate client:
// increments the counter file `rounds` times, each under withLock, and appends
// the lease's fence to the fences file while still holding the lock.
// argv: entry (esm|cjs) lockName counterFile fencesFile rounds

import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const [entry, name, counterFile, fencesFile, rounds] = process.argv.slice(2);
const kit = entry === 'cjs'
  ? createRequire(import.meta.url)('@sidecarproxy/session')
  : await import('@sidecarproxy/session');
const locks = new kit.Locks(process.env.SIDECAR_TEST_LOCK_URL, process.env.SIDECAR_LOCK_SERVICE__TOKEN);

for (let i = 0; i < Number(rounds); i++) {
  await locks.withLock(name, { ttl: '10s', wait: '25s' }, async (lease) => {
    const value = Number(await readFile(counterFile, 'utf8'));
    await new Promise((resolve) => setImmediate(resolve)); // widen the race a lock must close
    await writeFile(counterFile, String(value + 1));
    await appendFile(fencesFile, `${lease.fence}\n`);
  });
}
