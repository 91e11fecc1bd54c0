/**
 * The replicated key-value state machine. Committed log entries go in (as envelope
 * bytes, in log order); results, watch events and snapshots come out. It knows
 * nothing of Raft, HTTP or files, and it is deterministic: the only clock is the
 * leader-stamped `nowMs` inside each envelope, so every replica fed the same entries
 * ends in the same state.
 *
 * Revisions follow etcd: the store revision goes up by one for each command that
 * changes something (a prefix delete or an expiry sweep is one revision however many
 * keys it removes); refused or no-op commands leave it alone.
 *
 * @module
 */

import { invariant } from "./invariant.ts";
import { RaftkvError } from "../errors.ts";
import { type BTree, compareKeys, newKeyTree, newTree } from "./btree.ts";
import { decodeEnvelope } from "./codec.ts";
import { DedupTable, DEFAULT_DEDUP_ENTRIES, DEFAULT_DEDUP_TTL_MS } from "./dedup.ts";
import { MAX_KEY_BYTES, MAX_VALUE_BYTES } from "./limits.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
import type {
  ApplyResult,
  DeletePrefixResult,
  DeleteResult,
  KeyValue,
  KvCommand,
  LeaseInfo,
  LeaseRevokeResult,
  PutResult,
  WatchEvent,
} from "./types.ts";
import {
  type Lease,
  leaseInfo,
  LeaseTable,
  MAX_KEYS_PER_LEASE,
  MAX_LEASES,
  parseLeaseId,
} from "./leases.ts";
import {
  compareHolds,
  isReadOnlyTxn,
  MAX_TXN_READ_BYTES,
  TXN_RESULT_ITEM_OVERHEAD_BYTES,
  txnReadItemBytes,
} from "./txn.ts";
import type { TxnOp, TxnOpResult, TxnRequest, TxnResult } from "./txn_types.ts";
import { DEFAULT_WATCH_HISTORY, DEFAULT_WATCH_HISTORY_BYTES, WatchRing } from "./watch_ring.ts";

/** Default bound on concurrent watch subscribers. */
export const MAX_SUBSCRIBERS = 1_024;
/** Largest page `list` returns. */
export const MAX_STORE_LIST_LIMIT = 10_000;
/**
 * Most bytes of keys (UTF-16 code units) and values one list page holds, unless its
 * first key alone is bigger; the page then ends early with `more` set.
 */
export const MAX_LIST_PAGE_BYTES = 1024 * 1024;
/** Per-key bookkeeping counted in `approximateBytes`. */
const RECORD_OVERHEAD_BYTES = 96;

/**
 * Store options. Everything that decides what `apply` does (limits, dedup bounds) must
 * be identical on every replica, or replicas diverge.
 */
export interface KvStoreOptions {
  /** Watch events kept for `eventsSince` (default 10,000). */
  watchHistory?: number;
  /** Bytes of values the watch history may keep alive (default 64 MiB). */
  watchHistoryBytes?: number;
  /** Idempotency keys remembered (default 100,000; oldest evicted). */
  dedupEntries?: number;
  /** How long an idempotency key is remembered, on the leader clock (default 10 min). */
  dedupTtlMs?: number;
  /** Largest key in UTF-8 bytes (default {@link MAX_KEY_BYTES}). */
  maxKeyBytes?: number;
  /** Largest value in bytes (default {@link MAX_VALUE_BYTES}). */
  maxValueBytes?: number;
  /** Most concurrent subscribers (default {@link MAX_SUBSCRIBERS}). */
  maxSubscribers?: number;
}

/** One committed Normal entry for {@link KvStore.applyBatch}. */
export interface KvEntry {
  index: number;
  data: Uint8Array;
}

/** A listener for applied changes; gets each apply batch's events, in order. */
export type WatchListener = (events: readonly WatchEvent[]) => void;

/** A snapshot in progress: the index it covers and its chunk stream. */
export interface KvSnapshot {
  /** Last applied log index the snapshot covers. */
  index: number;
  /** Store revision the snapshot covers. */
  revision: number;
  /** CBOR chunks; read them once, at any pace: the live store keeps applying meanwhile. */
  chunks: AsyncIterable<Uint8Array>;
}

/** A page of `list`. */
export interface ListPage {
  items: KeyValue[];
  /** Whether more keys under the prefix follow the last item. */
  more: boolean;
}

