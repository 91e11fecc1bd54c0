/**
 * The fenced-lock workload of a chaos run: a few clients take one lock with the
 * client library's `kv.lock` (leases + txn + watch), and while holding it increment a
 * counter key by read-modify-write: a linearizable GET of the counter, then a
 * transaction that writes `<n+1>/<tag>` only if the holder's lock key still has the
 * createRevision it was granted with (the fence). A holder that lost its lease (paused,
 * partitioned, its node killed) has lost its key, so its late write fails instead of
 * overwriting the next holder's increment. lock_checks.ts judges the outcome.
 *
 * The GET and the fenced txn go out as raw HTTP (kv_http.ts), so their outcomes are
 * classified exactly as the rest of the chaos history is; only taking and releasing
 * the lock goes through the library.
 *
 * Faults rarely make a holder lose its lease while it still believes it holds the
 * lock (its keepalives reach any live voter), so some holdings stall on purpose
 * ({@link STALL_SHARE}): after reading the counter, the holder's lease is revoked
 * behind its back, as an expiry during a long GC pause would, and the holder sends its
 * now stale write only after a pause in which another holder can take the lock and
 * increment. That write must be fenced out; were it not, the counter check would see
 * the other holder's increment lost.
 *
 * @module
 */

import { createClient, type RaftkvClient } from "../../mod.ts";
import type { ChaosCluster } from "./cluster.ts";
import { mulberry32 } from "./history.ts";
import { kvGet, kvTxn, leaseRevoke, type ReadAnswer } from "./kv_http.ts";
import { newHttpClient, OP_TIMEOUT_MS } from "./clients.ts";
import { countOf, type IncrementRecord } from "./lock_checks.ts";

/** The lock every lock client contends for. */
export const LOCK_NAME = "chaos/lock";
/** The counter the holders increment. */
export const COUNTER_KEY = "chaos/counter";
/**
 * TTL of a holder's lease: short, so a killed or partitioned holder blocks the others
 * only briefly (at least the server's minimum, 1.5 × the base election timeout).
 */
export const LOCK_TTL_SECONDS = 3;
/** Longest one `kv.lock` call may wait before the client gives up and tries again. */
export const ACQUIRE_TIMEOUT_MS = 15_000;
/** Increments per holding at most (≥ 2, so interleaving between holdings can show). */
export const MAX_INCREMENTS_PER_HOLDING = 3;
/** Pause after a failed acquire, so a client does not spin while the cluster is down. */
const RETRY_PAUSE_MS = 100;
/** Share of holdings that stall with their lease revoked behind their back. */
export const STALL_SHARE = 0.1;
/** How long a stalled holder waits before its stale write (others take the lock meanwhile). */
export const STALL_MS = 300;

/** Longest a release may take; an abandoned lease expires within its TTL anyway. */
export const RELEASE_TIMEOUT_MS = 5000;

/** A held lock, as the workload uses it. */
interface Held {
  key: string;
  revision: number;
  /** Releasing the lock is revoking this lease (what `lock.release()` does). */
  lease: { id: string; revoke(options: { signal: AbortSignal }): Promise<void> };
}

/** Counters printed at the end. */
export interface LockStats {
  acquired: number;
  acquireFailed: number;
  releaseFailed: number;
  /** Counter reads without an answer (the holding then ends without a write). */
  readsUnanswered: number;
  /** Holdings stalled on purpose (their lease revoked before their write). */
  stalls: number;
}

/** State shared by the lock clients of a run. */
export class LockWorkload {
  readonly increments: IncrementRecord[] = [];
  /** Every counter value a holder read before incrementing. */
  readonly reads: (string | null)[] = [];
  readonly stats: LockStats = {
    acquired: 0,
    acquireFailed: 0,
    releaseFailed: 0,
    readsUnanswered: 0,
    stalls: 0,
  };
  /** Examples of why acquires failed (for the report). */
  readonly acquireErrors: string[] = [];
  readonly #cluster: ChaosCluster;
  readonly #stop = new AbortController();

  /** A lock workload on `cluster`. */
  constructor(cluster: ChaosCluster) {
    this.#cluster = cluster;
  }

  /** Asks every lock client to finish (a waiting acquire is aborted). */
  stop(): void {
    this.#stop.abort(new Error("the run is over"));
  }

