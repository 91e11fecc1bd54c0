/**
 * The waiting line under locks and elections (etcd's recipe). Each waiter owns one key
 * `<name>/<leaseId>` created under its lease; the key's createRevision orders the line.
 * The waiter with the lowest createRevision is at the front. Every other waiter watches
 * only the key just before its own, so a release wakes one waiter, not all of them.
 *
 * Reading the line page by page is safe although pages are read at different revisions:
 * the keys created before mine can only disappear (a new key gets a higher revision), so
 * "no key before mine" seen in every page stays true.
 *
 * @module
 */

import type { CallContext } from "./call.ts";
import { BadRequest, LeaseLost } from "./errors.ts";
import { checkKey } from "./key_path.ts";
import type { LeaseHandle } from "./lease.ts";
import { isLeaseId } from "./lease_id.ts";
import { QUEUE_PAGE_SIZE } from "./limits.ts";
import { fetchPage } from "./list.ts";
import { RevisionCompacted } from "./errors.ts";
import { runTxn } from "./txn.ts";
import type { ListItem } from "./types.ts";
import { watchEvents } from "./watch.ts";

/** A waiter's key and its place in the line (the key's createRevision). */
export interface QueueEntry {
  key: string;
  revision: number;
}

/** What one read of the line found, seen from one waiter. */
interface Look {
  /** The waiter just before me, or null when I am at the front. */
  predecessor: ListItem | null;
  /** The store revision at which the predecessor was seen (watch from the next one). */
  revision: number;
  /** Whether my own key is still there (it goes when my lease is lost). */
  mine: boolean;
}

/** The prefix of the line of `name`: `<name>/`. */
export function queuePrefix(name: string): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new BadRequest("a lock or election name must be a non-empty string", { status: 0 });
  }
  checkKey(name);
  return `${name}/`;
}

/** True for the waiters' own keys: `<prefix><leaseId>`, not keys of a nested name. */
export function isWaiterKey(prefix: string, key: string): boolean {
  return key.startsWith(prefix) && isLeaseId(key.slice(prefix.length));
}

/**
 * Joins the line: creates `<prefix><leaseId>` under the lease unless it exists, and reads
 * the line in the same transaction. Returns my place, and what the read saw when it was
 * complete (one page held the whole line).
 */
export async function enqueue(
  ctx: CallContext,
  prefix: string,
  lease: LeaseHandle,
  value: string | Uint8Array,
  signal: AbortSignal | undefined,
): Promise<{ entry: QueueEntry; look: Look | null }> {
  const key = prefix + lease.id;
  const list = { list: { prefix, limit: QUEUE_PAGE_SIZE } };
  const result = await runTxn(ctx, {
    compare: [{ key, target: "createRevision", op: "=", value: 0 }],
    success: [{ put: { key, value, lease } }, list],
    failure: [{ get: { key } }, list],
  }, signal === undefined ? {} : { signal });
  const [first, second] = result.results;
  let revision: number;
  if (first !== undefined && "put" in first) revision = first.put.createRevision;
  else if (first !== undefined && "get" in first && first.get.kv !== null) {
    revision = first.get.kv.createRevision; // a retry of our own create, already applied
  } else {throw new LeaseLost(`queue key ${key} vanished at once`, {
      status: 0,
      reason: "not_found",
    });}
  const entry = { key, revision };
  if (second === undefined || !("list" in second) || second.list.more) return { entry, look: null };
  const look: Look = { predecessor: null, revision: result.revision, mine: true };
  for (const item of second.list.items) consider(look, prefix, entry, item, result.revision);
  return { entry, look };
}

/**
 * Waits until `entry` is at the front of the line. Throws the signal's reason on abort,
 * and LeaseLost when the lease is lost or the key is gone meanwhile.
 */
export async function waitForTurn(
  ctx: CallContext,
  prefix: string,
  entry: QueueEntry,
  lease: LeaseHandle,
  firstLook: Look | null,
  signal: AbortSignal | undefined,
): Promise<void> {
  const inner = new AbortController();
  const onAbort = () => inner.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  void lease.lost.then((lost) => inner.abort(lost));
  try {
    let look = firstLook;
    for (;;) {
      inner.signal.throwIfAborted();
      look ??= await readLine(ctx, prefix, entry, inner.signal);
      if (!look.mine) {
        throw new LeaseLost(`${entry.key} is gone: its lease expired or was revoked`, {
          status: 0,
          reason: "not_found",
        });
      }
      if (look.predecessor === null) return;
      await deleted(ctx, look.predecessor.key, look.revision + 1, inner.signal);
      look = null;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** The front of the line (the oldest waiter), or null when nobody waits. */
export async function frontOf(
  ctx: CallContext,
  prefix: string,
  signal: AbortSignal | undefined,
): Promise<{ front: ListItem | null; revision: number }> {
  let front: ListItem | null = null;
  let revision: number | null = null;
  for await (const page of pages(ctx, prefix, signal)) {
    revision ??= page.revision;
    for (const item of page.items) {
      if (!isWaiterKey(prefix, item.key)) continue;
      if (front === null || item.createRevision < front.createRevision) front = item;
    }
  }
  return { front, revision: revision ?? 0 };
}

async function readLine(
  ctx: CallContext,
  prefix: string,
  entry: QueueEntry,
  signal: AbortSignal,
): Promise<Look> {
  const look: Look = { predecessor: null, revision: 0, mine: false };
  for await (const page of pages(ctx, prefix, signal)) {
    for (const item of page.items) consider(look, prefix, entry, item, page.revision);
  }
  return look;
}

function consider(look: Look, prefix: string, entry: QueueEntry, item: ListItem, at: number) {
  if (item.key === entry.key) look.mine = true;
  else if (!isWaiterKey(prefix, item.key) || item.createRevision >= entry.revision) return;
  else if (look.predecessor === null || item.createRevision > look.predecessor.createRevision) {
    look.predecessor = item;
    look.revision = at;
  }
}

async function* pages(ctx: CallContext, prefix: string, signal: AbortSignal | undefined) {
  let after: string | null = null;
  for (;;) {
    const page = await fetchPage(ctx, {
      prefix,
      after,
      pageSize: QUEUE_PAGE_SIZE,
      consistency: "linearizable",
      signal,
    });
    yield page;
    if (!page.more || page.next === null || page.next === after) return;
    after = page.next;
  }
}

/** Returns once `key` is deleted at or after `fromRevision` (or history to tell is gone). */
async function deleted(
  ctx: CallContext,
  key: string,
  fromRevision: number,
  signal: AbortSignal,
): Promise<void> {
  try {
    for await (const event of watchEvents(ctx, key, { exact: true, fromRevision, signal })) {
      if (event.type === "delete") return;
    }
  } catch (error) {
    if (error instanceof RevisionCompacted) return; // read the line again instead
    throw error;
  }
  signal.throwIfAborted();
}