type ExpiryKey = readonly [expiresAtMs: number, key: string];

const NOOP_RESULT: ApplyResult = Object.freeze({ ok: true, value: null });

/** The replicated key-value state machine. */
export class KvStore {
  readonly #limits: { maxKeyBytes: number; maxValueBytes: number };
  readonly #maxSubscribers: number;
  readonly #options: KvStoreOptions;
  // Records are frozen and replaced, never mutated: snapshot clones share them.
  #tree: BTree<string, KeyValue> = newKeyTree<KeyValue>();
  #expiry: BTree<ExpiryKey, true> = newTree<ExpiryKey, true>(compareExpiry);
  #leases = new LeaseTable();
  #revision = 0;
  #appliedIndex = 0;
  #clockMs = 0;
  #bytes = 0;
  #dedup: DedupTable;
  #watch: WatchRing;
  readonly #subscribers = new Set<WatchListener>();
  #listenerErrors = 0;
  #applying = false;

  /** Creates an empty store. */
  constructor(options: KvStoreOptions = {}) {
    this.#options = { ...options };
    this.#limits = {
      maxKeyBytes: options.maxKeyBytes ?? MAX_KEY_BYTES,
      maxValueBytes: options.maxValueBytes ?? MAX_VALUE_BYTES,
    };
    this.#maxSubscribers = options.maxSubscribers ?? MAX_SUBSCRIBERS;
    this.#dedup = new DedupTable(
      options.dedupEntries ?? DEFAULT_DEDUP_ENTRIES,
      options.dedupTtlMs ?? DEFAULT_DEDUP_TTL_MS,
    );
    this.#watch = this.#newWatchRing(0);
  }

  /** Store revision: the number of changing commands applied so far. */
  get revision(): number {
    return this.#revision;
  }

  /** Index of the last applied log entry. */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** Leader-stamped clock: the largest `nowMs` applied so far. */
  get clockMs(): number {
    return this.#clockMs;
  }

  /** Number of keys. */
  get size(): number {
    return this.#tree.size;
  }

  /** Number of leases. */
  get leaseCount(): number {
    return this.#leases.size;
  }

  /** Rough memory held by keys and values, in bytes. */
  get approximateBytes(): number {
    return this.#bytes;
  }

  /** Number of remembered idempotency keys. */
  get dedupSize(): number {
    return this.#dedup.size;
  }

  /** Newest revision `eventsSince` can no longer serve (events start after it). */
  get compactedRevision(): number {
    return this.#watch.compactedRevision;
  }

  /** How many times a subscriber threw (the errors are swallowed so apply goes on). */
  get listenerErrors(): number {
    return this.#listenerErrors;
  }

  /**
   * Applies one committed Normal entry. `index` must exceed `appliedIndex` (gaps are
   * fine: other entry kinds are not applied here). Empty `data` is a leader no-op.
   * Never throws on bad data: a malformed or oversized envelope is refused with an
   * `ok: false` result, identically on every replica.
   */
  apply(index: number, data: Uint8Array): ApplyResult {
    const events: WatchEvent[] = [];
    const result = this.#applyOne(index, data, events);
    this.#notify(events);
    return result;
  }

  /** Applies entries in order and notifies subscribers once with all their events. */
  applyBatch(entries: readonly KvEntry[]): ApplyResult[] {
    const events: WatchEvent[] = [];
    const results = entries.map((e) => this.#applyOne(e.index, e.data, events));
    this.#notify(events);
    return results;
  }

  /** The key's current record, or null. Records are frozen: do not mutate `value`. */
  get(key: string): KeyValue | null {
    return this.#tree.get(key) ?? null;
  }

  /**
   * Keys starting with `prefix` and greater than `after` (when given), in key order
   * (UTF-16 code units), at most `limit` of them.
   */
  list(prefix: string, after: string | null, limit: number): ListPage {
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_STORE_LIST_LIMIT) {
      throw new RaftkvError(
        "bad_request",
        `limit must be an integer in 1..${MAX_STORE_LIST_LIMIT}`,
      );
    }
    return listPage(this.#tree, prefix, after, limit);
  }

  /**
   * Earliest expiry of any key or lease deadline, so the leader can propose `expire`
   * when due; or null.
   */
  nextExpiryMs(): number | null {
    const key = this.#expiry.minKey()?.[0] ?? null;
    const lease = this.#leases.nextDeadlineMs();
    if (key === null) return lease;
    return lease === null ? key : Math.min(key, lease);
  }

  /**
   * A lease and a page of its attached keys: those after `after` (null: from the first),
   * in key order, at most `limit` (default: every key, {@link MAX_KEYS_PER_LEASE});
   * `more` when further keys follow. Null when no lease has that id. A lease past its
   * deadline is shown until the leader's expiry entry removes it.
   */
  lease(
    id: string,
    after: string | null = null,
    limit: number = MAX_KEYS_PER_LEASE,
  ): { lease: LeaseInfo; keys: string[]; more: boolean } | null {
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_KEYS_PER_LEASE) {
      throw new RaftkvError("bad_request", `limit must be an integer in 1..${MAX_KEYS_PER_LEASE}`);
    }
    const lease = this.#leases.get(id);
    if (lease === undefined) return null;
    const keys: string[] = [];
    for (const key of lease.keys) {
      if (after === null || compareKeys(key, after) > 0) keys.push(key);
    }
    keys.sort(compareKeys);
    const more = keys.length > limit;
    if (more) keys.length = limit;
    return { lease: leaseInfo(lease), keys, more };
  }

  /** Up to `limit` leases with ids after `after` (null: from the first), in id order. */
  leases(after: string | null, limit: number): { items: LeaseInfo[]; more: boolean } {
    const afterId = after === null ? 0 : parseLeaseId(after);
    if (afterId === null) throw new RaftkvError("bad_request", "after must be a lease id");
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_STORE_LIST_LIMIT) {
      throw new RaftkvError(
        "bad_request",
        `limit must be an integer in 1..${MAX_STORE_LIST_LIMIT}`,
      );
    }
    const page = this.#leases.page(afterId, limit);
    return { items: page.leases.map(leaseInfo), more: page.more };
  }

  /**
   * Evaluates a transaction that writes nothing in either branch against the current
   * state (the read path: no log entry). Throws on a transaction that writes.
   */
  readTxn(txn: TxnRequest): TxnResult {
    if (!isReadOnlyTxn(txn)) {
      throw new RaftkvError("bad_request", "a transaction that writes must go through the log");
    }
    const result = this.#txn(txn, []);
    // Only its size can refuse a read-only transaction (a get past the read budget).
    if (!result.ok) throw new RaftkvError(result.code, result.message);
    return result.value as TxnResult;
  }

  /**
   * Recent events with revision >= `fromRevision` under `prefix`, oldest first.
   * Returns [] when `fromRevision` is beyond the current revision; throws
   * `revision_compacted` when the history no longer reaches back that far.
   */
  eventsSince(fromRevision: number, prefix: string): WatchEvent[] {
    if (!Number.isSafeInteger(fromRevision)) {
      throw new RaftkvError("bad_request", "fromRevision must be an integer");
    }
    if (fromRevision > this.#revision) return [];
    return this.#watch.since(Math.max(fromRevision, 1), prefix);
  }

  /**
   * Calls `listener` after each apply batch with that batch's events. Returns the
   * unsubscribe function. Throws `too_many_requests` when the subscriber limit is hit.
   */
  subscribe(listener: WatchListener): () => void {
    if (this.#subscribers.size >= this.#maxSubscribers) {
      throw new RaftkvError("too_many_requests", `at most ${this.#maxSubscribers} watchers`);
    }
    this.#subscribers.add(listener);
    return () => {
      this.#subscribers.delete(listener);
    };
  }

  /**
   * Starts a snapshot of the state as of this call and returns its chunk stream.
   *
   * Why copy-on-write: `BTree.clone()` is O(1) — the clone shares every node with the
   * live tree and each side copies a node only when it first writes to it. So the
   * snapshot costs no pause at any size, and applies continue on the live tree while
   * the chunks stream out of the clone. Records are immutable, so sharing them is safe.
   * The small state (revision, clock, dedup table) is copied eagerly here.
   */
  snapshot(): KvSnapshot {
    const state = {
      index: this.#appliedIndex,
      revision: this.#revision,
      clockMs: this.#clockMs,
      dedup: this.#dedup.entries(),
      tree: this.#tree.clone(),
      // Leases change in place (deadlines, keys), so they are copied now; keys are
      // derived from the records on restore.
      leases: this.#leases.rows(),
      lastLeaseId: this.#leases.lastId,
    };
    return { index: state.index, revision: state.revision, chunks: encodeSnapshot(state) };
  }

  /**
   * Rebuilds a store from a snapshot stream. Throws `RaftkvError("bad_request")` on a
   * truncated or corrupt stream. The watch history starts empty: events at or before
   * the snapshot revision are `revision_compacted`.
   */
  /**
   * Moves the store to another log's index space: a backup restored as a new cluster
   * starts its log afresh at `index`. Only valid right after `restore()`.
   */
  rebaseAppliedIndex(index: number): void {
    invariant(Number.isSafeInteger(index) && index >= 0, "applied index is a count");
    this.#appliedIndex = index;
  }

  static async restore(
    chunks: AsyncIterable<Uint8Array>,
    options: KvStoreOptions = {},
  ): Promise<KvStore> {
    const store = new KvStore(options);
    const state = await decodeSnapshot(chunks, store.#limits);
    store.#appliedIndex = state.index;
    store.#revision = state.revision;
    store.#clockMs = state.clockMs;
    store.#tree = state.tree;
    store.#leases = LeaseTable.from(state.lastLeaseId, state.leases);
    for (const [, kv] of state.tree.entries()) store.#index(kv);
    store.#dedup = DedupTable.from(
      state.dedup,
      options.dedupEntries ?? DEFAULT_DEDUP_ENTRIES,
      options.dedupTtlMs ?? DEFAULT_DEDUP_TTL_MS,
    );
    store.#dedup.expire(store.#clockMs);
    store.#watch = store.#newWatchRing(state.revision);
    return store;
  }

  #newWatchRing(compactedRevision: number): WatchRing {
    return new WatchRing(
      this.#options.watchHistory ?? DEFAULT_WATCH_HISTORY,
      this.#options.watchHistoryBytes ?? DEFAULT_WATCH_HISTORY_BYTES,
      compactedRevision,
    );
  }

  #applyOne(index: number, data: Uint8Array, events: WatchEvent[]): ApplyResult {
    invariant(!this.#applying, "apply is not reentrant (a listener must not apply)");
    invariant(Number.isSafeInteger(index) && index > this.#appliedIndex, "entries apply in order");
    invariant(data instanceof Uint8Array, "entry data is bytes");
    this.#appliedIndex = index;
    if (data.byteLength === 0) return NOOP_RESULT;
    this.#applying = true;
    try {
      return this.#applyEnvelope(data, events);
    } finally {
      this.#applying = false;
    }
  }

  #applyEnvelope(data: Uint8Array, events: WatchEvent[]): ApplyResult {
    let envelope;
    try {
      envelope = decodeEnvelope(data, this.#limits);
    } catch (error) {
      if (error instanceof RaftkvError) return refused(error);
      throw error;
    }
    this.#clockMs = Math.max(this.#clockMs, envelope.nowMs);
    this.#dedup.expire(this.#clockMs);
    const idempotencyKey = envelope.idempotencyKey;
    if (idempotencyKey !== null) {
      const earlier = this.#dedup.get(idempotencyKey);
      if (earlier !== undefined) return earlier;
    }
    const firstEvent = events.length;
    const result = this.#execute(envelope.command, events);
    for (let i = firstEvent; i < events.length; i++) {
      const event = events[i];
      invariant(event !== undefined, "new events are in the batch");
      this.#watch.push(event);
    }
    if (idempotencyKey !== null) this.#dedup.remember(idempotencyKey, this.#clockMs, result);
    return result;
  }

  #execute(command: KvCommand, events: WatchEvent[]): ApplyResult {
    switch (command.op) {
      case "put":
        return this.#put(command, events);
      case "delete":
        return this.#delete(command.key, command.ifModRevision, events);
      case "deletePrefix":
        return this.#deleteAll(this.#keysWithPrefix(command.prefix), events);
      case "expire":
        return this.#expire(events);
      case "leaseGrant": {
        if (this.#leases.size >= MAX_LEASES) {
          return refusal(
            "bad_request",
            `at most ${MAX_LEASES} leases may exist; revoke some first`,
          );
        }
        return {
          ok: true,
          value: { lease: leaseInfo(this.#leases.grant(command.ttlMs, this.#clockMs)) },
        };
      }
      case "leaseKeepalive":
        return { ok: true, value: { renewed: command.ids.map((id) => this.#keepalive(id)) } };
      case "leaseRevoke":
        return this.#revoke(command.id, events);
      case "txn":
        return this.#txn(command.txn, events);
    }
  }

  /** Expires due keys and due leases (with their keys), at one revision. */
  #expire(events: WatchEvent[]): ApplyResult {
    const leases = this.#leases.expired(this.#clockMs);
    const records = this.#expiredKeys();
    for (const lease of leases) records.push(...this.#attached(lease));
    const result = this.#deleteAll(records, events);
    for (const lease of leases) this.#leases.remove(lease);
    return result;
  }

  /** Renews a live lease to the entry's clock + TTL; null when it is gone or past due. */
  #keepalive(id: string): LeaseInfo | null {
    const lease = this.#live(id);
    if (lease === undefined) return null;
    this.#leases.renew(lease, this.#clockMs);
    return leaseInfo(lease);
  }

  #revoke(id: string, events: WatchEvent[]): ApplyResult {
    const lease = this.#leases.get(id);
    if (lease === undefined) return leaseNotFound(id);
    const records = this.#attached(lease);
    this.#deleteAll(records, events);
    this.#leases.remove(lease);
    const value: LeaseRevokeResult = {
      id,
      revoked: true,
      deleted: records.length,
      revision: this.#revision,
    };
    return { ok: true, value };
  }

  /** A lease's key records in key order: the same delete events on every replica. */
  #attached(lease: Lease): KeyValue[] {
    return [...lease.keys].sort(compareKeys).map((key) => {
      const kv = this.#tree.get(key);
      invariant(kv !== undefined && kv.lease === leaseInfo(lease).id, "lease keys exist");
      return kv;
    });
  }

  /** The lease if it exists and its deadline is after the store clock. */
  #live(id: string): Lease | undefined {
    const lease = this.#leases.get(id);
    return lease !== undefined && lease.deadlineMs > this.#clockMs ? lease : undefined;
  }

  /**
   * Why `keys` may not be attached to lease `id`: it is gone (404 lease_not_found) or
   * would exceed {@link MAX_KEYS_PER_LEASE} (400); null when they may.
   */
  #checkAttach(id: string, keys: readonly string[]): ApplyResult | null {
    const lease = this.#live(id);
    if (lease === undefined) return leaseNotFound(id);
    const added = keys.filter((key) => !lease.keys.has(key)).length;
    if (lease.keys.size + added > MAX_KEYS_PER_LEASE) {
      return refusal(
        "bad_request",
        `lease ${id} may hold at most ${MAX_KEYS_PER_LEASE} keys (it holds ${lease.keys.size})`,
      );
    }
    return null;
  }

  /**
   * Runs a transaction: compares on the state before it, then the chosen branch's
   * operations in order, every change at one new revision. Lease checks come first, so
   * a put naming a gone lease refuses the whole transaction with nothing written.
   */
  #txn(txn: TxnRequest, events: WatchEvent[]): ApplyResult {
    const succeeded = txn.compare.every((c) => compareHolds(this.#tree.get(c.key) ?? null, c));
    const ops = succeeded ? txn.success : txn.failure;
    const branch = succeeded ? "success" : "failure";
    const byLease = new Map<string, { keys: string[]; first: number }>();
    ops.forEach((o, i) => {
      if (o.op !== "put" || o.lease === null) return;
      const attach = byLease.get(o.lease) ?? { keys: [], first: i };
      attach.keys.push(o.key);
      byLease.set(o.lease, attach);
    });
    for (const [id, { keys, first }] of byLease) {
      const refused = this.#checkAttach(id, keys);
      if (refused === null) continue;
      // A gone lease keeps the message PUT ?lease= answers; a limit names the put.
      if (refused.ok || refused.code !== "bad_request") return refused;
      return refusal("bad_request", `${branch}[${first}].put.lease: ${refused.message}`);
    }
    // Checked before anything is written: a get past the read budget refuses it all.
    const overBudget = this.#txnReadsOverflow(ops);
    if (overBudget >= 0) {
      return refusal(
        "too_large",
        `${branch}[${overBudget}].get: the transaction reads more than ${MAX_TXN_READ_BYTES} ` +
          `bytes (each record counted as key × 3 + value + ${TXN_RESULT_ITEM_OVERHEAD_BYTES}); ` +
          "read the rest in another request",
      );
    }
    const reads = { bytes: 0 };
    let revision = 0;
    const next = () => (revision ||= ++this.#revision);
    const results = ops.map((o) => this.#txnOp(o, next, events, reads));
    const value: TxnResult = { succeeded, revision: this.#revision, results };
    return { ok: true, value };
  }

  /**
   * The position of the first `get` of `ops`, run in order, that does not fit the read
   * budget, or -1 when every one fits. When a write comes before a get, the writes are
   * played on a copy-on-write clone of the tree, so each read is sized against the
   * state it will see.
   */
  #txnReadsOverflow(ops: TxnOp[]): number {
    // Only a get can refuse (a list ends early instead): up to the last one matters.
    const lastGet = ops.findLastIndex((o) => o.op === "get");
    if (lastGet < 0) return -1;
    const writesFirst = ops.slice(0, lastGet).some((o) => o.op !== "get" && o.op !== "list");
    const tree = writesFirst ? this.#tree.clone() : this.#tree;
    const reads = { bytes: 0 };
    for (const [i, o] of ops.slice(0, lastGet + 1).entries()) {
      switch (o.op) {
        case "put":
          tree.set(o.key, { ...PLACEHOLDER_RECORD, key: o.key, value: o.value });
          break;
        case "delete":
          tree.delete(o.key);
          break;
        case "deletePrefix": {
          const keys: string[] = [];
          for (const [key] of tree.entries(o.prefix)) {
            if (!key.startsWith(o.prefix)) break;
            keys.push(key);
          }
          for (const key of keys) tree.delete(key);
          break;
        }
        case "get": {
          const kv = tree.get(o.key);
          if (kv !== undefined && !fitsReads(kv, reads)) return i;
          break;
        }
        case "list":
          txnList(tree, o, reads);
      }
    }
    return -1;
  }

  #txnOp(
    o: TxnOp,
    revision: () => number,
    events: WatchEvent[],
    reads: { bytes: number },
  ): TxnOpResult {
    switch (o.op) {
      case "put": {
        const existing = this.#tree.get(o.key);
        const record = this.#write(o.key, o.value, null, o.lease, revision(), existing, events);
        return { op: "put", ...toPutResult(record) };
      }
      case "delete": {
        const existing = this.#tree.get(o.key);
        if (existing !== undefined) this.#remove(existing, revision(), events);
        return { op: "delete", key: o.key, deleted: existing !== undefined };
      }
      case "deletePrefix": {
        const records = this.#keysWithPrefix(o.prefix);
        if (records.length > 0) {
          const at = revision();
          for (const record of records) this.#remove(record, at, events);
        }
        return { op: "deletePrefix", deleted: records.length };
      }
      case "get": {
        const kv = this.#tree.get(o.key) ?? null;
        invariant(kv === null || fitsReads(kv, reads), "reads were checked before writing");
        return { op: "get", kv };
      }
      case "list":
        return { op: "list", ...txnList(this.#tree, o, reads) };
    }
  }

  #put(command: Extract<KvCommand, { op: "put" }>, events: WatchEvent[]): ApplyResult {
    const existing = this.#tree.get(command.key);
    if (command.createOnly && existing !== undefined) {
      return preconditionFailed(existing, `key ${JSON.stringify(command.key)} already exists`);
    }
    const lost = compareModRevision(command.key, command.ifModRevision, existing);
    if (lost !== null) return lost;
    const lease = command.lease ?? null;
    if (lease !== null) {
      const refused = this.#checkAttach(lease, [command.key]);
      if (refused !== null) return refused;
    }
    const revision = ++this.#revision;
    const record = this.#write(
      command.key,
      command.value,
      command.ttlMs,
      lease,
      revision,
      existing,
      events,
    );
    return { ok: true, value: toPutResult(record) };
  }

  /** Stores a new record for `key` at `revision` (checks done) and emits its event. */
  #write(
    key: string,
    value: Uint8Array,
    ttlMs: number | null,
    lease: string | null,
    revision: number,
    existing: KeyValue | undefined,
    events: WatchEvent[],
  ): KeyValue {
    const record: KeyValue = Object.freeze({
      key,
      value,
      createRevision: existing?.createRevision ?? revision,
      modRevision: revision,
      version: (existing?.version ?? 0) + 1,
      expiresAtMs: ttlMs === null ? null : this.#clockMs + ttlMs,
      lease,
    });
    if (existing !== undefined) this.#unindex(existing);
    this.#tree.set(record.key, record);
    this.#index(record);
    events.push(Object.freeze({
      type: "put",
      key: record.key,
      value: record.value,
      revision,
      createRevision: record.createRevision,
      version: record.version,
      lease,
    }));
    return record;
  }

  #delete(key: string, ifModRevision: number | null, events: WatchEvent[]): ApplyResult {
    const existing = this.#tree.get(key);
    const lost = compareModRevision(key, ifModRevision, existing);
    if (lost !== null) return lost;
    if (existing === undefined) {
      const value: DeleteResult = { key, deleted: false, revision: this.#revision };
      return { ok: true, value };
    }
    const revision = ++this.#revision;
    this.#remove(existing, revision, events);
    const value: DeleteResult = { key, deleted: true, revision };
    return { ok: true, value };
  }

  /** Deletes `records` under one new revision (none if there is nothing to delete). */
  #deleteAll(records: KeyValue[], events: WatchEvent[]): ApplyResult {
    if (records.length > 0) {
      const revision = ++this.#revision;
      for (const record of records) this.#remove(record, revision, events);
    }
    const value: DeletePrefixResult = { deleted: records.length, revision: this.#revision };
    return { ok: true, value };
  }

  /** Removes a record; its delete event carries version 0 and createRevision 0, as in etcd. */
  #remove(record: KeyValue, revision: number, events: WatchEvent[]): void {
    this.#unindex(record);
    const removed = this.#tree.delete(record.key);
    invariant(removed, "removed keys exist");
    events.push(Object.freeze({
      type: "delete",
      key: record.key,
      value: null,
      revision,
      createRevision: 0,
      version: 0,
      lease: null,
    }));
  }

  #keysWithPrefix(prefix: string): KeyValue[] {
    const out: KeyValue[] = [];
    for (const [key, kv] of this.#tree.entries(prefix)) {
      if (!key.startsWith(prefix)) break;
      out.push(kv);
    }
    return out;
  }

  /** Keys whose expiry is at or before the store clock, in (expiry, key) order. */
  #expiredKeys(): KeyValue[] {
    const out: KeyValue[] = [];
    for (const [[expiresAtMs, key]] of this.#expiry.entries()) {
      if (expiresAtMs > this.#clockMs) break;
      const kv = this.#tree.get(key);
      invariant(kv !== undefined && kv.expiresAtMs === expiresAtMs, "expiry index matches keys");
      out.push(kv);
    }
    return out;
  }

  /** Adds a record's size and expiry to the derived indexes. */
  #index(record: KeyValue): void {
    this.#bytes += recordBytes(record);
    if (record.expiresAtMs !== null) this.#expiry.set([record.expiresAtMs, record.key], true);
    if (record.lease !== null) {
      const lease = this.#leases.get(record.lease);
      invariant(lease !== undefined, "keys are attached to existing leases");
      lease.keys.add(record.key);
    }
  }

  #unindex(record: KeyValue): void {
    this.#bytes -= recordBytes(record);
    if (record.expiresAtMs !== null) {
      const removed = this.#expiry.delete([record.expiresAtMs, record.key]);
      invariant(removed, "expiring keys are in the expiry index");
    }
    if (record.lease !== null) {
      const detached = this.#leases.get(record.lease)?.keys.delete(record.key);
      invariant(detached === true, "attached keys are in their lease's key set");
    }
  }

  #notify(events: WatchEvent[]): void {
    if (events.length === 0 || this.#subscribers.size === 0) return;
    const batch = Object.freeze(events);
    // A copy, so listeners may unsubscribe (or subscribe others) while being called.
    for (const listener of Array.from(this.#subscribers)) {
      try {
        listener(batch);
      } catch {
        this.#listenerErrors += 1; // a broken watcher must not stop replication
      }
    }
  }
}

