/**
 * An in-memory {@link NodeApi} for HTTP tests: a Map of keys with revisions, CAS,
 * TTL, prefix deletes and watch history, plus switches for role and leader and
 * hooks to inject failures.
 *
 * @module
 */

import { RaftkvError } from "../../src/errors.ts";
import type {
  ApplyResult,
  Consistency,
  KeyValue,
  KvCommand,
  PutResult,
  WatchEvent,
} from "../../src/kv/types.ts";
import type { LeaseView, NodeApi, NodeStatus } from "../../src/http/node_api.ts";
import type { TxnOpResult, TxnRequest, TxnResult } from "../../src/kv/txn_types.ts";
import { compareHolds, isReadOnlyTxn } from "../../src/kv/txn.ts";

/** A lease of the fake: TTL, deadline on `nowMs`, attached keys. */
export interface FakeLease {
  ttlMs: number;
  deadlineMs: number;
}

/** One recorded write. */
export interface WriteCall {
  command: KvCommand;
  idempotencyKey: string | null;
}

/** A failure to inject: thrown by the next call(s), or "hang" to wait for the signal. */
export type Injected = Error | "hang";

/** In-memory NodeApi with knobs for tests. */
export class FakeNode implements NodeApi {
  readonly keys = new Map<string, KeyValue>();
  readonly history: WatchEvent[] = [];
  readonly writes: WriteCall[] = [];
  readonly reads: { key?: string; prefix?: string; consistency: Consistency; limit?: number }[] =
    [];
  revision = 0;
  /** Watches starting below this revision fail as compacted. */
  compactedBelow = 0;
  /** Watches currently running (their signal has not aborted). */
  activeWatches = 0;
  writeFailure: Injected | null = null;
  readFailure: Injected | null = null;
  nowMs = 1_700_000_000_000;
  statusValue: NodeStatus = {
    id: "n1",
    role: "leader",
    term: 3,
    leader: "n1",
    leaderHttpUrl: "http://n1.test",
    commitIndex: 0,
    appliedIndex: 0,
    ready: true,
    removed: false,
  };
  #listeners = new Set<() => void>();
  readonly leaseTable = new Map<string, FakeLease>();
  #lastLeaseId = 0;
  /** Keepalive calls received, by lease id. */
  readonly keepalives: string[] = [];
  /** Read-only transactions served without a write. */
  readonly readTxns: TxnRequest[] = [];

  /** Makes this node a follower of `leader` (null: no leader known). */
  follow(leader: string | null, leaderHttpUrl: string | null): void {
    this.statusValue = { ...this.statusValue, role: "follower", leader, leaderHttpUrl };
  }

  /** Applies a command directly, as if replicated; returns the result. */
  apply(command: KvCommand): ApplyResult {
    switch (command.op) {
      case "put":
        return this.#put(command);
      case "delete":
        return this.#delete(command.key, command.ifModRevision);
      case "deletePrefix": {
        const doomed = [...this.keys.keys()].filter((key) => key.startsWith(command.prefix));
        if (doomed.length > 0) this.revision++;
        for (const key of doomed) this.#remove(key);
        return { ok: true, value: { deleted: doomed.length, revision: this.revision } };
      }
      case "expire":
        return { ok: true, value: null };
      default:
        return this.applyCoordination(command);
    }
  }

  /** Lease and transaction commands. */
  applyCoordination(command: KvCommand): ApplyResult {
    switch (command.op) {
      case "leaseGrant": {
        const id = (++this.#lastLeaseId).toString(16);
        const lease = { ttlMs: command.ttlMs, deadlineMs: this.nowMs + command.ttlMs };
        this.leaseTable.set(id, lease);
        return { ok: true, value: { lease: { id, ...lease } } };
      }
      case "leaseKeepalive":
        return {
          ok: true,
          value: {
            renewed: command.ids.map((id) => {
              const lease = this.leaseTable.get(id);
              if (lease === undefined) return null;
              lease.deadlineMs = this.nowMs + lease.ttlMs;
              return { id, ...lease };
            }),
          },
        };
      case "leaseRevoke": {
        if (!this.leaseTable.delete(command.id)) return this.#leaseNotFound(command.id);
        const doomed = [...this.keys.values()].filter((kv) => kv.lease === command.id);
        if (doomed.length > 0) this.revision++;
        for (const kv of doomed) this.#remove(kv.key);
        const value = { id: command.id, revoked: true as const, deleted: doomed.length };
        return { ok: true, value: { ...value, revision: this.revision } };
      }
      case "txn":
        return this.#txn(command.txn);
      default:
        throw new Error(`the fake does not apply ${command.op}`);
    }
  }

  #leaseNotFound(id: string): ApplyResult {
    return { ok: false, code: "lease_not_found", message: `lease ${id} not found`, current: null };
  }

