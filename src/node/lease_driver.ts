/**
 * The node's side of leases: batches keepalives, serves lease lookups, and answers
 * each keepalive once the log entry carrying it has applied.
 *
 * Why batches: a client keeps a lease alive every ttl/3, so 10,000 leases are thousands
 * of keepalives a second. Every keepalive that arrives within one tick goes into ONE
 * `leaseKeepalive` entry listing the lease ids (at most {@link MAX_KEEPALIVE_BATCH_IDS}
 * per entry), so the log grows by about one small entry per tick however many leases
 * are alive. A keepalive is acknowledged only when that entry applies: the renewed
 * deadline (entry clock + TTL) is then durable on a majority, and a new leader has it.
 * Leader changes renew nothing; expiry is proposed by the leader alone (`expire`, see
 * `RaftkvNode`), once its clock passes the earliest deadline.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";
import type { LeaseView } from "../http/node_api.ts";
import { MAX_KEEPALIVE_BATCH_IDS } from "../kv/leases.ts";
import type { KvStore } from "../kv/store.ts";
import type {
  ApplyResult,
  Consistency,
  KvCommand,
  LeaseInfo,
  LeaseKeepaliveResult,
} from "../kv/types.ts";

/** Most keepalives waiting for the next tick's entry; beyond it keepalives answer 429. */
export const MAX_PENDING_KEEPALIVES = 100_000;

/** What the driver needs from the node. */
export interface LeaseDriverDeps {
  /** Proposes a command and resolves with its apply result (the node's `write`). */
  propose(command: KvCommand): Promise<ApplyResult>;
  /** The node's clock (remaining times are shown on it). */
  now(): number;
  /** The node's current store. */
  kv(): KvStore;
  /** Waits until a read at `consistency` may be served here. */
  awaitReadable(consistency: Consistency, signal: AbortSignal): Promise<void>;
}

interface Waiter {
  resolve(view: LeaseView | null): void;
  reject(error: Error): void;
}

/** A lease as the API shows it, with its remaining time at `nowMs`. */
export function leaseView(info: LeaseInfo, nowMs: number): LeaseView {
  return { id: info.id, ttlMs: info.ttlMs, remainingMs: Math.max(0, info.deadlineMs - nowMs) };
}

/** Keepalive batching and lease lookups of one node. */
export class LeaseDriver {
  readonly #deps: LeaseDriverDeps;
  #pending = new Map<string, Set<Waiter>>();
  #pendingCount = 0;
  /** Keepalive entries proposed so far (for the cost measurement and metrics). */
  entriesProposed = 0;

  /** Creates a driver over the node's hooks. */
  constructor(deps: LeaseDriverDeps) {
    this.#deps = deps;
  }

  /** Number of keepalives waiting for the next tick. */
  get pendingKeepalives(): number {
    return this.#pendingCount;
  }

  /**
   * Queues a keepalive of lease `id` for the next tick's entry. Resolves with the renewed
   * lease, or null when it is gone; rejects like a write (503 not leader, 504 deadline).
   */
  keepalive(id: string, signal: AbortSignal): Promise<LeaseView | null> {
    if (this.#pendingCount >= MAX_PENDING_KEEPALIVES) {
      return Promise.reject(
        new RaftkvError("too_many_requests", "too many keepalives waiting; retry shortly", 1),
      );
    }
    return new Promise<LeaseView | null>((resolve, reject) => {
      const waiters = this.#pending.get(id) ?? new Set<Waiter>();
      const onAbort = () => {
        // Still queued: it never reaches the log. Already proposed: its fate is unknown.
        if (this.#pending.get(id) === waiters && waiters.delete(waiter)) this.#pendingCount--;
        reject(
          new RaftkvError(
            "outcome_unknown",
            "the keepalive was not acknowledged before its deadline; the lease may or may not be renewed",
          ),
        );
      };
      const waiter: Waiter = {
        resolve: (view) => {
          signal.removeEventListener("abort", onAbort);
          resolve(view);
        },
        reject: (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      waiters.add(waiter);
      this.#pending.set(id, waiters);
      this.#pendingCount++;
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Called every tick: proposes the queued keepalives, one entry per batch of ids. */
  tick(): void {
    if (this.#pendingCount === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    this.#pendingCount = 0;
    const ids = [...batch.keys()].filter((id) => (batch.get(id)?.size ?? 0) > 0);
    for (let i = 0; i < ids.length; i += MAX_KEEPALIVE_BATCH_IDS) {
      this.#propose(ids.slice(i, i + MAX_KEEPALIVE_BATCH_IDS), batch);
    }
  }

  /** Fails every queued keepalive (the node is stopping). */
  close(error: Error): void {
    const batch = this.#pending;
    this.#pending = new Map();
    this.#pendingCount = 0;
    for (const waiters of batch.values()) for (const w of waiters) w.reject(error);
  }

  /** One lease with a page of its keys (after `after`, at most `limit`), or null. */
  async lease(
    id: string,
    after: string | null,
    limit: number,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ lease: LeaseView; keys: string[]; more: boolean } | null> {
    await this.#deps.awaitReadable(consistency, signal);
    const found = this.#deps.kv().lease(id, after, limit);
    if (found === null) return null;
    return {
      lease: leaseView(found.lease, this.#deps.now()),
      keys: found.keys,
      more: found.more,
    };
  }

  /** A page of leases. */
  async leases(
    after: string | null,
    limit: number,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ items: LeaseView[]; more: boolean }> {
    await this.#deps.awaitReadable(consistency, signal);
    const page = this.#deps.kv().leases(after, limit);
    const nowMs = this.#deps.now();
    return { items: page.items.map((info) => leaseView(info, nowMs)), more: page.more };
  }

  #propose(ids: string[], batch: Map<string, Set<Waiter>>): void {
    this.entriesProposed++;
    const waitersOf = (id: string) => batch.get(id) ?? new Set<Waiter>();
    this.#deps.propose({ op: "leaseKeepalive", ids }).then(
      (result) => {
        if (!result.ok) {
          const error = new RaftkvError(result.code, result.message);
          for (const id of ids) for (const w of waitersOf(id)) w.reject(error);
          return;
        }
        const renewed = (result.value as LeaseKeepaliveResult).renewed;
        const nowMs = this.#deps.now();
        ids.forEach((id, i) => {
          const info = renewed[i] ?? null;
          const view = info === null ? null : leaseView(info, nowMs);
          for (const w of waitersOf(id)) w.resolve(view);
        });
      },
      (error: Error) => {
        for (const id of ids) for (const w of waitersOf(id)) w.reject(error);
      },
    );
  }
}
