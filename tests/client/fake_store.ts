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
  lease: string | null;
}

/** One change, as the fake's watch streams it. */
export interface FakeEvent {
  type: "put" | "delete";
  key: string;
  value: Uint8Array | null;
  revision: number;
  createRevision: number;
  version: number;
  lease: string | null;
}

/** A lease of the fake: no clock; tests end it with `revokeLease`. */
export interface FakeLease {
  ttlSeconds: number;
  keys: Set<string>;
  /** Keepalives received. */
  keepalives: number;
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
  readonly leases = new Map<string, FakeLease>();
  #nextLease = 0x1f;
  readonly #subscribers = new Set<(event: FakeEvent) => void>();

  /** Puts a key, or returns the 412 reason. */
  put(
    key: string,
    value: Uint8Array,
    ifModRevision: number | null,
    createOnly: boolean,
    lease: string | null = null,
  ) {
    const existing = this.keys.get(key);
    if (createOnly && existing !== undefined) return { ok: false as const, current: existing };
    if (ifModRevision !== null && (existing?.modRevision ?? 0) !== ifModRevision) {
      return { ok: false as const, current: existing ?? null };
    }
    this.applied++;
    this.revision++;
    return { ok: true as const, record: this.write(key, value, lease, this.revision) };
  }

  /** Sets `key` at `revision` (which the caller has made current) and emits its event. */
  write(key: string, value: Uint8Array, lease: string | null, revision: number): FakeRecord {
    const existing = this.keys.get(key);
    if (existing?.lease) this.leases.get(existing.lease)?.keys.delete(key);
    if (lease !== null) this.leases.get(lease)?.keys.add(key);
    const record: FakeRecord = {
      value,
      createRevision: existing?.createRevision ?? revision,
      modRevision: revision,
      version: (existing?.version ?? 0) + 1,
      expiresAt: null,
      lease,
    };
    this.keys.set(key, record);
    this.#emit({ type: "put", key, value, revision, ...pick(record) });
    return record;
  }

  /** Removes `key` at `revision` (made current by the caller); false if it was absent. */
  remove(key: string, revision: number): boolean {
    const record = this.keys.get(key);
    if (record === undefined) return false;
    this.keys.delete(key);
    if (record.lease) this.leases.get(record.lease)?.keys.delete(key);
    this.#emit({
      type: "delete",
      key,
      value: null,
      revision,
      createRevision: record.createRevision,
      version: 0,
      lease: null,
    });
    return true;
  }

  /** Grants a lease; ids are lowercase hex like the server's. */
  grantLease(ttlSeconds: number): string {
    this.applied++;
    const id = (this.#nextLease++).toString(16);
    this.leases.set(id, { ttlSeconds, keys: new Set(), keepalives: 0 });
    return id;
  }

  /** Ends a lease (as a revoke or an expiry would): its keys go at one revision. */
  revokeLease(id: string): number | null {
    const lease = this.leases.get(id);
    if (lease === undefined) return null;
    this.leases.delete(id);
    this.applied++;
    if (lease.keys.size === 0) return 0;
    this.revision++;
    let deleted = 0;
    for (const key of [...lease.keys].sort()) if (this.remove(key, this.revision)) deleted++;
    return deleted;
  }

  /** Deletes keys (one, or every key under a prefix) at one revision. */
  delete(keys: string[]): number {
    this.applied++;
    const present = keys.filter((key) => this.keys.has(key)).sort();
    if (present.length === 0) return 0;
    this.revision++;
    for (const key of present) this.remove(key, this.revision);
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
  return { createRevision: record.createRevision, version: record.version, lease: record.lease };
}
