/**
 * A lock on etcd 3.4's v3 JSON gateway, the recipe `kv.lock` uses on raftkv (and etcd's
 * own concurrency Mutex): a lease per acquisition (`/v3/lease/grant`); a txn that
 * creates `<name>/<leaseId>` under it if absent (`/v3/kv/txn`, create_revision = 0),
 * answering its createRevision; the holder is the key with the lowest createRevision;
 * a waiter watches only the key just before its own (`/v3/watch`) until it is deleted;
 * release revokes the lease (`/v3/lease/revoke`), which deletes the key.
 *
 * For the benchmark only: no keepalive (the lease TTL outlasts a run's longest wait).
 *
 * @module
 */

import type { Acquire, Release } from "./lock_load.ts";

/** TTL of each acquisition's lease; longer than any wait of a bench run. */
export const ETCD_LOCK_TTL_SECONDS = 60;

const b64 = (s: string) => btoa(s);

/** `key + 1` in the last byte: the end of the prefix range (etcd's range_end). */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

async function post<T>(url: string, body: unknown, signal: AbortSignal): Promise<T> {
  const res = await fetch(url, { method: "POST", body: JSON.stringify(body), signal });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

interface KvJson {
  key: string;
  create_revision?: string;
}

interface TxnJson {
  header: { revision: string };
  succeeded?: boolean;
  responses?: { response_range?: { kvs?: KvJson[] } }[];
}

/** An {@link Acquire} for the lock `name` on the etcd member at `baseUrl`. */
export function etcdLock(baseUrl: string, name: string): Acquire {
  const prefix = `${name}/`;
  return async (signal: AbortSignal): Promise<Release> => {
    const grant = await post<{ ID: string }>(
      `${baseUrl}/v3/lease/grant`,
      { TTL: ETCD_LOCK_TTL_SECONDS },
      signal,
    );
    const release: Release = async () => {
      await post(`${baseUrl}/v3/lease/revoke`, { ID: grant.ID }, AbortSignal.timeout(10_000));
    };
    try {
      const key = prefix + BigInt(grant.ID).toString(16);
      const created = await post<TxnJson>(`${baseUrl}/v3/kv/txn`, {
        compare: [{ key: b64(key), target: "CREATE", result: "EQUAL", create_revision: "0" }],
        success: [{ request_put: { key: b64(key), value: "", lease: grant.ID } }],
        failure: [{ request_range: { key: b64(key) } }],
      }, signal);
      const myRevision = created.succeeded
        ? Number(created.header.revision)
        : Number(created.responses?.[0]?.response_range?.kvs?.[0]?.create_revision ?? 0);
      for (;;) {
        // The key just before ours: the newest one created before it.
        const before = await post<{ header: { revision: string }; kvs?: KvJson[] }>(
          `${baseUrl}/v3/kv/range`,
          {
            key: b64(prefix),
            range_end: b64(prefixEnd(prefix)),
            max_create_revision: String(myRevision - 1),
            sort_order: "DESCEND",
            sort_target: "CREATE",
            limit: 1,
          },
          signal,
        );
        const waitFor = before.kvs?.[0];
        if (waitFor === undefined) return release;
        await watchUntilDeleted(
          baseUrl,
          waitFor.key,
          Number(before.header.revision) + 1,
          signal,
        );
      }
    } catch (error) {
      await release().catch(() => {});
      throw error;
    }
  };
}

/** Streams `/v3/watch` on one key (base64) from `fromRevision` until a DELETE event. */
async function watchUntilDeleted(
  baseUrl: string,
  key64: string,
  fromRevision: number,
  signal: AbortSignal,
): Promise<void> {
  const done = new AbortController();
  const res = await fetch(`${baseUrl}/v3/watch`, {
    method: "POST",
    body: JSON.stringify({ create_request: { key: key64, start_revision: String(fromRevision) } }),
    signal: AbortSignal.any([signal, done.signal]),
  });
  if (!res.ok || res.body === null) throw new Error(`watch: ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  try {
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) throw new Error("watch stream ended before the key was deleted");
      buffered += value;
      // The gateway sends one JSON object per line.
      let newline: number;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line === "") continue;
        const message = JSON.parse(line) as { result?: { events?: { type?: string }[] } };
        if (message.result?.events?.some((e) => e.type === "DELETE")) return;
      }
    }
  } finally {
    done.abort();
    await reader.cancel().catch(() => {});
  }
}
