/**
 * `election(name)`: leader election on the same line as locks (queue.ts). The leader
 * is the campaigner whose key `<name>/<leaseId>` is oldest; its value is what the leader
 * proclaims. Proclaim and resign are transactions on the key's createRevision, so they
 * act only while this campaigner still leads.
 *
 * @module
 */

import type { CallContext } from "./call.ts";
import { BadRequest, type LeaseLost, NotLeader, RevisionCompacted } from "./errors.ts";
import { grantLease, type LeaseHandle } from "./lease.ts";
import { DEFAULT_LOCK_TTL_SECONDS } from "./limits.ts";
import { enqueue, frontOf, isWaiterKey, queuePrefix, waitForTurn } from "./queue.ts";
import { runTxn } from "./txn.ts";
import type { ListItem } from "./types.ts";
import { utf8 } from "./values.ts";
import { watchEvents } from "./watch.ts";

/**
 * The current leader of an election.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const leader = await kv.election("jobs/leader").leader();
 * console.log(leader?.text() ?? "no leader");
 * ```
 */
export interface ElectionLeader {
  /** The leader's key, `<name>/<leaseId>`. */
  key: string;
  /** The value it proclaimed. */
  value: Uint8Array;
  /** That value as UTF-8. */
  text(): string;
  /** When its key was created: the leadership's fencing token. */
  createRevision: number;
  /** When it last proclaimed. */
  modRevision: number;
  /** Its lease. */
  lease: string | null;
}

/**
 * This campaigner's leadership, once `campaign` returns.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const { revision, lost } = await kv.election("jobs/leader").campaign("worker-1");
 * lost.then(() => console.warn("leadership lost"));
 * ```
 */
export interface Leadership {
  /** The leader key. */
  key: string;
  /** Its createRevision: the fencing token (compare it in guarded writes). */
  revision: number;
  /** The lease that keeps the leadership. */
  lease: LeaseHandle;
  /** Resolves when the leadership's lease is lost or resigned. */
  lost: Promise<LeaseLost>;
}

/**
 * Options of `election`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const election = kv.election("jobs/leader", { ttlSeconds: 5 });
 * ```
 */
export interface ElectionOptions {
  /** TTL of each campaign's lease: how long a dead leader keeps leading. Default 60. */
  ttlSeconds?: number;
}

/**
 * One campaigner in an election (use one per process; campaigns do not overlap).
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const election = kv.election("jobs/leader", { ttlSeconds: 10 });
 * await election.campaign("worker-1"); // blocks until this process leads
 * await election.proclaim("worker-1 at v2");
 * await election.resign();
 * ```
 */
export interface Election {
  /** Waits until this campaigner leads with `value`; returns its leadership. */
  campaign(value: string | Uint8Array, options?: { signal?: AbortSignal }): Promise<Leadership>;
  /** Replaces the leader's value; throws NotLeader unless this campaigner still leads. */
  proclaim(value: string | Uint8Array, options?: { signal?: AbortSignal }): Promise<void>;
  /** Gives up leadership (or a pending campaign's place); a no-op when not campaigning. */
  resign(): Promise<void>;
  /** The current leader, or null. */
  leader(options?: { signal?: AbortSignal }): Promise<ElectionLeader | null>;
  /**
   * The leader now, then each change of leader or of its value (null: no leader), until
   * the signal aborts or the loop breaks. Intermediate changes may be skipped.
   */
  observe(options?: { signal?: AbortSignal }): AsyncIterable<ElectionLeader | null>;
}

