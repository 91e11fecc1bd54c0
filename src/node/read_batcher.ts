/**
 * Linearizable reads, batched: at most one ReadIndex round (one heartbeat round on the
 * leader) is in flight at a time, and every read that arrives meanwhile shares the next
 * one, as etcd does; each read then waits until the local state machine has applied up
 * to the confirmed index.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";

/** Most reads waiting at once; beyond it reads get 429. */
export const MAX_PENDING_READS = 100_000;

/**
 * A safe round not confirmed within this long no longer holds back the next one (the
 * leader may have changed and dropped it).
 */
export const ROUND_STALL_MS = 200;

/** How reads reach the core and learn what is applied. */
export interface ReadBatcherDeps {
  /** Asks the core for a read index for `context`; the answer comes to `confirmed`. */
  readIndex(context: number, mode: "safe" | "lease"): void;
  /** The locally applied index. */
  applied(): number;
  /** A read not answered within this many ms fails with 503. */
  timeoutMs: number;
  /** The node's clock, in milliseconds. */
  now(): number;
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
  deadline: number;
  settled: boolean;
}

interface Batch {
  waiters: Waiter[];
  /** The confirmed read index, or null while the core has not answered. */
  index: number | null;
  mode: "safe" | "lease";
  startedMs: number;
}

/** Groups reads into ReadIndex rounds and releases them once applied. */
export class ReadBatcher {
  readonly #deps: ReadBatcherDeps;
  readonly #queued: Record<"safe" | "lease", Waiter[]> = { safe: [], lease: [] };
  readonly #batches = new Map<number, Batch>();
  #nextContext = 1;
  #flushScheduled = false;
  #pending = 0;

  /** Creates a batcher. */
  constructor(deps: ReadBatcherDeps) {
    this.#deps = deps;
  }

  /** Resolves when a read started now may be served from local state. */
  read(mode: "safe" | "lease", signal: AbortSignal): Promise<void> {
    if (this.#pending >= MAX_PENDING_READS) {
      return Promise.reject(new RaftkvError("too_many_requests", "too many reads in flight", 1));
    }
    return new Promise<void>((resolve, reject) => {
      const settle = (): boolean => {
        if (waiter.settled) return false;
        waiter.settled = true;
        this.#pending--;
        signal.removeEventListener("abort", onAbort);
        return true;
      };
      const waiter: Waiter = {
        resolve: () => settle() && resolve(),
        reject: (e) => settle() && reject(e),
        deadline: this.#deps.now() + this.#deps.timeoutMs,
        settled: false,
      };
      // The waiter stays in its batch (it is dropped there later); it just settles now.
      const onAbort = () =>
        waiter.reject(
          new RaftkvError("unavailable", "the read timed out before leadership was confirmed", 1),
        );
      signal.addEventListener("abort", onAbort, { once: true });
      this.#pending++;
      this.#queued[mode].push(waiter);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  #flush(now = this.#deps.now()): void {
    this.#flushScheduled = false;
    for (const mode of ["safe", "lease"] as const) {
      const waiters = this.#queued[mode];
      if (waiters.length === 0) continue;
      if (mode === "safe" && this.#roundInFlight(now)) continue; // joins the next round
      this.#queued[mode] = [];
      const context = this.#nextContext++;
      this.#batches.set(context, { waiters, index: null, mode, startedMs: now });
      this.#deps.readIndex(context, mode);
    }
  }

  /** Whether a safe round is still waiting for its confirmation (and not stalled). */
  #roundInFlight(now: number): boolean {
    for (const batch of this.#batches.values()) {
      if (batch.mode === "safe" && batch.index === null && now - batch.startedMs < ROUND_STALL_MS) {
        return true;
      }
    }
    return false;
  }

  /** The core confirmed `index` for `context`; reads queued meanwhile start their round. */
  confirmed(context: number, index: number): void {
    const batch = this.#batches.get(context);
    if (batch) batch.index = index;
    if (this.#queued.safe.length > 0) this.#flush();
  }

  /** Releases every confirmed batch whose index is applied. */
  drain(): void {
    const applied = this.#deps.applied();
    for (const [context, batch] of this.#batches) {
      if (batch.index === null || batch.index > applied) continue;
      this.#batches.delete(context);
      for (const w of batch.waiters) w.resolve();
    }
  }

  /** Fails reads past their deadline (no leader confirmed them in time). */
  expire(now = this.#deps.now()): void {
    // A stalled round must not hold queued reads back for good.
    if (this.#queued.safe.length > 0) this.#flush(now);
    for (const [context, batch] of this.#batches) {
      const live = batch.waiters.filter((w) => {
        if (w.settled) return false;
        if (w.deadline > now) return true;
        w.reject(
          new RaftkvError("unavailable", "could not confirm leadership for the read in time", 1),
        );
        return false;
      });
      if (live.length === 0) this.#batches.delete(context);
      else batch.waiters = live;
    }
  }

  /** Fails everything (shutdown). */
  failAll(error: Error): void {
    for (const batch of this.#batches.values()) for (const w of batch.waiters) w.reject(error);
    this.#batches.clear();
    for (const mode of ["safe", "lease"] as const) {
      for (const w of this.#queued[mode]) w.reject(error);
      this.#queued[mode] = [];
    }
  }
}
