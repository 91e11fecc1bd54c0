/**
 * `lock(name)`: a distributed mutex on leases + txn + watch (etcd's recipe, see
 * queue.ts). The holder's key `<name>/<leaseId>` lives as long as its lease: a holder
 * that dies stops renewing, the lease expires, the key goes, the next waiter wakes.
 *
 * Fencing: the lock's `revision` (its key's createRevision) is unique to this holding
 * and grows from holder to holder. A write guarded by the lock should be a transaction
 * that compares the lock key's createRevision with `revision` (`lock.fence`): a holder
 * whose lease was lost (paused, partitioned, too slow) has lost its key, so its late
 * write fails instead of overwriting the next holder's work. Outside the store, pass
 * `revision` along and refuse any write carrying a lower token than one already seen.
 *
 * @module
 */

import type { CallContext } from "./call.ts";
import type { LeaseLost } from "./errors.ts";
import { grantLease, type LeaseHandle } from "./lease.ts";
import { DEFAULT_LOCK_TTL_SECONDS } from "./limits.ts";
import { enqueue, queuePrefix, waitForTurn } from "./queue.ts";
import { runTxn } from "./txn.ts";
import type { TxnCompare } from "./txn_types.ts";

/**
 * Options of `lock`.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const lock = await kv.lock("locks/report", { ttlSeconds: 10, signal: AbortSignal.timeout(30_000) });
 * ```
 */
export interface LockOptions {
  /** TTL of the lock's lease: how long a dead holder blocks the others. Default 60. */
  ttlSeconds?: number;
  /** Stops waiting: the waiter's key and lease are removed and the call rejects. */
  signal?: AbortSignal;
  /**
   * Hold the lock under this existing lease (etcd's session) instead of granting one:
   * acquiring is then a single transaction, and `release()` deletes the key but leaves the
   * lease alive. One lock per name per lease (the key is `<name>/<leaseId>`).
   */
  lease?: LeaseHandle;
}

/**
 * A held lock.
 *
 * @example
 * ```ts
 * import { createClient } from "./mod.ts";
 * const kv = createClient({ endpoints: ["http://127.0.0.1:8080"] });
 * const lock = await kv.lock("locks/counter", { ttlSeconds: 10 });
 * try {
 *   const current = await kv.get("counter");
 *   const next = String(Number(current?.text() ?? "0") + 1);
 *   const { succeeded } = await kv.txn({
 *     compare: [lock.fence], // fails if this holder lost the lock meanwhile
 *     success: [{ put: { key: "counter", value: next } }],
 *   });
 *   if (!succeeded) throw new Error("lost the lock before writing");
 * } finally {
 *   await lock.release();
 * }
 * ```
 */
export interface LockHandle {
  /** The holder's key, `<name>/<leaseId>`. */
  readonly key: string;
  /** The key's createRevision: the fencing token of this holding. */
  readonly revision: number;
  /** The lease keeping the key alive. */
  readonly lease: LeaseHandle;
  /** The compare that holds only while this holding lasts: put it in guarded writes. */
  readonly fence: TxnCompare;
  /** Resolves when the lock's lease ends: lost, or revoked by `release()` (see `LeaseHandle.lost`). */
  readonly lost: Promise<LeaseLost>;
  /** Deletes the key (revoking the lock's own lease), waking the next waiter. Idempotent. */
  release(): Promise<void>;
  /** Same as `release()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Waits for and takes the lock `name`. */
export async function acquireLock(
  ctx: CallContext,
  name: string,
  options: LockOptions = {},
): Promise<LockHandle> {
  const prefix = queuePrefix(name);
  const { signal } = options;
  if (signal?.aborted) throw signal.reason;
  const own = options.lease === undefined;
  const lease = options.lease ??
    await grantLease(
      ctx,
      options.ttlSeconds ?? DEFAULT_LOCK_TTL_SECONDS,
      signal === undefined ? {} : { signal },
    );
  const key = prefix + lease.id;
  // Our own lease goes with the lock (revoking deletes the key, even one whose create we
  // never saw answered); a shared lease stays, so only our key is deleted.
  const leave = own ? () => lease.revoke() : () => deleteOwnKey(ctx, key);
  try {
    const { entry, look } = await enqueue(ctx, prefix, lease, "", signal);
    await waitForTurn(ctx, prefix, entry, lease, look, signal);
    let released: Promise<void> | null = null;
    const release = () => released ??= leave();
    return {
      key: entry.key,
      revision: entry.revision,
      lease,
      fence: { key: entry.key, target: "createRevision", op: "=", value: entry.revision },
      lost: lease.lost,
      release,
      [Symbol.asyncDispose]: release,
    };
  } catch (error) {
    await leave().catch(() => {});
    throw error;
  }
}

async function deleteOwnKey(ctx: CallContext, key: string): Promise<void> {
  await runTxn(ctx, { success: [{ delete: { key } }] });
}
