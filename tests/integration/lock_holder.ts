/**
 * A child process that takes a lock and holds it until it is killed, for the kill -9
 * test: `deno run -A tests/integration/lock_holder.ts <lock name> <ttl seconds> <url>...`.
 * Prints one JSON line `{"key","revision","lease"}` once it holds the lock.
 *
 * @module
 */

import { createClient } from "../../src/client/mod.ts";

const [name, ttl, ...endpoints] = Deno.args;
if (name === undefined || ttl === undefined || endpoints.length === 0) {
  throw new Error("usage: lock_holder.ts <name> <ttlSeconds> <url>...");
}
const kv = createClient({ endpoints, timeoutMs: 2_000, retries: 30 });
const lock = await kv.lock(name, { ttlSeconds: Number(ttl) });
console.log(JSON.stringify({ key: lock.key, revision: lock.revision, lease: lock.lease.id }));
// Hold until killed; the lease handle's keepalives keep the process (and the lock) alive.
const lost = await lock.lost;
console.log(JSON.stringify({ lost: lost.reason }));
