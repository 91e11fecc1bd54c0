/**
 * The lease table of the state machine: leases with their TTL and deadline (on the
 * leader-stamped clock), the keys attached to each, and the id counter. Only `KvStore`
 * changes it, during apply, so every replica holds the same table.
 *
 * A lease is live while its deadline is after the store clock. A keepalive sets the
 * deadline to the keepalive entry's clock + TTL; the leader proposes the `expire`
 * entry that removes it (with its keys) once its own clock passes the deadline.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";
import { type BTree, newTree } from "./btree.ts";
import { invariant } from "./invariant.ts";
import type { LeaseInfo } from "./types.ts";

/** Most leases the store holds; a grant beyond it is refused (400). */
export const MAX_LEASES = 100_000;
/** Most keys attached to one lease; a put beyond it is refused (400). */
export const MAX_KEYS_PER_LEASE = 10_000;
/** Longest lease TTL: one day. */
export const MAX_LEASE_TTL_MS = 24 * 60 * 60 * 1000;
/**
 * Shortest TTL the state machine accepts. The HTTP layer asks for more (1.5 × the base
 * election timeout, see `minLeaseTtlMs`); this floor only keeps apply's rules constant
 * across replicas whatever their flags.
 */
export const MIN_LEASE_TTL_FLOOR_MS = 100;
/** Most lease ids in one keepalive entry. */
export const MAX_KEEPALIVE_BATCH_IDS = 4_096;

const LEASE_ID = /^[0-9a-f]{1,16}$/;

/** One lease. `keys` is derived from the key records (rebuilt on restore). */
export interface Lease {
  readonly id: number;
  readonly ttlMs: number;
  deadlineMs: number;
  readonly keys: Set<string>;
}

/** The canonical id string of lease number `n` (lowercase hex). */
export function leaseIdOf(n: number): string {
  return n.toString(16);
}

/** Lease number of an id string, or null when it is no lease id (1..2^53-1 in hex). */
export function parseLeaseId(text: unknown): number | null {
  if (typeof text !== "string" || !LEASE_ID.test(text)) return null;
  const n = parseInt(text, 16);
  return Number.isSafeInteger(n) && n >= 1 ? n : null;
}

/**
 * The canonical form of a lease id, or throws `bad_request` naming `what`. Leading zeros
 * are dropped, so `"00a"` and `"a"` name the same lease.
 */
export function canonicalLeaseId(text: unknown, what = "lease"): string {
  const n = parseLeaseId(text);
  if (n === null) {
    throw new RaftkvError("bad_request", `${what} must be a lease id (lowercase hex, 1-16 digits)`);
  }
  return leaseIdOf(n);
}

/** Throws `bad_request` unless `ttlMs` is an integer in MIN_LEASE_TTL_FLOOR_MS..MAX_LEASE_TTL_MS. */
export function validateLeaseTtlMs(ttlMs: unknown, minTtlMs = MIN_LEASE_TTL_FLOOR_MS): void {
  if (
    !Number.isSafeInteger(ttlMs) || (ttlMs as number) < minTtlMs ||
    (ttlMs as number) > MAX_LEASE_TTL_MS
  ) {
    throw new RaftkvError(
      "bad_request",
      `lease TTL must be between ${minTtlMs / 1000} and ${MAX_LEASE_TTL_MS / 1000} seconds`,
    );
  }
}

type DeadlineKey = readonly [deadlineMs: number, id: number];

/** Leases by id, with a deadline index for expiry. */
export class LeaseTable {
  #byId: BTree<number, Lease> = newTree<number, Lease>((a, b) => a - b);
  #deadlines: BTree<DeadlineKey, true> = newTree<DeadlineKey, true>(compareDeadline);
  #lastId = 0;

  /** Number of leases. */
  get size(): number {
    return this.#byId.size;
  }

  /** The last id granted (the counter, kept in snapshots). */
  get lastId(): number {
    return this.#lastId;
  }