function compareExpiry(a: ExpiryKey, b: ExpiryKey): number {
  return a[0] - b[0] || compareKeys(a[1], b[1]);
}

/** Checks `ifModRevision` (0: the key must not exist); a lost compare's result, or null. */
function compareModRevision(
  key: string,
  ifModRevision: number | null,
  existing: KeyValue | undefined,
): ApplyResult | null {
  if (ifModRevision === null) return null;
  const actual = existing?.modRevision ?? 0;
  if (actual === ifModRevision) return null;
  const what = existing === undefined ? "does not exist" : `has modRevision ${actual}`;
  return preconditionFailed(
    existing,
    `key ${JSON.stringify(key)} ${what}, expected ${
      ifModRevision === 0 ? "no key" : `modRevision ${ifModRevision}`
    }`,
  );
}

function leaseNotFound(id: string): ApplyResult {
  return refusal(
    "lease_not_found",
    `lease ${id} not found: it expired, was revoked or never existed`,
  );
}

/** A page of `tree` (see {@link KvStore.list}; `limit` already checked). */
function listPage(
  tree: BTree<string, KeyValue>,
  prefix: string,
  after: string | null,
  limit: number,
): ListPage {
  const start = after !== null && compareKeys(after, prefix) > 0 ? after : prefix;
  const items: KeyValue[] = [];
  let more = false;
  let bytes = 0;
  for (const [key, kv] of tree.entries(start)) {
    if (!key.startsWith(prefix)) break;
    if (key === after) continue;
    // A page also ends before MAX_LIST_PAGE_BYTES of keys and values (but always holds
    // at least one key): a thousand 1 MiB values would otherwise be one gigabyte answer.
    const size = key.length + kv.value.byteLength;
    if (items.length === limit || (items.length > 0 && bytes + size > MAX_LIST_PAGE_BYTES)) {
      more = true;
      break;
    }
    bytes += size;
    items.push(kv);
  }
  return { items, more };
}

