/**
 * The in-memory key-value state behind the fake servers: revisions, CAS, TTL-free
 * keys, an idempotency cache, and an event history for watches. Shared by every fake
 * node of a cluster so endpoint rotation sees one store.
 *
 * @module
 */

/** A stored key. */
export interface FakeRecord {
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  expiresAt: string | null;
}

/** One change, as the fake's watch streams it. */
export interface FakeEvent {
  type: "put" | "delete";
  key: string;
  value: Uint8Array | null;
  revision: number;
  createRevision: number;
  version: number;
}

/** A cached answer to replay for a repeated Idempotency-Key. */
export interface CachedAnswer {
  status: number;
  body: string | Uint8Array<ArrayBuffer>;
  headers: Record<string, string>;
}

/** The shared state. Plain fields: tests read and poke them directly. */
export class FakeStore {
  revision = 0;
  readonly keys = new Map<string, FakeRecord>();
  readonly history: FakeEvent[] = [];
  /** Watches from a revision below this answer 410. */
  compactedBelow = 0;
  readonly answers = new Map<string, CachedAnswer>();
  /** How many write commands were applied (repeats served from the cache are not). */
  applied = 0;
  readonly #subscribers = new Set<(event: FakeEvent) => void>();

  /** Puts a key, or returns the 412 reason. */
  put(key: string, value: Uint8Array, ifModRevision: number | null, createOnly: boolean) {
    const existing = this.keys.get(key);
    if (createOnly && existing !== undefined) return { ok: false as const, current: existing };
    if (ifModRevision !== null && (existing?.modRevision ?? 0) !== ifModRevision) {
      return { ok: false as const, current: existing ?? null };
    }
    this.applied++;
    this.revision++;
    const record: FakeRecord = {
      value,
      createRevision: existing?.createRevision ?? this.revision,
      modRevision: this.revision,
      version: (existing?.version ?? 0) + 1,
      expiresAt: null,
    };
    this.keys.set(key, record);
    this.#emit({ type: "put", key, value, revision: this.revision, ...pick(record) });
    return { ok: true as const, record };
  }

  /** Deletes keys (one, or every key under a prefix) at one revision. */
  delete(keys: string[]): number {
    this.applied++;
    const present = keys.filter((key) => this.keys.has(key)).sort();
    if (present.length === 0) return 0;
    this.revision++;
    for (const key of present) {
      const record = this.keys.get(key);
      this.keys.delete(key);
      this.#emit({
        type: "delete",
        key,
        value: null,
        revision: this.revision,
        createRevision: record?.createRevision ?? 0,
        version: 0,
      });
    }
    return present.length;
  }

  /** Keys under `prefix`, sorted, strictly after `after`. */
  keysUnder(prefix: string, after: string | null): string[] {
    return [...this.keys.keys()]
      .filter((key) => key.startsWith(prefix) && (after === null || key > after))
      .sort();
  }

  /** Calls `listener` for each future event; returns the unsubscribe. */
  subscribe(listener: (event: FakeEvent) => void): () => void {
    this.#subscribers.add(listener);
    return () => this.#subscribers.delete(listener);
  }

  /** Number of open watch subscriptions. */
  get watchers(): number {
    return this.#subscribers.size;
  }

  #emit(event: FakeEvent): void {
    this.history.push(event);
    for (const listener of this.#subscribers) listener(event);
  }
}

function pick(record: FakeRecord) {
  return { createRevision: record.createRevision, version: record.version };
}