  /** The lease named by `id` (a lease id string), or undefined. */
  get(id: string): Lease | undefined {
    const n = parseLeaseId(id);
    return n === null ? undefined : this.#byId.get(n);
  }

  /** Creates a lease with the next id, due at `clockMs + ttlMs`. */
  grant(ttlMs: number, clockMs: number): Lease {
    invariant(this.size < MAX_LEASES, "grants are refused at the lease limit");
    const lease: Lease = {
      id: ++this.#lastId,
      ttlMs,
      deadlineMs: clockMs + ttlMs,
      keys: new Set(),
    };
    this.#insert(lease);
    return lease;
  }

  /** Moves a lease's deadline to `clockMs + ttl` (never earlier than it was). */
  renew(lease: Lease, clockMs: number): void {
    const deadlineMs = Math.max(lease.deadlineMs, clockMs + lease.ttlMs);
    if (deadlineMs === lease.deadlineMs) return;
    const removed = this.#deadlines.delete([lease.deadlineMs, lease.id]);
    invariant(removed, "leases are in the deadline index");
    lease.deadlineMs = deadlineMs;
    this.#deadlines.set([deadlineMs, lease.id], true);
  }

  /** Drops a lease (its keys must already be gone). */
  remove(lease: Lease): void {
    invariant(lease.keys.size === 0, "a lease is removed after its keys");
    invariant(this.#byId.delete(lease.id), "removed leases exist");
    invariant(this.#deadlines.delete([lease.deadlineMs, lease.id]), "deadline index matches");
  }

  /** Leases whose deadline is at or before `clockMs`, soonest first. */
  expired(clockMs: number): Lease[] {
    const out: Lease[] = [];
    for (const [[deadlineMs, id]] of this.#deadlines.entries()) {
      if (deadlineMs > clockMs) break;
      const lease = this.#byId.get(id);
      invariant(lease !== undefined, "deadline index matches leases");
      out.push(lease);
    }
    return out;
  }

  /** The earliest deadline, or null without leases. */
  nextDeadlineMs(): number | null {
    return this.#deadlines.minKey()?.[0] ?? null;
  }

  /** Up to `limit` leases with ids above `afterId`, in id order, and whether more follow. */
  page(afterId: number, limit: number): { leases: Lease[]; more: boolean } {
    const leases: Lease[] = [];
    for (const [id, lease] of this.#byId.entries(afterId + 1)) {
      invariant(id > afterId, "pages start after their cursor");
      if (leases.length === limit) return { leases, more: true };
      leases.push(lease);
    }
    return { leases, more: false };
  }

  /** Rows for a snapshot: `[id, ttlMs, deadlineMs]`, in id order. */
  rows(): [number, number, number][] {
    return Array.from(this.#byId.values(), (l) => [l.id, l.ttlMs, l.deadlineMs]);
  }

  /** Rebuilds a table from snapshot rows (keys are attached afterwards). */
  static from(lastId: number, rows: Iterable<readonly [number, number, number]>): LeaseTable {
    const table = new LeaseTable();
    for (const [id, ttlMs, deadlineMs] of rows) {
      invariant(id <= lastId && !table.#byId.has(id), "snapshot lease ids are unique and counted");
      table.#insert({ id, ttlMs, deadlineMs, keys: new Set() });
    }
    table.#lastId = lastId;
    return table;
  }

  #insert(lease: Lease): void {
    this.#byId.set(lease.id, lease);
    this.#deadlines.set([lease.deadlineMs, lease.id], true);
  }
}

/** A lease as results and lookups show it. */
export function leaseInfo(lease: Lease): LeaseInfo {
  return { id: leaseIdOf(lease.id), ttlMs: lease.ttlMs, deadlineMs: lease.deadlineMs };
}

function compareDeadline(a: DeadlineKey, b: DeadlineKey): number {
  return a[0] - b[0] || a[1] - b[1];
}