/** Creates a campaigner for the election `name`. */
export function createElection(
  ctx: CallContext,
  name: string,
  options: ElectionOptions = {},
): Election {
  const prefix = queuePrefix(name);
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_LOCK_TTL_SECONDS;
  let current: Leadership | null = null;
  let campaigning = false;
  let pending: LeaseHandle | null = null;

  const proclaim = async (value: string | Uint8Array, opts: { signal?: AbortSignal } = {}) => {
    const held = current;
    if (held === null) throw new NotLeader(`not the leader of ${name}`, { status: 0 });
    const { succeeded } = await runTxn(ctx, {
      compare: [{ key: held.key, target: "createRevision", op: "=", value: held.revision }],
      success: [{ put: { key: held.key, value, lease: held.lease } }],
    }, opts);
    if (!succeeded) {
      current = null;
      throw new NotLeader(`no longer the leader of ${name}: ${held.key} is gone`, { status: 0 });
    }
  };

  return {
    async campaign(value, opts = {}) {
      if (current !== null) {
        await proclaim(value, opts);
        return current;
      }
      if (campaigning) throw new BadRequest("a campaign is already running", { status: 0 });
      campaigning = true;
      const { signal } = opts;
      try {
        const lease = await grantLease(ctx, ttlSeconds, signal === undefined ? {} : { signal });
        pending = lease;
        try {
          const { entry, look } = await enqueue(ctx, prefix, lease, value, signal);
          await waitForTurn(ctx, prefix, entry, lease, look, signal);
          current = { key: entry.key, revision: entry.revision, lease, lost: lease.lost };
          return current;
        } catch (error) {
          await lease.revoke().catch(() => {});
          throw error;
        }
      } finally {
        campaigning = false;
        pending = null;
      }
    },
    proclaim,
    async resign() {
      const lease = current?.lease ?? pending;
      current = null;
      await lease?.revoke();
    },
    async leader(opts = {}) {
      const { front } = await frontOf(ctx, prefix, opts.signal);
      return front === null ? null : leaderOf(front);
    },
    observe: (opts = {}) => observeLeader(ctx, prefix, opts.signal),
  };
}

function leaderOf(item: ListItem): ElectionLeader {
  const value = item.value;
  return {
    key: item.key,
    value,
    text: () => utf8(value),
    createRevision: item.createRevision,
    modRevision: item.modRevision,
    lease: item.lease,
  };
}

/** Yields the leader whenever it (or its value) changes, following one prefix watch. */
async function* observeLeader(
  ctx: CallContext,
  prefix: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<ElectionLeader | null, void, undefined> {
  for (;;) {
    let start: { front: ListItem | null; revision: number };
    try {
      start = await frontOf(ctx, prefix, signal);
    } catch (error) {
      if (signal?.aborted) return;
      throw error;
    }
    // The line as a map of waiter key → its latest state, updated from the watch.
    // Only the front is read; waiters behind it are read back when the front goes.
    const line = new Map<string, LineEntry>();
    let shown = start.front === null ? null : entryOf(start.front);
    if (shown !== null) line.set(shown.key, shown);
    yield shown === null ? null : shownLeader(shown);
    try {
      for await (
        const event of watchEvents(ctx, prefix, {
          fromRevision: start.revision + 1,
          ...(signal === undefined ? {} : { signal }),
        })
      ) {
        if (!isWaiterKey(prefix, event.key)) continue;
        if (event.type === "delete") {
          line.delete(event.key);
          if (shown?.key !== event.key) continue;
          const { front } = await frontOf(ctx, prefix, signal);
          if (front !== null) line.set(front.key, entryOf(front));
        } else {
          line.set(event.key, {
            key: event.key,
            value: event.value ?? new Uint8Array(),
            createRevision: event.createRevision,
            modRevision: event.revision,
            lease: event.lease,
          });
        }
        const next = frontEntry(line);
        if (same(next, shown)) continue;
        shown = next;
        yield shown === null ? null : shownLeader(shown);
      }
      return; // the signal aborted
    } catch (error) {
      if (signal?.aborted) return;
      if (!(error instanceof RevisionCompacted)) throw error;
      // History is gone: start over from a fresh read.
    }
  }
}

interface LineEntry {
  key: string;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  lease: string | null;
}

function entryOf(item: ListItem): LineEntry {
  return {
    key: item.key,
    value: item.value,
    createRevision: item.createRevision,
    modRevision: item.modRevision,
    lease: item.lease,
  };
}

function frontEntry(line: Map<string, LineEntry>): LineEntry | null {
  let front: LineEntry | null = null;
  for (const entry of line.values()) {
    if (front === null || entry.createRevision < front.createRevision) front = entry;
  }
  return front;
}

function same(a: LineEntry | null, b: LineEntry | null): boolean {
  if (a === null || b === null) return a === b;
  return a.key === b.key && a.modRevision === b.modRevision;
}

function shownLeader(entry: LineEntry): ElectionLeader {
  const value = entry.value;
  return { ...entry, text: () => utf8(value) };
}