/** A transaction's `list`: a page, cut short (`more`) where the read budget runs out. */
function txnList(
  tree: BTree<string, KeyValue>,
  o: { prefix: string; limit: number },
  reads: { bytes: number },
): ListPage {
  const page = listPage(tree, o.prefix, null, o.limit);
  const cut = page.items.findIndex((kv) => !fitsReads(kv, reads));
  return cut < 0 ? page : { items: page.items.slice(0, cut), more: true };
}

/**
 * Counts `kv` against a transaction's reads so far; false (nothing counted) when it
 * would take them past MAX_TXN_READ_BYTES. The first record always fits, as a list
 * page always holds its first key.
 */
function fitsReads(kv: KeyValue, reads: { bytes: number }): boolean {
  const size = txnReadItemBytes(kv);
  if (reads.bytes > 0 && reads.bytes + size > MAX_TXN_READ_BYTES) return false;
  reads.bytes += size;
  return true;
}

/** Stands in for a record a transaction will put, when sizing its reads beforehand. */
const PLACEHOLDER_RECORD: KeyValue = Object.freeze({
  key: "",
  value: new Uint8Array(),
  createRevision: 0,
  modRevision: 0,
  version: 0,
  expiresAtMs: null,
  lease: null,
});

function refusal(
  code: "bad_request" | "lease_not_found" | "too_large",
  message: string,
): ApplyResult {
  return { ok: false, code, message, current: null };
}

function preconditionFailed(existing: KeyValue | undefined, message: string): ApplyResult {
  return {
    ok: false,
    code: "precondition_failed",
    message,
    current: existing === undefined ? null : toPutResult(existing),
  };
}

/**
 * A deterministic refusal of an entry that should never have been proposed (garbage
 * or over the limits): every replica refuses it alike.
 */
function refused(error: RaftkvError): ApplyResult {
  return {
    ok: false,
    code: error.code === "too_large" ? "too_large" : "bad_request",
    message: `entry refused: ${error.message}`,
    current: null,
  };
}

function toPutResult(record: KeyValue): PutResult {
  return {
    key: record.key,
    createRevision: record.createRevision,
    modRevision: record.modRevision,
    version: record.version,
  };
}

function recordBytes(record: KeyValue): number {
  return RECORD_OVERHEAD_BYTES + record.key.length * 2 + record.value.byteLength;
}
