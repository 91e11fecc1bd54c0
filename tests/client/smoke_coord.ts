/**
 * The coordination part of the portability checks: a transaction, an atomic commit, and
 * a lease-held lock with a fenced write, using only the client (no Deno.*, no node:*).
 * Run by `portable_smoke.ts` (Deno, Node, Bun) and inside workerd
 * (`workerd_smoke_worker.ts`). It also proves the lease's timers end on release: the
 * Node and Bun processes could not exit otherwise.
 *
 * @module
 */

import type { RaftkvClient } from "../../src/client/mod.ts";

/** Runs the checks under a fresh prefix and removes its keys; throws on a failed check. */
export async function coordinationSmoke(kv: RaftkvClient): Promise<void> {
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`smoke check failed: ${what}`);
  };
  const c = `smoke/${crypto.randomUUID()}/coord/`;
  const txn = await kv.txn({
    compare: [{ key: `${c}t`, target: "version", op: "=", value: 0 }],
    success: [{ put: { key: `${c}t`, value: "1" } }, { put: { key: `${c}u`, value: "2" } }],
  });
  const [putT] = txn.results;
  check(txn.succeeded && putT !== undefined && "put" in putT, "txn creates two keys");
  const committed = await kv.atomic().check({ key: `${c}t`, value: "1" }).delete(`${c}u`).commit();
  check(committed.ok && (await kv.get(`${c}u`)) === null, "atomic check + delete");
  check(!(await kv.atomic().check({ key: `${c}t`, version: 0 }).commit()).ok, "failed check");
  const lock = await kv.lock(`${c}lock`, { ttlSeconds: 3 });
  const fenced = await kv.txn({ compare: [lock.fence], success: [{ get: { key: `${c}t` } }] });
  check(fenced.succeeded && lock.key.startsWith(`${c}lock/`), "lock held, fence holds");
  await lock.release();
  check((await lock.lost).reason === "revoked", "release revokes the lease");
  await kv.deletePrefix(c);
}