  /** Runs lock client `client` until {@link LockWorkload.stop}. */
  async runClient(client: number, seed: number): Promise<void> {
    const rand = mulberry32(seed);
    const http = newHttpClient();
    const voters = this.#cluster.voters();
    // Each client lists the voters from its own starting point, as clients near
    // different nodes would.
    const start = Math.floor(rand() * voters.length);
    const endpoints = voters.map((_, i) => voters[(start + i) % voters.length]?.httpUrl ?? "");
    const kv = createClient({ endpoints, timeoutMs: OP_TIMEOUT_MS });
    const pickUrl = () => voters[Math.floor(rand() * voters.length)]?.httpUrl ?? "";
    let seq = 0;
    try {
      while (!this.#stop.signal.aborted) {
        const lock = await this.#acquire(kv);
        if (lock === null) {
          await pause(RETRY_PAUSE_MS, this.#stop.signal);
          continue;
        }
        const holding = `${lock.key}@${lock.revision}`;
        const count = 1 + Math.floor(rand() * MAX_INCREMENTS_PER_HOLDING);
        const stallAt = rand() < STALL_SHARE ? Math.floor(rand() * count) : -1;
        for (let n = 0; n < count && !this.#stop.signal.aborted; n++) {
          const tag = `l${client}-${seq++}`;
          const stall = n === stallAt ? () => this.#stall(http, pickUrl(), lock) : null;
          const ok = await this.#increment(http, pickUrl(), holding, lock, tag, stall);
          if (!ok) break;
        }
        await lock.lease.revoke({ signal: AbortSignal.timeout(RELEASE_TIMEOUT_MS) })
          .catch(() => this.stats.releaseFailed++);
      }
    } finally {
      http.close();
    }
  }

  async #acquire(kv: RaftkvClient): Promise<Held | null> {
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(ACQUIRE_TIMEOUT_MS)]);
    try {
      const lock = await kv.lock(LOCK_NAME, { ttlSeconds: LOCK_TTL_SECONDS, signal });
      this.stats.acquired++;
      return lock;
    } catch (error) {
      if (!this.#stop.signal.aborted) {
        this.stats.acquireFailed++;
        if (this.acquireErrors.length < 5) this.acquireErrors.push(String(error));
      }
      return null;
    }
  }

  /**
   * Revokes the holder's lease behind its back and pauses; true when the revoke was
   * acknowledged (the holder's key is then certainly gone before its write).
   */
  async #stall(http: Deno.HttpClient, url: string, lock: Held): Promise<boolean> {
    this.stats.stalls++;
    const revoked = await leaseRevoke(http, url, lock.lease.id, OP_TIMEOUT_MS);
    await pause(STALL_MS, this.#stop.signal);
    return revoked.kind === "revoked";
  }

  /**
   * One fenced read-modify-write; false when the holding should end. `stall`, when
   * given, runs between the read and the write.
   */
  async #increment(
    http: Deno.HttpClient,
    url: string,
    holding: string,
    lock: Held,
    tag: string,
    stall: (() => Promise<boolean>) | null,
  ): Promise<boolean> {
    const read = await kvGet(http, url, COUNTER_KEY, "linearizable", OP_TIMEOUT_MS);
    if (read.kind !== "read") {
      this.stats.readsUnanswered++;
      return false;
    }
    this.reads.push(read.value);
    const stale = stall === null ? false : await stall();
    const value = `${countOf(read.value) + 1}/${tag}`;
    const answer = await kvTxn(http, url, {
      compare: [{ key: lock.key, target: "createRevision", op: "=", value: lock.revision }],
      success: [{ put: { key: COUNTER_KEY, value } }],
      failure: [],
    }, OP_TIMEOUT_MS);
    const outcome: IncrementRecord["outcome"] = answer.kind === "txn"
      ? answer.succeeded ? "acked" : "fenced"
      : answer.kind === "unknown" && (answer.reason === "not-sent" || answer.reason === "refused")
      ? "notApplied"
      : "unknown";
    this.increments.push({
      tag,
      holding,
      basedOn: read.value,
      value,
      outcome,
      revision: answer.kind === "txn" && answer.succeeded ? answer.revision : null,
      stale,
    });
    return outcome === "acked";
  }

  /** The final linearizable read of the counter through `url` (null answer: unknown). */
  async finalRead(url: string): Promise<ReadAnswer | null> {
    const http = newHttpClient();
    try {
      const read = await kvGet(http, url, COUNTER_KEY, "linearizable", OP_TIMEOUT_MS);
      return read.kind === "read" ? read : null;
    } finally {
      http.close();
    }
  }
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
