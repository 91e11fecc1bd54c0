/**
 * The runtime-portability checks: only the client (no Deno.*, no node:*), against a live
 * raftkv (or fake) base URL. Shared by `portable_smoke.ts` (Deno, Node, Bun) and the
 * workerd worker (`workerd_smoke_worker.ts`), which cannot run I/O at module scope.
 *
 * @module
 */

import {
  createClient,
  type ListItem,
  PreconditionFailed,
  type WatchEvent,
} from "../../src/client/mod.ts";

/** Runs every check against `url`; throws on the first that fails. */
export async function smoke(url: string, token?: string): Promise<void> {
  const kv = createClient({
    endpoints: [url],
    timeoutMs: 5_000,
    retries: 3,
    ...(token === undefined ? {} : { token }),
  });
  const prefix = `smoke/${crypto.randomUUID()}/`;
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`smoke check failed: ${what}`);
  };

  const first = await kv.put(`${prefix}a`, "hello");
  const got = await kv.get(`${prefix}a`);
  check(got?.text() === "hello" && got.modRevision === first.modRevision, "put then get");
  check(await kv.get(`${prefix}missing`) === null, "missing key reads null");
  const cas = await kv.put(`${prefix}a`, "x", { ifRevision: first.modRevision - 1 }).catch((e) =>
    e
  );
  check(cas instanceof PreconditionFailed, "lost CAS is PreconditionFailed");
  await kv.put(`${prefix}b`, new Uint8Array([0xff, 0x00, 0x80]));
  const listed: ListItem[] = [];
  for await (const item of kv.list(prefix, { pageSize: 1 })) listed.push(item);
  check(listed.length === 2 && listed[1]?.value[0] === 0xff, "paged list with binary value");

  const controller = new AbortController();
  const events: WatchEvent[] = [];
  const watching = (async () => {
    const options = { fromRevision: first.modRevision, signal: controller.signal };
    for await (const event of kv.watch(prefix, options)) {
      events.push(event);
      if (events.length === 3) controller.abort();
    }
  })();
  await kv.delete(`${prefix}a`);
  await watching;
  check(events.map((e) => e.type).join() === "put,put,delete", "watch history then live");
  check((await kv.deletePrefix(prefix)).deleted === 1, "prefix delete");

  // Coordination: a transaction, an atomic commit, a lease-held lock with a fenced write.
  const c = `${prefix}coord/`;
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
