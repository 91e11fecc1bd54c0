/**
 * A child process that takes a lock and holds it until it is killed, for the kill -9
 * and pause tests: `deno run -A tests/integration/lock_holder.ts <name> <ttl> <url>...`.
 * Prints one JSON line `{"key","revision","lease"}` once it holds the lock. Each stdin
 * line `write <key> <value>` makes it write under the lock's fence and print
 * `{"write": <succeeded>}`; it prints `{"lost": <reason>}` when its lease is lost.
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
void lock.lost.then((lost) => console.log(JSON.stringify({ lost: lost.reason })));
// Hold until killed; the lease handle's keepalives keep the process (and the lock) alive.
let buffered = "";
for await (const text of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
  buffered += text;
  let end: number;
  while ((end = buffered.indexOf("\n")) !== -1) {
    const [command, key, value] = buffered.slice(0, end).split(" ");
    buffered = buffered.slice(end + 1);
    if (command !== "write" || key === undefined || value === undefined) continue;
    const { succeeded } = await kv.txn({
      compare: [lock.fence],
      success: [{ put: { key, value } }],
    });
    console.log(JSON.stringify({ write: succeeded }));
  }
}
await lock.lost;