  /** A loose transaction: compares as the store's, ops one by one (revisions not shared). */
  #txn(txn: TxnRequest): ApplyResult {
    const succeeded = txn.compare.every((c) => compareHolds(this.keys.get(c.key) ?? null, c));
    const ops = succeeded ? txn.success : txn.failure;
    for (const o of ops) {
      if (o.op === "put" && o.lease !== null && !this.leaseTable.has(o.lease)) {
        return this.#leaseNotFound(o.lease);
      }
    }
    const results: TxnOpResult[] = ops.map((o): TxnOpResult => {
      switch (o.op) {
        case "put": {
          const r = this.#put({
            op: "put",
            key: o.key,
            value: o.value,
            ttlMs: null,
            ifModRevision: null,
            createOnly: false,
            lease: o.lease,
          });
          if (!r.ok || r.value === null || !("modRevision" in r.value)) throw new Error("fake put");
          return { op: "put", ...r.value };
        }
        case "delete": {
          const r = this.#delete(o.key, null);
          return {
            op: "delete",
            key: o.key,
            deleted: r.ok && r.value !== null && "deleted" in r.value && r.value.deleted === true,
          };
        }
        case "deletePrefix": {
          const r = this.apply({ op: "deletePrefix", prefix: o.prefix });
          return {
            op: "deletePrefix",
            deleted: r.ok && r.value !== null && "deleted" in r.value ? Number(r.value.deleted) : 0,
          };
        }
        case "get":
          return { op: "get", kv: this.keys.get(o.key) ?? null };
        case "list": {
          const matching = [...this.keys.values()].filter((kv) => kv.key.startsWith(o.prefix))
            .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
          return { op: "list", items: matching.slice(0, o.limit), more: matching.length > o.limit };
        }
      }
    });
    const value: TxnResult = { succeeded, revision: this.revision, results };
    return { ok: true, value };
  }

  async keepalive(id: string, signal: AbortSignal): Promise<LeaseView | null> {
    await this.#maybeFail(this.writeFailure, signal);
    this.keepalives.push(id);
    const r = this.apply({ op: "leaseKeepalive", ids: [id] });
    const info = r.ok && r.value !== null && "renewed" in r.value ? r.value.renewed[0] : null;
    return info ? { id, ttlMs: info.ttlMs, remainingMs: info.deadlineMs - this.nowMs } : null;
  }

  async lease(
    id: string,
    after: string | null,
    limit: number,
    _consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ lease: LeaseView; keys: string[]; more: boolean } | null> {
    await this.#maybeFail(this.readFailure, signal);
    const lease = this.leaseTable.get(id);
    if (lease === undefined) return null;
    const keys = [...this.keys.values()]
      .filter((kv) => kv.lease === id && (after === null || kv.key > after))
      .map((kv) => kv.key)
      .sort();
    return {
      lease: { id, ttlMs: lease.ttlMs, remainingMs: lease.deadlineMs - this.nowMs },
      keys: keys.slice(0, limit),
      more: keys.length > limit,
    };
  }

  async leases(
    after: string | null,
    limit: number,
    _consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ items: LeaseView[]; more: boolean }> {
    await this.#maybeFail(this.readFailure, signal);
    const all = [...this.leaseTable.entries()]
      .filter(([id]) => after === null || parseInt(id, 16) > parseInt(after, 16))
      .map(([id, l]) => ({ id, ttlMs: l.ttlMs, remainingMs: l.deadlineMs - this.nowMs }));
    return { items: all.slice(0, limit), more: all.length > limit };
  }

  async readTxn(
    txn: TxnRequest,
    _consistency: Consistency,
    signal: AbortSignal,
  ): Promise<TxnResult> {
    await this.#maybeFail(this.readFailure, signal);
    if (!isReadOnlyTxn(txn)) throw new Error("readTxn got a writing transaction");
    this.readTxns.push(txn);
    const r = this.#txn(txn);
    if (!r.ok) throw new Error("a read-only transaction was refused");
    return r.value as TxnResult;
  }

  async write(
    command: KvCommand,
    options: { idempotencyKey: string | null; signal: AbortSignal },
  ): Promise<ApplyResult> {
    await this.#maybeFail(this.writeFailure, options.signal);
    this.writes.push({ command, idempotencyKey: options.idempotencyKey });
    return this.apply(command);
  }

  async get(
    key: string,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ kv: KeyValue | null; revision: number }> {
    await this.#maybeFail(this.readFailure, signal);
    this.reads.push({ key, consistency });
    return { kv: this.keys.get(key) ?? null, revision: this.revision };
  }

  async list(
    prefix: string,
    after: string | null,
    limit: number,
    consistency: Consistency,
    signal: AbortSignal,
  ): Promise<{ items: KeyValue[]; more: boolean; revision: number }> {
    await this.#maybeFail(this.readFailure, signal);
    this.reads.push({ prefix, consistency, limit });
    const matching = [...this.keys.values()]
      .filter((kv) => kv.key.startsWith(prefix) && (after === null || kv.key > after))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return {
      items: matching.slice(0, limit),
      more: matching.length > limit,
      revision: this.revision,
    };
  }

  async *watch(
    prefix: string,
    fromRevision: number,
    signal: AbortSignal,
  ): AsyncIterable<WatchEvent> {
    if (fromRevision < this.compactedBelow) {
      throw new RaftkvError(
        "revision_compacted",
        `revision ${fromRevision} is compacted; the oldest kept is ${this.compactedBelow}`,
      );
    }
    this.activeWatches++;
    let wake: () => void = () => {};
    const onChange = () => wake();
    this.#listeners.add(onChange);
    signal.addEventListener("abort", onChange);
    try {
      let next = 0;
      while (!signal.aborted) {
        const changed = new Promise<void>((resolve) => (wake = resolve));
        while (next < this.history.length) {
          const event = this.history[next++];
          if (event && event.revision >= fromRevision && event.key.startsWith(prefix)) {
            yield event;
            if (signal.aborted) return;
          }
        }
        await changed;
      }
    } finally {
      this.#listeners.delete(onChange);
      signal.removeEventListener("abort", onChange);
      this.activeWatches--;
    }
  }

  status(): NodeStatus {
    return {
      ...this.statusValue,
      commitIndex: this.revision,
      appliedIndex: this.revision,
    };
  }

  #put(command: Extract<KvCommand, { op: "put" }>): ApplyResult {
    if (command.lease != null && !this.leaseTable.has(command.lease)) {
      return this.#leaseNotFound(command.lease);
    }
    const existing = this.keys.get(command.key) ?? null;
    const lost = (command.createOnly && existing !== null) ||
      (command.ifModRevision !== null && (existing?.modRevision ?? 0) !== command.ifModRevision);
    if (lost) {
      return {
        ok: false,
        code: "precondition_failed",
        message: `compare failed for ${JSON.stringify(command.key)}`,
        current: existing === null ? null : summary(existing),
      };
    }
    this.revision++;
    const kv: KeyValue = {
      key: command.key,
      value: command.value,
      createRevision: existing?.createRevision ?? this.revision,
      modRevision: this.revision,
      version: (existing?.version ?? 0) + 1,
      expiresAtMs: command.ttlMs === null ? null : this.nowMs + command.ttlMs,
      lease: command.lease ?? null,
    };
    this.keys.set(command.key, kv);
    this.#emit({
      type: "put",
      key: kv.key,
      value: kv.value,
      revision: this.revision,
      createRevision: kv.createRevision,
      version: kv.version,
      lease: kv.lease,
    });
    return { ok: true, value: summary(kv) };
  }

  #delete(key: string, ifModRevision: number | null): ApplyResult {
    const existing = this.keys.get(key) ?? null;
    if (ifModRevision !== null && (existing?.modRevision ?? 0) !== ifModRevision) {
      return {
        ok: false,
        code: "precondition_failed",
        message: `compare failed for ${JSON.stringify(key)}`,
        current: existing === null ? null : summary(existing),
      };
    }
    if (existing === null) {
      return { ok: true, value: { key, deleted: false, revision: this.revision } };
    }
    this.revision++;
    this.#remove(key);
    return { ok: true, value: { key, deleted: true, revision: this.revision } };
  }

  #remove(key: string): void {
    const existing = this.keys.get(key);
    if (existing === undefined) return;
    this.keys.delete(key);
    this.#emit({
      type: "delete",
      key,
      value: null,
      revision: this.revision,
      createRevision: existing.createRevision,
      version: 0,
      lease: null,
    });
  }

  #emit(event: WatchEvent): void {
    this.history.push(event);
    for (const listener of this.#listeners) listener();
  }

  async #maybeFail(failure: Injected | null, signal: AbortSignal): Promise<void> {
    if (failure === null) return;
    if (failure !== "hang") throw failure;
    await new Promise<never>((_, reject) => {
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  }
}

function summary(kv: KeyValue): PutResult {
  return {
    key: kv.key,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
  };
}
