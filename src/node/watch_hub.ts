/**
 * Fans the state machine's change events out to watch streams. A stream first replays
 * the bounded history from its revision, then follows live events; both are taken in
 * one synchronous step, so nothing falls between them.
 *
 * @module
 */

import type { KvStore } from "../kv/store.ts";
import type { WatchEvent } from "../kv/types.ts";
import { RaftkvError } from "../errors.ts";

/** Events buffered for one slow watcher before its stream is ended (it may resume). */
export const MAX_WATCH_BUFFER_EVENTS = 10_000;

interface Subscriber {
  prefix: string;
  push(events: readonly WatchEvent[]): void;
  end(reason: Error | null): void;
}

/** Owns the subscription to the current KV store and the live streams. */
export class WatchHub {
  readonly #subscribers = new Set<Subscriber>();
  readonly #kv: () => KvStore;
  #unsubscribe: (() => void) | null = null;
  /** Set once the node is stopping: every stream ends with it, new ones at once. */
  #closedWith: RaftkvError | null = null;

  /** `kv` returns the node's current store (it is replaced when a snapshot is installed). */
  constructor(kv: () => KvStore) {
    this.#kv = kv;
  }

  /** Follows a (new) store. Streams on a replaced store end; clients resume by revision. */
  attach(kv: KvStore): void {
    if (this.#unsubscribe) {
      this.#unsubscribe();
      this.closeAll(new RaftkvError("unavailable", "state was replaced by a snapshot; resume", 1));
    }
    this.#unsubscribe = kv.subscribe((events) => {
      for (const s of this.#subscribers) s.push(events);
    });
  }

  /**
   * Ends every stream and refuses new ones with `reason`: a stopping node's HTTP server
   * waits for requests in flight, and a stream never finishes by itself.
   */
  close(reason: RaftkvError): void {
    this.#closedWith = reason;
    this.closeAll(reason);
  }

  /** Ends every stream. */
  closeAll(reason: Error | null = null): void {
    for (const s of [...this.#subscribers]) s.end(reason);
    this.#subscribers.clear();
  }

  /** History from `fromRevision`, then live events, for keys under `prefix`. */
  async *watch(
    prefix: string,
    fromRevision: number,
    signal: AbortSignal,
  ): AsyncIterable<WatchEvent> {
    if (this.#closedWith !== null) throw this.#closedWith;
    const queue: WatchEvent[] = [];
    let wake: (() => void) | null = null;
    // Boxed so that TypeScript does not narrow it: it is set from callbacks.
    const state: { ended: { reason: Error | null } | null } = { ended: null };
    const subscriber: Subscriber = {
      prefix,
      push(events) {
        for (const e of events) {
          if (e.key.startsWith(prefix) && e.revision >= fromRevision) queue.push(e);
        }
        if (queue.length > MAX_WATCH_BUFFER_EVENTS) {
          subscriber.end(
            new RaftkvError(
              "too_many_requests",
              "watcher fell too far behind; resume from its revision",
              1,
            ),
          );
        }
        wake?.();
      },
      end(reason) {
        state.ended ??= { reason };
        wake?.();
      },
    };
    const onAbort = () => subscriber.end(null);
    signal.addEventListener("abort", onAbort, { once: true });
    // Subscribing and reading history happen in one synchronous step: no gap, no overlap.
    const history = this.#kv().eventsSince(fromRevision, prefix);
    this.#subscribers.add(subscriber);
    try {
      yield* history;
      while (true) {
        while (queue.length > 0 && state.ended === null) yield queue.shift()!;
        const ended = state.ended;
        if (ended !== null) {
          if (ended.reason) throw ended.reason;
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    } finally {
      this.#subscribers.delete(subscriber);
      signal.removeEventListener("abort", onAbort);
    }
  }
}
